//! Where a pod is in its life, read from one status snapshot.
//!
//! Why a pure classification: the watch delivers snapshots, and every decision
//! (emit an event, start following logs, fail fast, stop) is a function of the
//! latest one. Keeping it pure makes each Kubernetes reason testable without a
//! cluster.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use crate::{ExitStatus, TransportError};

/// Waiting reasons after which a container will not start without someone
/// changing something (image name, registry credentials, config, command).
///
/// `CrashLoopBackOff` only occurs with `restartPolicy: Always` (worker pods).
/// `CreateContainerConfigError` is fatal only when its message is not a
/// kubelet sync delay (see [`is_sync_delay`]).
pub(crate) const FATAL_WAITING_REASONS: [&str; 8] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "CrashLoopBackOff",
];

/// Why a pod is still pending.
///
/// ```
/// use agentpod_transport::PendingReason;
/// let r = PendingReason::Waiting { reason: "ErrImagePull".into(), message: "not found".into() };
/// assert_eq!(r.to_string(), "ErrImagePull: not found");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingReason {
    /// Not scheduled yet, no verdict from the scheduler.
    Scheduling,
    /// The scheduler found no fitting node (may resolve, e.g. autoscaling).
    Unschedulable {
        /// The scheduler's message.
        message: String,
    },
    /// Scheduled; the kubelet is preparing the sandbox, volumes and image.
    ContainerCreating,
    /// A container is waiting for another reason (pull errors included).
    Waiting {
        /// Kubernetes' reason.
        reason: String,
        /// Kubernetes' message.
        message: String,
    },
}

impl std::fmt::Display for PendingReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Scheduling => f.write_str("scheduling"),
            Self::Unschedulable { message } => write!(f, "Unschedulable: {message}"),
            Self::ContainerCreating => {
                f.write_str("ContainerCreating (pulling image, mounting volumes)")
            }
            Self::Waiting { reason, message } if message.is_empty() => f.write_str(reason),
            Self::Waiting { reason, message } => write!(f, "{reason}: {message}"),
        }
    }
}

/// The state of a pod as far as a run cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Progress {
    Pending(PendingReason),
    Running,
    Finished(ExitStatus),
}

impl std::fmt::Display for Progress {
    /// The words errors use for the last state seen (`last_state`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pending(reason) => write!(f, "Pending, {reason}"),
            Self::Running => f.write_str("Running"),
            Self::Finished(exit) => write!(f, "Finished, {exit}"),
        }
    }
}

/// Kubelet messages of `CreateContainerConfigError` that mean "not yet", not
/// "never": the kubelet's Secret/ConfigMap cache had not synced when the
/// container was created (seen under load: `failed to sync secret cache:
/// timed out waiting for the condition`). The kubelet retries by itself, so
/// the start waits for it within its start timeout. A missing Secret or key
/// (`secret "x" not found`, `couldn't find key K in Secret ns/x`) is fatal.
pub(crate) fn is_sync_delay(reason: &str, message: &str) -> bool {
    reason == "CreateContainerConfigError"
        && (message.contains("failed to sync")
            || message.contains("timed out waiting for the condition"))
        && !message.contains("not found")
        && !message.contains("couldn't find key")
}

/// A waiting reason that will not resolve by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Blocker {
    /// A fatal container waiting reason.
    Container { reason: String, message: String },
    /// The scheduler's verdict.
    Unschedulable { message: String },
}

impl Blocker {
    /// The error a start fails with once this blocker outlasted its grace.
    pub(crate) fn into_error(self, namespace: &str, pod: &str) -> TransportError {
        match self {
            Self::Container { reason, message } => TransportError::CannotStart {
                namespace: namespace.to_owned(),
                pod: pod.to_owned(),
                reason,
                message,
            },
            Self::Unschedulable { message } => TransportError::Unschedulable {
                namespace: namespace.to_owned(),
                pod: pod.to_owned(),
                message,
            },
        }
    }
}

impl Progress {
    /// Classifies `pod`, looking at `container` for running and exit state.
    pub(crate) fn of(pod: &Pod, container: &str) -> Progress {
        if let Some(exit) = ExitStatus::of_ended(pod, container) {
            return Progress::Finished(exit);
        }
        let Some(status) = pod.status.as_ref() else {
            return Progress::Pending(PendingReason::Scheduling);
        };
        let main = status
            .container_statuses
            .iter()
            .flatten()
            .find(|s| s.name == container);
        if let Some(state) = main.and_then(|s| s.state.as_ref())
            && (state.running.is_some() || state.terminated.is_some())
        {
            return Progress::Running;
        }
        if let Some((reason, message)) = first_waiting(pod) {
            if reason == "ContainerCreating" {
                return Progress::Pending(PendingReason::ContainerCreating);
            }
            return Progress::Pending(PendingReason::Waiting { reason, message });
        }
        match unschedulable_message(pod) {
            Some(message) => Progress::Pending(PendingReason::Unschedulable { message }),
            None if is_scheduled(pod) => Progress::Pending(PendingReason::ContainerCreating),
            None => Progress::Pending(PendingReason::Scheduling),
        }
    }
}

/// What keeps `pod` from ever starting, if anything.
pub(crate) fn blocker(pod: &Pod) -> Option<Blocker> {
    if let Some(message) = unschedulable_message(pod) {
        return Some(Blocker::Unschedulable { message });
    }
    all_statuses(pod).find_map(|status| {
        let waiting = status.state.as_ref()?.waiting.as_ref()?;
        let reason = waiting.reason.as_deref()?;
        let message = waiting.message.as_deref().unwrap_or_default();
        (FATAL_WAITING_REASONS.contains(&reason) && !is_sync_delay(reason, message)).then(|| {
            Blocker::Container {
                reason: reason.to_owned(),
                message: message.to_owned(),
            }
        })
    })
}

fn all_statuses(pod: &Pod) -> impl Iterator<Item = &ContainerStatus> {
    pod.status.iter().flat_map(|status| {
        status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten())
    })
}

/// The first container waiting with a reason: init containers first.
fn first_waiting(pod: &Pod) -> Option<(String, String)> {
    all_statuses(pod).find_map(|status| {
        let waiting = status.state.as_ref()?.waiting.as_ref()?;
        Some((
            waiting.reason.clone()?,
            waiting.message.clone().unwrap_or_default(),
        ))
    })
}

fn unschedulable_message(pod: &Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
        })
        .map(|c| c.message.clone().unwrap_or_default())
}

fn is_scheduled(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_ref())
        .is_some()
        || pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "PodScheduled" && c.status == "True")
            })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({"status": status})).unwrap()
    }

    fn waiting(reason: &str, message: &str) -> serde_json::Value {
        serde_json::json!({"phase": "Pending", "containerStatuses": [{
            "name": "c", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
            "state": {"waiting": {"reason": reason, "message": message}}}]})
    }

    #[test]
    fn fresh_pod_is_scheduling() {
        let p = pod(serde_json::json!({"phase": "Pending"}));
        assert_eq!(
            Progress::of(&p, "c"),
            Progress::Pending(PendingReason::Scheduling)
        );
        assert_eq!(blocker(&p), None);
    }

    #[test]
    fn unschedulable_is_a_blocker_with_the_scheduler_message() {
        let p = pod(serde_json::json!({"phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/1 nodes are available: 1 node(s) didn't match node selector."}]}));
        let message = "0/1 nodes are available: 1 node(s) didn't match node selector.".to_owned();
        assert_eq!(
            Progress::of(&p, "c"),
            Progress::Pending(PendingReason::Unschedulable {
                message: message.clone()
            })
        );
        assert_eq!(blocker(&p), Some(Blocker::Unschedulable { message }));
    }

    #[test]
    fn image_errors_are_blockers_container_creating_is_not() {
        for reason in FATAL_WAITING_REASONS {
            let p = pod(waiting(reason, "m"));
            assert_eq!(
                blocker(&p),
                Some(Blocker::Container {
                    reason: reason.into(),
                    message: "m".into()
                }),
                "{reason}"
            );
        }
        let creating = pod(waiting("ContainerCreating", ""));
        assert_eq!(blocker(&creating), None);
        assert_eq!(
            Progress::of(&creating, "c"),
            Progress::Pending(PendingReason::ContainerCreating)
        );
    }

    #[test]
    fn a_secret_cache_delay_waits_a_missing_secret_or_key_fails() {
        let delay = pod(waiting(
            "CreateContainerConfigError",
            "failed to sync secret cache: timed out waiting for the condition",
        ));
        assert_eq!(blocker(&delay), None, "the kubelet retries by itself");
        assert!(matches!(
            Progress::of(&delay, "c"),
            Progress::Pending(PendingReason::Waiting { .. })
        ));
        for message in [
            "secret \"run-1-inputs\" not found",
            "couldn't find key ANTHROPIC_API_KEY in Secret agents/run-1-inputs",
        ] {
            let missing = pod(waiting("CreateContainerConfigError", message));
            assert_eq!(
                blocker(&missing),
                Some(Blocker::Container {
                    reason: "CreateContainerConfigError".into(),
                    message: message.into()
                }),
                "{message}"
            );
        }
        let error = Blocker::Container {
            reason: "CreateContainerConfigError".into(),
            message: "couldn't find key K in Secret agents/run-1-inputs".into(),
        }
        .into_error("agents", "run-1")
        .to_string();
        assert!(
            error.contains("agents/run-1-inputs") && error.contains("key K"),
            "{error}"
        );
    }

    #[test]
    fn a_finished_agent_container_ends_the_run_while_a_sidecar_runs() {
        let p: Pod = serde_json::from_value(serde_json::json!({
            "spec": {"restartPolicy": "Never", "containers": [
                {"name": "c", "image": "i"}, {"name": "proxy", "image": "i"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "c", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                 "state": {"terminated": {"exitCode": 7, "reason": "Error"}}},
                {"name": "proxy", "ready": true, "restartCount": 0, "image": "i", "imageID": "",
                 "state": {"running": {}}}]}}))
        .unwrap();
        assert!(
            matches!(Progress::of(&p, "c"), Progress::Finished(e) if e.code == Some(7)),
            "{:?}",
            Progress::of(&p, "c")
        );
        // A worker container (restartPolicy Always) that ended will restart.
        let mut always = p.clone();
        if let Some(spec) = always.spec.as_mut() {
            spec.restart_policy = Some("Always".into());
        }
        assert_eq!(Progress::of(&always, "c"), Progress::Running);
        assert_eq!(Progress::of(&p, "proxy"), Progress::Running);
    }

    #[test]
    fn init_container_errors_block_too() {
        let p = pod(
            serde_json::json!({"phase": "Pending", "initContainerStatuses": [{
            "name": "init", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
            "state": {"waiting": {"reason": "InvalidImageName", "message": "bad"}}}]}),
        );
        assert!(
            matches!(blocker(&p), Some(Blocker::Container { reason, .. }) if reason == "InvalidImageName")
        );
    }

    #[test]
    fn running_and_finished() {
        let running = pod(
            serde_json::json!({"phase": "Running", "containerStatuses": [{
            "name": "c", "ready": true, "restartCount": 0, "image": "i", "imageID": "",
            "state": {"running": {}}}]}),
        );
        assert_eq!(Progress::of(&running, "c"), Progress::Running);
        let done = pod(
            serde_json::json!({"phase": "Succeeded", "containerStatuses": [{
            "name": "c", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
        );
        assert!(matches!(Progress::of(&done, "c"), Progress::Finished(e) if e.success()));
    }
}
