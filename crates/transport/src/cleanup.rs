//! Deleting what a run created — always, and only that.
//!
//! Why a guard: a caller may drop the run's future at any await point (a
//! `select!` losing, a timeout, a panic elsewhere). Rust runs `Drop`, but
//! `Drop` cannot await, so the guard spawns the deletion on the runtime it was
//! created in and registers it with the transport's task tracker, which lets
//! a program wait for outstanding cleanups before it exits. No caller
//! cooperation is needed.
//!
//! Only our objects are deleted: every delete carries a UID precondition.
//! When the guard fires while a create request was in flight (so the UID is
//! unknown), it reads the object and deletes it only if it carries this run's
//! token annotation; if the object is not there yet, it looks once more after
//! a short settle delay, in case the in-flight create lands after the first look.
//!
//! Pods that may still run are deleted gracefully with a short grace period,
//! then forcibly (grace 0): on some nodes a graceful delete takes a minute.
//!
//! When the first Secret owns the pod and the other Secrets (an ephemeral
//! run, see `create.rs`) and the pod reached `Succeeded` or `Failed`, one
//! request does it all: deleting that Secret (background propagation) lets
//! the garbage collector delete the rest, and the API server removes a pod in
//! a terminal phase at once, whatever its `terminationGracePeriodSeconds`
//! (measured on the local 1.20 cluster: gone 0.1–0.5 s after the Secret's
//! delete, while a pod the collector deletes before the kubelet reported its
//! end took 4.5–8.7 s). In every other case the pod is deleted directly, as
//! above, and then the first Secret.
//!
//! A run that met a failing API server (a failed request, a broken watch)
//! deletes each object directly: after an API server restart the controller
//! manager's informers back off (up to 30 s per attempt in client-go), and
//! the garbage collector was measured to leave an owned pod for over 30 s.

use std::time::Duration;

use agentpod_podspec::RenderedPod;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{DeleteParams, Preconditions};
use kube::{Api, Resource};
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

use crate::error::status_code;
use crate::retry::{RetryPolicy, retry};
use crate::{RUN_TOKEN_ANNOTATION, TransportError};

/// How a run's objects are deleted.
///
/// Give an agent that traps SIGTERM (to save its session) more time before
/// the forced delete:
///
/// ```
/// use agentpod_transport::{CleanupPolicy, RunOptions};
/// use std::time::Duration;
/// let options = RunOptions::default().cleanup(CleanupPolicy::default().grace(Duration::from_secs(10)));
/// assert_eq!(options.cleanup.grace, Duration::from_secs(10));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CleanupPolicy {
    /// Grace period of the first (graceful) delete of a pod that may be
    /// running; a forced delete (grace 0) follows after it.
    pub grace: Duration,
    /// How long to wait for a create that was in flight when the guard fired
    /// before looking for the object a second time.
    pub settle: Duration,
    /// How long a run handed over with
    /// [`RunHandle::finish_in_background`](crate::RunHandle::finish_in_background)
    /// may take to end by itself (the kubelet reports an exit on its 1 s
    /// status relist) before it is deleted like a dropped run.
    pub linger: Duration,
}

impl Default for CleanupPolicy {
    /// 2 s grace before the forced delete, 2 s settle delay for in-flight
    /// creates, 5 s linger for runs finished in the background.
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(2),
            settle: Duration::from_secs(2),
            linger: Duration::from_secs(5),
        }
    }
}

impl CleanupPolicy {
    /// Sets [`grace`](Self::grace).
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Sets [`settle`](Self::settle).
    #[must_use]
    pub fn settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// Sets [`linger`](Self::linger).
    #[must_use]
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }
}

/// Deletes `namespace/name` of `kind` if it still has `uid` — the one way
/// this crate deletes an object. `Ok(true)`: the delete was accepted (with a
/// grace period the object may exist a while longer); `Ok(false)`: it was
/// already gone (404) or the name now belongs to another object (409, the UID
/// precondition failed). Transient failures are retried by `policy`.
pub(crate) async fn delete_by_uid<K>(
    api: &Api<K>,
    kind: &'static str,
    name: &str,
    uid: &str,
    grace_seconds: Option<u32>,
    policy: &RetryPolicy,
) -> Result<bool, TransportError>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let params = DeleteParams {
        grace_period_seconds: grace_seconds,
        preconditions: Some(Preconditions {
            uid: Some(uid.to_owned()),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    match retry(policy, "delete", || api.delete(name, &params)).await {
        Ok(_) => Ok(true),
        Err(failed) if matches!(status_code(&failed.error), Some(404 | 409)) => Ok(false),
        Err(failed) => {
            Err(failed.into_error("delete", kind, api.namespace().unwrap_or_default(), name))
        }
    }
}

/// Whether the container may still be running when deleting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeleteMode {
    /// The pod reached `Succeeded` or `Failed`: the API server removes it at
    /// once, also when the garbage collector deletes it.
    Terminal,
    /// Nothing runs (finished or never started): grace 0 at once.
    Immediate,
    /// Graceful first, then forced.
    Graceful,
}

/// One object a run owns (or may own, while its create is in flight).
#[derive(Debug, Clone)]
pub(crate) struct Owned {
    pub(crate) name: String,
    pub(crate) uid: Option<String>,
}

/// Everything needed to delete a run's objects, detached from the run.
#[derive(Clone)]
pub(crate) struct CleanupTarget {
    pub(crate) client: kube::Client,
    pub(crate) namespace: String,
    pub(crate) token: String,
    pub(crate) pod: Owned,
    pub(crate) secrets: Vec<Owned>,
    /// The first Secret owns the pod and the other Secrets.
    pub(crate) anchored: bool,
    pub(crate) policy: CleanupPolicy,
    pub(crate) retry: RetryPolicy,
}

impl CleanupTarget {
    /// The objects `rendered` will create, before any of them has a UID.
    pub(crate) fn for_rendered(
        client: kube::Client,
        rendered: &RenderedPod,
        token: &str,
        policy: CleanupPolicy,
        retry: RetryPolicy,
    ) -> Self {
        let unresolved = |name: &str| Owned {
            name: name.to_owned(),
            uid: None,
        };
        Self {
            client,
            namespace: rendered.namespace().to_owned(),
            token: token.to_owned(),
            pod: unresolved(rendered.name()),
            secrets: rendered
                .secrets
                .iter()
                .map(|secret| unresolved(secret.metadata.name.as_deref().unwrap_or_default()))
                .collect(),
            anchored: false,
            policy,
            retry,
        }
    }

    /// Deletes the pod, then its Secrets (see the module docs for when
    /// deleting the first Secret alone does it all). Failures are logged,
    /// never returned: cleanup runs on paths that already have a result or an
    /// error to report.
    pub(crate) async fn delete(self, mode: DeleteMode) {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let anchor = self.secrets.first().filter(|_| self.anchored);
        if let (Some(anchor), DeleteMode::Terminal) = (anchor, mode)
            && let Some(uid) = self.resolve(&secrets, anchor).await
        {
            match delete_by_uid(&secrets, "secret", &anchor.name, &uid, Some(0), &self.retry).await
            {
                Ok(accepted) => {
                    tracing::debug!(namespace = %self.namespace, secret = %anchor.name, accepted,
                        "deleted the run's first Secret; the garbage collector deletes the rest");
                    return;
                }
                Err(error) => {
                    tracing::debug!(namespace = %self.namespace, secret = %anchor.name, %error,
                        "could not delete the run's first Secret; deleting each object");
                }
            }
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        if let Some(uid) = self.resolve(&pods, &self.pod).await {
            self.delete_pod(&pods, &uid, mode).await;
        }
        // The first Secret owns the others: the garbage collector deletes them with it.
        let count = if anchor.is_some() {
            1
        } else {
            self.secrets.len()
        };
        for secret in self.secrets.iter().take(count) {
            if let Some(uid) = self.resolve(&secrets, secret).await {
                self.delete_one(&secrets, "secret", &secret.name, &uid, Some(0))
                    .await;
            }
        }
    }

    async fn delete_pod(&self, pods: &Api<Pod>, uid: &str, mode: DeleteMode) {
        if mode == DeleteMode::Graceful && !self.policy.grace.is_zero() {
            let grace = u32::try_from(self.policy.grace.as_secs()).unwrap_or(u32::MAX);
            if !self
                .delete_one(pods, "pod", &self.pod.name, uid, Some(grace))
                .await
            {
                return;
            }
            tokio::time::sleep(self.policy.grace).await;
        }
        self.delete_one(pods, "pod", &self.pod.name, uid, Some(0))
            .await;
    }

    /// Deletes `name` if it still has `uid`. Returns whether it may still exist.
    async fn delete_one<K>(
        &self,
        api: &Api<K>,
        kind: &'static str,
        name: &str,
        uid: &str,
        grace: Option<u32>,
    ) -> bool
    where
        K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        match delete_by_uid(api, kind, name, uid, grace, &self.retry).await {
            Ok(accepted) => {
                tracing::debug!(namespace = %self.namespace, name, ?grace, accepted, "deleted");
                accepted
            }
            Err(error) => {
                tracing::warn!(namespace = %self.namespace, name, %error,
                    "could not delete; the reaper will remove it after its expiry");
                false
            }
        }
    }

    /// The UID to delete: known, or read back if the object carries our token.
    async fn resolve<K>(&self, api: &Api<K>, owned: &Owned) -> Option<String>
    where
        K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        if let Some(uid) = &owned.uid {
            return Some(uid.clone());
        }
        for attempt in 0..2 {
            if attempt > 0 {
                tokio::time::sleep(self.policy.settle).await;
            }
            match retry(&self.retry, "get", || api.get_opt(&owned.name)).await {
                Ok(Some(object)) => {
                    let meta = object.meta();
                    let ours = meta
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(RUN_TOKEN_ANNOTATION))
                        .is_some_and(|token| *token == self.token);
                    return if ours { meta.uid.clone() } else { None };
                }
                Ok(None) => {}
                Err(failed) => {
                    tracing::warn!(namespace = %self.namespace, name = %owned.name,
                        error = %failed.error, "cannot read object to clean up");
                    return None;
                }
            }
        }
        None
    }
}

/// Deletes a run's objects when dropped, unless disarmed by a completed cleanup.
///
/// While armed it holds a token of the transport's task tracker, so
/// [`Transport::finish_cleanups`](crate::Transport::finish_cleanups) also
/// waits for runs that are still alive or whose task is being torn down and
/// has not spawned its cleanup yet.
pub(crate) struct CleanupGuard {
    target: Option<CleanupTarget>,
    mode: DeleteMode,
    handle: tokio::runtime::Handle,
    tracker: TaskTracker,
    _pending: TaskTrackerToken,
}

impl CleanupGuard {
    /// Arms a guard for `target`, spawning on the current runtime if dropped.
    pub(crate) fn new(target: CleanupTarget, tracker: TaskTracker) -> Self {
        Self {
            target: Some(target),
            mode: DeleteMode::Graceful,
            handle: tokio::runtime::Handle::current(),
            _pending: tracker.token(),
            tracker,
        }
    }

    /// The objects being guarded (to record UIDs as creates succeed).
    pub(crate) fn target_mut(&mut self) -> Option<&mut CleanupTarget> {
        self.target.as_mut()
    }

    /// How a drop-triggered cleanup deletes the pod from now on.
    pub(crate) fn set_mode(&mut self, mode: DeleteMode) {
        self.mode = mode;
    }

    /// Deletes every object directly, not relying on the garbage collector
    /// to follow the first Secret's ownership (it lags after an API server
    /// restart).
    pub(crate) fn delete_each(&mut self) {
        if let Some(target) = self.target.as_mut() {
            target.anchored = false;
        }
    }

    /// Disarms the guard: the objects now belong to someone else (a worker pod).
    pub(crate) fn disarm(mut self) {
        self.target = None;
    }

    /// Deletes now, and disarms the guard only once the deletion completed:
    /// if the caller's future is dropped meanwhile (e.g. during the settle
    /// delay), the still-armed guard starts the deletion again in the
    /// background. Deleting twice is harmless (UID preconditions, 404 is fine).
    pub(crate) async fn run_now(mut self, mode: DeleteMode) {
        self.mode = mode;
        if let Some(target) = self.target.clone() {
            target.delete(mode).await;
            self.target = None;
        }
    }
}

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        if let Some(target) = self.target.take() {
            tracing::debug!(namespace = %target.namespace, pod = %target.pod.name,
                "run dropped before cleanup; deleting in the background");
            self.tracker
                .spawn_on(target.delete(self.mode), &self.handle);
        }
    }
}
