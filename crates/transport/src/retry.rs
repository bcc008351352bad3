//! Retrying transient API failures with exponential backoff and jitter.
//!
//! Why here and not as a tower layer: whether a failure is worth retrying
//! depends on the call (a `409` after our own create was retried means "it
//! worked", a `404` on delete means "already gone"), so every call site
//! decides, and the counting layer below still sees every attempt.
//! `backon` does the timing; it is already in the tree through kube's runtime.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use crate::TransportError;
use crate::bound::RequestTimedOut;
use crate::error::is_transient;

/// How often and how patiently a transient failure (429, 5xx, connection
/// error, request timeout) is retried.
///
/// A patient policy for a busy API server, handed to a run through its
/// [`StartPolicy`](crate::StartPolicy):
///
/// ```
/// use agentpod_transport::{RetryPolicy, RunOptions, StartPolicy};
/// use std::time::Duration;
/// let patient = RetryPolicy::default()
///     .attempts(8)
///     .max_delay(Duration::from_secs(10))
///     .attempt_timeout(Duration::from_secs(60));
/// let options = RunOptions::default().start(StartPolicy::default().retry(patient));
/// assert_eq!(options.start.retry.attempts, 8);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Total attempts including the first (at least 1).
    pub attempts: usize,
    /// Delay before the first retry.
    pub min_delay: Duration,
    /// Longest delay between two attempts.
    pub max_delay: Duration,
    /// Longest time one attempt may take, response body included; an attempt
    /// that takes longer counts as a transient failure and is retried.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    /// 6 attempts, 200 ms doubling up to 5 s (about 11 s of waiting in all),
    /// 30 s per attempt.
    fn default() -> Self {
        Self {
            attempts: 6,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Sets [`attempts`](Self::attempts) (at least 1).
    #[must_use]
    pub fn attempts(mut self, attempts: usize) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// Sets [`min_delay`](Self::min_delay).
    #[must_use]
    pub fn min_delay(mut self, delay: Duration) -> Self {
        self.min_delay = delay;
        self
    }

    /// Sets [`max_delay`](Self::max_delay).
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets [`attempt_timeout`](Self::attempt_timeout).
    #[must_use]
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay.max(self.min_delay))
            .with_max_times(self.attempts.max(1).saturating_sub(1))
            .with_jitter()
    }
}

/// A call that failed for good: the last error and how many attempts were made.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) error: kube::Error,
    pub(crate) attempts: usize,
}

impl Failed {
    /// The typed error for a call on `kind` `namespace/name`.
    pub(crate) fn into_error(
        self,
        action: &'static str,
        kind: &'static str,
        namespace: &str,
        name: &str,
    ) -> TransportError {
        if is_transient(&self.error) {
            TransportError::RetriesExhausted {
                action,
                kind,
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                attempts: self.attempts,
                source: Box::new(self.error),
            }
        } else {
            TransportError::Api {
                action,
                kind,
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                source: Box::new(self.error),
            }
        }
    }
}

/// Runs `call` until it succeeds, fails with a non-transient error, or the
/// policy's attempts are used up.
pub(crate) async fn retry<T, F, Fut>(policy: &RetryPolicy, what: &str, call: F) -> Result<T, Failed>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let attempts = AtomicUsize::new(0);
    let mut call = call;
    let timeout = policy.attempt_timeout;
    let counted = || {
        attempts.fetch_add(1, Ordering::Relaxed);
        let attempt = call();
        async move {
            match tokio::time::timeout(timeout, attempt).await {
                Ok(result) => result,
                Err(_) => Err(kube::Error::Service(Box::new(RequestTimedOut {
                    timeout,
                    what: "the attempt took too long",
                }))),
            }
        }
    };
    counted
        .retry(policy.backoff())
        .sleep(tokio::time::sleep)
        .when(is_transient)
        .notify(|error, delay| {
            tracing::debug!(%error, ?delay, what, "transient API failure, retrying");
        })
        .await
        .map_err(|error| Failed {
            error,
            attempts: attempts.load(Ordering::Relaxed),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    #[test]
    fn infinite_delays_never_overflow() {
        let policy = RetryPolicy::default()
            .attempts(usize::MAX)
            .min_delay(Duration::MAX)
            .max_delay(Duration::MAX);
        let delays: Vec<Duration> = policy.backoff().build().take(4).collect();
        assert_eq!(delays.len(), 4);
        let doubling = RetryPolicy::default().attempts(100);
        assert!(
            doubling
                .backoff()
                .build()
                .take(99)
                .all(|d| d <= Duration::from_secs(10))
        );
    }
}
