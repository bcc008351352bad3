//! Scheduling, bounds and ownership setters of [`AgentPodSpec`].
//!
//! Kept apart from the container setters because they shape *where* and *how
//! long* the pod runs and who owns it, not what runs inside it. Tolerations and
//! affinity take the `k8s-openapi` types directly: they are already typed, and
//! a wrapper would only hide fields users need.

use k8s_openapi::api::core::v1::{Affinity, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::AgentPodSpec;

/// Scheduling, bounds and ownership.
///
/// ```
/// use agentpod_podspec::AgentPodSpec;
/// use k8s_openapi::api::core::v1::Toleration;
/// use std::time::UNIX_EPOCH;
///
/// let rendered = AgentPodSpec::new("img:1")
///     .name("sandboxed")
///     .node_selector("pool", "agents")
///     .toleration(Toleration {
///         key: Some("dedicated".into()),
///         operator: Some("Equal".into()),
///         value: Some("agents".into()),
///         effect: Some("NoSchedule".into()),
///         ..Toleration::default()
///     })
///     .runtime_class("gvisor")
///     .active_deadline_seconds(1800)
///     .render(UNIX_EPOCH)?;
/// let spec = rendered.pod.spec.unwrap();
/// assert_eq!(spec.node_selector.unwrap()["pool"], "agents");
/// assert_eq!(spec.runtime_class_name.as_deref(), Some("gvisor"));
/// assert_eq!(spec.active_deadline_seconds, Some(1800));
/// # Ok::<(), agentpod_podspec::PodSpecError>(())
/// ```
impl AgentPodSpec {
    /// Schedules only onto nodes carrying label `key=value`.
    #[must_use]
    pub fn node_selector(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.node_selector.insert(key.into(), value.into());
        self
    }

    /// Adds a toleration (a `k8s_openapi` [`Toleration`]).
    #[must_use]
    pub fn toleration(mut self, toleration: Toleration) -> Self {
        self.tolerations.push(toleration);
        self
    }

    /// Node/pod affinity rules (a `k8s_openapi` [`Affinity`]).
    #[must_use]
    pub fn affinity(mut self, affinity: Affinity) -> Self {
        self.affinity = Some(affinity);
        self
    }

    /// `runtimeClassName`, e.g. a gVisor or Kata sandbox class.
    #[must_use]
    pub fn runtime_class(mut self, name: impl Into<String>) -> Self {
        self.runtime_class = Some(name.into());
        self
    }

    /// `priorityClassName` of the pod.
    #[must_use]
    pub fn priority_class(mut self, name: impl Into<String>) -> Self {
        self.priority_class = Some(name.into());
        self
    }

    /// Hard bound on the pod's run time in seconds (must be ≥ 1); Kubernetes
    /// kills the pod beyond it even if the caller is gone.
    #[must_use]
    pub fn active_deadline_seconds(mut self, seconds: i64) -> Self {
        self.active_deadline_seconds = Some(seconds);
        self
    }

    /// Seconds between SIGTERM and SIGKILL on deletion (must be ≥ 0).
    #[must_use]
    pub fn termination_grace_period_seconds(mut self, seconds: i64) -> Self {
        self.termination_grace_period_seconds = Some(seconds);
        self
    }

    /// Makes another object (e.g. the orchestrating pod or a Job) an owner of
    /// the pod, so deleting it garbage-collects the agent pod.
    #[must_use]
    pub fn owner_reference(mut self, owner: OwnerReference) -> Self {
        self.owner_references.push(owner);
        self
    }
}
