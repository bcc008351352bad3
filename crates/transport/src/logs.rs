//! Following a container's log with bounded memory and an exact tail.
//!
//! Memory: chunks of at most [`LogStream::MAX_CHUNK_BYTES`] go through a channel of
//! `capacity` slots. When the consumer is slow, the channel fills, we stop
//! reading the HTTP body, TCP backpressure reaches the kubelet, and nothing
//! piles up in between: at most `capacity × CHUNK_BYTES` plus one read buffer.
//!
//! Exactness: a follow request can end early — the API server restarts, a
//! proxy drops the connection, or the kubelet's stream breaks, and an early
//! end often looks like a clean one to the client. So after every follow we
//! read again from the start and skip exactly the bytes already delivered
//! (the kubelet serves a container's log from the beginning, byte-identical,
//! until the pod is deleted): while the container still runs that read is a
//! new follow, once it has terminated it is a final plain read that ends at
//! the true end of the log. The cost is reading the log a second time; the
//! gain is that the consumer gets every byte exactly once. If the second
//! read is *shorter* than what was delivered, the kubelet rotated the file
//! (`containerLogMaxSize`) and the tail cannot be proven complete:
//! [`LogSummary::complete`] is then `false`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{AsyncReadExt, Stream};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;
use tokio::sync::{mpsc, watch};

use crate::TransportError;
use crate::error::is_transient;

/// Largest chunk handed to the consumer.
const CHUNK_BYTES: usize = 64 * 1024;

/// How long to wait, after a follow ended, for the watch to report the
/// container as terminated before treating the end as a disconnect.
const TERMINATION_SETTLE: Duration = Duration::from_secs(3);
/// How often a broken read is reopened before giving up.
const MAX_REOPENS: u32 = 60;
const REOPEN_DELAY: Duration = Duration::from_secs(1);

/// The container's output as it is produced: a stream of byte chunks.
///
/// Ends after the last byte of the terminated container's log. An `Err`
/// item means the log could not be read further; it is the last item.
pub struct LogStream {
    receiver: mpsc::Receiver<Result<Bytes, TransportError>>,
}

impl std::fmt::Debug for LogStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStream").finish_non_exhaustive()
    }
}

impl LogStream {
    /// Largest chunk the stream yields (64 KiB).
    pub const MAX_CHUNK_BYTES: usize = CHUNK_BYTES;
}

impl Stream for LogStream {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx)
    }
}

/// What the log follower delivered.
///
/// ```
/// use agentpod_transport::LogSummary;
/// let s = LogSummary { bytes: 10, complete: true, reads: 2 };
/// assert!(s.complete);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSummary {
    /// Bytes delivered to the consumer.
    pub bytes: u64,
    /// The final read proved that nothing after the delivered bytes exists.
    pub complete: bool,
    /// Log requests made (follows plus the final read).
    pub reads: u32,
}

/// A channel pair for one run's log.
pub(crate) fn channel(capacity: usize) -> (mpsc::Sender<Result<Bytes, TransportError>>, LogStream) {
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    (sender, LogStream { receiver })
}

/// Follows one container's log into `sender` until the log is complete.
pub(crate) struct LogFollower {
    pub(crate) api: Api<Pod>,
    pub(crate) namespace: String,
    pub(crate) pod: String,
    pub(crate) container: String,
    pub(crate) sender: mpsc::Sender<Result<Bytes, TransportError>>,
    /// Becomes `true` once the watch saw the container terminate.
    pub(crate) terminated: watch::Receiver<bool>,
}

/// How one read ended.
struct ReadEnd {
    /// Bytes the read produced (including the skipped prefix).
    seen: u64,
    /// The body ended without an error.
    clean: bool,
    /// The consumer dropped the stream.
    consumer_gone: bool,
}

impl LogFollower {
    /// Runs until the log is delivered, the consumer leaves, or reading fails.
    pub(crate) async fn run(mut self) -> LogSummary {
        let mut summary = LogSummary {
            bytes: 0,
            complete: false,
            reads: 0,
        };
        let mut failures = 0;
        loop {
            let final_read = *self.terminated.borrow();
            let params = LogParams {
                container: Some(self.container.clone()),
                follow: !final_read,
                ..LogParams::default()
            };
            summary.reads += 1;
            let end = match self.api.log_stream(&self.pod, &params).await {
                Ok(reader) => self.pump(reader, &mut summary.bytes).await,
                Err(error) if is_transient(&error) && failures < MAX_REOPENS => {
                    tracing::debug!(pod = %self.pod, %error, "log read failed; reopening");
                    failures += 1;
                    tokio::time::sleep(REOPEN_DELAY).await;
                    continue;
                }
                Err(error) => {
                    let _ = self.sender.send(Err(self.error(error))).await;
                    return summary;
                }
            };
            if end.consumer_gone {
                return summary;
            }
            if final_read && end.clean {
                summary.complete = end.seen >= summary.bytes;
                if !summary.complete {
                    tracing::warn!(pod = %self.pod, delivered = summary.bytes, now = end.seen,
                        "log shorter than what was delivered: the kubelet rotated it; tail unverified");
                }
                return summary;
            }
            if !end.clean {
                failures += 1;
                if failures > MAX_REOPENS {
                    return summary;
                }
                tokio::time::sleep(REOPEN_DELAY).await;
            }
            if !final_read && end.clean {
                // A follow ended: normally because the container exited. Give
                // the watch a moment to confirm; otherwise follow again.
                let _ = tokio::time::timeout(
                    TERMINATION_SETTLE,
                    self.terminated.wait_for(|terminated| *terminated),
                )
                .await;
            }
        }
    }

    /// Copies one response body to the consumer, skipping what it already has.
    async fn pump(&self, reader: impl futures::AsyncBufRead, delivered: &mut u64) -> ReadEnd {
        let mut reader = std::pin::pin!(reader);
        let mut buffer = vec![0u8; CHUNK_BYTES];
        let mut seen: u64 = 0;
        loop {
            let read = match reader.read(&mut buffer).await {
                Ok(0) => {
                    return ReadEnd {
                        seen,
                        clean: true,
                        consumer_gone: false,
                    };
                }
                Ok(read) => read,
                Err(error) => {
                    tracing::debug!(pod = %self.pod, %error, "log stream broke");
                    return ReadEnd {
                        seen,
                        clean: false,
                        consumer_gone: false,
                    };
                }
            };
            let start = seen;
            seen += read as u64;
            if seen <= *delivered {
                continue;
            }
            // Only the part past what the consumer already has is new.
            let skip = usize::try_from(delivered.saturating_sub(start)).unwrap_or(read);
            let chunk = Bytes::copy_from_slice(&buffer[skip..read]);
            *delivered += chunk.len() as u64;
            if self.sender.send(Ok(chunk)).await.is_err() {
                return ReadEnd {
                    seen,
                    clean: false,
                    consumer_gone: true,
                };
            }
        }
    }

    fn error(&self, source: kube::Error) -> TransportError {
        TransportError::Api {
            action: "read log of",
            kind: "pod",
            namespace: self.namespace.clone(),
            name: self.pod.clone(),
            source: Box::new(source),
        }
    }
}
