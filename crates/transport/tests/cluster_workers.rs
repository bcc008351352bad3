//! Warm worker pods: racing ensure-running callers, recreation of a dead
//! worker, health and delete through the handle, a foreign pod refused, exec
//! exit status with separate stdout/stderr, remote processes killed when an
//! exec times out or is dropped and when the command leaves children behind,
//! and one exec at a time per worker.
//!
//! Runs with `cargo xtask test`; skips loudly under plain `cargo test`.

#![allow(clippy::expect_used, clippy::print_stderr, reason = "test code")]

mod support;

use std::time::{Duration, Instant};

use agentpod_podspec::{AgentPodSpec, PodName, RenderedPod, RestartPolicy};
use agentpod_testkit::cluster::BUSYBOX_IMAGE;
use agentpod_transport::{
    ClusterConnection, ExecOptions, ExecRequest, StartPolicy, Transport, TransportError, Worker,
    WorkerHealth,
};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::PostParams;

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

fn options() -> StartPolicy {
    StartPolicy::default().start_timeout(Duration::from_secs(60))
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
        let worker = caller.await.expect("joined").expect("ensure_worker");
        uids.push(worker.uid().to_owned());
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
    assert_ne!(first.uid(), second.uid(), "a new pod replaced the dead one");
    assert!(
        matches!(first.health().await.expect("health"), WorkerHealth::Gone),
        "the old handle knows its pod is gone"
    );
    assert_eq!(second.health().await.expect("health"), WorkerHealth::Ready);
}

#[tokio::test]
async fn cluster_a_deleted_worker_is_gone_and_comes_back_on_ensure() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let rendered = worker(
        setup.ns.name(),
        "deleted",
        RestartPolicy::Always,
        "while :; do sleep 3600; done",
    );
    let first = setup
        .transport
        .ensure_worker(&rendered, options())
        .await
        .expect("first");
    first.delete().await.expect("delete");
    let health = first.health().await.expect("health");
    assert!(
        matches!(health, WorkerHealth::Gone | WorkerHealth::Terminating),
        "{health}"
    );
    let second = setup
        .transport
        .ensure_worker(&rendered, options())
        .await
        .expect("second");
    assert_ne!(first.uid(), second.uid());
    let output = second
        .exec(
            &ExecRequest::new(["sh", "-c", "echo $TOKEN"]),
            &ExecOptions::default(),
        )
        .await
        .expect("exec");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "worker-secret\n",
        "the new pod has its own Secret"
    );
}

#[tokio::test]
async fn cluster_a_foreign_pod_with_the_workers_name_is_refused() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let foreign: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "taken", "labels": {"app": "not-agentpod"}},
        "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": "main",
            "image": BUSYBOX_IMAGE, "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", "while :; do sleep 3600; done"]}]}
    }))
    .expect("pod");
    let pods: Api<Pod> = setup.ns.api();
    pods.create(&PostParams::default(), &foreign)
        .await
        .expect("create the foreign pod");
    let rendered = worker(
        setup.ns.name(),
        "taken",
        RestartPolicy::Always,
        "while :; do sleep 3600; done",
    );
    let error = setup
        .transport
        .ensure_worker(&rendered, options())
        .await
        .expect_err("never a worker");
    assert!(
        matches!(&error, TransportError::NameConflict { kind: "pod", .. }),
        "{error}"
    );
    let still = pods
        .get("taken")
        .await
        .expect("the foreign pod is left alone");
    assert!(still.metadata.deletion_timestamp.is_none());
}

async fn running_worker(setup: &support::Setup, name: &str) -> Worker {
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
        .expect("worker runs")
}

async fn exec(
    worker: &Worker,
    request: ExecRequest,
    options: ExecOptions,
) -> agentpod_transport::ExecOutput {
    worker.exec(&request, &options).await.expect("exec")
}

#[tokio::test]
async fn cluster_exec_exit_status_stdin_and_separate_streams() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let worker = running_worker(&setup, "execer").await;
    let request = ExecRequest::new([
        "sh",
        "-c",
        "cat; echo; echo \"to stderr $TOKEN\" >&2; exit 3",
    ])
    .stdin("prompt via stdin");
    let output = exec(&worker, request, ExecOptions::default()).await;
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
    let output = exec(
        &worker,
        ExecRequest::new(["wc", "-c"]).stdin(big),
        ExecOptions::default(),
    )
    .await;
    assert_eq!(
        (
            output.exit_code,
            String::from_utf8_lossy(&output.stdout).trim()
        ),
        (0, "300000")
    );

    let words = ["", "two words", "line\n", "-n", "'\"$HOME\\", "ünï ✓"];
    let mut command = vec!["sh", "-c", "for a; do printf '<%s>' \"$a\"; done", "sh"];
    command.extend(words);
    let output = exec(&worker, ExecRequest::new(command), ExecOptions::default()).await;
    let expected: String = words.iter().map(|w| format!("<{w}>")).collect();
    assert_eq!(String::from_utf8_lossy(&output.stdout), expected);

    let missing = ExecRequest::new(["no-such-command"]);
    let output = exec(&worker, missing, ExecOptions::default()).await;
    assert_eq!(
        output.exit_code,
        127,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Processes in the worker whose command line matches `pattern`.
async fn processes_with(worker: &Worker, pattern: &str) -> String {
    let script = format!("ps -o pid,args | grep '{pattern}' | grep -v grep || true");
    let options = ExecOptions::default().concurrent(true);
    let output = exec(worker, ExecRequest::new(["sh", "-c", &script]), options).await;
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn wait_no_process(worker: &Worker, pattern: &str) -> Duration {
    let started = Instant::now();
    loop {
        let found = processes_with(worker, pattern).await;
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
    let worker = running_worker(&setup, "killer").await;

    // The command dies of the TERM; its child ignores TERM and needs the KILL.
    let request = ExecRequest::new(["sh", "-c", "(trap '' TERM; sleep 301) & sleep 302"]);
    let options = ExecOptions::default().run_timeout(Duration::from_secs(2));
    let error = worker
        .exec(&request, &options)
        .await
        .expect_err("times out");
    assert!(
        matches!(error, TransportError::ExecTimeout { .. }),
        "{error}"
    );
    let gone = wait_no_process(&worker, "sleep 30[12]").await;
    eprintln!("timed-out exec's process group gone {gone:?} after the timeout");

    let request = ExecRequest::new(["sleep", "303"]);
    let options = ExecOptions::default();
    let dropped =
        tokio::time::timeout(Duration::from_secs(3), worker.exec(&request, &options)).await;
    assert!(
        dropped.is_err(),
        "the exec future was dropped by the timeout"
    );
    let gone = wait_no_process(&worker, "sleep 303").await;
    eprintln!("dropped exec's process gone {gone:?} after the drop");
}

#[tokio::test]
async fn cluster_exec_returns_the_exit_code_when_children_outlive_the_command() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let worker = running_worker(&setup, "leaver").await;
    let options = ExecOptions::default().run_timeout(Duration::from_secs(30));
    for (script, code) in [
        ("sleep 304 & echo started; exit 4", 4),
        ("(trap '' TERM; sleep 305) & echo started; exit 5", 5),
    ] {
        let started = Instant::now();
        let output = worker
            .exec(&ExecRequest::new(["sh", "-c", script]), &options)
            .await
            .expect("the exit code, not ExecTimeout");
        assert_eq!(
            (output.exit_code, String::from_utf8_lossy(&output.stdout)),
            (code, "started\n".into()),
            "{script}"
        );
        eprintln!("{script}: exit code after {:?}", started.elapsed());
        assert_eq!(processes_with(&worker, "sleep 30[45]").await.trim(), "");
    }
}

#[tokio::test]
async fn cluster_execs_into_one_worker_take_turns() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let worker = running_worker(&setup, "turns").await;
    let first = {
        let worker = worker.clone();
        tokio::spawn(async move {
            let request = ExecRequest::new(["sh", "-c", "sleep 6.5; echo first"]);
            worker.exec(&request, &ExecOptions::default()).await
        })
    };
    // A concurrent exec (opted in) sees the first one running...
    let started = Instant::now();
    while processes_with(&worker, "sleep 6.5").await.trim().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ...while a default exec has to wait for its turn.
    let impatient = ExecOptions::default().queue_timeout(Duration::from_millis(500));
    let error = worker
        .exec(&ExecRequest::new(["true"]), &impatient)
        .await
        .expect_err("busy");
    assert!(
        matches!(error, TransportError::WorkerBusy { .. }),
        "{error}"
    );
    let second = exec(
        &worker,
        ExecRequest::new(["echo", "second"]),
        ExecOptions::default(),
    )
    .await;
    let first = first.await.expect("joined").expect("first");
    assert_eq!(
        (&first.stdout[..], &second.stdout[..]),
        (&b"first\n"[..], &b"second\n"[..])
    );
}
