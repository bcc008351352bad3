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

use agentpod_testkit::cluster::{self as cluster_topology, KUBECONFIG_ENV};
use agentpod_testkit::model::{ModelEndpoint, Script};
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
    docs()?;
    package()?;

    let _lock = cluster::lock::acquire()?;
    eprintln!("==> cargo xtask cluster up");
    let suite = cluster::up(layout).and_then(|()| {
        let kubeconfig = layout.admin_kubeconfig();
        cluster_tests(&kubeconfig, &layout.tests_trace())
            .and_then(|()| run_cluster_examples(&kubeconfig.to_string_lossy()))
            .and_then(|()| {
                eprintln!("==> cargo xtask demo (on the running cluster)");
                crate::demo::run_checked(&kubeconfig)
            })
            .and_then(|()| {
                eprintln!(
                    "==> secret hygiene: the audit log, the daemons' logs and the tests' tracing"
                );
                crate::hygiene::scan(layout)
            })
    });
    eprintln!("==> cargo xtask cluster down");
    let teardown = cluster::down(layout);
    suite?;
    teardown?;
    eprintln!("==> all tests passed in {} s", started.elapsed().as_secs());
    Ok(())
}

/// The library crates users depend on one by one.
const LIBRARY_CRATES: [&str; 5] = [
    "agentpod-podspec",
    "agentpod-claude-args",
    "agentpod-transport",
    "agentpod-provider",
    "agentpod",
];

/// Examples that talk to a cluster, run in the cluster phase (the others only
/// need to build, which `cargo test` already does).
const CLUSTER_EXAMPLES: [&str; 2] = ["pod_run", "worker_exec"];

/// `cargo doc` with warnings as errors: broken intra-doc links fail the run.
fn docs() -> anyhow::Result<()> {
    let mut command = Command::new(env!("CARGO"));
    command
        .args(["doc", "--workspace", "--no-deps", "--all-features"])
        .env("RUSTDOCFLAGS", "-D warnings")
        .env_remove(KUBECONFIG_ENV);
    run_step("cargo doc --workspace --no-deps --all-features", command)
}

/// `cargo package` of every library crate, verified: each builds from the
/// files it would publish, with its sibling crates resolved as published.
///
/// Cargo treats a registry package as immutable, so a verification build would reuse what an
/// earlier run compiled for the same name and version: the packaged siblings' unpacked sources
/// and their compiled artifacts are removed first. The verification has a target dir of its own
/// so that this never touches the workspace's builds.
fn package() -> anyhow::Result<()> {
    forget_unpacked_packages()?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || std::path::PathBuf::from("target"),
            std::path::PathBuf::from,
        )
        .join("package-verify");
    let target_dir = target_dir.to_string_lossy();
    let mut clean = vec!["clean", "--quiet", "--target-dir", &target_dir];
    let mut args = vec![
        "package",
        "--locked",
        "--allow-dirty",
        "--target-dir",
        &target_dir,
    ];
    for name in LIBRARY_CRATES {
        clean.extend(["--package", name]);
        args.extend(["--package", name]);
    }
    cargo(&clean, None)?;
    cargo(&args, None)
}

/// Removes the copies of our own packages that an earlier `cargo package` unpacked into
/// cargo's registry sources. Cargo reuses such a copy when the version is unchanged, so the
/// verification of a crate would compile against its sibling's *old* sources (a crate changed
/// since, same version) and fail or, worse, pass for the wrong code.
fn forget_unpacked_packages() -> anyhow::Result<()> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    let sources = cargo_home.join("registry").join("src");
    let Ok(registries) = std::fs::read_dir(&sources) else {
        return Ok(()); // nothing unpacked yet
    };
    let version = env!("CARGO_PKG_VERSION");
    for registry in registries.flatten() {
        for name in LIBRARY_CRATES {
            let unpacked = registry.path().join(format!("{name}-{version}"));
            if unpacked.exists() {
                std::fs::remove_dir_all(&unpacked)
                    .with_context(|| format!("could not remove {}", unpacked.display()))?;
            }
        }
    }
    Ok(())
}

/// Runs the examples that need a cluster against the local one, configured
/// the way a user's program is: through `KUBECONFIG` (and, for the agent, the
/// variables a user sets to reach a model API: here the offline endpoint).
fn run_cluster_examples(kubeconfig: &str) -> anyhow::Result<()> {
    for example in CLUSTER_EXAMPLES {
        let mut command = example_command(example, kubeconfig);
        command.env(
            "AGENTPOD_EXAMPLE_IMAGE",
            agentpod_testkit::cluster::BUSYBOX_IMAGE,
        );
        run_step(&format!("cargo run --example {example}"), command)?;
    }
    // The agent examples need a model: the scripted endpoint (it answers "OK"), bound where
    // pods reach it, for as long as the runtime that serves it lives.
    let runtime = tokio::runtime::Runtime::new().context("could not start a tokio runtime")?;
    let endpoint = runtime
        .block_on(ModelEndpoint::start(
            Script::new(),
            cluster_topology::model_endpoint_bind_addr(),
        ))
        .context("could not start the model endpoint for the agent example")?;
    let mut result = Ok(());
    for example in ["agent_run", "pool_run"] {
        let mut command = example_command(example, kubeconfig);
        command
            .env(
                "AGENTPOD_EXAMPLE_IMAGE",
                cluster_topology::CLAUDE_RUNNER_IMAGE,
            )
            .env(
                "AGENTPOD_EXAMPLE_CLAUDE",
                cluster_topology::CLAUDE_RUNNER_BINARY,
            )
            .env(
                "ANTHROPIC_API_KEY",
                format!(
                    "offline-endpoint-key-{}",
                    cluster_topology::CREDENTIAL_MARKER
                ),
            )
            .env("ANTHROPIC_BASE_URL", endpoint.base_url());
        result = run_step(&format!("cargo run --example {example}"), command);
        if result.is_err() {
            break;
        }
    }
    drop(endpoint);
    result
}

/// `cargo run` of one example of the examples package, configured through `KUBECONFIG`.
fn example_command(example: &str, kubeconfig: &str) -> Command {
    let mut command = Command::new(env!("CARGO"));
    command
        .args([
            "run",
            "--quiet",
            "--package",
            "agentpod-examples",
            "--example",
            example,
        ])
        .env("KUBECONFIG", kubeconfig)
        .env_remove(KUBECONFIG_ENV);
    command
}

/// Runs a prepared command and turns a failure into an error naming it.
fn run_step(what: &str, mut command: Command) -> anyhow::Result<()> {
    eprintln!("==> {what}");
    let status = command
        .status()
        .with_context(|| format!("could not start {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Runs cargo; `kubeconfig` configures the cluster tests (unset means they skip).
/// The cluster suite, every test's tracing appended to `trace` (a fresh file) for the
/// secret-hygiene scan.
fn cluster_tests(kubeconfig: &std::path::Path, trace: &std::path::Path) -> anyhow::Result<()> {
    match std::fs::remove_file(trace) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(error).with_context(|| format!("cannot remove {}", trace.display()));
        }
    }
    let args = [
        "test",
        "--workspace",
        "--no-fail-fast",
        "--test",
        "cluster_*",
    ];
    let mut command = Command::new(env!("CARGO"));
    command
        .args(args)
        .env(KUBECONFIG_ENV, kubeconfig)
        .env(agentpod_testkit::TRACE_FILE_ENV, trace)
        .env_remove("RUST_LOG");
    run_step(&format!("cargo {}", args.join(" ")), command)
}

fn cargo(args: &[&str], kubeconfig: Option<&str>) -> anyhow::Result<()> {
    let mut command = Command::new(env!("CARGO"));
    command.args(args);
    match kubeconfig {
        Some(path) => command.env(KUBECONFIG_ENV, path),
        None => command.env_remove(KUBECONFIG_ENV),
    };
    run_step(&format!("cargo {}", args.join(" ")), command)
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
