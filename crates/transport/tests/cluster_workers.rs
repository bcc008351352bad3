//! Warm worker pods: racing ensure-running callers, recreation of a dead
//! worker, exec exit status with separate stdout/stderr, and remote processes
//! killed when an exec times out or is dropped.
//!
//! Runs with `cargo xtask test`; skips loudly under plain `cargo test`.

#![allow(clippy::expect_used, clippy::print_stderr, reason = "test code")]

mod support;

use std::time::{Duration, Instant};

use agentpod_podspec::{AgentPodSpec, PodName, RenderedPod, RestartPolicy};
use agentpod_testkit::cluster::BUSYBOX_IMAGE;
use agentpod_transport::{
    ClusterConnection, ExecRequest, Transport, TransportError, WorkerOptions,
};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;

fn worker(ns: &str, name: &str, policy: RestartPolicy, script: &str) -> RenderedPod {
    AgentPodSpec::new(BUSYBOX_IMAGE)
        .name(PodName::explicit(name))
        .namespace(ns)
        .restart_policy(policy)
        .termination_grace_period_seconds(0)
        .command(["sh", "-c", script])
        .secret_env("TOKEN", "worker-secret")
        .render(std::time::SystemTime::now())
        .expect("renders")
}

fn options() -> WorkerOptions {
    WorkerOptions::default().start_timeout(Duration::from_secs(60))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_twenty_racing_callers_create_one_worker() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let rendered = worker(
        setup.ns.name(),
        "racer",
        RestartPolicy::Always,
        "while :; do sleep 3600; done",
    );
    // Four transports stand in for four processes (separate in-process locks),
    // five callers each: both the lock and the 409 path are exercised.
    let mut transports = vec![setup.transport.clone()];
    for _ in 0..3 {
        transports.push(
            ClusterConnection::kubeconfig_file(setup.cluster.kubeconfig())
                .connect()
                .await
                .expect("connect"),
        );
    }
    let mut callers = Vec::new();
    for index in 0..20 {
        let transport: Transport = transports[index % 4].clone();
        let rendered = rendered.clone();
        callers.push(tokio::spawn(async move {
            transport.ensure_worker(&rendered, options()).await
        }));
    }
    let mut uids = Vec::new();
    for caller in callers {
        let pod = caller.await.expect("joined").expect("ensure_worker");
        uids.push(pod.metadata.uid.expect("uid"));
    }
    uids.dedup();
    assert_eq!(uids.len(), 1, "all callers must get the same pod: {uids:?}");
    let pods: Api<Pod> = setup.ns.api();
    let all = pods.list(&Default::default()).await.expect("list");
    assert_eq!(all.items.len(), 1, "exactly one pod exists");
}

#[tokio::test]
async fn cluster_dead_worker_is_recreated() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let rendered = worker(
        setup.ns.name(),
        "shortlived",
        RestartPolicy::Never,
        "sleep 2",
    );
    let first = setup
        .transport
        .ensure_worker(&rendered, options())
        .await
        .expect("first");
    // Wait until it has died (Succeeded).
    let pods: Api<Pod> = setup.ns.api();
    let started = Instant::now();
    loop {
        let pod = pods.get("shortlived").await.expect("get");
        if pod.status.and_then(|s| s.phase).as_deref() == Some("Succeeded") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "worker never finished"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let second = setup
        .transport
        .ensure_worker(&rendered, options())
        .await
        .expect("second");
    assert_ne!(
        first.metadata.uid, second.metadata.uid,
        "a new pod replaced the dead one"
    );
    let phase = second.status.and_then(|s| s.phase);
    assert_eq!(phase.as_deref(), Some("Running"));
}

async fn running_worker(setup: &support::Setup, name: &str) {
    let rendered = worker(
        setup.ns.name(),
        name,
        RestartPolicy::Always,
        "while :; do sleep 3600; done",
    );
    setup
        .transport
        .ensure_worker(&rendered, options())
        .await
        .expect("worker runs");
}

#[tokio::test]
async fn cluster_exec_exit_status_stdin_and_separate_streams() {
    let Some(setup) = support::setup().await else {
        return;
    };
    running_worker(&setup, "execer").await;
    let request = ExecRequest::new([
        "sh",
        "-c",
        "cat; echo; echo \"to stderr $TOKEN\" >&2; exit 3",
    ])
    .stdin("prompt via stdin");
    let output = setup
        .transport
        .exec(setup.ns.name(), "execer", request)
        .await
        .expect("exec");
    assert_eq!(output.exit_code, 3);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "prompt via stdin\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "to stderr worker-secret\n"
    );

    let big = vec![b'x'; 300_000];
    let request = ExecRequest::new(["wc", "-c"]).stdin(big);
    let output = setup
        .transport
        .exec(setup.ns.name(), "execer", request)
        .await
        .expect("exec");
    assert_eq!(
        (
            output.exit_code,
            String::from_utf8_lossy(&output.stdout).trim()
        ),
        (0, "300000")
    );

    let missing = ExecRequest::new(["no-such-command"]);
    let output = setup
        .transport
        .exec(setup.ns.name(), "execer", missing)
        .await
        .expect("exec");
    assert_eq!(
        output.exit_code,
        127,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Processes in the worker whose command line contains `marker`.
async fn processes_with(setup: &support::Setup, pod: &str, marker: &str) -> String {
    let script = format!("ps -o pid,args | grep '{marker}' | grep -v grep || true");
    let output = setup
        .transport
        .exec(
            setup.ns.name(),
            pod,
            ExecRequest::new(["sh", "-c", &script]),
        )
        .await
        .expect("ps exec");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn wait_no_process(setup: &support::Setup, pod: &str, marker: &str) -> Duration {
    let started = Instant::now();
    loop {
        let found = processes_with(setup, pod, marker).await;
        if found.trim().is_empty() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still running:\n{found}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn cluster_exec_timeout_and_drop_kill_the_remote_process() {
    let Some(setup) = support::setup().await else {
        return;
    };
    running_worker(&setup, "killer").await;

    let request =
        ExecRequest::new(["sh", "-c", "sleep 301 & sleep 302"]).run_timeout(Duration::from_secs(2));
    let error = setup
        .transport
        .exec(setup.ns.name(), "killer", request)
        .await
        .expect_err("times out");
    assert!(
        matches!(error, TransportError::ExecTimeout { .. }),
        "{error}"
    );
    let gone = wait_no_process(&setup, "killer", "sleep 30[12]").await;
    eprintln!("timed-out exec's process group gone {gone:?} after the timeout");

    let request = ExecRequest::new(["sleep", "303"]);
    let dropped = tokio::time::timeout(
        Duration::from_secs(3),
        setup.transport.exec(setup.ns.name(), "killer", request),
    )
    .await;
    assert!(
        dropped.is_err(),
        "the exec future was dropped by the timeout"
    );
    let gone = wait_no_process(&setup, "killer", "sleep 303").await;
    eprintln!("dropped exec's process gone {gone:?} after the drop");
}
