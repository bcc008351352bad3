//! How a finished pod ended, read from what the kubelet reported.
//!
//! Why not "Succeeded means 0, else 1" (the upstream shortcut): an agent run
//! that was OOM-killed, hit its deadline or was evicted needs a different
//! reaction from one whose tool call failed, and the exit code itself carries
//! the CLI's own meaning. The container's `state.terminated` holds the real
//! code, reason and message; pod-level reasons (Evicted, DeadlineExceeded)
//! live in `status.reason` and are reported next to it.

use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Pod};

/// How the container (and the pod) ended. A non-zero code is a result, not an
/// error.
///
/// ```
/// use agentpod_transport::ExitStatus;
/// let oom = ExitStatus { code: Some(137), reason: Some("OOMKilled".into()), ..ExitStatus::default() };
/// assert!(oom.oom_killed());
/// assert!(!oom.success());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExitStatus {
    /// The container's exit code; `None` when the container never reported one
    /// (e.g. the pod was evicted or hit its deadline before the kubelet recorded it).
    pub code: Option<i32>,
    /// Container reason: `Completed`, `Error`, `OOMKilled`, `ContainerCannotRun`, …
    pub reason: Option<String>,
    /// Container message, if any.
    pub message: Option<String>,
    /// Signal that ended the container, when the runtime reported one.
    pub signal: Option<i32>,
    /// Pod-level reason: `Evicted`, `DeadlineExceeded`, …
    pub pod_reason: Option<String>,
    /// Pod-level message, if any.
    pub pod_message: Option<String>,
}

impl ExitStatus {
    /// Exit code 0 and no pod-level failure.
    ///
    /// ```
    /// use agentpod_transport::ExitStatus;
    /// assert!(ExitStatus { code: Some(0), ..ExitStatus::default() }.success());
    /// ```
    pub fn success(&self) -> bool {
        self.code == Some(0) && self.pod_reason.is_none()
    }

    /// The kernel's OOM killer ended the container (memory limit).
    pub fn oom_killed(&self) -> bool {
        self.reason.as_deref() == Some("OOMKilled")
    }

    /// The pod's `activeDeadlineSeconds` ran out.
    ///
    /// ```
    /// use agentpod_transport::ExitStatus;
    /// let late = ExitStatus { pod_reason: Some("DeadlineExceeded".into()), ..ExitStatus::default() };
    /// assert!(late.deadline_exceeded());
    /// ```
    pub fn deadline_exceeded(&self) -> bool {
        self.pod_reason.as_deref() == Some("DeadlineExceeded")
            || self.reason.as_deref() == Some("DeadlineExceeded")
    }

    /// The kubelet evicted the pod (node pressure).
    pub fn evicted(&self) -> bool {
        self.pod_reason.as_deref() == Some("Evicted")
    }

    /// The exit status of `container` once the run is over: the pod reached
    /// a terminal phase, or `container` terminated for good while other
    /// containers (sidecars such as a mesh proxy) may still run.
    ///
    /// "For good" depends on the pod's `restartPolicy`: `Never` (the default
    /// of a run), or `OnFailure` with exit code 0. A worker's container
    /// (`Always`) is restarted by the kubelet, so it is not over.
    pub(crate) fn of_ended(pod: &Pod, container: &str) -> Option<ExitStatus> {
        let status = pod.status.as_ref()?;
        let terminal = matches!(status.phase.as_deref(), Some("Succeeded" | "Failed"));
        if !terminal {
            let current = status
                .container_statuses
                .iter()
                .flatten()
                .find(|s| s.name == container)
                .and_then(|s| s.state.as_ref()?.terminated.as_ref())?;
            let policy = pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref());
            let over = match policy {
                Some("Never") => true,
                Some("OnFailure") => current.exit_code == 0,
                _ => false,
            };
            if !over {
                return None;
            }
        }
        let mut exit = ExitStatus {
            pod_reason: status.reason.clone(),
            pod_message: status.message.clone(),
            ..ExitStatus::default()
        };
        if let Some(terminated) = terminated_state(status.container_statuses.as_deref(), container)
        {
            exit.code = Some(terminated.exit_code);
            exit.reason = terminated.reason.clone();
            exit.message = terminated.message.clone();
            exit.signal = terminated.signal;
        }
        Some(exit)
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "exit code {code}")?,
            None => f.write_str("no exit code")?,
        }
        if let Some(reason) = &self.reason {
            write!(f, " ({reason})")?;
        }
        if let Some(reason) = &self.pod_reason {
            write!(f, ", pod {reason}")?;
        }
        if let Some(message) = self.pod_message.as_ref().or(self.message.as_ref()) {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

/// The current (else last) terminated state of `container`.
fn terminated_state<'a>(
    statuses: Option<&'a [ContainerStatus]>,
    container: &str,
) -> Option<&'a ContainerStateTerminated> {
    let status = statuses?.iter().find(|s| s.name == container)?;
    status
        .state
        .as_ref()
        .and_then(|state| state.terminated.as_ref())
        .or_else(|| {
            status
                .last_state
                .as_ref()
                .and_then(|state| state.terminated.as_ref())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn running_pod_has_no_exit_status() {
        let p = pod(serde_json::json!({"status": {"phase": "Running"}}));
        assert_eq!(ExitStatus::of_ended(&p, "c"), None);
    }

    #[test]
    fn reads_code_reason_and_message_of_the_named_container() {
        let p = pod(serde_json::json!({"status": {
            "phase": "Failed",
            "containerStatuses": [
                {"name": "side", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                 "state": {"terminated": {"exitCode": 1, "reason": "Error"}}},
                {"name": "c", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                 "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "message": "limit 16Mi"}}}
            ]
        }}));
        let exit = ExitStatus::of_ended(&p, "c").unwrap();
        assert_eq!(exit.code, Some(137));
        assert!(exit.oom_killed());
        assert_eq!(exit.message.as_deref(), Some("limit 16Mi"));
        assert_eq!(exit.to_string(), "exit code 137 (OOMKilled): limit 16Mi");
    }

    #[test]
    fn pod_level_reason_without_container_state() {
        let p = pod(serde_json::json!({"status": {
            "phase": "Failed", "reason": "DeadlineExceeded",
            "message": "Pod was active on the node longer than the specified deadline"
        }}));
        let exit = ExitStatus::of_ended(&p, "c").unwrap();
        assert_eq!(exit.code, None);
        assert!(exit.deadline_exceeded());
        assert!(!exit.success());
        assert!(
            exit.to_string()
                .starts_with("no exit code, pod DeadlineExceeded")
        );
    }

    #[test]
    fn evicted_with_zero_code_is_not_success() {
        let p = pod(serde_json::json!({"status": {
            "phase": "Failed", "reason": "Evicted", "message": "low on memory",
            "containerStatuses": [{"name": "c", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                "state": {"waiting": {"reason": "x"}},
                "lastState": {"terminated": {"exitCode": 0}}}]
        }}));
        let exit = ExitStatus::of_ended(&p, "c").unwrap();
        assert!(exit.evicted());
        assert_eq!(exit.code, Some(0));
        assert!(!exit.success());
    }
}
