//! Options of an ephemeral run: timeouts, fail-fast graces, logs, cleanup.

use std::time::Duration;

use crate::{CleanupPolicy, RetryPolicy, StartPolicy};

/// Slack added on top of start + run timeout for the pod's
/// `activeDeadlineSeconds`, so that our client-side timeout fires first and
/// the server-side one only when the client is gone.
pub(crate) const DEADLINE_SLACK: Duration = Duration::from_secs(30);

/// What to do when the pod name is already taken by an object that is not ours.
///
/// ```
/// use agentpod_transport::NameConflict;
/// assert_eq!(NameConflict::default(), NameConflict::Regenerate { attempts: 3 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameConflict {
    /// Fail with [`TransportError::NameConflict`](crate::TransportError::NameConflict).
    Fail,
    /// Render the spec again (a generated name gets a fresh random suffix) and
    /// retry, up to `attempts` renders in all. Needs a
    /// [`PodSource::Spec`](crate::PodSource::Spec); a pre-rendered pod fails instead.
    Regenerate {
        /// Renders in all, including the first.
        attempts: u32,
    },
}

impl Default for NameConflict {
    fn default() -> Self {
        Self::Regenerate { attempts: 3 }
    }
}

/// Settings of one ephemeral run.
///
/// ```
/// use agentpod_transport::RunOptions;
/// use std::time::Duration;
/// let options = RunOptions::default()
///     .start_timeout(Duration::from_secs(60))
///     .run_timeout(Duration::from_secs(600));
/// assert_eq!(options.active_deadline_seconds(), 60 + 600 + 30);
/// ```
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub(crate) start: StartPolicy,
    pub(crate) run_timeout: Duration,
    pub(crate) container: Option<String>,
    pub(crate) follow_logs: bool,
    pub(crate) log_buffer_chunks: usize,
    pub(crate) name_conflict: NameConflict,
    pub(crate) cleanup: CleanupPolicy,
    pub(crate) expiry_margin: Duration,
}

impl Default for RunOptions {
    /// Start timeout 120 s, run timeout 300 s, image errors fail at once,
    /// Unschedulable after 10 s, logs followed through 8 chunks of 64 KiB,
    /// expiry 10 min after the run could at most have ended.
    fn default() -> Self {
        Self {
            start: StartPolicy::default(),
            run_timeout: Duration::from_secs(300),
            container: None,
            follow_logs: true,
            log_buffer_chunks: 8,
            name_conflict: NameConflict::default(),
            cleanup: CleanupPolicy::default(),
            expiry_margin: Duration::from_secs(600),
        }
    }
}

impl RunOptions {
    /// All start-phase settings at once (timeout, fail-fast graces, retry).
    pub fn start_policy(mut self, policy: StartPolicy) -> Self {
        self.start = policy;
        self
    }

    /// Longest time from create until the container runs; see
    /// [`StartPolicy::start_timeout`].
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start = self.start.start_timeout(timeout);
        self
    }

    /// Longest time the container may run.
    pub fn run_timeout(mut self, timeout: Duration) -> Self {
        self.run_timeout = timeout;
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

    /// Container whose exit status and log count (default: the first one).
    pub fn container(mut self, name: impl Into<String>) -> Self {
        self.container = Some(name.into());
        self
    }

    /// Whether to follow the container's log (default `true`).
    pub fn follow_logs(mut self, follow: bool) -> Self {
        self.follow_logs = follow;
        self
    }

    /// Log chunks buffered between the cluster and a slow consumer.
    pub fn log_buffer_chunks(mut self, chunks: usize) -> Self {
        self.log_buffer_chunks = chunks.max(1);
        self
    }

    /// What to do when the pod's name is taken.
    pub fn name_conflict(mut self, strategy: NameConflict) -> Self {
        self.name_conflict = strategy;
        self
    }

    /// Retry policy for transient API failures; see [`StartPolicy::retry`].
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.start = self.start.retry(policy);
        self
    }

    /// How the pod and its Secrets are deleted.
    pub fn cleanup(mut self, policy: CleanupPolicy) -> Self {
        self.cleanup = policy;
        self
    }

    /// Extra time after the longest possible run before the reaper may delete
    /// the objects (covers a slow cleanup of ours).
    pub fn expiry_margin(mut self, margin: Duration) -> Self {
        self.expiry_margin = margin;
        self
    }

    /// The `activeDeadlineSeconds` stamped on the pod: start + run timeout +
    /// 30 s, rounded up to whole seconds.
    pub fn active_deadline_seconds(&self) -> i64 {
        let total = self.start.start_timeout + self.run_timeout + DEADLINE_SLACK;
        let seconds = total.as_secs() + u64::from(total.subsec_nanos() > 0);
        i64::try_from(seconds).unwrap_or(i64::MAX)
    }

    /// Time until the reaper may delete the run's objects, from creation.
    pub(crate) fn expiry_after(&self) -> Duration {
        self.start.start_timeout + self.run_timeout + DEADLINE_SLACK + self.expiry_margin
    }
}
