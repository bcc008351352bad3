//! `cargo xtask soak`: the long runs that do not belong in every test command.
//!
//! Why apart: the fuzz properties run a few hundred cases in `cargo xtask test` (seconds); a
//! soak runs them at scale (`AGENTPOD_FUZZ_CASES`, default 100 000 per property) in release
//! mode, where a rare input has a real chance to turn up.

use std::process::Command;
use std::time::Instant;

use anyhow::bail;

/// The fuzz properties: (package, test target).
const FUZZ_TARGETS: [(&str, &str); 3] = [
    ("agentpod-claude-args", "fuzz_output"),
    ("agentpod-claude-args", "shell_quoting"),
    ("agentpod-podspec", "fuzz_inputs"),
];

/// Runs every fuzz property with `cases` cases each.
pub fn run(cases: u32) -> anyhow::Result<()> {
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
