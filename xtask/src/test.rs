//! The test pipeline behind `cargo xtask test`.
//!
//! The Debian packages first (the workspace tests need npm and the shells too), then pure
//! checks (fmt, clippy, every unit/doc/snapshot test with no
//! cluster configured, so cluster tests print SKIPPED), then a fresh local
//! cluster, the cluster suite (`tests/cluster_*.rs` of every crate) with the
//! cluster configured, and `cluster down` whatever happened — also on Ctrl-C,
//! which the pipeline catches so the teardown still runs.

use std::process::Command;
use std::time::Instant;

use agentpod_testkit::cluster::KUBECONFIG_ENV;
use anyhow::{Context, bail};

use crate::cluster::{self, layout::Layout};

/// Runs each step in order, stops at the first failure, always tears the cluster down.
pub fn run(layout: &Layout) -> anyhow::Result<()> {
    let started = Instant::now();
    catch_ctrl_c();
    // The workspace tests need some of them too (npm, the shells), and run before `cluster up`.
    cluster::ensure_packages()?;
    cargo(&["fmt", "--all", "--", "--check"], None)?;
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        None,
    )?;
    cargo(&["test", "--workspace", "--no-fail-fast"], None)?;

    let _lock = cluster::lock::acquire()?;
    eprintln!("==> cargo xtask cluster up");
    let suite = cluster::up(layout).and_then(|()| {
        let kubeconfig = layout.admin_kubeconfig();
        cargo(
            &[
                "test",
                "--workspace",
                "--no-fail-fast",
                "--test",
                "cluster_*",
            ],
            Some(kubeconfig.to_string_lossy().as_ref()),
        )
    });
    eprintln!("==> cargo xtask cluster down");
    let teardown = cluster::down(layout);
    suite?;
    teardown?;
    eprintln!("==> all tests passed in {} s", started.elapsed().as_secs());
    Ok(())
}

/// Runs cargo; `kubeconfig` configures the cluster tests (unset means they skip).
fn cargo(args: &[&str], kubeconfig: Option<&str>) -> anyhow::Result<()> {
    eprintln!("==> cargo {}", args.join(" "));
    let mut command = Command::new(env!("CARGO"));
    command.args(args);
    match kubeconfig {
        Some(path) => command.env(KUBECONFIG_ENV, path),
        None => command.env_remove(KUBECONFIG_ENV),
    };
    let status = command
        .status()
        .with_context(|| format!("could not start cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Keeps Ctrl-C from killing the pipeline itself: the running cargo step dies
/// of it and fails, and the pipeline goes on to `cluster down`.
fn catch_ctrl_c() {
    std::thread::spawn(|| {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            while tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("==> interrupted: finishing with cluster down");
            }
        });
    });
}
