//! Ephemeral runs against the real local cluster: exit codes, OOM, deadlines,
//! fail-fast on pods that can never start, events, and cleanup after each.
//!
//! Runs with `cargo xtask test`; skips loudly under plain `cargo test`.

#![allow(clippy::expect_used, clippy::print_stderr, reason = "test code")]

mod support;

use std::time::{Duration, Instant};

use agentpod_podspec::{ResourceKind, Resources};
use agentpod_transport::{PendingReason, RunEvent, RunOptions, StartPolicy, TransportError};
use futures::StreamExt;

/// Fails the test, naming `what`, when `value` is outside `range`.
fn assert_within(value: u64, range: std::ops::RangeInclusive<u64>, what: &str) {
    assert!(range.contains(&value), "{what}: {value} not in {range:?}");
}

fn quick_start() -> StartPolicy {
    StartPolicy::default().start_timeout(Duration::from_secs(60))
}

fn quick() -> RunOptions {
    RunOptions::default()
        .start(quick_start())
        .run_timeout(Duration::from_secs(60))
}

#[tokio::test]
async fn cluster_exit_codes_output_events_and_request_count() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let ok = setup
        .busybox(
            "exit0",
            "cat /var/run/agentpod/inputs/greeting; echo; echo \"$TOKEN\"",
        )
        .secret_file("greeting", "hello from a secret file")
        .secret_env("TOKEN", "secret-env-value-hygiene-c4f1");
    let three = setup.busybox("exit3", "echo to-stdout; echo to-stderr >&2; exit 3");

    let mut first = setup
        .transport
        .start(ok, quick())
        .await
        .expect("start exit 0");
    let mut events = first.take_events().expect("events");
    let second = setup
        .transport
        .start(three, quick())
        .await
        .expect("start exit 3");
    let (zero, three) = tokio::join!(
        first.wait_with_output(1 << 20),
        second.wait_with_output(1 << 20)
    );

    let (zero, zero_log) = zero.expect("exit 0 run");
    assert!(zero.exit.success(), "{}", zero.exit);
    assert_eq!(
        String::from_utf8_lossy(&zero_log),
        "hello from a secret file\nsecret-env-value-hygiene-c4f1\n"
    );
    let logs = zero.logs.clone().expect("log summary");
    assert!(logs.complete, "{logs:?}");
    assert_eq!(logs.bytes, zero_log.len() as u64);

    let (three, three_log) = three.expect("exit 3 run is a result, not an error");
    assert_eq!(three.exit.code, Some(3));
    assert_eq!(three.exit.reason.as_deref(), Some("Error"));
    let text = String::from_utf8_lossy(&three_log);
    assert!(
        text.contains("to-stdout") && text.contains("to-stderr"),
        "{text}"
    );

    let mut seen = Vec::new();
    while let Some(event) = events.next().await {
        seen.push(event);
    }
    assert!(
        matches!(seen.first(), Some(RunEvent::Created { .. })),
        "{seen:?}"
    );
    assert!(seen.contains(&RunEvent::Running), "{seen:?}");
    assert!(
        matches!(seen.last(), Some(RunEvent::Finished(exit)) if exit.success()),
        "{seen:?}"
    );

    // Secret create, pod create, watch(es), log follow + final read (or the
    // final read alone), one delete (the Secret owns the pod; without a
    // Secret the pod itself): a handful, not dozens.
    eprintln!(
        "API requests per run: {} (with a Secret), {} (without); timings {:?}",
        zero.api_requests, three.api_requests, zero.timings
    );
    assert_within(
        zero.api_requests,
        5..=12,
        "API requests of the run with a Secret",
    );
    assert_within(
        three.api_requests,
        3..=10,
        "API requests of the run without",
    );
    let cleanup = setup.wait_no_leftovers(Duration::from_secs(10)).await;
    eprintln!("objects gone {cleanup:?} after the runs returned");
}

#[tokio::test]
async fn cluster_oom_killed_run_reports_137() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let spec = setup
        .busybox("oom", "exec tail -c 200000000 /dev/zero")
        .resources(Resources::default().limit(ResourceKind::Memory, "24Mi"));
    let outcome = setup
        .run_to_end(spec, quick())
        .await
        .expect("an OOM kill is a result");
    assert_eq!(outcome.exit.code, Some(137), "{}", outcome.exit);
    assert!(outcome.exit.oom_killed(), "{}", outcome.exit);
    setup.wait_no_leftovers(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn cluster_active_deadline_is_reported_as_deadline_exceeded() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let spec = setup
        .busybox("deadline", "sleep 120")
        .active_deadline_seconds(3);
    let outcome = setup
        .run_to_end(spec, quick())
        .await
        .expect("the server-side deadline is a result");
    assert!(outcome.exit.deadline_exceeded(), "{}", outcome.exit);
    assert!(!outcome.exit.success());
    setup.wait_no_leftovers(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn cluster_run_timeout_kills_and_deletes() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let spec = setup.busybox("slow", "sleep 300");
    let started = Instant::now();
    let error = setup
        .run_to_end(spec, quick().run_timeout(Duration::from_secs(3)))
        .await
        .expect_err("must time out");
    assert!(
        matches!(error, TransportError::RunTimeout { .. }),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let gone = setup.wait_no_leftovers(Duration::from_secs(10)).await;
    eprintln!("timed-out pod gone {gone:?} after the error");
}

#[tokio::test]
async fn cluster_missing_image_fails_fast_with_err_image_pull() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let spec = setup
        .pod("agentpod.local/does-not-exist:1", "noimage", "true")
        .secret_env("TOKEN", "x");
    let started = Instant::now();
    let error = setup
        .run_to_end(spec, RunOptions::default())
        .await
        .expect_err("a missing image can never start");
    let elapsed = started.elapsed();
    eprintln!("missing image failed after {elapsed:?}: {error}");
    match &error {
        TransportError::CannotStart {
            reason, message, ..
        } => {
            assert!(
                reason == "ErrImagePull" || reason == "ImagePullBackOff",
                "{reason}"
            );
            assert!(!message.is_empty());
        }
        other => panic!("expected CannotStart, got {other}"),
    }
    assert!(
        error.to_string().contains("ErrImagePull")
            || error.to_string().contains("ImagePullBackOff")
    );
    assert!(elapsed <= Duration::from_secs(15), "{elapsed:?}");
    setup.wait_no_leftovers(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn cluster_unschedulable_fails_with_the_scheduler_message() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let spec = setup
        .busybox("nowhere", "true")
        .node_selector("agentpod.dev/no-such-node", "true");
    let mut run = setup
        .transport
        .start(
            spec,
            quick().start(quick_start().unschedulable_grace(Duration::from_secs(1))),
        )
        .await
        .expect("start");
    let mut events = run.take_events().expect("events");
    let started = Instant::now();
    let error = run.wait().await.expect_err("no node matches");
    eprintln!(
        "unschedulable failed after {:?}: {error}",
        started.elapsed()
    );
    match &error {
        TransportError::Unschedulable { message, .. } => {
            assert!(message.contains("node"), "{message}");
        }
        other => panic!("expected Unschedulable, got {other}"),
    }
    let mut saw_unschedulable = false;
    while let Some(event) = events.next().await {
        saw_unschedulable |= matches!(
            event,
            RunEvent::Pending(PendingReason::Unschedulable { .. })
        );
    }
    assert!(saw_unschedulable);
    setup.wait_no_leftovers(Duration::from_secs(10)).await;
}
