//! Shared setup of the transport's cluster tests.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::time::{Duration, Instant};

use agentpod_podspec::labels::MANAGED_SELECTOR;
use agentpod_podspec::{AgentPodSpec, PodName};
use agentpod_testkit::cluster::{BUSYBOX_IMAGE, Cluster, TestNamespace};
use agentpod_transport::{ClusterConnection, RunOptions, RunOutcome, Transport, TransportError};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::ListParams;

/// A cluster, a fresh namespace and a transport built the way users build it.
pub struct Setup {
    pub cluster: Cluster,
    pub ns: TestNamespace,
    pub transport: Transport,
}

/// `None` (after printing SKIPPED) when no cluster is configured.
pub async fn setup() -> Option<Setup> {
    // `RUST_LOG=agentpod_transport=debug` shows what the transport did.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let cluster = Cluster::for_test().await?;
    let ns = cluster.namespace().await;
    let transport = ClusterConnection::kubeconfig_file(cluster.kubeconfig())
        .connect()
        .await
        .expect("transport connects with the cluster's kubeconfig");
    Some(Setup {
        cluster,
        ns,
        transport,
    })
}

impl Setup {
    /// Starts `spec` (a failed start fails the test) and waits for the run's
    /// end: the outcome, or the error the run ended with.
    pub async fn run_to_end(
        &self,
        spec: AgentPodSpec,
        options: RunOptions,
    ) -> Result<RunOutcome, TransportError> {
        self.transport
            .start(spec, options)
            .await
            .expect("start")
            .wait()
            .await
    }

    /// A busybox pod running `script` under `sh -c`, with a generated name.
    pub fn busybox(&self, prefix: &str, script: &str) -> AgentPodSpec {
        self.pod(BUSYBOX_IMAGE, prefix, script)
    }

    /// A pod of `image` running `script` under `sh -c`, with a generated name.
    pub fn pod(&self, image: &str, prefix: &str, script: &str) -> AgentPodSpec {
        AgentPodSpec::new(image)
            .name(PodName::generated(prefix))
            .namespace(self.ns.name())
            .command(["sh", "-c", script])
            .termination_grace_period_seconds(0)
    }

    /// Our pods and Secrets still present in the test namespace.
    pub async fn leftovers(&self) -> (usize, usize) {
        let params = ListParams::default().labels(MANAGED_SELECTOR);
        let pods: Api<Pod> = self.ns.api();
        let secrets: Api<Secret> = self.ns.api();
        let pods = pods.list(&params).await.expect("list pods").items.len();
        let secrets = secrets
            .list(&params)
            .await
            .expect("list secrets")
            .items
            .len();
        (pods, secrets)
    }

    /// Polls until none of our objects remain; returns how long it took.
    pub async fn wait_no_leftovers(&self, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let (pods, secrets) = self.leftovers().await;
            if pods == 0 && secrets == 0 {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < limit,
                "{pods} pods and {secrets} secrets still exist after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
