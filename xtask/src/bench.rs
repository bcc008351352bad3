//! `cargo xtask bench`: agentpod side by side with ironflow-core 2.10.1 (issue 13's B1–B6).
//!
//! The benchmarks live in `bench/`, a workspace of their own that the main build never
//! compiles (ironflow-core brings kube 3, k8s-openapi 0.27 and aws-lc). This task builds it in
//! a target directory of its own (the two k8s-openapi copies must both see API version 1.35,
//! which would invalidate the main workspace's 1.33 build if they shared one), runs the
//! criterion bench of the pure layers (B6), then, holding the cluster lock, the cluster
//! scenarios, and prints the table of ratios. Nothing is asserted about timings.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::cluster::{self, layout::Layout};

/// What `cargo xtask bench` was asked.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Timed calls per side for B1 (medians; the issue asks for at least 20).
    #[arg(long, default_value_t = 20)]
    calls: usize,
    /// Comma-separated subset of B1,B2,B3,B4,B5,B6.
    #[arg(long, value_delimiter = ',', default_value = "B1,B2,B3,B4,B5,B6")]
    only: Vec<String>,
    /// Concurrency levels of B4.
    #[arg(long, value_delimiter = ',', default_value = "50")]
    b4_sizes: Vec<usize>,
    /// Calls per side through the counting proxy (B2).
    #[arg(long, default_value_t = 5)]
    b2_calls: usize,
    /// Write the table into this document too (between its bench-table markers), e.g.
    /// docs/performance.md. Without it nothing in the repository changes.
    #[arg(long)]
    write: Option<PathBuf>,
}

/// Runs the benchmarks.
pub fn run(layout: &Layout, args: &BenchArgs) -> anyhow::Result<()> {
    let root = workspace_root()?;
    let bench_dir = root.join("bench");
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || bench_dir.join("target"),
        |dir| PathBuf::from(dir).join("agentpod-bench"),
    );
    let wants = |id: &str| args.only.iter().any(|o| o.eq_ignore_ascii_case(id));

    cargo_in(
        &bench_dir,
        &target_dir,
        &["build", "--release", "--locked", "--bin", "agentpod-bench"],
    )?;
    if wants("B6") {
        cargo_in(
            &bench_dir,
            &target_dir,
            &["bench", "--locked", "--bench", "layers", "--", "--noplot"],
        )?;
    }

    let mut command = Command::new(target_dir.join("release").join("agentpod-bench"));
    command
        .arg("run")
        .args(["--calls", &args.calls.to_string()])
        .args(["--b2-calls", &args.b2_calls.to_string()])
        .args(["--only", &args.only.join(",")])
        .args(["--b4-sizes", &join(&args.b4_sizes)])
        .args(["--commit", &commit(&root)])
        .arg("--kubeconfig")
        .arg(layout.admin_kubeconfig())
        .arg("--criterion-dir")
        .arg(target_dir.join("criterion"));
    if let Some(path) = &args.write {
        command.arg("--write").arg(root.join(path));
    }

    let needs_cluster = ["B1", "B2", "B3", "B4", "B5"].iter().any(|id| wants(id));
    if !needs_cluster {
        return step("agentpod-bench run", command);
    }
    let _lock = cluster::lock::acquire()?;
    let started_here = !cluster::is_up(layout);
    if started_here {
        eprintln!("==> the local cluster is not up: starting it for the benchmark");
        cluster::up(layout)?;
    }
    let result = step("agentpod-bench run", command);
    if started_here {
        eprintln!("==> stopping the cluster this run started");
        cluster::down(layout)?;
    }
    result
}

fn join(values: &[usize]) -> String {
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// `cargo <args>` in the bench workspace, with its own target dir and API version.
fn cargo_in(dir: &Path, target_dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let mut command = Command::new(env!("CARGO"));
    command
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir)
        // Both k8s-openapi copies (0.27 through ironflow-core, 0.29 through ours) accept it.
        .env("K8S_OPENAPI_ENABLED_VERSION", "1.35");
    step(&format!("cargo {} (in bench/)", args.join(" ")), command)
}

fn step(what: &str, mut command: Command) -> anyhow::Result<()> {
    eprintln!("==> {what}");
    let status = command
        .status()
        .with_context(|| format!("could not start {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// The repository root (xtask's manifest is in `<root>/xtask`).
fn workspace_root() -> anyhow::Result<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .context("xtask has no parent directory")
}

/// `git describe`-like: the short commit, `+dirty` when the tree has changes.
fn commit(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let hash = git(&["rev-parse", "--short=9", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty { format!("{hash}+dirty") } else { hash }
}
