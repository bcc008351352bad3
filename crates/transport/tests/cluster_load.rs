//! Many concurrent Secret-carrying runs against the real local cluster.
//!
//! Under this load the kubelet's Secret cache is sometimes slow and a
//! container waits in `CreateContainerConfigError: failed to sync secret
//! cache: timed out waiting for the condition`. That is a delay, not a
//! missing Secret: every run must still be answered, with the default
//! (fail-fast) start policy.
//!
//! Runs with `cargo xtask test`; skips loudly under plain `cargo test`.

#![allow(clippy::expect_used, clippy::print_stderr, reason = "test code")]

mod support;

use std::time::{Duration, Instant};

use agentpod_transport::RunOptions;

const RUNS: usize = 30;

#[tokio::test]
async fn cluster_thirty_concurrent_runs_with_secrets_are_all_answered() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let started = Instant::now();
    let runs = (0..RUNS).map(|i| {
        let spec = setup
            .busybox(
                "load",
                "cat /var/run/agentpod/inputs/note; echo; echo \"$TOKEN\"",
            )
            .secret_env("TOKEN", format!("token-{i}-hygiene-c4f1"))
            .secret_file("note", format!("note-{i}"));
        let transport = setup.transport.clone();
        async move {
            let run = transport
                .start(spec, RunOptions::default())
                .await
                .map_err(|e| format!("run {i} did not start: {e}"))?;
            let (outcome, output) = run
                .wait_with_output(1 << 16)
                .await
                .map_err(|e| format!("run {i}: {e}"))?;
            let text = String::from_utf8_lossy(&output).into_owned();
            if !outcome.exit.success() || text != format!("note-{i}\ntoken-{i}-hygiene-c4f1\n") {
                return Err(format!("run {i}: {} with output {text:?}", outcome.exit));
            }
            Ok(outcome.timings.total)
        }
    });
    let results = futures::future::join_all(runs).await;
    let elapsed = started.elapsed();
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    let slowest = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .max()
        .copied()
        .unwrap_or_default();
    eprintln!(
        "{RUNS} concurrent Secret-carrying runs: {} answered with exit 0 in {elapsed:?} (slowest run {slowest:?})",
        RUNS - failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    setup.wait_no_leftovers(Duration::from_secs(60)).await;
}
