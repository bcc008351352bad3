//! Errors of the cluster helpers.

use std::path::PathBuf;

/// What can go wrong talking to the local test cluster.
///
/// ```
/// let error = agentpod_testkit::cluster::ClusterError::Unreachable {
///     kubeconfig: "/k".into(),
///     reason: "refused".into(),
/// };
/// assert!(error.to_string().contains("/k"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The kubeconfig could not be read or turned into a client.
    #[error(
        "kubeconfig {kubeconfig} is unusable: {reason}; run `cargo xtask cluster up` to rewrite it"
    )]
    Kubeconfig {
        /// File that was read.
        kubeconfig: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// The API server did not answer.
    #[error(
        "the API server of {kubeconfig} does not answer: {reason}; is `cargo xtask cluster status` all running?"
    )]
    Unreachable {
        /// File that named the server.
        kubeconfig: PathBuf,
        /// What failed.
        reason: String,
    },
    /// An API call of a test helper failed.
    #[error("{action} in namespace {namespace} failed: {source}")]
    Api {
        /// What the helper tried to do.
        action: String,
        /// Namespace it worked in.
        namespace: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// Something did not happen in time.
    #[error("timed out after {seconds} s waiting for {what} in namespace {namespace}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// Namespace it was awaited in.
        namespace: String,
        /// How long the helper waited.
        seconds: u64,
    },
}
