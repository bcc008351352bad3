//! Cancellation: dropping 50 in-flight runs leaves no pod and no Secret.
//!
//! Runs with `cargo xtask test`; skips loudly under plain `cargo test`.

#![allow(clippy::expect_used, clippy::print_stderr, reason = "test code")]

mod support;

use std::time::{Duration, Instant};

use agentpod_transport::RunOptions;

const RUNS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_dropping_fifty_runs_leaves_nothing_behind() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let mut tasks = Vec::new();
    for index in 0..RUNS {
        let transport = setup.transport.clone();
        let spec = setup
            .busybox(&format!("drop{index}"), "sleep 300")
            .secret_env("TOKEN", format!("token-{index}-hygiene-c4f1"));
        tasks.push(tokio::spawn(async move {
            let run = transport
                .start(spec, RunOptions::default())
                .await
                .expect("start");
            run.wait().await
        }));
    }
    // Let them get anywhere between mid-create and running, then drop them all.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (pods, secrets) = setup.leftovers().await;
    eprintln!("{pods} pods and {secrets} secrets exist when the {RUNS} runs are dropped");
    assert!(pods > 0, "the runs should have created pods by now");
    let dropped = Instant::now();
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        let finished = task.await;
        assert!(
            finished.is_err_and(|e| e.is_cancelled()),
            "no run may finish on its own"
        );
    }
    let all_done = setup
        .transport
        .finish_cleanups(Duration::from_secs(120))
        .await;
    assert!(
        all_done,
        "{} cleanups still pending",
        setup.transport.pending_cleanups()
    );
    let gone = setup.wait_no_leftovers(Duration::from_secs(30)).await;
    eprintln!(
        "cleanup of {RUNS} dropped runs finished {:?} after the drop (objects confirmed gone {gone:?} later)",
        dropped.elapsed() - gone
    );
}
