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
//! use agentpod_podspec::labels::MANAGED_BY_LABEL;
//! use agentpod_podspec::{AgentPodSpec, ResourceKind, Resources};
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
//!
//! The crate root holds the builder ([`AgentPodSpec`]), what it takes
//! ([`Hardening`], [`Resources`], [`Volume`], [`EnvVar`], …) and what it gives
//! ([`RenderedPod`], [`PodSpecError`]). The label and annotation keys other
//! layers select by live in [`labels`], the expiry time format in [`expiry`],
//! fixed names and limits in [`consts`].

mod env;
mod error;
pub mod expiry;
pub mod labels;
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

pub use env::{EnvSource, EnvVar};
pub use error::{PodSpecError, Result};
pub use names::PodName;
pub use policy::{ImagePullPolicy, RestartPolicy};
pub use render::RenderedPod;
pub use resources::{ResourceKind, Resources};
pub use security::{Hardening, WritableDir};
pub use spec::AgentPodSpec;
pub use volumes::{HostPathType, Volume, VolumeMount, VolumeSource};

/// Fixed names, defaults and limits of the rendered objects, for callers that
/// refer to them (e.g. to mount one file of the inputs Secret at an exact path
/// with [`INPUTS_VOLUME`](consts::INPUTS_VOLUME)).
pub mod consts {
    pub use crate::names::MAX_GENERATED_PREFIX_LEN;
    pub use crate::secrets::{DEFAULT_INPUTS_DIR, INPUTS_VOLUME, MAX_SECRET_BYTES};
    pub use crate::security::{DEFAULT_HOME, DEFAULT_UID, HOME_VOLUME, TMP_VOLUME};
    pub use crate::spec::{DEFAULT_CONTAINER_NAME, DEFAULT_NAMESPACE};
}
