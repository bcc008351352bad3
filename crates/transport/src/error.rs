//! The one error type of this crate.
//!
//! Why one enum with context: a caller has to decide what to do (fix the
//! image name, raise a timeout, retry later) without parsing strings, and a
//! human reading the message has to see *which* pod in *which* namespace and
//! what Kubernetes itself said. A container that exits non-zero is not an
//! error here: that is a run that worked and reported an exit code (see
//! [`ExitStatus`](crate::ExitStatus)).

use std::time::Duration;

/// A boxed error cause (kept as the `source` of a [`TransportError`]).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`TransportError`] as the default error.
pub type Result<T, E = TransportError> = std::result::Result<T, E>;

/// Everything that can go wrong talking to the cluster.
///
/// ```
/// use agentpod_transport::TransportError;
/// let error = TransportError::CannotStart {
///     namespace: "agents".into(),
///     pod: "run-1".into(),
///     reason: "ErrImagePull".into(),
///     message: "pull access denied".into(),
/// };
/// assert!(error.to_string().contains("ErrImagePull"));
/// assert!(error.is_pod_failure());
/// assert!(!error.is_retryable()); // the image name has to change first
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The cluster connection settings could not be turned into a client.
    #[error("cannot use {source_name} to reach the cluster: {source}")]
    Connection {
        /// Which settings were used (`kubeconfig file /path`, `inline kubeconfig`, …).
        source_name: String,
        /// What was wrong with them (never the text of an inline kubeconfig).
        #[source]
        source: BoxError,
    },

    /// The operating system could not provide randomness for a run token.
    #[error("the operating system gave no randomness for the run token: {source}")]
    Randomness {
        /// The OS error.
        #[source]
        source: getrandom::Error,
    },

    /// The pod description handed to the transport is unusable.
    #[error("invalid pod: {reason}")]
    InvalidPod {
        /// What is missing or wrong.
        reason: String,
    },

    /// Rendering a pod spec failed (only when the transport renders it itself).
    #[error("rendering the pod failed: {0}")]
    Render(#[from] agentpod_podspec::PodSpecError),

    /// The API server refused a request with a non-transient error.
    #[error("{action} {kind} {namespace}/{name} failed: {source}")]
    Api {
        /// What was attempted (`create`, `delete`, `watch`, …).
        action: &'static str,
        /// Object kind (`pod`, `secret`).
        kind: &'static str,
        /// Namespace of the object.
        namespace: String,
        /// Name of the object.
        name: String,
        /// The client's error, with Kubernetes' status when there was one.
        #[source]
        source: Box<kube::Error>,
    },

    /// A transient failure (429, 5xx, connection reset) outlasted every retry.
    #[error(
        "{action} {kind} {namespace}/{name} still failed after {attempts} attempts: {source}; the API server looks overloaded or unreachable"
    )]
    RetriesExhausted {
        /// What was attempted.
        action: &'static str,
        /// Object kind.
        kind: &'static str,
        /// Namespace of the object.
        namespace: String,
        /// Name of the object.
        name: String,
        /// Attempts made.
        attempts: usize,
        /// The last error.
        #[source]
        source: Box<kube::Error>,
    },

    /// An object with the pod's name already exists and the conflict strategy
    /// does not allow another name.
    #[error("a {kind} named {namespace}/{name} already exists and is not ours; {hint}")]
    NameConflict {
        /// Object kind.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// The taken name.
        name: String,
        /// What to change.
        hint: &'static str,
    },

    /// The pod can never start: Kubernetes reported a terminal waiting reason
    /// (ErrImagePull, ImagePullBackOff, InvalidImageName,
    /// CreateContainerConfigError, CreateContainerError, …).
    #[error("pod {namespace}/{pod} cannot start: {reason}: {message}")]
    CannotStart {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// Kubernetes' reason, verbatim.
        reason: String,
        /// Kubernetes' message, verbatim.
        message: String,
    },

    /// The scheduler found no node for the pod within the grace period.
    #[error(
        "pod {namespace}/{pod} is unschedulable: {message}; check nodeSelector, tolerations, affinity and resource requests"
    )]
    Unschedulable {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// The scheduler's message, verbatim.
        message: String,
    },

    /// The pod was not running within the start timeout (scheduling + image pull).
    #[error(
        "pod {namespace}/{pod} did not start within {timeout:?} (last seen: {last_state}); raise the start timeout or check the node"
    )]
    StartTimeout {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// The start timeout that expired.
        timeout: Duration,
        /// The last state the watch saw.
        last_state: String,
    },

    /// The container ran longer than the run timeout; it was killed and deleted.
    #[error("pod {namespace}/{pod} ran longer than the run timeout of {timeout:?} and was deleted")]
    RunTimeout {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// The run timeout that expired.
        timeout: Duration,
    },

    /// The pod disappeared before it finished (deleted by someone else).
    #[error("pod {namespace}/{pod} was deleted before it finished (last seen: {last_state})")]
    PodVanished {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// The last state the watch saw.
        last_state: String,
    },

    /// The run's background task ended abnormally (panicked or was aborted).
    #[error("the background task of pod {namespace}/{pod} ended abnormally: {source}")]
    TaskFailed {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// The task's panic or cancellation.
        #[source]
        source: tokio::task::JoinError,
    },

    /// The pod finished, but the caller did not consume its log within the
    /// drain timeout; the rest of the log was dropped (the run's objects are
    /// deleted anyway). Read `take_logs()` concurrently with `wait()`.
    #[error(
        "the log of pod {namespace}/{pod} was not consumed within {timeout:?} after the pod finished; the rest was dropped (read the log concurrently with wait())"
    )]
    LogDrainTimeout {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// The drain timeout that expired.
        timeout: Duration,
    },

    /// Reading the log broke off more often in a row than the follower
    /// tolerates; the rest of the log is lost.
    #[error("the log of pod {namespace}/{pod} broke off {reads} times in a row: {source}")]
    LogBroken {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// Consecutive broken reads.
        reads: u32,
        /// The last read's error.
        #[source]
        source: std::io::Error,
    },

    /// Exec could not be set up within the exec setup timeout.
    #[error("exec into {namespace}/{pod} was not established within {timeout:?}")]
    ExecSetupTimeout {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// The setup timeout.
        timeout: Duration,
    },

    /// The exec'd command ran longer than its run timeout; it was killed.
    #[error("command in {namespace}/{pod} ran longer than {timeout:?} and was killed")]
    ExecTimeout {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// The run timeout.
        timeout: Duration,
    },

    /// The exec session failed (stream broke, no status received, …).
    #[error("exec into {namespace}/{pod} failed: {reason}")]
    Exec {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// What failed.
        reason: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
}

impl TransportError {
    /// True when the pod itself could not run (image, scheduling, timeouts),
    /// as opposed to an API, connection or usage problem.
    ///
    /// ```
    /// use agentpod_transport::TransportError;
    /// let e = TransportError::InvalidPod { reason: "no containers".into() };
    /// assert!(!e.is_pod_failure());
    /// ```
    pub fn is_pod_failure(&self) -> bool {
        matches!(
            self,
            Self::CannotStart { .. }
                | Self::Unschedulable { .. }
                | Self::StartTimeout { .. }
                | Self::RunTimeout { .. }
                | Self::PodVanished { .. }
                | Self::ExecTimeout { .. }
        )
    }

    /// The one classifier for "may trying again help?": `true` for failures
    /// of the infrastructure that usually pass (throttling, server errors,
    /// broken connections and request timeouts that outlasted the retries,
    /// a busy node that did not start the pod in time, a pod deleted by
    /// someone else, a broken exec session or log stream); `false` when
    /// something has to change first (settings, image, RBAC, the spec, a
    /// timeout that was too short for the work).
    ///
    /// ```
    /// use agentpod_transport::TransportError;
    /// use std::time::Duration;
    /// let slow_node = TransportError::StartTimeout {
    ///     namespace: "agents".into(),
    ///     pod: "run-1".into(),
    ///     timeout: Duration::from_secs(120),
    ///     last_state: "Pending, ContainerCreating".into(),
    /// };
    /// assert!(slow_node.is_retryable());
    /// let bad_spec = TransportError::InvalidPod { reason: "the pod has no name".into() };
    /// assert!(!bad_spec.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::RetriesExhausted { .. }
            | Self::StartTimeout { .. }
            | Self::PodVanished { .. }
            | Self::ExecSetupTimeout { .. }
            | Self::Exec { .. }
            | Self::LogBroken { .. } => true,
            Self::Api { source, .. } => is_transient(source),
            _ => false,
        }
    }
}

/// True for client errors worth retrying at once: throttling (429), server
/// errors (5xx), connection-level failures and request timeouts. Everything
/// else (400, 403, 404, 409, 422) is an answer, not an accident.
pub(crate) fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 429 || (500..600).contains(&status.code),
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

/// The Kubernetes status code of an API error, if it is one.
pub(crate) fn status_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(Status {
            code,
            ..Status::failure("scripted", "Scripted")
        }))
    }

    #[test]
    fn transient_means_throttled_server_error_or_connection() {
        assert!(is_transient(&api(429)));
        assert!(is_transient(&api(503)));
        assert!(!is_transient(&api(409)));
        assert!(!is_transient(&api(403)));
    }

    #[test]
    fn retryable_follows_the_cause() {
        let api_error = |code| TransportError::Api {
            action: "create",
            kind: "pod",
            namespace: "ns".into(),
            name: "p".into(),
            source: Box::new(api(code)),
        };
        assert!(!api_error(403).is_retryable());
        assert!(api_error(503).is_retryable());
        let cannot = TransportError::CannotStart {
            namespace: "ns".into(),
            pod: "p".into(),
            reason: "ErrImagePull".into(),
            message: "not found".into(),
        };
        assert!(!cannot.is_retryable());
    }
}
