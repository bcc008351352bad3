//! Client side of the local test cluster that `cargo xtask cluster up` starts.
//!
//! Why: every crate's cluster tests need the same three things — a client for
//! the real API server, a throw-away namespace, and a readable failure when a
//! pod misbehaves — and must skip loudly instead of failing when no cluster was
//! started (plain `cargo test`). `cargo xtask test` exports
//! [`KUBECONFIG_ENV`], so there the tests run, and an unreachable cluster is a
//! hard failure, never a silent skip.
//!
//! ```no_run
//! use agentpod_testkit::cluster::Cluster;
//!
//! #[tokio::test]
//! async fn cluster_pod_runs() {
//!     let Some(cluster) = Cluster::for_test().await else { return };
//!     let ns = cluster.namespace().await;
//!     let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = ns.api();
//!     // create a pod in ns.name(), then ns.wait_for_pod(...)
//! }
//! ```

mod diagnostics;
mod error;
mod namespace;
pub mod outage;
mod topology;

pub use diagnostics::pod_report;
pub use error::ClusterError;
pub use namespace::TestNamespace;
pub use topology::*;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::model::{ModelEndpoint, ModelEndpointError, Script};

/// How long a configured cluster may take to answer the first request.
const REACH_TIMEOUT: Duration = Duration::from_secs(15);

/// A connection to the running local cluster.
#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
    kubeconfig: PathBuf,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("kubeconfig", &self.kubeconfig)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// The kubeconfig named by [`KUBECONFIG_ENV`], if set and not empty.
    ///
    /// ```
    /// // Plain `cargo test` leaves it unset.
    /// let _maybe = agentpod_testkit::cluster::Cluster::configured_kubeconfig();
    /// ```
    pub fn configured_kubeconfig() -> Option<PathBuf> {
        std::env::var_os(KUBECONFIG_ENV)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    }

    /// Entry point of every cluster test.
    ///
    /// Returns `None` after printing `SKIPPED (no cluster): <test>` to stderr
    /// when no cluster is configured. Panics when a cluster is configured but
    /// cannot be reached, so a broken cluster never passes as a skip.
    ///
    /// ```no_run
    /// # async fn t() {
    /// let Some(cluster) = agentpod_testkit::cluster::Cluster::for_test().await else { return };
    /// # let _ = cluster; }
    /// ```
    pub async fn for_test() -> Option<Cluster> {
        let Some(kubeconfig) = Self::configured_kubeconfig() else {
            // Written to the stderr handle, not with `eprintln!`: libtest
            // captures the print macros of passing tests, and a skip must show.
            let _ = writeln!(
                std::io::stderr().lock(),
                "SKIPPED (no cluster): {} — run `cargo xtask test` (or `cargo xtask cluster up` and export {KUBECONFIG_ENV})",
                current_test_name()
            );
            return None;
        };
        match Self::connect(&kubeconfig).await {
            Ok(cluster) => Some(cluster),
            Err(error) => panic!(
                "{KUBECONFIG_ENV} is set but the cluster is unusable: {error}. Start it with `cargo xtask cluster up`."
            ),
        }
    }

    /// Connects with the given kubeconfig and checks that the API server answers. Installs the
    /// tracing output of [`trace_from_env`](crate::trace_from_env) first.
    ///
    /// ```no_run
    /// # async fn t() -> Result<(), agentpod_testkit::cluster::ClusterError> {
    /// let cluster = agentpod_testkit::cluster::Cluster::connect("/var/lib/agentpod-cluster/admin.kubeconfig".as_ref()).await?;
    /// # let _ = cluster; Ok(()) }
    /// ```
    pub async fn connect(kubeconfig: &Path) -> Result<Cluster, ClusterError> {
        crate::trace_from_env();
        let client = client_from_kubeconfig(kubeconfig).await?;
        match tokio::time::timeout(REACH_TIMEOUT, client.apiserver_version()).await {
            Ok(Ok(_)) => Ok(Cluster {
                client,
                kubeconfig: kubeconfig.to_path_buf(),
            }),
            Ok(Err(source)) => Err(ClusterError::Unreachable {
                kubeconfig: kubeconfig.to_path_buf(),
                reason: source.to_string(),
            }),
            Err(_) => Err(ClusterError::Unreachable {
                kubeconfig: kubeconfig.to_path_buf(),
                reason: format!("no answer within {REACH_TIMEOUT:?}"),
            }),
        }
    }

    /// The shared client (cheap to clone).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// Path of the admin kubeconfig this client was built from.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Creates a fresh namespace named after the running test; it is deleted
    /// (grace period 0) when the returned guard drops. Panics if the API server
    /// refuses, because a test cannot go on without it.
    ///
    /// ```no_run
    /// # async fn t(cluster: agentpod_testkit::cluster::Cluster) {
    /// let ns = cluster.namespace().await;
    /// assert!(ns.name().starts_with("t-"));
    /// # }
    /// ```
    pub async fn namespace(&self) -> TestNamespace {
        match TestNamespace::create(self, &current_test_name()).await {
            Ok(namespace) => namespace,
            Err(error) => panic!("cannot create a test namespace: {error}"),
        }
    }

    /// Starts an offline model endpoint that pods of this cluster can reach
    /// (bound on [`HOST_ADDR`], a free port). Pass
    /// [`ModelEndpoint::base_url`] to the pod as `ANTHROPIC_BASE_URL`.
    ///
    /// ```no_run
    /// # async fn t(cluster: agentpod_testkit::cluster::Cluster) {
    /// use agentpod_testkit::model::Script;
    /// let endpoint = cluster.start_model_endpoint(Script::new()).await.unwrap();
    /// assert!(endpoint.base_url().starts_with("http://10.213.0.1:"));
    /// # }
    /// ```
    pub async fn start_model_endpoint(
        &self,
        script: Script,
    ) -> Result<ModelEndpoint, ModelEndpointError> {
        ModelEndpoint::start(script, model_endpoint_bind_addr()).await
    }
}

/// Builds a client from a kubeconfig file (its current context).
pub(crate) async fn client_from_kubeconfig(
    kubeconfig: &Path,
) -> Result<kube::Client, ClusterError> {
    let invalid = |reason: String| ClusterError::Kubeconfig {
        kubeconfig: kubeconfig.to_path_buf(),
        reason,
    };
    let parsed = Kubeconfig::read_from(kubeconfig).map_err(|e| invalid(e.to_string()))?;
    let config = kube::Config::from_custom_kubeconfig(parsed, &KubeConfigOptions::default())
        .await
        .map_err(|e| invalid(e.to_string()))?;
    kube::Client::try_from(config).map_err(|e| invalid(e.to_string()))
}

/// Name of the running test: libtest names each test's thread after it.
fn current_test_name() -> String {
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("unnamed-test");
    name.rsplit("::").next().unwrap_or(name).to_string()
}

#[cfg(test)]
mod tests {
    use super::{Cluster, ClusterError};

    #[tokio::test]
    async fn a_missing_kubeconfig_is_a_kubeconfig_error() {
        let error = Cluster::connect("/nonexistent/agentpod/admin.kubeconfig".as_ref())
            .await
            .unwrap_err();
        assert!(matches!(error, ClusterError::Kubeconfig { .. }), "{error}");
    }

    #[tokio::test]
    async fn a_server_that_refuses_is_unreachable_not_skipped() {
        let dir = std::env::temp_dir().join(format!("testkit-unreachable-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig = dir.join("kubeconfig");
        // Port 1 on loopback: nothing listens there, the connection is refused at once.
        std::fs::write(
            &kubeconfig,
            r#"{"apiVersion":"v1","kind":"Config",
                "clusters":[{"name":"c","cluster":{"server":"https://127.0.0.1:1","insecure-skip-tls-verify":true}}],
                "users":[{"name":"u","user":{"token":"t"}}],
                "contexts":[{"name":"x","context":{"cluster":"c","user":"u"}}],
                "current-context":"x"}"#,
        )
        .unwrap();
        let error = Cluster::connect(&kubeconfig).await.unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(error, ClusterError::Unreachable { .. }), "{error}");
        assert!(
            error.to_string().contains("cargo xtask cluster status"),
            "{error}"
        );
    }
}
