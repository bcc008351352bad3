//! Scheduling, bounds and ownership setters of [`AgentPodSpec`].
//!
//! Kept apart from the container setters because they shape *where* and *how
//! long* the pod runs and who owns it, not what runs inside it. Tolerations and
//! affinity take the `k8s-openapi` types directly: they are already typed, and
//! a wrapper would only hide fields users need.

use k8s_openapi::api::core::v1::{Affinity, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::AgentPodSpec;

impl AgentPodSpec {
    /// Schedules only onto nodes carrying label `key=value`.
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").node_selector("pool", "agents");
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn node_selector(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.node_selector.insert(key.into(), value.into());
        self
    }

    /// Adds a toleration (a `k8s_openapi` [`Toleration`]).
    ///
    /// ```
    /// use k8s_openapi::api::core::v1::Toleration;
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").toleration(Toleration {
    ///     key: Some("dedicated".into()),
    ///     operator: Some("Equal".into()),
    ///     value: Some("agents".into()),
    ///     effect: Some("NoSchedule".into()),
    ///     ..Toleration::default()
    /// });
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn toleration(mut self, toleration: Toleration) -> Self {
        self.tolerations.push(toleration);
        self
    }

    /// Node/pod affinity rules (a `k8s_openapi` [`Affinity`]).
    ///
    /// ```
    /// use k8s_openapi::api::core::v1::Affinity;
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").affinity(Affinity::default());
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn affinity(mut self, affinity: Affinity) -> Self {
        self.affinity = Some(affinity);
        self
    }

    /// `runtimeClassName`, e.g. a gVisor or Kata sandbox class.
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").runtime_class("gvisor");
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn runtime_class(mut self, name: impl Into<String>) -> Self {
        self.runtime_class = Some(name.into());
        self
    }

    /// `priorityClassName` of the pod.
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").priority_class("batch-low");
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn priority_class(mut self, name: impl Into<String>) -> Self {
        self.priority_class = Some(name.into());
        self
    }

    /// Hard bound on the pod's run time in seconds (must be ≥ 1); Kubernetes
    /// kills the pod beyond it even if the caller is gone.
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").active_deadline_seconds(1800);
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn active_deadline_seconds(mut self, seconds: i64) -> Self {
        self.active_deadline_seconds = Some(seconds);
        self
    }

    /// Seconds between SIGTERM and SIGKILL on deletion (must be ≥ 0).
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").termination_grace_period_seconds(5);
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn termination_grace_period_seconds(mut self, seconds: i64) -> Self {
        self.termination_grace_period_seconds = Some(seconds);
        self
    }

    /// Makes another object (e.g. the orchestrating pod or a Job) an owner of
    /// the pod, so deleting it garbage-collects the agent pod.
    ///
    /// ```
    /// use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").owner_reference(OwnerReference {
    ///     api_version: "v1".into(),
    ///     kind: "Pod".into(),
    ///     name: "orchestrator-0".into(),
    ///     uid: "7d9c1c7e-1111-2222-3333-444455556666".into(),
    ///     ..OwnerReference::default()
    /// });
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn owner_reference(mut self, owner: OwnerReference) -> Self {
        self.owner_references.push(owner);
        self
    }
}
