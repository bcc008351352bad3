//! Warm worker pods: one named pod that many calls exec into.
//!
//! [`Transport::ensure_worker`] makes sure the pod exists and runs, and is
//! safe when many callers race:
//!
//! - callers in this process queue on a per-pod lock, so exactly one of them
//!   creates; the others find the pod and wait for it to run;
//! - callers in other processes may still race: a `409 AlreadyExists` on
//!   create is not an error, it means "someone created it — wait for it";
//! - a pod that died (`Failed`/`Succeeded`) is deleted by UID (never a newer
//!   pod of the same name) with its Secrets, and created again;
//! - waiting for Running fails fast on the same reasons as an ephemeral run
//!   and is bounded by a configurable start timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentpod_podspec::RenderedPod;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::{DeleteParams, Preconditions};
use tokio::time::Instant;

use crate::cleanup::{CleanupGuard, CleanupTarget, DeleteMode};
use crate::create::{CreateFailure, create_all, new_token, stamp};
use crate::error::status_code;
use crate::progress::{Progress, blocker};
use crate::retry::retry;
use crate::watch::{PodUpdate, PodWatch};
use crate::{CleanupPolicy, RetryPolicy, StartPolicy, Transport, TransportError};

/// Pause after losing a create race before looking again.
const CONFLICT_PAUSE: Duration = Duration::from_millis(200);

/// Per-pod locks of the callers in this process.
#[derive(Debug, Clone, Default)]
pub(crate) struct WorkerLocks(Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>);

impl WorkerLocks {
    fn lock_for(&self, key: String) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = match self.0.lock() {
            Ok(locks) => locks,
            // A panic while holding this map lock cannot leave it inconsistent
            // (single insert), so the poisoned data is fine to use.
            Err(poisoned) => poisoned.into_inner(),
        };
        locks.entry(key).or_default().clone()
    }
}

/// Settings of [`Transport::ensure_worker`]: the same start phase as an
/// ephemeral run (see [`StartPolicy`]).
///
/// ```
/// use agentpod_transport::WorkerOptions;
/// use std::time::Duration;
/// let options = WorkerOptions::default().start_timeout(Duration::from_secs(300));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default)]
pub struct WorkerOptions {
    start: StartPolicy,
}

impl WorkerOptions {
    /// All start-phase settings at once (timeout, fail-fast graces, retry).
    pub fn start_policy(mut self, policy: StartPolicy) -> Self {
        self.start = policy;
        self
    }

    /// Longest wait (create, schedule, pull, start) for the worker to run;
    /// see [`StartPolicy::start_timeout`].
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start = self.start.start_timeout(timeout);
        self
    }

    /// See [`StartPolicy::image_error_grace`].
    pub fn image_error_grace(mut self, grace: Duration) -> Self {
        self.start = self.start.image_error_grace(grace);
        self
    }

    /// See [`StartPolicy::unschedulable_grace`].
    pub fn unschedulable_grace(mut self, grace: Duration) -> Self {
        self.start = self.start.unschedulable_grace(grace);
        self
    }

    /// See [`StartPolicy::retry`].
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.start = self.start.retry(policy);
        self
    }
}

impl Transport {
    /// Makes sure the worker pod `rendered` describes exists and runs; returns
    /// it. Use a fixed name (`PodName::explicit`) and `RestartPolicy::Always`
    /// with a long-running command (e.g. `sleep infinity`).
    ///
    /// ```no_run
    /// # async fn f(transport: agentpod_transport::Transport) -> Result<(), Box<dyn std::error::Error>> {
    /// use agentpod_podspec::{AgentPodSpec, RestartPolicy};
    /// use agentpod_transport::{ExecRequest, WorkerOptions};
    /// let worker = AgentPodSpec::new("claude-runner:2")
    ///     .name("claude-worker")
    ///     .restart_policy(RestartPolicy::Always)
    ///     .command(["sh", "-c", "while :; do sleep 3600; done"])
    ///     .render(std::time::SystemTime::now())?;
    /// let pod = transport.ensure_worker(&worker, WorkerOptions::default()).await?;
    /// let out = transport.exec("default", "claude-worker", ExecRequest::new(["true"])).await?;
    /// # let _ = (pod, out); Ok(()) }
    /// ```
    pub async fn ensure_worker(
        &self,
        rendered: &RenderedPod,
        options: WorkerOptions,
    ) -> Result<Pod, TransportError> {
        let namespace = rendered.namespace().to_owned();
        let name = rendered.name().to_owned();
        let lock = self.worker_locks().lock_for(format!("{namespace}/{name}"));
        let _turn = lock.lock().await;
        let deadline = Instant::now() + options.start.start_timeout;
        let pods: Api<Pod> = Api::namespaced(self.client(), &namespace);
        let api_error =
            |action, f: crate::retry::Failed| f.into_error(action, "pod", &namespace, &name);
        loop {
            let existing = retry(&options.start.retry, "get worker", || pods.get_opt(&name))
                .await
                .map_err(|f| api_error("get", f))?;
            let pod = match existing {
                None => match self.create_worker(rendered, &options).await? {
                    Some(pod) => pod,
                    None => {
                        // Another process is creating it (its Secrets may exist
                        // before its pod): give it a moment, then look again.
                        tokio::time::sleep(CONFLICT_PAUSE).await;
                        continue;
                    }
                },
                Some(pod) if pod.metadata.deletion_timestamp.is_some() => {
                    self.wait_gone(&pods, &pod, deadline, &options).await?;
                    continue;
                }
                Some(pod) if is_dead(&pod) => {
                    tracing::info!(%namespace, %name, "worker pod died; recreating");
                    self.delete_dead(&pods, &pod, rendered, &options).await?;
                    self.wait_gone(&pods, &pod, deadline, &options).await?;
                    continue;
                }
                Some(pod) => pod,
            };
            match self.wait_running(&pods, pod, deadline, &options).await? {
                Some(running) => return Ok(running),
                None => continue, // died or vanished while we waited: start over
            }
        }
    }

    /// Creates the worker's Secrets and pod. `None` when another process won the race.
    async fn create_worker(
        &self,
        rendered: &RenderedPod,
        options: &WorkerOptions,
    ) -> Result<Option<Pod>, TransportError> {
        let mut rendered = rendered.clone();
        let token = new_token()?;
        stamp(&mut rendered, &token, None)?;
        let target = CleanupTarget::for_rendered(
            self.client(),
            &rendered,
            &token,
            CleanupPolicy::default(),
            options.start.retry.clone(),
        );
        // Guards the half-created state only; a created worker outlives the call.
        let mut guard = CleanupGuard::new(target, self.tracker().clone());
        match create_all(
            &self.client(),
            &rendered,
            &token,
            &options.start.retry,
            &mut guard,
        )
        .await
        {
            Ok(pod) => {
                guard.disarm();
                Ok(Some(pod))
            }
            Err(CreateFailure::Conflict { .. }) => {
                guard.run_now(DeleteMode::Immediate).await;
                Ok(None)
            }
            Err(CreateFailure::Failed(error)) => {
                guard.run_now(DeleteMode::Immediate).await;
                Err(error)
            }
        }
    }

    /// Deletes a dead worker (by UID) and the Secrets rendered for it.
    async fn delete_dead(
        &self,
        pods: &Api<Pod>,
        pod: &Pod,
        rendered: &RenderedPod,
        options: &WorkerOptions,
    ) -> Result<(), TransportError> {
        let name = rendered.name();
        let now = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match retry(&options.start.retry, "delete dead worker", || {
            pods.delete(name, &now)
        })
        .await
        {
            Ok(_) => {}
            Err(f) if matches!(status_code(&f.error), Some(404 | 409)) => {}
            Err(f) => return Err(f.into_error("delete", "pod", rendered.namespace(), name)),
        }
        let secrets: Api<Secret> = Api::namespaced(self.client(), rendered.namespace());
        let plain = DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::background()
        };
        for secret in &rendered.secrets {
            let secret_name = secret.metadata.name.clone().unwrap_or_default();
            match retry(&options.start.retry, "delete worker secret", || {
                secrets.delete(&secret_name, &plain)
            })
            .await
            {
                Ok(_) => {}
                Err(f) if status_code(&f.error) == Some(404) => {}
                Err(f) => {
                    return Err(f.into_error(
                        "delete",
                        "secret",
                        rendered.namespace(),
                        &secret_name,
                    ));
                }
            }
        }
        Ok(())
    }

    /// Waits until the pod (and its Secrets, deleted with it) are gone.
    async fn wait_gone(
        &self,
        pods: &Api<Pod>,
        pod: &Pod,
        deadline: Instant,
        options: &WorkerOptions,
    ) -> Result<(), TransportError> {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let mut delay = Duration::from_millis(100);
        loop {
            let current = retry(&options.start.retry, "get worker", || pods.get_opt(&name))
                .await
                .map_err(|f| f.into_error("get", "pod", &namespace, &name))?;
            if current.is_none_or(|p| p.metadata.uid != pod.metadata.uid) {
                return Ok(());
            }
            if Instant::now() + delay > deadline {
                return Err(TransportError::StartTimeout {
                    namespace,
                    pod: name,
                    timeout: options.start.start_timeout,
                    last_state: "the previous worker pod is still terminating".to_owned(),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// Watches `pod` until its first container runs. `None` if it died or vanished.
    async fn wait_running(
        &self,
        pods: &Api<Pod>,
        mut pod: Pod,
        deadline: Instant,
        options: &WorkerOptions,
    ) -> Result<Option<Pod>, TransportError> {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let container = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let version = pod.metadata.resource_version.clone().unwrap_or_default();
        let mut watch = PodWatch::new(pods.clone(), &namespace, &name, &version);
        let mut blocked_since: Option<Instant> = None;
        loop {
            if is_dead(&pod) {
                return Ok(None);
            }
            let progress = Progress::of(&pod, &container);
            if progress == Progress::Running {
                return Ok(Some(pod));
            }
            let now = Instant::now();
            let fail_at = match blocker(&pod) {
                Some(found) => {
                    let since = *blocked_since.get_or_insert(now);
                    let grace = options.start.grace_for(&found);
                    if since + grace <= now {
                        return Err(found.into_error(&namespace, &name));
                    }
                    Some(since + grace)
                }
                None => {
                    blocked_since = None;
                    None
                }
            };
            tokio::select! {
                update = watch.next() => match update? {
                    PodUpdate::Changed(next) => pod = *next,
                    PodUpdate::Deleted(_) | PodUpdate::Gone => return Ok(None),
                },
                () = tokio::time::sleep_until(deadline) => {
                    return Err(TransportError::StartTimeout {
                        namespace,
                        pod: name,
                        timeout: options.start.start_timeout,
                        last_state: format!("{progress:?}"),
                    });
                }
                () = tokio::time::sleep_until(fail_at.unwrap_or(deadline)), if fail_at.is_some() => {}
            }
        }
    }
}

fn is_dead(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Failed" | "Succeeded")
    )
}
