//! `cargo xtask soak`: the long runs that do not belong in every test command.
//!
//! Why apart: the fuzz properties run a few hundred cases in `cargo xtask test` (seconds); a
//! soak runs them at scale (`AGENTPOD_FUZZ_CASES`, default 100 000 per property) in release
//! mode, where a rare input has a real chance to turn up. With `--cluster`, the cluster fault
//! suite runs with `AGENTPOD_SOAK=1`, which adds the slow faults (the kubelet dying mid-run) to
//! the ones the test command runs.

use std::process::Command;
use std::time::Instant;

use agentpod_testkit::cluster::KUBECONFIG_ENV;
use anyhow::bail;

use crate::cluster::{self, layout::Layout};

/// The fuzz properties: (package, test target).
const FUZZ_TARGETS: [(&str, &str); 3] = [
    ("agentpod-claude-args", "fuzz_output"),
    ("agentpod-claude-args", "shell_quoting"),
    ("agentpod-podspec", "fuzz_inputs"),
];

/// Runs every fuzz property with `cases` cases each; with `with_cluster`, the cluster fault
/// suite too (on the running local cluster, holding its lock).
pub fn run(layout: &Layout, cases: u32, with_cluster: bool) -> anyhow::Result<()> {
    fuzz(cases)?;
    if with_cluster {
        let _lock = cluster::lock::acquire()?;
        if !cluster::is_up(layout) {
            bail!("the local cluster is not running: `cargo xtask cluster up` first");
        }
        eprintln!("==> cluster fault suite with AGENTPOD_SOAK=1");
        let status = Command::new(env!("CARGO"))
            .args([
                "test",
                "--package",
                "agentpod-e2e",
                "--test",
                "cluster_faults",
                "--",
                "--nocapture",
            ])
            .env(KUBECONFIG_ENV, layout.admin_kubeconfig())
            .env("AGENTPOD_SOAK", "1")
            .status()?;
        if !status.success() {
            bail!("the cluster fault suite failed ({status})");
        }
    }
    Ok(())
}

fn fuzz(cases: u32) -> anyhow::Result<()> {
    for (package, target) in FUZZ_TARGETS {
        let started = Instant::now();
        eprintln!("==> {package} --test {target}: {cases} cases per property");
        let status = Command::new(env!("CARGO"))
            .args(["test", "--release", "--package", package, "--test", target])
            .env("AGENTPOD_FUZZ_CASES", cases.to_string())
            .status()?;
        if !status.success() {
            bail!(
                "{package} --test {target} failed ({status}); proptest printed the minimal input"
            );
        }
        eprintln!("    passed in {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}
