//! Warm worker pods: one named pod that many calls exec into.
//!
//! [`Transport::ensure_worker`] makes sure the pod exists, runs and is Ready,
//! and returns a [`Worker`] handle. It is safe when many callers race and
//! when earlier callers crashed half-way:
//!
//! - callers in this process queue on a per-pod lock, so exactly one of them
//!   creates; the others find the pod and wait for it;
//! - callers in other processes may still race: a `409 AlreadyExists` on
//!   create is not an error, it means "someone is creating it — wait for it";
//! - a pod with the worker's name but without our labels is never used (nor
//!   deleted): it is a [`TransportError::NameConflict`];
//! - a dead worker (`Failed`/`Succeeded`) and a broken one (CrashLoopBackOff,
//!   ErrImagePull, … after the start policy's grace) are deleted by UID and
//!   created again, together with the Secrets *that pod* owned (owner
//!   reference or run token); a broken pod is replaced at most once per call,
//!   so a pod that breaks again reports its reason instead of looping;
//! - a worker Secret left behind by a creator that died before creating the
//!   pod is recognised (our labels, no pod, and either owned by a pod that is
//!   gone or past its creation expiry) and replaced; a Secret of a creator
//!   that is still within its creation window is waited for;
//! - the start timeout bounds every path, including lost races and repairs;
//!   objects half-created when it expires are deleted by the drop guard.
//!
//! What the reaper can act on: a worker's Secrets carry the expiry annotation
//! (creation time + 60 s) until their pod exists and owns
//! them; then the annotation is removed and the Secrets live exactly as long
//! as the pod (the garbage collector deletes them with it). The worker pod
//! carries no expiry: it is meant to stay, and [`Worker::delete`] ends it.

mod claim;
mod handle;
mod health;
mod listing;
mod objects;
mod stream;

pub use claim::{CLAIM_ANNOTATION, ClaimState, WorkerClaim};
pub use handle::Worker;
pub use health::WorkerHealth;
pub use listing::ListedWorker;
pub use stream::{ExecStdout, ExecStream};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use agentpod_podspec::RenderedPod;
use agentpod_podspec::expiry::format_expires_at;
use agentpod_podspec::labels::EXPIRES_AT_ANNOTATION;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::{Patch, PatchParams};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::cleanup::{CleanupGuard, CleanupTarget, DeleteMode, delete_by_uid};
use crate::create::{CreateFailure, Ownership, create_all, new_token, stamp};
use crate::progress::Blocker;
use crate::retry::retry;
use crate::start::{StartWait, Started, deadline_after};
use crate::watch::{PodUpdate, PodWatch};
use crate::{CleanupPolicy, StartPolicy, Transport, TransportError};

use health::classify;
use objects::{Leftover, is_ours, leftover, owned_by_uid, token_of};

/// Pause after losing a create race before looking again.
const CONFLICT_PAUSE: Duration = Duration::from_millis(200);

/// How far past the start timeout a single API call in flight (a create with
/// its retries) may run before the call is cut off regardless.
const BACKSTOP: Duration = Duration::from_secs(5);

/// How long a worker's Secret may exist without its pod before it counts as
/// left behind by a creator that died between the two creates. The creator
/// normally needs one API call for that step.
pub(crate) const HALF_CREATED_TTL: Duration = Duration::from_secs(60);

/// Per-worker state shared by all callers of one [`Transport`]: the lock that
/// serialises `ensure_worker` callers, and the exec turn of each worker.
#[derive(Debug, Clone, Default)]
pub(crate) struct WorkerLocks(Arc<Mutex<HashMap<String, PerWorker>>>);

#[derive(Debug, Clone)]
struct PerWorker {
    ensure: Arc<tokio::sync::Mutex<()>>,
    turn: Arc<Semaphore>,
}

impl WorkerLocks {
    fn for_worker(&self, namespace: &str, name: &str) -> PerWorker {
        let mut locks = match self.0.lock() {
            Ok(locks) => locks,
            // A panic while holding this map lock cannot leave it inconsistent
            // (single insert), so the poisoned data is fine to use.
            Err(poisoned) => poisoned.into_inner(),
        };
        locks
            .entry(format!("{namespace}/{name}"))
            .or_insert_with(|| PerWorker {
                ensure: Arc::default(),
                turn: Arc::new(Semaphore::new(1)),
            })
            .clone()
    }

    /// The exec turn shared by all handles to one worker.
    pub(crate) fn for_worker_turn(&self, namespace: &str, name: &str) -> Arc<Semaphore> {
        self.for_worker(namespace, name).turn
    }
}

impl Transport {
    /// Makes sure the worker pod `rendered` describes exists, runs and is
    /// Ready, and returns its handle. Use a fixed name (`PodName::explicit`)
    /// and `RestartPolicy::Always` with a long-running command (e.g.
    /// `while :; do sleep 3600; done`; a shell as the main process also reaps
    /// the orphans of exec'd commands). `start` bounds the whole call (see the
    /// module docs for races, repairs and leftovers).
    ///
    /// An existing worker is taken as it is: its spec is not compared with
    /// `rendered`; [`Worker::delete`] it to roll out a new spec.
    ///
    /// ```no_run
    /// # async fn f(transport: agentpod_transport::Transport) -> Result<(), Box<dyn std::error::Error>> {
    /// use agentpod_podspec::{AgentPodSpec, PodName, RestartPolicy};
    /// use agentpod_transport::{ExecOptions, ExecRequest, StartPolicy};
    /// use std::time::Duration;
    /// let rendered = AgentPodSpec::new("claude-runner:2")
    ///     .name(PodName::explicit("claude-worker"))
    ///     .restart_policy(RestartPolicy::Always)
    ///     .command(["sh", "-c", "while :; do sleep 3600; done"])
    ///     .render(std::time::SystemTime::now())?;
    /// let start = StartPolicy::default().start_timeout(Duration::from_secs(300));
    /// let worker = transport.ensure_worker(&rendered, start).await?;
    /// let output = worker.exec(&ExecRequest::new(["id", "-u"]), &ExecOptions::default()).await?;
    /// assert_eq!(output.exit_code, 0);
    /// # Ok(()) }
    /// ```
    pub async fn ensure_worker(
        &self,
        rendered: &RenderedPod,
        start: StartPolicy,
    ) -> Result<Worker, TransportError> {
        let namespace = rendered.namespace().to_owned();
        let name = rendered.name().to_owned();
        let shared = self.worker_locks().for_worker(&namespace, &name);
        let mut ensure = Ensure {
            transport: self,
            rendered,
            pods: Api::namespaced(self.client(), &namespace),
            secrets: Api::namespaced(self.client(), &namespace),
            container: rendered
                .pod
                .spec
                .as_ref()
                .and_then(|s| s.containers.first())
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            start: &start,
            namespace,
            name,
            created: None,
            last_state: "waiting for other callers in this process".to_owned(),
        };
        let deadline = deadline_after(Instant::now(), start.start_timeout);
        let work = async {
            let _turn = shared.ensure.lock().await;
            ensure.run(deadline).await
        };
        // Every loop checks `deadline`; the backstop also cuts off a single
        // API call (with its retries) that is still running then.
        let finished = tokio::time::timeout_at(deadline_after(deadline, BACKSTOP), work).await;
        let pod = match finished {
            Ok(result) => result?,
            Err(_) => return Err(ensure.timed_out()),
        };
        Ok(Worker {
            transport: self.clone(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            secrets: rendered
                .secrets
                .iter()
                .filter_map(|s| s.metadata.name.clone())
                .collect(),
            namespace: ensure.namespace,
            name: ensure.name,
            container: ensure.container,
            turn: shared.turn,
            retry: start.retry.clone(),
        })
    }
}

/// One `ensure_worker` call.
struct Ensure<'a> {
    transport: &'a Transport,
    rendered: &'a RenderedPod,
    start: &'a StartPolicy,
    pods: Api<Pod>,
    secrets: Api<Secret>,
    namespace: String,
    name: String,
    container: String,
    /// UID of the pod this call created, if any.
    created: Option<String>,
    /// What the call waits for; the start timeout's error reports it.
    last_state: String,
}

/// How waiting for a pod to become Ready ended.
enum Waited {
    Ready(Box<Pod>),
    /// Died, is being deleted, or vanished: look again.
    Vanished,
    /// A blocker outlasted its grace.
    Blocked(Box<Pod>, Blocker),
}

impl Ensure<'_> {
    async fn run(&mut self, deadline: Instant) -> Result<Pod, TransportError> {
        let mut replaced_broken = false;
        loop {
            if Instant::now() >= deadline {
                return Err(self.timed_out());
            }
            let pod = match self.get_pod().await? {
                None => match self.create().await? {
                    Some(pod) => pod,
                    None => continue,
                },
                Some(pod) if !is_ours(&pod.metadata) => {
                    return Err(TransportError::NameConflict {
                        kind: "pod",
                        namespace: self.namespace.clone(),
                        name: self.name.clone(),
                        hint: "it lacks agentpod's labels, so it is never used as a worker; delete it or choose another worker name",
                    });
                }
                Some(pod) if pod.metadata.deletion_timestamp.is_some() => {
                    self.last_state = "the previous worker pod is terminating".to_owned();
                    self.wait_gone(&pod, deadline).await?;
                    continue;
                }
                Some(pod)
                    if matches!(classify(&pod, &self.container), WorkerHealth::Dead { .. }) =>
                {
                    tracing::info!(namespace = %self.namespace, name = %self.name,
                        "worker pod died; recreating");
                    self.replace(&pod, deadline).await?;
                    continue;
                }
                Some(pod) => pod,
            };
            match self.wait_ready(pod, deadline).await? {
                Waited::Ready(pod) => return Ok(*pod),
                Waited::Vanished => {}
                Waited::Blocked(pod, found) => {
                    let made_here = self.created.is_some() && self.created == pod.metadata.uid;
                    if made_here || replaced_broken || !matches!(found, Blocker::Container { .. }) {
                        return Err(found.into_error(&self.namespace, &self.name));
                    }
                    tracing::info!(namespace = %self.namespace, name = %self.name, ?found,
                        "worker pod is broken; replacing it");
                    replaced_broken = true;
                    self.replace(&pod, deadline).await?;
                }
            }
        }
    }

    /// The start timeout's error, with what the call was waiting for.
    fn timed_out(&self) -> TransportError {
        TransportError::StartTimeout {
            namespace: self.namespace.clone(),
            pod: self.name.clone(),
            timeout: self.start.start_timeout,
            last_state: self.last_state.clone(),
        }
    }

    async fn get_pod(&self) -> Result<Option<Pod>, TransportError> {
        retry(&self.start.retry, "get worker", || {
            self.pods.get_opt(&self.name)
        })
        .await
        .map_err(|f| f.into_error("get", "pod", &self.namespace, &self.name))
    }

    /// Creates the worker's Secrets and pod. `None` when the name was taken
    /// meanwhile (then the blocking Secret has been dealt with, and the caller
    /// looks again).
    async fn create(&mut self) -> Result<Option<Pod>, TransportError> {
        self.last_state = "creating the worker".to_owned();
        let mut rendered = self.rendered.clone();
        let token = new_token()?;
        stamp(&mut rendered, &token, None)?;
        let creation_expiry = format_expires_at(SystemTime::now() + HALF_CREATED_TTL)?;
        for secret in &mut rendered.secrets {
            secret
                .metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(EXPIRES_AT_ANNOTATION.to_owned(), creation_expiry.clone());
        }
        let client = self.transport.client();
        let target = CleanupTarget::for_rendered(
            client.clone(),
            &rendered,
            &token,
            CleanupPolicy::default(),
            self.start.retry.clone(),
        );
        // Guards the half-created state only; a created worker outlives the call.
        let mut guard = CleanupGuard::new(target, self.transport.tracker().clone());
        let created = create_all(
            &client,
            &rendered,
            &token,
            &self.start.retry,
            &mut guard,
            Ownership::Pod,
        )
        .await;
        match created {
            Ok(pod) => {
                guard.disarm();
                self.created.clone_from(&pod.metadata.uid);
                self.drop_creation_expiry(&rendered).await;
                Ok(Some(pod))
            }
            Err(CreateFailure::Conflict { kind, name }) => {
                guard.run_now(DeleteMode::Immediate).await;
                if kind == "secret" {
                    self.settle_secret(&name).await?;
                } else {
                    tokio::time::sleep(CONFLICT_PAUSE).await;
                }
                Ok(None)
            }
            Err(CreateFailure::Failed(error)) => {
                guard.run_now(DeleteMode::Immediate).await;
                Err(error)
            }
        }
    }

    /// The pod exists and owns its Secrets now: they live as long as it does,
    /// so the reaper must not take them at their creation expiry.
    async fn drop_creation_expiry(&self, rendered: &RenderedPod) {
        let body = serde_json::json!({"metadata": {"annotations": {EXPIRES_AT_ANNOTATION: null}}});
        let patch = Patch::Merge(&body);
        let params = PatchParams::default();
        for name in rendered
            .secrets
            .iter()
            .filter_map(|s| s.metadata.name.as_deref())
        {
            let patched = retry(&self.start.retry, "patch worker secret", || {
                self.secrets.patch(name, &params, &patch)
            })
            .await;
            if let Err(failed) = patched {
                tracing::warn!(namespace = %self.namespace, secret = %name, error = %failed.error,
                    "could not remove the creation expiry of a worker Secret; the reaper may delete it");
            }
        }
    }

    /// Deals with our create losing to an existing Secret `name`.
    async fn settle_secret(&mut self, name: &str) -> Result<(), TransportError> {
        let found = retry(&self.start.retry, "get worker secret", || {
            self.secrets.get_opt(name)
        })
        .await
        .map_err(|f| f.into_error("get", "secret", &self.namespace, name))?;
        let Some(secret) = found else {
            return Ok(()); // gone meanwhile: try again
        };
        if self.get_pod().await?.is_some() {
            return Ok(()); // its creator got as far as the pod: use that
        }
        match leftover(&secret.metadata, &self.name, SystemTime::now()) {
            Leftover::Foreign => Err(TransportError::NameConflict {
                kind: "secret",
                namespace: self.namespace.clone(),
                name: name.to_owned(),
                hint: "the worker needs this name for its Secret; delete it or choose another worker name",
            }),
            Leftover::Stale(why) => {
                tracing::info!(namespace = %self.namespace, secret = %name, %why,
                    "replacing a worker Secret left behind");
                let uid = secret.metadata.uid.as_deref().unwrap_or_default();
                let policy = &self.start.retry;
                delete_by_uid(&self.secrets, "secret", name, uid, Some(0), policy).await?;
                Ok(())
            }
            Leftover::InFlight => {
                self.last_state = format!(
                    "another caller is creating the worker (its Secret {name} exists, its pod does not yet)"
                );
                tokio::time::sleep(CONFLICT_PAUSE).await;
                Ok(())
            }
        }
    }

    /// Deletes a dead or broken worker by UID with the Secrets it owned, and
    /// waits until it is gone.
    async fn replace(&mut self, pod: &Pod, deadline: Instant) -> Result<(), TransportError> {
        self.last_state = "replacing the previous worker pod".to_owned();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let policy = &self.start.retry;
        delete_by_uid(&self.pods, "pod", &self.name, &uid, Some(0), policy).await?;
        let token = token_of(&pod.metadata);
        for name in self
            .rendered
            .secrets
            .iter()
            .filter_map(|s| s.metadata.name.as_deref())
        {
            let found = retry(policy, "get worker secret", || self.secrets.get_opt(name))
                .await
                .map_err(|f| f.into_error("get", "secret", &self.namespace, name))?;
            let Some(secret) = found else { continue };
            let owned = owned_by_uid(&secret.metadata, &uid)
                || token.is_some() && token_of(&secret.metadata) == token;
            if !owned {
                // Another caller's replacement: not ours to delete.
                continue;
            }
            let secret_uid = secret.metadata.uid.as_deref().unwrap_or_default();
            delete_by_uid(&self.secrets, "secret", name, secret_uid, Some(0), policy).await?;
        }
        self.wait_gone(pod, deadline).await
    }

    /// Waits until no pod with `pod`'s UID exists.
    async fn wait_gone(&self, pod: &Pod, deadline: Instant) -> Result<(), TransportError> {
        let mut delay = Duration::from_millis(100);
        loop {
            let current = self.get_pod().await?;
            if current.is_none_or(|p| p.metadata.uid != pod.metadata.uid) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.timed_out());
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// Watches `pod` until it is Ready: first the start phase every pod goes
    /// through (shared with runs), then until the pod's Ready condition holds.
    async fn wait_ready(&mut self, pod: Pod, deadline: Instant) -> Result<Waited, TransportError> {
        let version = pod.metadata.resource_version.clone().unwrap_or_default();
        let mut watch = PodWatch::new(self.pods.clone(), &self.namespace, &self.name, &version);
        let last_state = &mut self.last_state;
        let started = StartWait {
            api: &self.pods,
            watch: &mut watch,
            namespace: &self.namespace,
            pod: &self.name,
            container: &self.container,
            policy: self.start,
            deadline,
        }
        .run(pod, |progress| *last_state = progress.to_string())
        .await;
        let mut pod = match started {
            Ok(Started::Running(pod)) => *pod,
            Ok(Started::Finished(_) | Started::Gone(_)) => return Ok(Waited::Vanished),
            Err(TransportError::CannotStart {
                reason, message, ..
            }) => {
                let found = Blocker::Container { reason, message };
                return Ok(match self.get_pod().await? {
                    Some(pod) => Waited::Blocked(Box::new(pod), found),
                    None => Waited::Vanished,
                });
            }
            Err(error) => return Err(error),
        };
        loop {
            let health = classify(&pod, &self.container);
            self.last_state = health.to_string();
            match health {
                WorkerHealth::Ready => return Ok(Waited::Ready(Box::new(pod))),
                WorkerHealth::Broken { reason, message } => {
                    let found = Blocker::Container { reason, message };
                    return Ok(Waited::Blocked(Box::new(pod), found));
                }
                WorkerHealth::Dead { .. } | WorkerHealth::Terminating | WorkerHealth::Gone => {
                    return Ok(Waited::Vanished);
                }
                WorkerHealth::Starting { .. } | WorkerHealth::NotReady { .. } => {}
            }
            tokio::select! {
                update = watch.next() => match update? {
                    PodUpdate::Changed(next) => pod = *next,
                    PodUpdate::Deleted(_) | PodUpdate::Gone => return Ok(Waited::Vanished),
                },
                () = tokio::time::sleep_until(deadline) => return Err(self.timed_out()),
            }
        }
    }
}
