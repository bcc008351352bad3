//! The Kubernetes events of a pod, for error reports.
//!
//! Why: a failed start says Kubernetes' reason (`ErrImagePull`, `Unschedulable`), but the
//! events often say more (which registry refused, which node lacked what). They outlive the
//! pod (an hour by default), so they can be read after the run's cleanup deleted it.

use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::ListParams;

use crate::{Transport, TransportError};

/// One event of a pod, in the words `kubectl describe` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PodEvent {
    /// `Normal` or `Warning`.
    pub type_: String,
    /// Kubernetes' reason (`Scheduled`, `Pulling`, `Failed`, `BackOff`, …).
    pub reason: String,
    /// The message.
    pub message: String,
    /// How often it happened.
    pub count: i32,
}

impl std::fmt::Display for PodEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.type_, self.reason, self.message.trim())?;
        if self.count > 1 {
            write!(f, " (x{})", self.count)?;
        }
        Ok(())
    }
}

impl Transport {
    /// The last `limit` events of pod `namespace/pod`, oldest first (one list request). The
    /// pod need not exist any more.
    ///
    /// ```no_run
    /// # async fn f(transport: agentpod_transport::Transport) -> agentpod_transport::Result<()> {
    /// for event in transport.pod_events("agents", "agent-abc", 5).await? {
    ///     eprintln!("  {event}"); // Warning Failed: Failed to pull image "…": not found
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn pod_events(
        &self,
        namespace: &str,
        pod: &str,
        limit: usize,
    ) -> Result<Vec<PodEvent>, TransportError> {
        let api: Api<Event> = Api::namespaced(self.client(), namespace);
        let selector = format!("involvedObject.kind=Pod,involvedObject.name={pod}");
        let listed = api
            .list(&ListParams::default().fields(&selector))
            .await
            .map_err(|source| TransportError::Api {
                action: "list",
                kind: "events of pod",
                namespace: namespace.to_owned(),
                name: pod.to_owned(),
                source: Box::new(source),
            })?;
        let mut events = listed.items;
        // The newest occurrence decides the order (`kubectl describe` order).
        events.sort_by_key(|event| {
            event
                .last_timestamp
                .as_ref()
                .map(|time| time.0)
                .or_else(|| event.event_time.as_ref().map(|time| time.0))
        });
        let skip = events.len().saturating_sub(limit);
        Ok(events
            .into_iter()
            .skip(skip)
            .map(|event| PodEvent {
                type_: event.type_.unwrap_or_default(),
                reason: event.reason.unwrap_or_default(),
                message: event.message.unwrap_or_default(),
                count: event.count.unwrap_or(1),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_like_kubectl_describe() {
        let event = PodEvent {
            type_: "Warning".into(),
            reason: "Failed".into(),
            message: "Failed to pull image \"x\": not found\n".into(),
            count: 3,
        };
        assert_eq!(
            event.to_string(),
            "Warning Failed: Failed to pull image \"x\": not found (x3)"
        );
    }
}
