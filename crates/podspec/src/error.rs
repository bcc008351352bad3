//! The one error type of this crate.
//!
//! Every variant is raised *before* anything reaches a cluster, so a caller can
//! fix its configuration from the message alone instead of decoding an API-server
//! rejection later. Messages name the offending value and say what to change.

/// `Result` with [`PodSpecError`] as the default error.
pub type Result<T, E = PodSpecError> = std::result::Result<T, E>;

/// Everything that can go wrong while validating and rendering an agent pod.
///
/// ```
/// use agentpod_podspec::{AgentPodSpec, PodSpecError};
/// use std::time::UNIX_EPOCH;
///
/// let err = AgentPodSpec::new("").name("demo").render(UNIX_EPOCH).unwrap_err();
/// assert!(matches!(err, PodSpecError::EmptyImage));
/// assert!(err.to_string().contains("image"));
/// ```
///
/// Two variants are not configuration mistakes: [`TimeOutOfRange`](Self::TimeOutOfRange)
/// (a render time before 1970 or beyond year 9999) and
/// [`Randomness`](Self::Randomness) (the OS could not supply random bytes for a
/// generated name). Causes from other crates are kept as
/// [`source`](std::error::Error::source).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PodSpecError {
    /// The container image is empty.
    #[error("the container image is empty: pass an image reference such as `registry/claude:1.0`")]
    EmptyImage,

    /// A Kubernetes object name (pod, namespace, container, volume, secret…) is invalid.
    #[error("invalid {field} `{value}`: {reason}")]
    InvalidName {
        /// Which name was wrong (e.g. `pod name`, `namespace`).
        field: &'static str,
        /// The rejected value.
        value: String,
        /// What is wrong and what to use instead.
        reason: String,
    },

    /// A label or annotation key breaks the Kubernetes qualified-name syntax.
    #[error("invalid {kind} key `{key}`: {reason}")]
    InvalidMetadataKey {
        /// `label`, `annotation` or `nodeSelector`.
        kind: &'static str,
        /// The rejected key.
        key: String,
        /// What is wrong and what to use instead.
        reason: String,
    },

    /// A label value breaks the Kubernetes label-value syntax.
    #[error("invalid {kind} value `{value}` for key `{key}`: {reason}")]
    InvalidLabelValue {
        /// `label` or `nodeSelector`.
        kind: &'static str,
        /// The key the value belongs to.
        key: String,
        /// The rejected value.
        value: String,
        /// What is wrong and what to use instead.
        reason: String,
    },

    /// The caller set an annotation under a prefix this crate owns.
    #[error("annotation `{key}` is reserved for agentpod: remove it ({hint})")]
    ReservedAnnotation {
        /// The reserved key.
        key: String,
        /// Which builder method sets it instead.
        hint: &'static str,
    },

    /// A resource quantity (`500m`, `1Gi`…) is not valid Kubernetes quantity syntax.
    #[error("invalid quantity `{value}` for {field}: {reason}")]
    InvalidQuantity {
        /// Where the quantity was used (e.g. `cpu limit`, `emptyDir size limit`).
        field: String,
        /// The rejected value.
        value: String,
        /// What is wrong and an example of a valid value.
        reason: String,
    },

    /// A resource request is larger than the limit for the same resource.
    #[error(
        "{resource} request `{request}` exceeds its limit `{limit}`: lower the request or raise the limit"
    )]
    RequestExceedsLimit {
        /// The resource name (`cpu`, `memory`, `ephemeral-storage`).
        resource: &'static str,
        /// The request as given.
        request: String,
        /// The limit as given.
        limit: String,
    },

    /// An environment variable name is not valid for Kubernetes.
    #[error(
        "invalid environment variable name `{name}`: use letters, digits, `_`, `-` or `.`, not starting with a digit"
    )]
    InvalidEnvName {
        /// The rejected name.
        name: String,
    },

    /// The same environment variable is defined twice.
    #[error("environment variable `{name}` is defined twice ({hint})")]
    DuplicateEnv {
        /// The duplicated name.
        name: String,
        /// Where the other definition came from and what to change.
        hint: &'static str,
    },

    /// Two volumes share a name.
    #[error("volume name `{name}` is used twice: give every volume its own name")]
    DuplicateVolume {
        /// The duplicated name.
        name: String,
    },

    /// A volume uses a name this crate needs for its own volumes.
    #[error("volume name `{name}` is reserved for agentpod's own volumes: pick another name")]
    ReservedVolumeName {
        /// The reserved name.
        name: String,
    },

    /// A mount refers to a volume that was never added.
    #[error(
        "mount at `{mount_path}` refers to volume `{volume}`, which does not exist: add the volume or fix the name"
    )]
    UnknownVolume {
        /// The missing volume name.
        volume: String,
        /// The mount that refers to it.
        mount_path: String,
    },

    /// Two mounts target the same path in the container.
    #[error(
        "mount path `{path}` is used by both `{first}` and `{second}`: mount them at different paths{hint}"
    )]
    MountPathClash {
        /// The clashing path.
        path: String,
        /// The volume mounted there first.
        first: String,
        /// The volume mounted there second.
        second: String,
        /// Extra advice when one side is a preset mount.
        hint: &'static str,
    },

    /// A path (mount path, subPath, working dir, host path) is malformed.
    #[error("invalid {field} `{value}`: {reason}")]
    InvalidPath {
        /// Which path was wrong.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// What is wrong and what to use instead.
        reason: String,
    },

    /// A duration-like bound (deadline, grace period, uid…) is out of range.
    #[error("invalid {field} `{value}`: {reason}")]
    OutOfRange {
        /// Which bound was wrong (e.g. `activeDeadlineSeconds`).
        field: &'static str,
        /// The rejected value.
        value: i64,
        /// The accepted range.
        reason: &'static str,
    },

    /// An owner reference lacks a required field.
    #[error(
        "owner reference #{index} has an empty `{field}`: fill in apiVersion, kind, name and uid"
    )]
    InvalidOwnerReference {
        /// Position of the reference in the order it was added (0-based).
        index: usize,
        /// The empty field.
        field: &'static str,
    },

    /// A Secret key (file name or variable name inside the inputs Secret) is invalid.
    #[error(
        "invalid secret key `{key}`: use 1-253 letters, digits, `-`, `_` or `.`, and not `.` or `..`"
    )]
    InvalidSecretKey {
        /// The rejected key.
        key: String,
    },

    /// Two secret inputs use the same key.
    #[error("secret key `{key}` is used twice: give each secret input its own key")]
    DuplicateSecretKey {
        /// The duplicated key.
        key: String,
    },

    /// The secret inputs do not fit into one Kubernetes Secret.
    #[error(
        "secret inputs total {size} bytes, above the {limit}-byte Secret limit: move large inputs to a volume"
    )]
    SecretTooLarge {
        /// Total bytes of all inputs.
        size: usize,
        /// The Kubernetes limit.
        limit: usize,
    },

    /// The render time (or render time plus expiry) cannot be written as a timestamp.
    #[error("{reason}: pass a time after 1970 and before year 9999")]
    TimeOutOfRange {
        /// Which time is out of range.
        reason: &'static str,
    },

    /// An expiry annotation value could not be parsed.
    #[error(
        "invalid expiry timestamp `{value}`: expected RFC 3339 UTC such as `2026-01-02T03:04:05Z`"
    )]
    InvalidExpiry {
        /// The rejected annotation value.
        value: String,
        /// Why the parser refused it.
        #[source]
        source: crate::expiry::ExpiryParseError,
    },

    /// The operating system could not provide randomness for a generated name.
    #[error(
        "could not read OS randomness to generate a pod name: set an explicit name with `.name(..)`"
    )]
    Randomness {
        /// The OS error.
        #[source]
        source: getrandom::Error,
    },
}

/// Why an expiry annotation value was refused.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ExpiryParseError {
    /// Not an RFC 3339 timestamp with an offset.
    #[error("not an RFC 3339 timestamp")]
    Syntax(#[source] k8s_openapi::jiff::Error),
    /// A valid timestamp before 1970, which no expiry written by this crate can be.
    #[error("the time is before 1970")]
    BeforeEpoch,
}
