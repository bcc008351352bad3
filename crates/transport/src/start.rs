//! The start phase shared by ephemeral runs and warm workers.
//!
//! Both wait for a freshly created pod to run, fail fast on the same blockers
//! and retry the same transient API failures, so they share one settings type
//! ([`StartPolicy`]) and one wait loop ([`StartWait`]) that describes the last
//! state the same way for both.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use tokio::time::Instant;

use crate::progress::{Blocker, Progress, blocker};
use crate::retry::retry;
use crate::watch::{PodUpdate, PodWatch};
use crate::{RetryPolicy, TransportError};

/// How long a new pod may take to run, how long each blocker may persist,
/// and how transient API failures are retried.
///
/// [`RunOptions`](crate::RunOptions) embeds one and
/// [`Transport::ensure_worker`](crate::Transport::ensure_worker) takes one.
/// Build it once for a cluster with an autoscaler (slow scheduling, big
/// images) and hand it to every run and worker:
///
/// ```
/// use agentpod_transport::{RunOptions, StartPolicy};
/// use std::time::Duration;
/// let autoscaled = StartPolicy::default()
///     .start_timeout(Duration::from_secs(600))
///     .unschedulable_grace(Duration::from_secs(300));
/// let options = RunOptions::default()
///     .start(autoscaled)
///     .run_timeout(Duration::from_secs(1800));
/// assert_eq!(options.start.start_timeout, Duration::from_secs(600));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StartPolicy {
    /// Longest time from the first create request until the container runs
    /// (scheduling + image pull + start). `Duration::MAX` means no limit.
    pub start_timeout: Duration,
    /// How long a fatal waiting reason (ErrImagePull, InvalidImageName, a
    /// missing Secret, …) may persist before the start fails; zero fails at
    /// the first sighting. A kubelet that is only slow to sync a Secret is
    /// not fatal: the start waits for it within the start timeout.
    pub image_error_grace: Duration,
    /// How long the scheduler may call the pod Unschedulable before the start
    /// fails (raise it with a cluster autoscaler).
    pub unschedulable_grace: Duration,
    /// Retry policy for transient API failures of every request of the run.
    pub retry: RetryPolicy,
}

impl Default for StartPolicy {
    /// Start timeout 120 s, image errors fail at once, Unschedulable after
    /// 10 s, the default [`RetryPolicy`].
    fn default() -> Self {
        Self {
            start_timeout: Duration::from_secs(120),
            image_error_grace: Duration::ZERO,
            unschedulable_grace: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }
}

impl StartPolicy {
    /// Sets [`start_timeout`](Self::start_timeout).
    #[must_use]
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Sets [`image_error_grace`](Self::image_error_grace).
    #[must_use]
    pub fn image_error_grace(mut self, grace: Duration) -> Self {
        self.image_error_grace = grace;
        self
    }

    /// Sets [`unschedulable_grace`](Self::unschedulable_grace).
    #[must_use]
    pub fn unschedulable_grace(mut self, grace: Duration) -> Self {
        self.unschedulable_grace = grace;
        self
    }

    /// Sets [`retry`](Self::retry).
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// How long `blocker` may persist before the start fails.
    pub(crate) fn grace_for(&self, blocker: &Blocker) -> Duration {
        match blocker {
            Blocker::Container { .. } => self.image_error_grace,
            Blocker::Unschedulable { .. } => self.unschedulable_grace,
        }
    }
}

/// `now + duration`, or a point decades away when that overflows (a
/// `Duration::MAX` timeout means "no limit").
pub(crate) fn deadline_after(now: Instant, duration: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
    now.checked_add(duration.min(FAR))
        .or_else(|| now.checked_add(Duration::from_secs(24 * 3600)))
        .unwrap_or(now)
}

/// How the start phase ended.
#[derive(Debug)]
pub(crate) enum Started {
    /// The container runs; the pod as last seen.
    Running(Box<Pod>),
    /// The container already ended (it ran between two snapshots, or could
    /// not run at all); the pod as last seen.
    Finished(Box<Pod>),
    /// The pod was deleted, or is gone, before it ran; its last state.
    Gone(Progress),
}

/// One start-phase wait: watch a fresh pod until its container runs or ends,
/// fail fast on blockers after their grace, fail with `StartTimeout` at the
/// deadline — after one fresh read, so a stuck watch never reports a timeout
/// for a pod that did start.
pub(crate) struct StartWait<'a> {
    /// The pod API (for the fresh read at the deadline).
    pub(crate) api: &'a Api<Pod>,
    /// The pod's watch, positioned at the pod's version.
    pub(crate) watch: &'a mut PodWatch,
    /// Namespace, for errors.
    pub(crate) namespace: &'a str,
    /// Pod name.
    pub(crate) pod: &'a str,
    /// The container whose state counts.
    pub(crate) container: &'a str,
    /// Graces, timeout and retry.
    pub(crate) policy: &'a StartPolicy,
    /// When the start times out.
    pub(crate) deadline: Instant,
}

impl StartWait<'_> {
    /// Waits from `pod`'s state on; `on_change` sees every new state once.
    pub(crate) async fn run(
        self,
        mut pod: Pod,
        mut on_change: impl FnMut(&Progress),
    ) -> Result<Started, TransportError> {
        let mut last: Option<Progress> = None;
        let mut blocked_since: Option<Instant> = None;
        loop {
            let progress = Progress::of(&pod, self.container);
            if last.as_ref() != Some(&progress) {
                on_change(&progress);
                last = Some(progress.clone());
            }
            match &progress {
                Progress::Running => return Ok(Started::Running(Box::new(pod))),
                Progress::Finished(_) => return Ok(Started::Finished(Box::new(pod))),
                Progress::Pending(_) => {}
            }
            let now = Instant::now();
            let fail_at = match blocker(&pod) {
                Some(found) => {
                    let since = *blocked_since.get_or_insert(now);
                    let at = deadline_after(since, self.policy.grace_for(&found));
                    if at <= now {
                        return Err(found.into_error(self.namespace, self.pod));
                    }
                    Some(at)
                }
                None => {
                    blocked_since = None;
                    None
                }
            };
            tokio::select! {
                update = self.watch.next() => match update? {
                    PodUpdate::Changed(next) => pod = *next,
                    PodUpdate::Deleted(last_state) => {
                        if matches!(Progress::of(&last_state, self.container), Progress::Finished(_)) {
                            return Ok(Started::Finished(last_state));
                        }
                        return Ok(Started::Gone(progress));
                    }
                    PodUpdate::Gone => return Ok(Started::Gone(progress)),
                },
                () = tokio::time::sleep_until(self.deadline) => {
                    match fresh_read(self.api, self.pod, &self.policy.retry).await {
                        Some(fresh) if !matches!(Progress::of(&fresh, self.container), Progress::Pending(_)) => {
                            pod = fresh;
                        }
                        _ => {
                            return Err(TransportError::StartTimeout {
                                namespace: self.namespace.to_owned(),
                                pod: self.pod.to_owned(),
                                timeout: self.policy.start_timeout,
                                last_state: progress.to_string(),
                            });
                        }
                    }
                }
                () = tokio::time::sleep_until(fail_at.unwrap_or(self.deadline)), if fail_at.is_some() => {}
            }
        }
    }
}

/// The pod as the API server has it now, `None` when it is gone or unreadable.
/// Used before reporting a timeout: a watch can be stuck on a half-open
/// connection while the pod moved on.
pub(crate) async fn fresh_read(api: &Api<Pod>, name: &str, policy: &RetryPolicy) -> Option<Pod> {
    match retry(policy, "get pod", || api.get_opt(name)).await {
        Ok(pod) => pod.map(crate::watch::lean),
        Err(failed) => {
            tracing::debug!(pod = name, error = %failed.error, "cannot re-read the pod");
            None
        }
    }
}
