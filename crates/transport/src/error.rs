//! The one error type of this crate.
//!
//! Why one enum with context: a caller has to decide what to do (fix the
//! image name, raise a timeout, retry later) without parsing strings, and a
//! human reading the message has to see *which* pod in *which* namespace and
//! what Kubernetes itself said. A container that exits non-zero is not an
//! error here: that is a run that worked and reported an exit code (see
//! [`ExitStatus`](crate::ExitStatus)).

use std::time::Duration;

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
/// ```
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The cluster connection settings could not be turned into a client.
    #[error("cannot use {source_name} to reach the cluster: {reason}")]
    Connection {
        /// Which settings were used (`kubeconfig file /path`, `inline kubeconfig`, …).
        source_name: String,
        /// What was wrong with them.
        reason: String,
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
    #[error("the background task of pod {namespace}/{pod} ended abnormally: {reason}")]
    TaskFailed {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// What happened.
        reason: String,
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
    },

    // Warm workers (worker.rs, exec.rs).
    /// The exec request cannot be sent as it is (nothing was started).
    #[error("exec into {namespace}/{pod} refused: {reason}")]
    InvalidExec {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// What is wrong with the request.
        reason: String,
    },

    /// The worker stayed busy with another exec for the whole queue timeout.
    #[error(
        "worker {namespace}/{pod} was busy with another exec for {waited:?}; use another worker, raise ExecOptions::queue_timeout or allow concurrent execs"
    )]
    WorkerBusy {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// How long this exec waited for its turn.
        waited: Duration,
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
}

/// True for errors worth retrying: throttling (429), server errors (5xx) and
/// connection-level failures. Everything else (400, 403, 404, 409, 422) is an
/// answer, not an accident.
///
/// ```
/// use agentpod_transport::is_transient;
/// use kube::core::Status;
/// let throttled = kube::Error::Api(Box::new(Status { code: 429, ..Status::failure("slow down", "TooManyRequests") }));
/// assert!(is_transient(&throttled));
/// let conflict = kube::Error::Api(Box::new(Status { code: 409, ..Status::failure("exists", "AlreadyExists") }));
/// assert!(!is_transient(&conflict));
/// ```
pub fn is_transient(error: &kube::Error) -> bool {
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
