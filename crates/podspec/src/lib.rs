//! Pure pod-spec builder for agent runs: typed options in, `k8s-openapi`
//! [`Pod`](k8s_openapi::api::core::v1::Pod) and
//! [`Secret`](k8s_openapi::api::core::v1::Secret) objects out.
//!
//! This crate does no I/O and never talks to a cluster: it validates a
//! description of one agent pod ([`AgentPodSpec`]) and renders the objects a
//! transport then creates. Keeping it pure means every option can be tested
//! with snapshots and property tests in milliseconds, users can snapshot what
//! we would send, and mistakes surface as a typed [`PodSpecError`] that says
//! what to change instead of as an API-server rejection mid-run.
//!
//! Rendering takes the current time as an argument, sorts every map and keeps
//! every list in the caller's order, so a fixed name and time give identical
//! output on every run. Credentials and large inputs travel in a per-pod
//! Secret, never in the pod spec. A hardened security preset is on by default.
//!
//! ```
//! use agentpod_podspec::{AgentPodSpec, MANAGED_BY_LABEL, ResourceKind, Resources};
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! let rendered = AgentPodSpec::new("registry.example/claude-runner:2.1")
//!     .name("fix-flaky-test")
//!     .namespace("agents")
//!     .command(["sh", "-c", "claude -p \"$(cat /var/run/agentpod/inputs/prompt)\""])
//!     .secret_file("prompt", "Fix the flaky test in crates/foo.")
//!     .secret_env("ANTHROPIC_API_KEY", "sk-example")
//!     .resources(Resources::default().limit(ResourceKind::Memory, "2Gi"))
//!     .active_deadline_seconds(1800)
//!     .expires_after(Duration::from_secs(2 * 3600))
//!     .render(UNIX_EPOCH + Duration::from_secs(1_767_225_600))?;
//!
//! let labels = rendered.pod.metadata.labels.as_ref().unwrap();
//! assert_eq!(labels[MANAGED_BY_LABEL], "agentpod");
//! assert_eq!(rendered.secrets.len(), 1);
//! # Ok::<(), agentpod_podspec::PodSpecError>(())
//! ```

mod env;
mod error;
mod expiry;
mod labels;
mod names;
mod policy;
mod redact;
mod render;
mod resources;
mod scheduling;
mod secrets;
mod security;
mod spec;
mod volumes;

pub use env::{EnvSource, EnvVar, validate_env_name};
pub use error::PodSpecError;
pub use expiry::{format_expires_at, parse_expires_at};
pub use labels::{
    COMPONENT_LABEL, COMPONENT_VALUE, EXPIRES_AT_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE,
    MANAGED_SELECTOR, POD_NAME_LABEL, RESERVED_ANNOTATION_PREFIX, merge_labels, validate_label_key,
    validate_label_value,
};
pub use names::{
    MAX_GENERATED_PREFIX_LEN, MAX_LABEL_NAME_LEN, PodName, generate_name, validate_dns_label,
    validate_dns_subdomain,
};
pub use policy::{ImagePullPolicy, RestartPolicy};
pub use render::RenderedPod;
pub use resources::{ResourceKind, Resources, parse_quantity};
pub use secrets::{
    DEFAULT_INPUTS_DIR, INPUTS_VOLUME, MAX_SECRET_BYTES, inputs_secret_name, validate_secret_key,
};
pub use security::{DEFAULT_HOME, DEFAULT_UID, HOME_VOLUME, Hardening, TMP_VOLUME, WritableDir};
pub use spec::{AgentPodSpec, DEFAULT_CONTAINER_NAME, DEFAULT_NAMESPACE};
pub use volumes::{HostPathType, Volume, VolumeMount, VolumeSource};
