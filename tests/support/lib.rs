//! Shared helpers of the end-to-end tests: a test namespace on the local cluster, the offline
//! model endpoint where pods reach it, and a `K8sEphemeralProvider` wired to both with the
//! runner image and its real `claude`.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed setup step fails the test"
)]

use std::time::Duration;

pub mod local;

use agentpod_podspec::labels::MANAGED_SELECTOR;
use agentpod_podspec::{AgentPodSpec, ImagePullPolicy};
use agentpod_provider::{
    ClusterConnection, Credential, K8sEphemeralProvider, K8sEphemeralProviderBuilder, RunOptions,
    StartPolicy,
};
use agentpod_testkit::cluster::{
    CLAUDE_RUNNER_BINARY, CLAUDE_RUNNER_IMAGE, Cluster, TestNamespace,
};
use agentpod_testkit::model::{ModelEndpoint, Script};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::ListParams;

/// The API key the pods get (the endpoint accepts any).
pub const TEST_API_KEY: &str = "agentpod-e2e-key-hygiene-c4f1";

/// One test's world: the cluster, a fresh namespace, the endpoint.
pub struct World {
    /// The cluster.
    pub cluster: Cluster,
    /// The test's namespace (deleted on drop).
    pub ns: TestNamespace,
    /// The scripted model endpoint, reachable from pods.
    pub endpoint: ModelEndpoint,
}

impl World {
    /// `None` (after printing SKIPPED) without a cluster.
    pub async fn new(script: Script) -> Option<World> {
        let cluster = Cluster::for_test().await?;
        assert!(
            TEST_API_KEY.contains(agentpod_testkit::cluster::CREDENTIAL_MARKER),
            "the hygiene scan looks for the marker in every cluster credential"
        );
        let ns = cluster.namespace().await;
        let endpoint = cluster
            .start_model_endpoint(script)
            .await
            .expect("endpoint starts");
        Some(World {
            cluster,
            ns,
            endpoint,
        })
    }

    /// A provider builder for this world: runner image in the test namespace, the endpoint as
    /// base URL, the test key, no CLI retries (fast failures).
    pub fn provider_builder(&self) -> K8sEphemeralProviderBuilder {
        let template = AgentPodSpec::new(CLAUDE_RUNNER_IMAGE)
            .namespace(self.ns.name())
            .image_pull_policy(ImagePullPolicy::IfNotPresent)
            .termination_grace_period_seconds(0)
            .env("CLAUDE_CODE_MAX_RETRIES", "0");
        K8sEphemeralProvider::builder(template)
            .claude_path(CLAUDE_RUNNER_BINARY)
            .api_key(Credential::Value(TEST_API_KEY.into()))
            .base_url(self.endpoint.base_url())
            .run_options(
                RunOptions::default()
                    .start(StartPolicy::default().start_timeout(Duration::from_secs(90)))
                    .run_timeout(Duration::from_secs(120)),
            )
    }

    /// The default provider of this world, with its own connection.
    pub async fn provider(&self) -> K8sEphemeralProvider {
        self.provider_builder()
            .connect(ClusterConnection::kubeconfig_file(
                self.cluster.kubeconfig(),
            ))
            .await
            .expect("provider connects")
    }

    /// Pods and Secrets of ours left in the namespace.
    pub async fn leftovers(&self) -> (usize, usize) {
        let params = ListParams::default().labels(MANAGED_SELECTOR);
        let pods: Api<Pod> = self.ns.api();
        let secrets: Api<Secret> = self.ns.api();
        let pods = pods.list(&params).await.expect("pods listed").items.len();
        let secrets = secrets
            .list(&params)
            .await
            .expect("secrets listed")
            .items
            .len();
        (pods, secrets)
    }

    /// Waits (at most 30 s) until no pod or Secret of ours is left; fails with what is left.
    pub async fn assert_no_leftovers(&self) {
        let mut left = (usize::MAX, usize::MAX);
        for _ in 0..60 {
            left = self.leftovers().await;
            if left == (0, 0) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let pods: Api<Pod> = self.ns.api();
        let params = ListParams::default().labels(MANAGED_SELECTOR);
        let described: Vec<String> = pods
            .list(&params)
            .await
            .map(|list| list.items)
            .unwrap_or_default()
            .iter()
            .map(|pod| {
                format!(
                    "{} (phase {:?}, deleting since {:?})",
                    pod.metadata.name.as_deref().unwrap_or_default(),
                    pod.status.as_ref().and_then(|s| s.phase.as_deref()),
                    pod.metadata.deletion_timestamp.as_ref().map(|t| &t.0),
                )
            })
            .collect();
        panic!(
            "left behind after 30 s: {} pods, {} secrets; pods: {described:?}",
            left.0, left.1
        );
    }
}
