//! One watch on one pod, resumed across disconnects and `410 Gone`.
//!
//! Why a raw watch instead of kube's `watcher`: we already hold the pod's
//! `resourceVersion` from the create reply, so the watch starts right there
//! without an initial list (one request instead of two), and the rules for
//! losing nothing are short enough to own:
//!
//! - the stream ends (server timeout, API server restart, reset): watch again
//!   from the last resourceVersion seen — events in between are replayed;
//! - the server says that version is too old (`410 Gone`, as an event or as
//!   the response): list the pod once (by name), report it, and watch from the
//!   list's version — a terminal state reached meanwhile is in that read (the
//!   pod's own version is not enough: after an API server restart it can
//!   predate the new watch cache and be too old again);
//! - connection errors, and streams the server ends within a second of
//!   opening them, back off (200 ms doubling to 5 s) without limit: the
//!   caller's start and run timeouts bound the wait, not the watch.

use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, WatchEvent, WatchParams};
use tokio::time::Instant;

use crate::TransportError;
use crate::error::{is_transient, status_code};

/// Server-side timeout of one watch request; the watch is re-issued after it.
pub(crate) const WATCH_TIMEOUT_SECS: u32 = 240;
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A watch stream that ends sooner than this after it was opened counts as a
/// failure (backoff), not as a normal server-side end.
const QUICK_END: Duration = Duration::from_secs(1);

/// `pod` without its `managedFields`: the API server sends them with every object (a field
/// tree per writer, kilobytes per pod), and nothing here reads them. A run keeps its latest
/// pod for as long as it runs, so with many runs at once this is memory worth giving back.
pub(crate) fn lean(mut pod: Pod) -> Pod {
    pod.metadata.managed_fields = None;
    pod
}

/// What the watch saw.
#[derive(Debug)]
pub(crate) enum PodUpdate {
    /// The pod's latest state.
    Changed(Box<Pod>),
    /// The pod was deleted; its last state.
    Deleted(Box<Pod>),
    /// After a resync, the pod no longer exists.
    Gone,
}

/// A resumable watch on a single pod.
pub(crate) struct PodWatch {
    api: Api<Pod>,
    name: String,
    namespace: String,
    resource_version: String,
    stream: Option<BoxStream<'static, Result<WatchEvent<Pod>, kube::Error>>>,
    opened_at: Option<Instant>,
    failures: u32,
    backoffs: u32,
    resyncs: u32,
    resyncs_in_a_row: u32,
}

impl PodWatch {
    /// Watches `name` starting after `resource_version` (from the create reply).
    pub(crate) fn new(api: Api<Pod>, namespace: &str, name: &str, resource_version: &str) -> Self {
        Self {
            api,
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            resource_version: resource_version.to_owned(),
            stream: None,
            opened_at: None,
            failures: 0,
            backoffs: 0,
            resyncs: 0,
            resyncs_in_a_row: 0,
        }
    }

    /// How often the watch had to fall back to a fresh read (410 Gone).
    pub(crate) fn resyncs(&self) -> u32 {
        self.resyncs
    }

    /// Whether the watch ever broke, failed to open or lost its place: the
    /// API server (or the way to it) had trouble during the run.
    pub(crate) fn interrupted(&self) -> bool {
        self.backoffs > 0 || self.resyncs > 0
    }

    /// The next change of the pod. Only non-transient API failures (e.g. 403)
    /// are errors; everything else is retried until the caller gives up.
    pub(crate) async fn next(&mut self) -> Result<PodUpdate, TransportError> {
        loop {
            let Some(stream) = self.stream.as_mut() else {
                if let Some(update) = self.open().await? {
                    return Ok(update);
                }
                continue;
            };
            match stream.next().await {
                Some(Ok(WatchEvent::Added(pod) | WatchEvent::Modified(pod))) => {
                    self.failures = 0;
                    self.resyncs_in_a_row = 0;
                    self.remember_version(&pod);
                    return Ok(PodUpdate::Changed(Box::new(lean(pod))));
                }
                Some(Ok(WatchEvent::Deleted(pod))) => {
                    self.remember_version(&pod);
                    return Ok(PodUpdate::Deleted(Box::new(lean(pod))));
                }
                Some(Ok(WatchEvent::Bookmark(bookmark))) => {
                    self.resource_version = bookmark.metadata.resource_version;
                }
                Some(Ok(WatchEvent::Error(status))) if status.code == 410 => {
                    self.stream = None;
                    return self.resync().await;
                }
                Some(Ok(WatchEvent::Error(status))) => {
                    tracing::debug!(pod = %self.name, ?status, "watch error event; re-watching");
                    self.stream = None;
                    self.back_off().await;
                }
                Some(Err(error)) => {
                    tracing::debug!(pod = %self.name, %error, "watch stream broke; re-watching");
                    self.stream = None;
                    self.back_off().await;
                }
                None => {
                    // Server-side timeout or a closed connection: resume. A
                    // stream that ended at once (a proxy or an overloaded
                    // server closing every watch) backs off instead of spinning.
                    self.stream = None;
                    if self.opened_at.is_some_and(|at| at.elapsed() >= QUICK_END) {
                        self.failures = 0;
                    } else {
                        tracing::debug!(pod = %self.name, "watch ended at once; backing off");
                        self.back_off().await;
                    }
                }
            }
        }
    }

    /// Starts a watch request; a `410` answer yields the resynced state instead.
    async fn open(&mut self) -> Result<Option<PodUpdate>, TransportError> {
        let params = WatchParams::default()
            .fields(&format!("metadata.name={}", self.name))
            .timeout(WATCH_TIMEOUT_SECS);
        match self.api.watch(&params, &self.resource_version).await {
            Ok(stream) => {
                self.stream = Some(stream.boxed());
                self.opened_at = Some(Instant::now());
                Ok(None)
            }
            Err(error) if status_code(&error) == Some(410) => self.resync().await.map(Some),
            Err(error) if is_transient(&error) => {
                tracing::debug!(pod = %self.name, %error, "cannot watch yet; backing off");
                self.back_off().await;
                Ok(None)
            }
            Err(error) => Err(TransportError::Api {
                action: "watch",
                kind: "pod",
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                source: Box::new(error),
            }),
        }
    }

    /// Reads the pod after the watch lost its place and reports its state.
    async fn resync(&mut self) -> Result<PodUpdate, TransportError> {
        self.resyncs += 1;
        self.resyncs_in_a_row += 1;
        if self.resyncs_in_a_row > 1 {
            // Never spin: two resyncs in a row back off like a broken stream.
            self.back_off().await;
        }
        let params = ListParams::default().fields(&format!("metadata.name={}", self.name));
        loop {
            match self.api.list(&params).await {
                Ok(list) => {
                    // Watch from the *list's* version (the current revision):
                    // after an API server restart the pod's own, older version
                    // may predate the new watch cache and be `410` again.
                    if let Some(version) = list.metadata.resource_version {
                        self.resource_version = version;
                    }
                    return Ok(match list.items.into_iter().next() {
                        Some(pod) => PodUpdate::Changed(Box::new(lean(pod))),
                        None => PodUpdate::Gone,
                    });
                }
                Err(error) if is_transient(&error) => self.back_off().await,
                Err(error) => {
                    return Err(TransportError::Api {
                        action: "list",
                        kind: "pod",
                        namespace: self.namespace.clone(),
                        name: self.name.clone(),
                        source: Box::new(error),
                    });
                }
            }
        }
    }

    fn remember_version(&mut self, pod: &Pod) {
        if let Some(version) = &pod.metadata.resource_version {
            self.resource_version.clone_from(version);
        }
    }

    async fn back_off(&mut self) {
        let delay = MIN_BACKOFF
            .saturating_mul(1 << self.failures.min(5))
            .min(MAX_BACKOFF);
        self.failures += 1;
        self.backoffs += 1;
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lean_pod_keeps_everything_but_its_managed_fields() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "resourceVersion": "7", "managedFields": [
                {"manager": "agentpod", "operation": "Update", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:labels": {}}}}]},
            "status": {"phase": "Running"}
        }))
        .expect("a pod");
        let lean = lean(pod.clone());
        assert!(pod.metadata.managed_fields.is_some());
        assert_eq!(lean.metadata.managed_fields, None);
        let mut expected = pod;
        expected.metadata.managed_fields = None;
        assert_eq!(lean, expected);
    }
}
