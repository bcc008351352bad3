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
