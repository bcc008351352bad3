//! How a worker pod is doing, read from one status snapshot.

use k8s_openapi::api::core::v1::Pod;

use crate::progress::{Blocker, Progress, blocker};

/// The state of a worker pod, as [`Worker::health`](crate::Worker::health)
/// reads it. Only [`Ready`](Self::Ready) takes execs reliably.
///
/// ```
/// use agentpod_transport::WorkerHealth;
/// let broken = WorkerHealth::Broken {
///     reason: "CrashLoopBackOff".into(),
///     message: "back-off 5m0s restarting failed container".into(),
/// };
/// assert!(!broken.is_ready());
/// assert_eq!(broken.to_string(), "broken: CrashLoopBackOff: back-off 5m0s restarting failed container");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerHealth {
    /// The main container runs and the pod is Ready (its node is healthy and
    /// any readiness probe passes).
    Ready,
    /// Not running yet: scheduling, pulling the image, starting, or restarting
    /// after the container exited.
    Starting {
        /// What it is waiting for, in Kubernetes' words.
        state: String,
    },
    /// The container runs but the pod is not Ready: a failing readiness probe
    /// or a node that stopped reporting.
    NotReady {
        /// The Ready condition's reason and message.
        reason: String,
    },
    /// A waiting reason that does not resolve by itself (CrashLoopBackOff,
    /// ErrImagePull, ImagePullBackOff, CreateContainerConfigError, …);
    /// [`Transport::ensure_worker`](crate::Transport::ensure_worker) replaces
    /// such a pod.
    Broken {
        /// Kubernetes' reason, verbatim.
        reason: String,
        /// Kubernetes' message, verbatim.
        message: String,
    },
    /// Being deleted.
    Terminating,
    /// The pod finished (`Succeeded` or `Failed`, e.g. evicted); it never runs again.
    Dead {
        /// The pod phase, with the pod-level reason when there is one.
        phase: String,
    },
    /// No pod with the worker's name and UID exists any more (deleted, or
    /// replaced by a newer pod).
    Gone,
}

impl WorkerHealth {
    /// True when the worker takes execs.
    pub fn is_ready(&self) -> bool {
        *self == Self::Ready
    }
}

impl std::fmt::Display for WorkerHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ready => f.write_str("running and Ready"),
            Self::Starting { state } => write!(f, "starting: {state}"),
            Self::NotReady { reason } => write!(f, "running but not Ready: {reason}"),
            Self::Broken { reason, message } if message.is_empty() => {
                write!(f, "broken: {reason}")
            }
            Self::Broken { reason, message } => write!(f, "broken: {reason}: {message}"),
            Self::Terminating => f.write_str("terminating"),
            Self::Dead { phase } => write!(f, "finished ({phase})"),
            Self::Gone => f.write_str("gone"),
        }
    }
}

/// Classifies `pod`, looking at `container` for the running state.
pub(crate) fn classify(pod: &Pod, container: &str) -> WorkerHealth {
    if pod.metadata.deletion_timestamp.is_some() {
        return WorkerHealth::Terminating;
    }
    let status = pod.status.as_ref();
    if let Some(phase @ ("Succeeded" | "Failed")) = status.and_then(|s| s.phase.as_deref()) {
        let phase = match status.and_then(|s| s.reason.as_deref()) {
            Some(reason) => format!("{phase}: {reason}"),
            None => phase.to_owned(),
        };
        return WorkerHealth::Dead { phase };
    }
    if let Some(Blocker::Container { reason, message }) = blocker(pod) {
        return WorkerHealth::Broken { reason, message };
    }
    let state = status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|all| all.iter().find(|c| c.name == container))
        .and_then(|c| c.state.as_ref());
    match state {
        Some(state) if state.running.is_some() => match ready_condition(pod) {
            Ok(()) => WorkerHealth::Ready,
            Err(reason) => WorkerHealth::NotReady { reason },
        },
        Some(state) if state.terminated.is_some() => WorkerHealth::Starting {
            state: "the container exited and is restarting".to_owned(),
        },
        _ => WorkerHealth::Starting {
            state: match Progress::of(pod, container) {
                Progress::Pending(reason) => reason.to_string(),
                Progress::Running | Progress::Finished(_) => "starting".to_owned(),
            },
        },
    }
}

/// `Ok` when the pod's Ready condition is `True`, else its reason and message.
fn ready_condition(pod: &Pod) -> Result<(), String> {
    let ready = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|all| all.iter().find(|c| c.type_ == "Ready"));
    match ready {
        Some(c) if c.status == "True" => Ok(()),
        Some(c) => Err(match (c.reason.as_deref(), c.message.as_deref()) {
            (Some(reason), Some(message)) => format!("{reason}: {message}"),
            (Some(text), None) | (None, Some(text)) => text.to_owned(),
            (None, None) => format!("Ready is {}", c.status),
        }),
        None => Err("no Ready condition reported yet".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(extra_meta: serde_json::Value, status: serde_json::Value) -> Pod {
        let mut meta = serde_json::json!({"name": "w"});
        if let (Some(meta), Some(extra)) = (meta.as_object_mut(), extra_meta.as_object()) {
            meta.extend(extra.clone());
        }
        serde_json::from_value(serde_json::json!({"metadata": meta, "status": status})).unwrap()
    }

    fn container(state: serde_json::Value) -> serde_json::Value {
        serde_json::json!([{"name": "c", "ready": false, "restartCount": 1, "image": "i",
            "imageID": "", "state": state}])
    }

    fn ready(status: &str) -> serde_json::Value {
        serde_json::json!([{"type": "Ready", "status": status, "reason": "ContainersNotReady",
            "message": "containers with unready status: [c]"}])
    }

    #[test]
    fn ready_needs_a_running_container_and_the_ready_condition() {
        let running = container(serde_json::json!({"running": {}}));
        let healthy = pod(
            serde_json::json!({}),
            serde_json::json!({"phase": "Running", "conditions": ready("True"), "containerStatuses": running}),
        );
        assert_eq!(classify(&healthy, "c"), WorkerHealth::Ready);
        let not_ready = pod(
            serde_json::json!({}),
            serde_json::json!({"phase": "Running", "conditions": ready("False"), "containerStatuses": running}),
        );
        assert_eq!(
            classify(&not_ready, "c"),
            WorkerHealth::NotReady {
                reason: "ContainersNotReady: containers with unready status: [c]".into()
            }
        );
        let no_condition = pod(
            serde_json::json!({}),
            serde_json::json!({"phase": "Running", "containerStatuses": running}),
        );
        assert!(matches!(
            classify(&no_condition, "c"),
            WorkerHealth::NotReady { .. }
        ));
    }

    #[test]
    fn crash_loops_and_pull_errors_are_broken() {
        for reason in [
            "CrashLoopBackOff",
            "ErrImagePull",
            "CreateContainerConfigError",
        ] {
            let p = pod(
                serde_json::json!({}),
                serde_json::json!({"phase": "Running", "conditions": ready("False"),
                    "containerStatuses": container(serde_json::json!({"waiting": {"reason": reason, "message": "m"}}))}),
            );
            assert_eq!(
                classify(&p, "c"),
                WorkerHealth::Broken {
                    reason: reason.into(),
                    message: "m".into()
                }
            );
        }
    }

    #[test]
    fn finished_terminating_and_starting() {
        let evicted = pod(
            serde_json::json!({}),
            serde_json::json!({"phase": "Failed", "reason": "Evicted"}),
        );
        assert_eq!(
            classify(&evicted, "c"),
            WorkerHealth::Dead {
                phase: "Failed: Evicted".into()
            }
        );
        let deleting = pod(
            serde_json::json!({"deletionTimestamp": "2026-01-01T00:00:00Z"}),
            serde_json::json!({"phase": "Running"}),
        );
        assert_eq!(classify(&deleting, "c"), WorkerHealth::Terminating);
        let pulling = pod(
            serde_json::json!({}),
            serde_json::json!({"phase": "Pending", "containerStatuses":
                container(serde_json::json!({"waiting": {"reason": "ContainerCreating"}}))}),
        );
        assert!(
            matches!(classify(&pulling, "c"), WorkerHealth::Starting { state } if state.starts_with("ContainerCreating"))
        );
        let restarting = pod(
            serde_json::json!({}),
            serde_json::json!({"phase": "Running", "containerStatuses":
                container(serde_json::json!({"terminated": {"exitCode": 1}}))}),
        );
        assert!(matches!(
            classify(&restarting, "c"),
            WorkerHealth::Starting { .. }
        ));
    }
}
