//! Removing what crashed processes left behind.
//!
//! Drop guards cover a live process; a killed one (OOM, SIGKILL, node loss)
//! leaves its pod and Secrets. Every object a run creates carries our
//! managed-by labels and an expiry annotation, and the pod an
//! `activeDeadlineSeconds`, so the reaper can find leftovers with a label
//! selector and decide from the objects alone:
//!
//! - expiry passed → delete (pods forcibly: their time is long up);
//! - pod terminated by the cluster (`Failed` with `DeadlineExceeded` or
//!   `Evicted`) → delete, even before expiry;
//! - anything without our labels is never listed; anything with a missing or
//!   unparseable expiry is never deleted, only reported.
//!
//! Deletes carry a UID precondition, so an object recreated under the same
//! name between list and delete is left alone.
//!
//! Ownership does not matter here: pods and Secrets are listed and judged
//! each on their own. An ephemeral run's pod is owned by its first Secret, so
//! deleting that Secret also lets the garbage collector take the pod; a pod
//! whose owner Secret is already gone (and that the collector has not taken
//! yet) is still found by its labels and deleted at its expiry.

use std::time::{Duration, SystemTime};

use agentpod_podspec::expiry::parse_expires_at;
use agentpod_podspec::labels::{EXPIRES_AT_ANNOTATION, MANAGED_SELECTOR};
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::ListParams;
use kube::{Api, Resource};
use tokio_util::task::AbortOnDropHandle;

use crate::cleanup::delete_by_uid;
use crate::retry::retry;
use crate::{RetryPolicy, Transport, TransportError};

/// Pod-level reasons meaning the cluster already killed the pod.
const KILLED_REASONS: [&str; 2] = ["DeadlineExceeded", "Evicted"];

/// What one sweep did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ReapReport {
    /// Pods deleted (`namespace/name`).
    pub deleted_pods: Vec<String>,
    /// Secrets deleted (`namespace/name`).
    pub deleted_secrets: Vec<String>,
    /// Our objects skipped because their expiry annotation is missing or unparseable.
    pub skipped_unparseable: Vec<String>,
    /// Objects the sweep should have deleted but could not (e.g. RBAC
    /// forbids it); the sweep carried on with the others.
    pub failed: Vec<ReapFailure>,
}

/// What a sweep would delete now ([`Reaper::plan`]): nothing is deleted to find out.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReapPlan {
    /// Pods whose expiry passed or that the cluster killed (`namespace/name`).
    pub pods: Vec<String>,
    /// Secrets whose expiry passed (`namespace/name`).
    pub secrets: Vec<String>,
    /// Our objects a sweep leaves alone because their expiry annotation is missing or
    /// unparseable.
    pub skipped_unparseable: Vec<String>,
}

/// One object a sweep could not delete.
#[derive(Debug)]
#[non_exhaustive]
pub struct ReapFailure {
    /// `namespace/name` of the object.
    pub object: String,
    /// Why the delete failed.
    pub error: TransportError,
}

/// Why the reaper would delete an object, if at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Keep,
    Expired,
    KilledByCluster,
    Unparseable,
}

/// Decides about one pod (`pod` is `None` for Secrets).
pub(crate) fn verdict(meta: &ObjectMeta, pod: Option<&Pod>, now: SystemTime) -> Verdict {
    let expiry = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(EXPIRES_AT_ANNOTATION));
    let Some(Ok(expires_at)) = expiry.map(|value| parse_expires_at(value)) else {
        return Verdict::Unparseable;
    };
    if expires_at <= now {
        return Verdict::Expired;
    }
    let killed = pod.and_then(|p| p.status.as_ref()).is_some_and(|s| {
        s.phase.as_deref() == Some("Failed")
            && s.reason
                .as_deref()
                .is_some_and(|r| KILLED_REASONS.contains(&r))
    });
    if killed {
        Verdict::KilledByCluster
    } else {
        Verdict::Keep
    }
}

/// Finds and deletes expired or cluster-killed objects with our labels.
///
/// ```no_run
/// # async fn f(transport: agentpod_transport::Transport) -> Result<(), agentpod_transport::TransportError> {
/// use agentpod_transport::Reaper;
/// let report = Reaper::new(transport.clone()).namespace("agents").sweep().await?;
/// println!("deleted {} pods", report.deleted_pods.len());
/// // or keep it running in the background:
/// let _task = Reaper::new(transport).spawn_periodic(std::time::Duration::from_secs(300));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Reaper {
    transport: Transport,
    namespace: Option<String>,
    retry: RetryPolicy,
}

impl Reaper {
    /// A reaper over all namespaces the client may list.
    pub fn new(transport: Transport) -> Self {
        Self {
            transport,
            namespace: None,
            retry: RetryPolicy::default(),
        }
    }

    /// Restricts the reaper to one namespace.
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Retry policy of the reaper's lists and deletes (default: [`RetryPolicy::default`]).
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match &self.namespace {
            Some(namespace) => Api::namespaced(self.transport.client(), namespace),
            None => Api::all(self.transport.client()),
        }
    }

    /// Lists what a [`sweep`](Self::sweep) would delete now, deleting nothing (for a dry run,
    /// or to show a user what goes before it goes). Two list requests.
    pub async fn plan(&self) -> Result<ReapPlan, TransportError> {
        let now = SystemTime::now();
        let mut plan = ReapPlan::default();
        let listing = ListParams::default().labels(MANAGED_SELECTOR);
        let scope = self.namespace.clone().unwrap_or_else(|| "*".to_owned());
        let pods: Api<Pod> = self.api();
        let listed = retry(&self.retry, "list pods", || pods.list(&listing))
            .await
            .map_err(|f| f.into_error("list", "pods", &scope, MANAGED_SELECTOR))?;
        for pod in &listed.items {
            match verdict(&pod.metadata, Some(pod), now) {
                Verdict::Keep => {}
                Verdict::Unparseable => plan.skipped_unparseable.push(identity(&pod.metadata)),
                Verdict::Expired | Verdict::KilledByCluster => {
                    plan.pods.push(identity(&pod.metadata));
                }
            }
        }
        let secrets: Api<Secret> = self.api();
        let listed = retry(&self.retry, "list secrets", || secrets.list(&listing))
            .await
            .map_err(|f| f.into_error("list", "secrets", &scope, MANAGED_SELECTOR))?;
        for secret in &listed.items {
            match verdict(&secret.metadata, None, now) {
                Verdict::Keep | Verdict::KilledByCluster => {}
                Verdict::Unparseable => {
                    plan.skipped_unparseable.push(identity(&secret.metadata));
                }
                Verdict::Expired => plan.secrets.push(identity(&secret.metadata)),
            }
        }
        Ok(plan)
    }

    /// One sweep over pods, then Secrets. Fails only when an object list
    /// cannot be read; a delete that fails is recorded in
    /// [`ReapReport::failed`] and the sweep carries on.
    pub async fn sweep(&self) -> Result<ReapReport, TransportError> {
        let now = SystemTime::now();
        let mut report = ReapReport::default();
        let listing = ListParams::default().labels(MANAGED_SELECTOR);
        let pods: Api<Pod> = self.api();
        let scope = self.namespace.clone().unwrap_or_else(|| "*".to_owned());
        let listed = retry(&self.retry, "list pods", || pods.list(&listing))
            .await
            .map_err(|f| f.into_error("list", "pods", &scope, MANAGED_SELECTOR))?;
        for pod in &listed.items {
            let id = identity(&pod.metadata);
            match verdict(&pod.metadata, Some(pod), now) {
                Verdict::Keep => {}
                Verdict::Unparseable => report.skipped_unparseable.push(id),
                Verdict::Expired | Verdict::KilledByCluster => {
                    match self.delete_listed::<Pod>("pod", &pod.metadata).await {
                        Ok(true) => report.deleted_pods.push(id),
                        Ok(false) => {}
                        Err(error) => report.failed.push(ReapFailure { object: id, error }),
                    }
                }
            }
        }
        let secrets: Api<Secret> = self.api();
        let listed = retry(&self.retry, "list secrets", || secrets.list(&listing))
            .await
            .map_err(|f| f.into_error("list", "secrets", &scope, MANAGED_SELECTOR))?;
        for secret in &listed.items {
            let id = identity(&secret.metadata);
            match verdict(&secret.metadata, None, now) {
                Verdict::Keep | Verdict::KilledByCluster => {}
                Verdict::Unparseable => report.skipped_unparseable.push(id),
                Verdict::Expired => {
                    if self
                        .delete_listed::<Secret>("secret", &secret.metadata)
                        .await?
                    {
                        report.deleted_secrets.push(id);
                    }
                }
            }
        }
        if !report.deleted_pods.is_empty() || !report.deleted_secrets.is_empty() {
            tracing::info!(pods = ?report.deleted_pods, secrets = ?report.deleted_secrets,
                "reaper deleted leftovers");
        }
        for failure in &report.failed {
            tracing::warn!(object = %failure.object, error = %failure.error,
                "reaper could not delete an expired object; will try again next sweep");
        }
        Ok(report)
    }

    /// Sweeps every `period` until the returned handle is dropped. Failed
    /// sweeps are logged and retried at the next period.
    pub fn spawn_periodic(self, period: Duration) -> AbortOnDropHandle<()> {
        AbortOnDropHandle::new(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if let Err(error) = self.sweep().await {
                    tracing::warn!(%error, "reaper sweep failed");
                }
            }
        }))
    }

    /// Deletes a listed object by its UID (forcibly: its time is up).
    async fn delete_listed<K>(
        &self,
        kind: &'static str,
        meta: &ObjectMeta,
    ) -> Result<bool, TransportError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let namespace = meta.namespace.as_deref().unwrap_or_default();
        let api: Api<K> = Api::namespaced(self.transport.client(), namespace);
        let (Some(name), Some(uid)) = (meta.name.as_deref(), meta.uid.as_deref()) else {
            return Ok(false);
        };
        delete_by_uid(&api, kind, name, uid, Some(0), &self.retry).await
    }
}

fn identity(meta: &ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn meta(expiry: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            annotations: expiry.map(|e| [(EXPIRES_AT_ANNOTATION.to_owned(), e.to_owned())].into()),
            ..ObjectMeta::default()
        }
    }

    fn pod(phase: &str, reason: Option<&str>) -> Pod {
        serde_json::from_value(serde_json::json!({"status": {"phase": phase, "reason": reason}}))
            .unwrap()
    }

    const NOW: u64 = 1_767_323_045; // 2026-01-02T03:04:05Z

    #[test]
    fn expired_objects_go_unexpired_stay() {
        let now = UNIX_EPOCH + Duration::from_secs(NOW);
        assert_eq!(
            verdict(&meta(Some("2026-01-02T03:04:04Z")), None, now),
            Verdict::Expired
        );
        assert_eq!(
            verdict(&meta(Some("2026-01-02T03:04:05Z")), None, now),
            Verdict::Expired
        );
        assert_eq!(
            verdict(&meta(Some("2026-01-02T03:04:06Z")), None, now),
            Verdict::Keep
        );
    }

    #[test]
    fn missing_or_garbage_expiry_is_never_deleted() {
        let now = UNIX_EPOCH + Duration::from_secs(NOW);
        let killed = pod("Failed", Some("DeadlineExceeded"));
        assert_eq!(
            verdict(&meta(None), Some(&killed), now),
            Verdict::Unparseable
        );
        assert_eq!(
            verdict(&meta(Some("soon")), Some(&killed), now),
            Verdict::Unparseable
        );
    }

    #[test]
    fn cluster_killed_pods_go_before_expiry_other_failures_wait() {
        let now = UNIX_EPOCH + Duration::from_secs(NOW);
        let later = meta(Some("2026-01-02T04:00:00Z"));
        for reason in KILLED_REASONS {
            assert_eq!(
                verdict(&later, Some(&pod("Failed", Some(reason))), now),
                Verdict::KilledByCluster
            );
        }
        // A plain failure may still be read by a live run: wait for expiry.
        assert_eq!(
            verdict(&later, Some(&pod("Failed", None)), now),
            Verdict::Keep
        );
        assert_eq!(
            verdict(&later, Some(&pod("Succeeded", None)), now),
            Verdict::Keep
        );
    }
}
