//! Watch and log resumption: the API server is restarted while a run is in
//! flight (and finishes while the server is down); the result still arrives,
//! with the exit code and the complete log. Alone in its binary because it
//! takes the API server away from everyone for a few seconds.
//!
//! Runs with `cargo xtask test`; skips loudly under plain `cargo test`.
//!
//! The outage and the restart are `agentpod_testkit::cluster::outage`'s.

#![allow(clippy::expect_used, clippy::print_stderr, reason = "test code")]

mod support;

use std::time::{Duration, Instant};

use agentpod_testkit::cluster::outage::{Daemon, Outage};
use agentpod_transport::{RunEvent, RunOptions, StartPolicy};
use futures::StreamExt;

/// How long the API server stays down (the pod finishes meanwhile).
const DOWNTIME: Duration = Duration::from_secs(8);

#[tokio::test]
async fn cluster_result_survives_an_api_server_restart() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let kubeconfig = setup.cluster.kubeconfig().to_path_buf();
    let spec = setup
        .busybox("restart", "echo before; sleep 3; echo survived; exit 4")
        .secret_env("TOKEN", "x");
    let mut run = setup
        .transport
        .start(
            spec,
            RunOptions::default()
                .start(StartPolicy::default().start_timeout(Duration::from_secs(60)))
                .run_timeout(Duration::from_secs(120)),
        )
        .await
        .expect("start");
    let mut events = run.take_events().expect("events");
    while let Some(event) = events.next().await {
        if event == RunEvent::Running {
            break;
        }
    }
    let mut outage =
        tokio::task::spawn_blocking(move || Outage::begin(&kubeconfig, Daemon::ApiServer))
            .await
            .expect("joined")
            .expect("the API server is down");
    let down_at = Instant::now();
    tokio::time::sleep(DOWNTIME).await;
    let down = outage.end().expect("the API server starts again");
    eprintln!("API server was down for {down:?}");

    let (outcome, output) =
        tokio::time::timeout(Duration::from_secs(120), run.wait_with_output(1 << 20))
            .await
            .expect("the result arrives after the restart")
            .expect("run");
    eprintln!(
        "result after restart: {}; {:?}; {} API requests; {} resyncs; {:?} since the server went down",
        outcome.exit,
        outcome.logs,
        outcome.api_requests,
        outcome.watch_resyncs,
        down_at.elapsed()
    );
    assert_eq!(outcome.exit.code, Some(4));
    assert_eq!(String::from_utf8_lossy(&output), "before\nsurvived\n");
    assert!(outcome.logs.expect("summary").complete);
    setup.wait_no_leftovers(Duration::from_secs(20)).await;
}
