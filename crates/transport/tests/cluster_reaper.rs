//! The reaper deletes only our expired or cluster-killed objects.
//!
//! Runs with `cargo xtask test`; skips loudly under plain `cargo test`.

#![allow(clippy::expect_used, reason = "test code")]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use agentpod_podspec::labels::{EXPIRES_AT_ANNOTATION, MANAGED_BY_LABEL};
use agentpod_testkit::cluster::BUSYBOX_IMAGE;
use agentpod_transport::Reaper;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

fn labels(ours: bool) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([("test".to_owned(), "reaper".to_owned())]);
    if ours {
        labels.insert(MANAGED_BY_LABEL.to_owned(), "agentpod".to_owned());
        labels.insert(
            "app.kubernetes.io/component".to_owned(),
            "agent-runner".to_owned(),
        );
    }
    labels
}

fn pod(name: &str, ours: bool, expiry: Option<&str>, deadline: Option<i64>) -> Pod {
    let annotations: BTreeMap<String, String> = expiry
        .map(|e| (EXPIRES_AT_ANNOTATION.to_owned(), e.to_owned()))
        .into_iter()
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels(ours), "annotations": annotations},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "activeDeadlineSeconds": deadline,
            "containers": [{"name": "c", "image": BUSYBOX_IMAGE, "imagePullPolicy": "IfNotPresent",
                            "command": ["sleep", "300"]}]
        }
    }))
    .expect("pod json")
}

fn secret(name: &str, expiry: &str) -> Secret {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels(true),
                     "annotations": {EXPIRES_AT_ANNOTATION: expiry}},
        "stringData": {"k": "v"}
    }))
    .expect("secret json")
}

#[tokio::test]
async fn cluster_reaper_deletes_only_expired_or_killed_objects_with_our_label() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let pods: Api<Pod> = setup.ns.api();
    let secrets: Api<Secret> = setup.ns.api();
    let past = "2001-01-01T00:00:00Z";
    let future = "2999-01-01T00:00:00Z";
    let create = PostParams::default();
    for object in [
        pod("expired", true, Some(past), None),
        pod("fresh", true, Some(future), None),
        pod("foreign-expired", false, Some(past), None),
        pod("unparseable", true, Some("next tuesday"), None),
        pod("no-expiry", true, None, None),
        pod("killed", true, Some(future), Some(1)),
    ] {
        pods.create(&create, &object).await.expect("create pod");
    }
    secrets
        .create(&create, &secret("expired-secret", past))
        .await
        .expect("secret");
    secrets
        .create(&create, &secret("fresh-secret", future))
        .await
        .expect("secret");

    // Wait until the kubelet killed "killed" (activeDeadlineSeconds: 1).
    let started = std::time::Instant::now();
    loop {
        let killed = pods.get("killed").await.expect("get");
        if killed.status.and_then(|s| s.reason).as_deref() == Some("DeadlineExceeded") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "pod never hit its deadline"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let report = Reaper::new(setup.transport.clone())
        .namespace(setup.ns.name())
        .sweep()
        .await
        .expect("sweep");
    let ns = setup.ns.name();
    let mut deleted = report.deleted_pods.clone();
    deleted.sort();
    assert_eq!(
        deleted,
        vec![format!("{ns}/expired"), format!("{ns}/killed")]
    );
    assert_eq!(report.deleted_secrets, vec![format!("{ns}/expired-secret")]);
    let mut skipped = report.skipped_unparseable.clone();
    skipped.sort();
    assert_eq!(
        skipped,
        vec![format!("{ns}/no-expiry"), format!("{ns}/unparseable")]
    );

    let mut left: Vec<String> = pods
        .list(&Default::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["foreign-expired", "fresh", "no-expiry", "unparseable"]
    );
    assert!(
        secrets
            .get_opt("fresh-secret")
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        secrets
            .get_opt("expired-secret")
            .await
            .expect("get")
            .is_none()
    );
}

/// Starts a run in a runtime of its own and shuts that runtime down once the
/// container runs: the process "crashed" (no drop guard ran). Returns the pod
/// name.
fn crashed_run(setup: &support::Setup, prefix: &str) -> String {
    use agentpod_transport::{ClusterConnection, RunEvent, RunOptions, StartPolicy};
    use futures::StreamExt;
    let spec = setup
        .busybox(prefix, "sleep 300")
        .secret_env("TOKEN", "crash-test-value");
    // Deadline and expiry 36 s out: start 5 s + run 1 s + 30 s slack, no margin.
    let options = RunOptions::default()
        .start(StartPolicy::default().start_timeout(Duration::from_secs(5)))
        .run_timeout(Duration::from_secs(1))
        .expiry_margin(Duration::ZERO);
    let kubeconfig = setup.cluster.kubeconfig().to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let pod = runtime.block_on(async {
            let transport = ClusterConnection::kubeconfig_file(kubeconfig)
                .connect()
                .await
                .expect("connects");
            let mut run = transport.start(spec, options).await.expect("start");
            let mut events = run.take_events().expect("events");
            while let Some(event) = events.next().await {
                if event == RunEvent::Running {
                    break;
                }
            }
            let pod = run.pod().to_owned();
            // Keep the run alive until the runtime is gone: no cleanup may run.
            std::mem::forget(run);
            pod
        });
        drop(runtime);
        pod
    })
    .join()
    .expect("the crashed process's thread")
}

#[tokio::test]
async fn cluster_reaper_cleans_up_after_a_crashed_run_whose_secret_owns_the_pod() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let pods: Api<Pod> = setup.ns.api();
    let secrets: Api<Secret> = setup.ns.api();
    let kept = crashed_run(&setup, "crash-kept");
    let orphaned = crashed_run(&setup, "crash-orphan");

    // The first Secret owns the pod (no patch, so no window without an owner).
    for name in [&kept, &orphaned] {
        let pod = pods.get(name).await.expect("the crashed run's pod is left");
        let secret = secrets
            .get(&format!("{name}-inputs"))
            .await
            .expect("its Secret is left");
        let owners = pod.metadata.owner_references.unwrap_or_default();
        assert_eq!(owners.len(), 1, "{owners:?}");
        assert_eq!(owners[0].kind, "Secret");
        assert_eq!(Some(&owners[0].uid), secret.metadata.uid.as_ref());
    }
    // Someone deletes the orphan's Secret: its pod must not stay behind.
    secrets
        .delete(&format!("{orphaned}-inputs"), &Default::default())
        .await
        .expect("delete the Secret");

    // Past the expiry (36 s after the start) the reaper deletes what is left.
    tokio::time::sleep(Duration::from_secs(38)).await;
    let report = Reaper::new(setup.transport.clone())
        .namespace(setup.ns.name())
        .sweep()
        .await
        .expect("sweep");
    let ns = setup.ns.name();
    assert!(
        report.deleted_pods.contains(&format!("{ns}/{kept}")),
        "{report:?}"
    );
    assert!(
        report
            .deleted_secrets
            .contains(&format!("{ns}/{kept}-inputs")),
        "{report:?}"
    );
    assert!(report.failed.is_empty(), "{report:?}");
    // The orphan's pod went with its Secret (garbage collector) or with this sweep.
    setup.wait_no_leftovers(Duration::from_secs(30)).await;
}
