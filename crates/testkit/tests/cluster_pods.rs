//! Proof that the local cluster behaves like a real one for what agentpod
//! relies on: exit codes and logs, exec, Secret volumes, deadlines, image
//! pull failures and ownerReference garbage collection.
//!
//! Runs with `cargo xtask test`; skips loudly under plain `cargo test`.

#![allow(
    clippy::expect_used,
    reason = "a failed setup step should fail the test"
)]

use std::time::Duration;

use agentpod_testkit::cluster::{BUSYBOX_IMAGE, Cluster, TestNamespace};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateTerminated, ContainerStateWaiting, Pod, Secret,
};
use kube::Api;
use kube::api::{AttachParams, DeleteParams, LogParams, PostParams};
use serde_json::json;
use tokio::io::AsyncReadExt;

const WAIT: Duration = Duration::from_secs(60);

fn pod(name: &str, image: &str, command: &[&str], extra_spec: serde_json::Value) -> Pod {
    let mut spec = json!({
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 0,
        "containers": [{
            "name": "main",
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "command": command,
        }],
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
        for (key, value) in extra {
            spec.insert(key.clone(), value.clone());
        }
    }
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec}))
        .expect("valid pod JSON")
}

/// The cluster and a fresh namespace; `None` (skipped) without a cluster.
async fn setup() -> Option<(Cluster, TestNamespace)> {
    let cluster = Cluster::for_test().await?;
    let ns = cluster.namespace().await;
    Some((cluster, ns))
}

async fn create(ns: &TestNamespace, pod: &Pod) -> Pod {
    let pods: Api<Pod> = ns.api();
    pods.create(&PostParams::default(), pod)
        .await
        .expect("pod created")
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

/// The state of the pod's first container.
fn first_state(pod: &Pod) -> Option<&ContainerState> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()
}

fn terminated(pod: &Pod) -> Option<&ContainerStateTerminated> {
    first_state(pod)?.terminated.as_ref()
}

fn waiting(pod: &Pod) -> Option<&ContainerStateWaiting> {
    first_state(pod)?.waiting.as_ref()
}

/// Waits (up to [`WAIT`]) until pod `name` reaches phase `wanted`.
async fn wait_for_phase(ns: &TestNamespace, name: &str, wanted: &str) -> Pod {
    ns.wait_for_pod(name, &format!("phase {wanted}"), WAIT, |p| {
        phase(p) == Some(wanted)
    })
    .await
}

/// The whole log of pod `name`'s container.
async fn read_log(ns: &TestNamespace, name: &str) -> String {
    let pods: Api<Pod> = ns.api();
    pods.logs(name, &LogParams::default())
        .await
        .expect("log readable")
}

/// Creates the Secret `json` describes.
async fn create_secret(ns: &TestNamespace, json: serde_json::Value) {
    let secret: Secret = serde_json::from_value(json).expect("valid secret JSON");
    let secrets: Api<Secret> = ns.api();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret created");
}

#[tokio::test]
async fn cluster_pod_exit_code_and_log_are_reported() {
    let Some((_cluster, ns)) = setup().await else {
        return;
    };
    let script = ["sh", "-c", "echo line-from-busybox; exit 3"];
    create(&ns, &pod("exits", BUSYBOX_IMAGE, &script, json!({}))).await;

    let done = wait_for_phase(&ns, "exits", "Failed").await;
    let exit = terminated(&done).map(|t| t.exit_code);
    if exit != Some(3) {
        ns.fail_with_pod_report("exits", &format!("expected exit code 3, got {exit:?}"))
            .await;
    }
    let log = read_log(&ns, "exits").await;
    assert_eq!(log, "line-from-busybox\n");
}

#[tokio::test]
async fn cluster_exec_into_running_pod() {
    let Some((_cluster, ns)) = setup().await else {
        return;
    };
    create(
        &ns,
        &pod("sleeper", BUSYBOX_IMAGE, &["sleep", "3600"], json!({})),
    )
    .await;
    wait_for_phase(&ns, "sleeper", "Running").await;

    let pods: Api<Pod> = ns.api();
    let params = AttachParams::default().stderr(false);
    let mut attached = pods
        .exec(
            "sleeper",
            ["sh", "-c", "echo $((6 * 7)) from $(hostname)"],
            &params,
        )
        .await
        .expect("exec starts");
    let mut stdout = attached.stdout().expect("stdout attached");
    let mut output = String::new();
    stdout
        .read_to_string(&mut output)
        .await
        .expect("stdout readable");
    attached.join().await.expect("exec finishes");
    assert_eq!(output, "42 from sleeper\n");
}

#[tokio::test]
async fn cluster_secret_volume_mounts() {
    let Some((_cluster, ns)) = setup().await else {
        return;
    };
    create_secret(
        &ns,
        json!({
            "metadata": {"name": "creds"},
            "stringData": {"token": "not-a-real-token"},
        }),
    )
    .await;

    let mut reader = pod(
        "reader",
        BUSYBOX_IMAGE,
        &["cat", "/etc/creds/token"],
        json!({
            "volumes": [{"name": "creds", "secret": {"secretName": "creds"}}],
        }),
    );
    if let Some(spec) = reader.spec.as_mut() {
        spec.containers[0].volume_mounts = Some(vec![
            serde_json::from_value(
                json!({"name": "creds", "mountPath": "/etc/creds", "readOnly": true}),
            )
            .expect("valid mount JSON"),
        ]);
    }
    create(&ns, &reader).await;
    wait_for_phase(&ns, "reader", "Succeeded").await;
    let log = read_log(&ns, "reader").await;
    assert_eq!(log, "not-a-real-token");
}

#[tokio::test]
async fn cluster_active_deadline_kills_pod() {
    let Some((_cluster, ns)) = setup().await else {
        return;
    };
    create(
        &ns,
        &pod(
            "late",
            BUSYBOX_IMAGE,
            &["sleep", "3600"],
            json!({"activeDeadlineSeconds": 2}),
        ),
    )
    .await;
    let done = wait_for_phase(&ns, "late", "Failed").await;
    let reason = done.status.as_ref().and_then(|s| s.reason.as_deref());
    assert_eq!(reason, Some("DeadlineExceeded"));
}

#[tokio::test]
async fn cluster_missing_image_reports_err_image_pull() {
    let Some((_cluster, ns)) = setup().await else {
        return;
    };
    create(
        &ns,
        &pod(
            "ghost",
            "agentpod.local/does-not-exist:1",
            &["true"],
            json!({}),
        ),
    )
    .await;
    let stuck = ns
        .wait_for_pod("ghost", "waiting reason ErrImagePull", WAIT, |p| {
            waiting(p).and_then(|w| w.reason.as_deref()) == Some("ErrImagePull")
        })
        .await;
    let message = waiting(&stuck)
        .and_then(|w| w.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains("does-not-exist"),
        "pull error names the image: {message}"
    );
    assert_eq!(phase(&stuck), Some("Pending"));
}

#[tokio::test]
async fn cluster_owner_reference_gc_deletes_dependent_secret() {
    let Some((_cluster, ns)) = setup().await else {
        return;
    };
    let owner = create(
        &ns,
        &pod("owner", BUSYBOX_IMAGE, &["sleep", "3600"], json!({})),
    )
    .await;
    let uid = owner.metadata.uid.clone().expect("created pod has a uid");
    let owned = json!({
        "metadata": {
            "name": "owned",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "owner", "uid": uid}],
        },
        "stringData": {"k": "v"},
    });
    create_secret(&ns, owned).await;

    let pods: Api<Pod> = ns.api();
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    pods.delete("owner", &now).await.expect("pod deleted");
    let secrets: Api<Secret> = ns.api();
    let deadline = tokio::time::Instant::now() + WAIT;
    while secrets
        .get_opt("owned")
        .await
        .expect("secret readable")
        .is_some()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the garbage collector did not delete the Secret owned by the deleted pod"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
