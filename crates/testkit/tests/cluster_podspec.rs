//! Every pod and Secret of the podspec snapshot cases is accepted by the real
//! API server (server-side dry run, so admission and validation run but
//! nothing is stored or scheduled).
//!
//! The cases are podspec's own test fixtures (`crates/podspec/tests/cases`),
//! included here by path so both tests render the very same objects. The
//! cases' fixed namespaces are mapped onto the test's own namespace;
//! the objects a case requires (service accounts, a PriorityClass, a
//! RuntimeClass) are created for real first.
//!
//! Runs with `cargo xtask test`; skips loudly under plain `cargo test`.

#![allow(
    clippy::expect_used,
    reason = "a failed setup step should fail the test"
)]

use std::time::Duration;

#[path = "../../podspec/tests/cases/mod.rs"]
mod cases;

use agentpod_testkit::cluster::{Cluster, TestNamespace};
use cases::{Requirement, render_time};
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Resource};
use serde_json::json;

/// Creates a cluster-scoped object unless it exists; returns whether we created it.
async fn ensure_cluster_object<K>(api: &Api<K>, object: &K) -> bool
where
    K: Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.create(&PostParams::default(), object).await {
        Ok(_) => true,
        Err(kube::Error::Api(status)) if status.code == 409 => false,
        Err(error) => panic!("cannot create requirement {object:?}: {error}"),
    }
}

async fn create_service_account(ns: &TestNamespace, name: &str) {
    let accounts: Api<ServiceAccount> = ns.api();
    let account: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("valid JSON");
    if let Err(error) = accounts.create(&PostParams::default(), &account).await {
        assert!(
            matches!(&error, kube::Error::Api(status) if status.code == 409),
            "cannot create service account {name}: {error}"
        );
    }
    // Pods using the account are admitted once its token exists.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let account = accounts.get(name).await.expect("service account readable");
        if account.secrets.is_some_and(|s| !s.is_empty()) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no token for service account {name}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn cluster_podspec_cases_pass_server_side_dry_run() {
    let Some(cluster) = Cluster::for_test().await else {
        return;
    };
    let ns = cluster.namespace().await;
    let client = cluster.client();
    let priority_classes: Api<PriorityClass> = Api::all(client.clone());
    let runtime_classes: Api<RuntimeClass> = Api::all(client.clone());
    let mut created_priority = Vec::new();
    let mut created_runtime = Vec::new();

    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let mut rejected = Vec::new();
    let all = cases::all();
    assert!(!all.is_empty(), "there are cases");
    for case in &all {
        for requirement in &case.requires {
            match requirement {
                Requirement::Namespace(_) => {}
                Requirement::ServiceAccount { name, .. } => create_service_account(&ns, name).await,
                Requirement::PriorityClass(name) => {
                    let class =
                        serde_json::from_value(json!({"metadata": {"name": name}, "value": 1000}))
                            .expect("valid JSON");
                    if ensure_cluster_object(&priority_classes, &class).await {
                        created_priority.push(name.to_string());
                    }
                }
                Requirement::RuntimeClass { name, handler } => {
                    let class = serde_json::from_value(
                        json!({"metadata": {"name": name}, "handler": handler}),
                    )
                    .expect("valid JSON");
                    if ensure_cluster_object(&runtime_classes, &class).await {
                        created_runtime.push(name.to_string());
                    }
                }
            }
        }

        let mut rendered = case.spec.render(render_time()).expect("case renders");
        rendered.pod.metadata.namespace = Some(ns.name().to_string());
        let secrets: Api<Secret> = ns.api();
        for secret in &mut rendered.secrets {
            secret.metadata.namespace = Some(ns.name().to_string());
            if let Err(error) = secrets.create(&dry_run, secret).await {
                rejected.push(format!(
                    "{}: Secret {:?}: {error}",
                    case.name, secret.metadata.name
                ));
            }
        }
        let pods: Api<Pod> = ns.api();
        match pods.create(&dry_run, &rendered.pod).await {
            Ok(accepted) => assert_eq!(accepted.metadata.name.as_deref(), Some(rendered.name())),
            Err(error) => rejected.push(format!("{}: Pod: {error}", case.name)),
        }
    }

    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    for name in created_priority {
        let _ = priority_classes.delete(&name, &now).await;
    }
    for name in created_runtime {
        let _ = runtime_classes.delete(&name, &now).await;
    }
    assert!(
        rejected.is_empty(),
        "the API server rejected:\n{}",
        rejected.join("\n")
    );
    // Dry runs store nothing.
    let pods: Api<Pod> = ns.api();
    let stored = pods.list(&Default::default()).await.expect("pods listed");
    assert!(
        stored.items.is_empty(),
        "dry runs created pods: {:?}",
        stored.items
    );
}
