//! Options of an ephemeral run: timeouts, fail-fast graces, logs, cleanup.

use std::time::{Duration, SystemTime};

use agentpod_podspec::RenderedPod;

use crate::create::{Bounds, stamp};
use crate::{CleanupPolicy, StartPolicy, TransportError};

/// The run-token annotation's value in a [`RunOptions::preview`]: the real token is drawn
/// afresh for each create.
pub const PREVIEW_RUN_TOKEN: &str = "<drawn-per-run>";

/// Slack added on top of start + run timeout for the pod's
/// `activeDeadlineSeconds`, so that our client-side timeout fires first and
/// the server-side one only when the client is gone.
pub(crate) const DEADLINE_SLACK: Duration = Duration::from_secs(30);

/// Largest `activeDeadlineSeconds` the API server accepts (validation allows
/// 1 ..= 2^31 - 1, checked on a 1.20 API server); an "infinite" run gets this
/// (about 68 years).
pub(crate) const MAX_ACTIVE_DEADLINE_SECONDS: i64 = i32::MAX as i64;

/// What to do when the pod name is already taken by an object that is not ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
    /// `Regenerate { attempts: 3 }`.
    fn default() -> Self {
        Self::Regenerate { attempts: 3 }
    }
}

/// Settings of one ephemeral run.
///
/// A long agent task on a cluster where images are big: a generous start,
/// a half-hour run, and only the log summary kept in memory by the caller:
///
/// ```
/// use agentpod_transport::{RunOptions, StartPolicy};
/// use std::time::Duration;
/// let options = RunOptions::default()
///     .start(StartPolicy::default().start_timeout(Duration::from_secs(300)))
///     .run_timeout(Duration::from_secs(1800))
///     .container("claude-code");
/// // The kubelet's own deadline is start + run + 30 s of slack.
/// assert_eq!(options.active_deadline_seconds(), 300 + 1800 + 30);
/// // "No limit" is accepted everywhere and never overflows.
/// let unbounded = RunOptions::default().run_timeout(Duration::MAX);
/// assert_eq!(unbounded.active_deadline_seconds(), i64::from(i32::MAX));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunOptions {
    /// The start phase: start timeout, fail-fast graces, retry of API calls.
    pub start: StartPolicy,
    /// Longest time the container may run, from when it is seen running.
    /// `Duration::MAX` means no limit.
    pub run_timeout: Duration,
    /// Container whose exit status and log count (default: the pod's first
    /// container). The run ends when this container ends, even if other
    /// containers (sidecars) still run.
    pub container: Option<String>,
    /// Whether to follow the container's log.
    pub follow_logs: bool,
    /// Log chunks (of at most 64 KiB) buffered between the cluster and a slow
    /// consumer (at least 1).
    pub log_buffer_chunks: usize,
    /// After the container ended, how long the run waits for the rest of the
    /// log to be read from the cluster *and consumed* before it deletes the
    /// pod anyway. See "Consuming logs and `wait()`" in `docs/transport.md`.
    pub log_drain_timeout: Duration,
    /// What to do when the pod's name is taken.
    pub name_conflict: NameConflict,
    /// How the pod and its Secrets are deleted.
    pub cleanup: CleanupPolicy,
    /// Extra time after the longest possible run before the reaper may delete
    /// the objects (covers a slow cleanup of ours).
    pub expiry_margin: Duration,
}

impl Default for RunOptions {
    /// The default [`StartPolicy`] (start timeout 120 s, image errors fail at
    /// once, Unschedulable after 10 s), run timeout 300 s, the first
    /// container, logs followed through 8 chunks of 64 KiB and drained for at
    /// most 60 s after the end, `NameConflict::Regenerate { attempts: 3 }`,
    /// the default [`CleanupPolicy`], expiry 10 min after the run could at
    /// most have ended.
    fn default() -> Self {
        Self {
            start: StartPolicy::default(),
            run_timeout: Duration::from_secs(300),
            container: None,
            follow_logs: true,
            log_buffer_chunks: 8,
            log_drain_timeout: Duration::from_secs(60),
            name_conflict: NameConflict::default(),
            cleanup: CleanupPolicy::default(),
            expiry_margin: Duration::from_secs(600),
        }
    }
}

impl RunOptions {
    /// Sets [`start`](Self::start).
    #[must_use]
    pub fn start(mut self, policy: StartPolicy) -> Self {
        self.start = policy;
        self
    }

    /// Sets [`run_timeout`](Self::run_timeout).
    #[must_use]
    pub fn run_timeout(mut self, timeout: Duration) -> Self {
        self.run_timeout = timeout;
        self
    }

    /// Sets [`container`](Self::container).
    #[must_use]
    pub fn container(mut self, name: impl Into<String>) -> Self {
        self.container = Some(name.into());
        self
    }

    /// Sets [`follow_logs`](Self::follow_logs).
    #[must_use]
    pub fn follow_logs(mut self, follow: bool) -> Self {
        self.follow_logs = follow;
        self
    }

    /// Sets [`log_buffer_chunks`](Self::log_buffer_chunks) (at least 1).
    #[must_use]
    pub fn log_buffer_chunks(mut self, chunks: usize) -> Self {
        self.log_buffer_chunks = chunks.max(1);
        self
    }

    /// Sets [`log_drain_timeout`](Self::log_drain_timeout).
    #[must_use]
    pub fn log_drain_timeout(mut self, timeout: Duration) -> Self {
        self.log_drain_timeout = timeout;
        self
    }

    /// Sets [`name_conflict`](Self::name_conflict).
    #[must_use]
    pub fn name_conflict(mut self, strategy: NameConflict) -> Self {
        self.name_conflict = strategy;
        self
    }

    /// Sets [`cleanup`](Self::cleanup).
    #[must_use]
    pub fn cleanup(mut self, policy: CleanupPolicy) -> Self {
        self.cleanup = policy;
        self
    }

    /// Sets [`expiry_margin`](Self::expiry_margin).
    #[must_use]
    pub fn expiry_margin(mut self, margin: Duration) -> Self {
        self.expiry_margin = margin;
        self
    }

    /// The `activeDeadlineSeconds` stamped on the pod: start + run timeout +
    /// 30 s, rounded up to whole seconds, at most 2^31 - 1 (the API's limit).
    pub fn active_deadline_seconds(&self) -> i64 {
        let total = self.longest_run();
        let seconds = total
            .as_secs()
            .saturating_add(u64::from(total.subsec_nanos() > 0));
        i64::try_from(seconds)
            .unwrap_or(i64::MAX)
            .min(MAX_ACTIVE_DEADLINE_SECONDS)
    }

    /// Start + run timeout + slack: the longest a run can take.
    pub(crate) fn longest_run(&self) -> Duration {
        self.start
            .start_timeout
            .saturating_add(self.run_timeout)
            .saturating_add(DEADLINE_SLACK)
    }

    /// Time until the reaper may delete the run's objects, from creation.
    pub(crate) fn expiry_after(&self) -> Duration {
        self.longest_run().saturating_add(self.expiry_margin)
    }

    /// When the objects of a run created at `now` expire: `now +`
    /// [`expiry_after`](Self::expiry_after), capped a century ahead (an "infinite" run never
    /// expires in practice, and the annotation stays a valid timestamp).
    pub(crate) fn expires_at(&self, now: SystemTime) -> SystemTime {
        const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
        now.checked_add(self.expiry_after().min(CENTURY))
            .unwrap_or(now)
    }

    /// `rendered` as [`Transport::start`](crate::Transport::start) creates it with these
    /// options at `now`, without a cluster: with the expiry annotation, the pod's
    /// `activeDeadlineSeconds` and the run-token annotation (value [`PREVIEW_RUN_TOKEN`]; the
    /// real token is drawn per create). Not shown: the Secrets' owner reference to the pod,
    /// which needs the created pod's UID.
    ///
    /// ```
    /// use agentpod_podspec::AgentPodSpec;
    /// use agentpod_transport::RunOptions;
    /// use std::time::{Duration, UNIX_EPOCH};
    ///
    /// let rendered = AgentPodSpec::new("busybox:1.36").name("job").render(UNIX_EPOCH)?;
    /// let options = RunOptions::default().run_timeout(Duration::from_secs(60));
    /// let created = options.preview(rendered, UNIX_EPOCH)?;
    /// let deadline = created.pod.spec.as_ref().and_then(|s| s.active_deadline_seconds);
    /// assert_eq!(deadline, Some(options.active_deadline_seconds()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn preview(
        &self,
        mut rendered: RenderedPod,
        now: SystemTime,
    ) -> Result<RenderedPod, TransportError> {
        let bounds = Bounds {
            active_deadline_seconds: self.active_deadline_seconds(),
            expires_at: self.expires_at(now),
        };
        stamp(&mut rendered, PREVIEW_RUN_TOKEN, Some(&bounds))?;
        Ok(rendered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infinite_timeouts_saturate() {
        let options = RunOptions::default()
            .start(StartPolicy::default().start_timeout(Duration::MAX))
            .run_timeout(Duration::MAX)
            .expiry_margin(Duration::MAX);
        assert_eq!(
            options.active_deadline_seconds(),
            MAX_ACTIVE_DEADLINE_SECONDS
        );
        assert_eq!(options.expiry_after(), Duration::MAX);
        // The preview's expiry stays a valid timestamp a century ahead at most.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let century = Duration::from_secs(100 * 365 * 24 * 3600);
        assert_eq!(options.expires_at(now), now + century);
    }

    #[test]
    fn preview_stamps_what_a_create_stamps() {
        use agentpod_podspec::AgentPodSpec;
        use agentpod_podspec::expiry::parse_expires_at;
        use agentpod_podspec::labels::EXPIRES_AT_ANNOTATION;

        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let rendered = AgentPodSpec::new("busybox:1")
            .name("job")
            .secret_env("TOKEN", "t")
            .render(now);
        let Ok(rendered) = rendered else {
            panic!("render failed: {rendered:?}");
        };
        let options = RunOptions::default().run_timeout(Duration::from_secs(60));
        let Ok(created) = options.preview(rendered, now) else {
            panic!("preview failed");
        };
        assert_eq!(
            created
                .pod
                .spec
                .as_ref()
                .and_then(|s| s.active_deadline_seconds),
            Some(options.active_deadline_seconds())
        );
        assert_eq!(created.secrets.len(), 1);
        for meta in std::iter::once(&created.pod.metadata)
            .chain(created.secrets.iter().map(|s| &s.metadata))
        {
            let annotations = meta.annotations.clone().unwrap_or_default();
            assert_eq!(
                annotations
                    .get(crate::RUN_TOKEN_ANNOTATION)
                    .map(String::as_str),
                Some(PREVIEW_RUN_TOKEN)
            );
            let expiry = annotations
                .get(EXPIRES_AT_ANNOTATION)
                .and_then(|value| parse_expires_at(value).ok());
            assert_eq!(expiry, Some(now + options.expiry_after()));
        }
    }
}
