//! The start phase shared by ephemeral runs and warm workers.
//!
//! Both wait for a freshly created pod to run, fail fast on the same blockers
//! and retry the same transient API failures, so they share one settings type
//! instead of each carrying its own copy of the fields and setters.

use std::time::Duration;

use crate::RetryPolicy;
use crate::progress::Blocker;

/// How long a new pod may take to run, how long each blocker may persist,
/// and how transient API failures are retried.
///
/// [`RunOptions`](crate::RunOptions) embeds one (set it whole with its
/// `start_policy` method or field by field with its own setters) and
/// [`Transport::ensure_worker`](crate::Transport::ensure_worker) takes one.
///
/// ```
/// use agentpod_transport::{RunOptions, StartPolicy};
/// use std::time::Duration;
/// let patient = StartPolicy::default()
///     .start_timeout(Duration::from_secs(600))
///     .unschedulable_grace(Duration::from_secs(120));
/// assert_eq!(patient.timeout(), Duration::from_secs(600));
/// let run = RunOptions::default().start_policy(patient);
/// # let _ = run;
/// ```
#[derive(Debug, Clone)]
pub struct StartPolicy {
    pub(crate) start_timeout: Duration,
    pub(crate) image_error_grace: Duration,
    pub(crate) unschedulable_grace: Duration,
    pub(crate) retry: RetryPolicy,
}

impl Default for StartPolicy {
    /// Start timeout 120 s, image errors fail at once, Unschedulable after
    /// 10 s, the default [`RetryPolicy`].
    ///
    /// ```
    /// use agentpod_transport::StartPolicy;
    /// use std::time::Duration;
    /// assert_eq!(StartPolicy::default().timeout(), Duration::from_secs(120));
    /// ```
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
    /// Longest time from the first create request until the container runs
    /// (scheduling + image pull + start).
    ///
    /// ```
    /// use agentpod_transport::StartPolicy;
    /// use std::time::Duration;
    /// let policy = StartPolicy::default().start_timeout(Duration::from_secs(30));
    /// assert_eq!(policy.timeout(), Duration::from_secs(30));
    /// ```
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// How long a fatal waiting reason (ErrImagePull, InvalidImageName, …) may
    /// persist before the start fails; zero fails at the first sighting.
    ///
    /// ```
    /// use agentpod_transport::StartPolicy;
    /// use std::time::Duration;
    /// let tolerant = StartPolicy::default().image_error_grace(Duration::from_secs(20));
    /// # let _ = tolerant;
    /// ```
    pub fn image_error_grace(mut self, grace: Duration) -> Self {
        self.image_error_grace = grace;
        self
    }

    /// How long the scheduler may call the pod Unschedulable before the start
    /// fails (raise it with a cluster autoscaler).
    ///
    /// ```
    /// use agentpod_transport::StartPolicy;
    /// use std::time::Duration;
    /// let autoscaled = StartPolicy::default().unschedulable_grace(Duration::from_secs(300));
    /// # let _ = autoscaled;
    /// ```
    pub fn unschedulable_grace(mut self, grace: Duration) -> Self {
        self.unschedulable_grace = grace;
        self
    }

    /// Retry policy for transient API failures.
    ///
    /// ```
    /// use agentpod_transport::{RetryPolicy, StartPolicy};
    /// let policy = StartPolicy::default().retry(RetryPolicy::default());
    /// # let _ = policy;
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The start timeout currently set.
    ///
    /// ```
    /// use agentpod_transport::StartPolicy;
    /// use std::time::Duration;
    /// assert_eq!(StartPolicy::default().timeout(), Duration::from_secs(120));
    /// ```
    pub fn timeout(&self) -> Duration {
        self.start_timeout
    }

    /// How long `blocker` may persist before the start fails.
    pub(crate) fn grace_for(&self, blocker: &Blocker) -> Duration {
        match blocker {
            Blocker::Container { .. } => self.image_error_grace,
            Blocker::Unschedulable { .. } => self.unschedulable_grace,
        }
    }
}
