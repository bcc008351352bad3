//! One throw-away namespace per test.
//!
//! Why a guard: tests fail by panicking, so cleanup must happen in `Drop`.
//! `Drop` cannot await, and the test's runtime may already be unwinding, so
//! the guard deletes from a short-lived thread with its own runtime and client.
//! Pods go first with grace period 0: a graceful delete takes up to a minute
//! on the local node.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client, Resource};

use super::{Cluster, ClusterError, client_from_kubeconfig, pod_report};

/// Label put on every namespace a test creates, so leftovers are easy to find.
pub const TEST_NAMESPACE_LABEL: &str = "agentpod.dev/test-namespace";

/// How long a new namespace may take to get its default service account token.
/// Normally about a second; but right after a fault test restarted the API
/// server, the controller manager's informers back off (client-go doubles up
/// to 30 s, with jitter) and the token controller took over 30 s (seen after
/// four restarts in two minutes).
const SERVICE_ACCOUNT_TIMEOUT: Duration = Duration::from_secs(120);

/// A namespace that exists for one test and is deleted when dropped.
pub struct TestNamespace {
    name: String,
    client: Client,
    kubeconfig: PathBuf,
}

impl std::fmt::Debug for TestNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestNamespace")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TestNamespace {
    /// Creates `t-<test>-<random>` and waits until pods can be created in it
    /// (the default service account has its token).
    pub(crate) async fn create(cluster: &Cluster, test_name: &str) -> Result<Self, ClusterError> {
        let name = namespace_name(test_name);
        let client = cluster.client();
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([(TEST_NAMESPACE_LABEL.to_string(), "true".to_string())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .map_err(|source| ClusterError::Api {
                action: "creating the namespace".into(),
                namespace: name.clone(),
                source,
            })?;
        let guard = TestNamespace {
            name,
            client,
            kubeconfig: cluster.kubeconfig().to_path_buf(),
        };
        guard.wait_for_service_account_token().await?;
        Ok(guard)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client the namespace was created with.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// An API handle for namespaced resources of this namespace.
    ///
    /// ```no_run
    /// # fn t(ns: &agentpod_testkit::cluster::TestNamespace) {
    /// let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> = ns.api();
    /// # let _ = secrets; }
    /// ```
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Waits until `condition` holds for pod `pod`, and returns the pod.
    ///
    /// On timeout the test fails with `what`, the pod's status, events and logs.
    ///
    /// ```no_run
    /// # async fn t(ns: &agentpod_testkit::cluster::TestNamespace) {
    /// use std::time::Duration;
    /// let pod = ns.wait_for_pod("p", "phase Succeeded", Duration::from_secs(30), |pod| {
    ///     pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded")
    /// }).await;
    /// # let _ = pod; }
    /// ```
    pub async fn wait_for_pod(
        &self,
        pod: &str,
        what: &str,
        timeout: Duration,
        condition: impl Fn(&Pod) -> bool,
    ) -> Pod {
        let pods: Api<Pod> = self.api();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match pods.get_opt(pod).await {
                Ok(Some(found)) if condition(&found) => return found,
                Ok(_) => {}
                Err(error) => {
                    self.fail_with_pod_report(pod, &format!("reading the pod failed: {error}"))
                        .await
                }
            }
            if tokio::time::Instant::now() >= deadline {
                self.fail_with_pod_report(
                    pod,
                    &format!("pod did not reach `{what}` within {timeout:?}"),
                )
                .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Fails the running test with `message` plus the pod's status, events and logs.
    pub async fn fail_with_pod_report(&self, pod: &str, message: &str) -> ! {
        let report = pod_report(&self.client, &self.name, pod).await;
        panic!("{message}\n{report}")
    }

    async fn wait_for_service_account_token(&self) -> Result<(), ClusterError> {
        let accounts: Api<ServiceAccount> = self.api();
        let deadline = tokio::time::Instant::now() + SERVICE_ACCOUNT_TIMEOUT;
        loop {
            let account =
                accounts
                    .get_opt("default")
                    .await
                    .map_err(|source| ClusterError::Api {
                        action: "reading the default service account".into(),
                        namespace: self.name.clone(),
                        source,
                    })?;
            if account.is_some_and(|a| a.secrets.is_some_and(|s| !s.is_empty())) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClusterError::Timeout {
                    what: "the default service account token (is kube-controller-manager running?)"
                        .into(),
                    namespace: self.name.clone(),
                    seconds: SERVICE_ACCOUNT_TIMEOUT.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let name = self.name.clone();
        let kubeconfig = self.kubeconfig.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let client = client_from_kubeconfig(&kubeconfig).await?;
                delete_now(client, &name).await?;
                Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
            })?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        });
        match cleanup.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(namespace = %self.name, %error, "test namespace not deleted")
            }
            Err(_) => tracing::warn!(namespace = %self.name, "test namespace cleanup panicked"),
        }
    }
}

/// Deletes every pod of `namespace` and then the namespace, all with grace period 0.
async fn delete_now(client: Client, namespace: &str) -> Result<(), kube::Error> {
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::background()
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    pods.delete_collection(&now, &ListParams::default()).await?;
    let namespaces: Api<Namespace> = Api::all(client);
    namespaces.delete(namespace, &now).await?;
    Ok(())
}

/// `t-<test name, DNS-safe, shortened>-<random hex>`, at most 63 characters.
fn namespace_name(test_name: &str) -> String {
    let mut safe: String = test_name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    safe.truncate(44);
    let safe = safe.trim_matches('-');
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos()),
    );
    let suffix = hasher.finish() & 0xff_ffff;
    format!("t-{safe}-{suffix:06x}")
}

#[cfg(test)]
mod tests {
    use super::namespace_name;

    #[test]
    fn namespace_names_are_dns_labels_and_unique() {
        let long = "cluster_pods::a_very_long_test_name_that_goes_on_and_on_and_on_forever";
        let first = namespace_name(long);
        let second = namespace_name(long);
        assert_ne!(first, second);
        for name in [&first, &second, &namespace_name("__x__")] {
            assert!(name.len() <= 63, "{name}");
            assert!(name.starts_with("t-"), "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
            assert!(!name.ends_with('-'), "{name}");
        }
    }
}
