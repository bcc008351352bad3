//! Following a container's log with bounded memory and an exact tail.
//!
//! Memory: chunks of at most [`LogStream::MAX_CHUNK_BYTES`] go through a channel of
//! `capacity` slots. When the consumer is slow, the channel fills, we stop
//! reading the HTTP body, TCP backpressure reaches the kubelet, and nothing
//! piles up in between: at most `capacity × CHUNK_BYTES` plus the body's current frame
//! (chunks are copied straight out of the HTTP reader's buffer; no read buffer of ours).
//!
//! Exactness: a follow request can end early — the API server restarts, a
//! proxy drops the connection, or the kubelet's stream breaks, and an early
//! end often looks like a clean one to the client. So after every follow we
//! read again from the start and skip exactly the bytes already delivered
//! (the kubelet serves a container's log from the beginning, byte-identical,
//! until the pod is deleted): while the container still runs that read is a
//! new follow, once it has terminated it is a final plain read that ends at
//! the true end of the log. The cost is reading the log a second time; the
//! gain is that the consumer gets every byte exactly once. The skipped
//! prefix is verified, not assumed: the follower keeps a SHA-256 of what it
//! delivered and hashes the re-read's prefix. If that prefix differs, or the
//! re-read is *shorter* than what was delivered, the kubelet rotated the file
//! (`containerLogMaxSize`) and the rest cannot be placed: the follower stops
//! and [`LogSummary::complete`] is `false`.
//!
//! Giving up: a read that breaks without bringing new bytes counts as a
//! failure, one that brings bytes resets the count; after 60 failures in a
//! row the stream ends with a [`TransportError::LogBroken`] item.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{AsyncBufReadExt, Stream};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot, watch};

use crate::TransportError;
use crate::error::is_transient;

/// Largest chunk handed to the consumer.
const CHUNK_BYTES: usize = 64 * 1024;

/// How long to wait, after a follow ended, for the watch to report the
/// container as terminated before treating the end as a disconnect.
const TERMINATION_SETTLE: Duration = Duration::from_secs(3);
/// How often in a row a read may break (without bringing new bytes) before
/// the follower gives up.
const MAX_REOPENS: u32 = 60;
const REOPEN_DELAY: Duration = Duration::from_secs(1);

/// The container's output as it is produced: a stream of byte chunks.
///
/// Ends after the last byte of the terminated container's log. An `Err`
/// item means the log could not be read further (it broke off too often, or
/// the caller did not consume it within the run's log drain timeout); it is
/// the last item.
pub struct LogStream {
    receiver: mpsc::Receiver<Result<Bytes, TransportError>>,
    /// The follower's final error, delivered after the buffered chunks.
    tail: Option<oneshot::Receiver<TransportError>>,
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
        match self.receiver.poll_recv(cx) {
            Poll::Ready(None) => {}
            other => return other,
        }
        let Some(tail) = self.tail.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(tail).poll(cx) {
            Poll::Ready(result) => {
                self.tail = None;
                Poll::Ready(result.ok().map(Err))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// What the log follower delivered.
///
/// ```
/// use agentpod_transport::LogSummary;
/// let s = LogSummary { bytes: 10, complete: true, reads: 2 };
/// assert!(s.complete);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSummary {
    /// Bytes delivered to the consumer.
    pub bytes: u64,
    /// The final read proved that nothing after the delivered bytes exists,
    /// and that the log still starts with the delivered bytes.
    pub complete: bool,
    /// Log requests made (follows plus the final read).
    pub reads: u32,
}

/// The follower's ends of one run's log channel.
pub(crate) struct LogSink {
    sender: mpsc::Sender<Result<Bytes, TransportError>>,
    tail: oneshot::Sender<TransportError>,
}

/// A channel for one run's log.
pub(crate) fn channel(capacity: usize) -> (LogSink, LogStream) {
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    let (tail, tail_receiver) = oneshot::channel();
    (
        LogSink { sender, tail },
        LogStream {
            receiver,
            tail: Some(tail_receiver),
        },
    )
}

/// Follows one container's log into `sink` until the log is complete.
pub(crate) struct LogFollower {
    pub(crate) api: Api<Pod>,
    pub(crate) namespace: String,
    pub(crate) pod: String,
    pub(crate) container: String,
    pub(crate) sink: LogSink,
    /// Becomes `true` once the watch saw the container terminate.
    pub(crate) terminated: watch::Receiver<bool>,
    /// Becomes `true` when the run stops waiting for the log (drain timeout).
    pub(crate) cut: watch::Receiver<bool>,
    /// The drain timeout, for the error a cut log ends with.
    pub(crate) drain_timeout: Duration,
}

/// The bytes handed to the consumer so far: how many, and their hash.
struct Delivered {
    bytes: u64,
    hash: Sha256,
}

/// How one read ended.
#[derive(Default)]
struct ReadEnd {
    /// Bytes the read produced (including the re-read prefix).
    seen: u64,
    /// The body ended without an error.
    clean: bool,
    /// The read brought bytes the consumer did not have.
    progressed: bool,
    /// The re-read prefix differs from what was delivered.
    mismatch: bool,
    /// The consumer dropped the stream.
    consumer_gone: bool,
    /// Why the body broke, if it did.
    error: Option<std::io::Error>,
}

impl LogFollower {
    /// Runs until the log is delivered, the consumer leaves, reading fails,
    /// or the run cuts it off; a final error goes to the stream's tail.
    pub(crate) async fn run(mut self) -> LogSummary {
        let mut summary = LogSummary::default();
        let mut cut = self.cut.clone();
        let outcome = tokio::select! {
            outcome = self.follow(&mut summary) => outcome,
            _ = cut.wait_for(|cut| *cut) => Err(TransportError::LogDrainTimeout {
                namespace: self.namespace.clone(),
                pod: self.pod.clone(),
                timeout: self.drain_timeout,
            }),
        };
        if let Err(error) = outcome {
            summary.complete = false;
            tracing::debug!(pod = %self.pod, %error, "log ends with an error");
            let _ = self.sink.tail.send(error);
        }
        summary
    }

    /// The follow/re-read loop; `summary` is kept current at every step.
    async fn follow(&mut self, summary: &mut LogSummary) -> Result<(), TransportError> {
        let mut delivered = Delivered {
            bytes: 0,
            hash: Sha256::new(),
        };
        let mut failures: u32 = 0;
        loop {
            if self.sink.sender.is_closed() {
                // The reader left (e.g. it had what it needed): no more reads.
                return Ok(());
            }
            let final_read = *self.terminated.borrow();
            let params = LogParams {
                container: Some(self.container.clone()),
                follow: !final_read,
                ..LogParams::default()
            };
            summary.reads += 1;
            let end = match self.api.log_stream(&self.pod, &params).await {
                Ok(reader) => self.pump(reader, &mut delivered, summary).await,
                Err(error) if is_transient(&error) => {
                    failures += 1;
                    if failures > MAX_REOPENS {
                        return Err(TransportError::RetriesExhausted {
                            action: "read log of",
                            kind: "pod",
                            namespace: self.namespace.clone(),
                            name: self.pod.clone(),
                            attempts: failures as usize,
                            source: Box::new(error),
                        });
                    }
                    tracing::debug!(pod = %self.pod, %error, "log read failed; reopening");
                    tokio::time::sleep(REOPEN_DELAY).await;
                    continue;
                }
                Err(error) => return Err(self.error(error)),
            };
            if end.consumer_gone {
                return Ok(());
            }
            if end.mismatch {
                tracing::warn!(pod = %self.pod, delivered = delivered.bytes,
                    "the log no longer starts with the bytes delivered: the kubelet rotated or rewrote it; the rest cannot be placed");
                return Ok(());
            }
            if end.progressed || end.clean {
                failures = 0;
            }
            if final_read && end.clean {
                summary.complete = end.seen >= delivered.bytes;
                if !summary.complete {
                    tracing::warn!(pod = %self.pod, delivered = delivered.bytes, now = end.seen,
                        "log shorter than what was delivered: the kubelet rotated it; tail unverified");
                }
                return Ok(());
            }
            if !end.clean {
                failures += 1;
                if failures > MAX_REOPENS {
                    return Err(TransportError::LogBroken {
                        namespace: self.namespace.clone(),
                        pod: self.pod.clone(),
                        reads: failures,
                        source: end
                            .error
                            .unwrap_or_else(|| std::io::Error::other("the log stream broke")),
                    });
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

    /// Copies one response body to the consumer. The part the consumer
    /// already has is not sent again, but first checked: it must hash to
    /// what was delivered, or the log was rotated or rewritten meanwhile.
    async fn pump(
        &self,
        reader: impl futures::AsyncBufRead,
        delivered: &mut Delivered,
        summary: &mut LogSummary,
    ) -> ReadEnd {
        let mut reader = std::pin::pin!(reader);
        let mut end = ReadEnd::default();
        let mut check = (delivered.bytes > 0).then(Sha256::new);
        loop {
            // Straight from the reader's own buffer (the body's current frame): no buffer of
            // ours per log, which would be 64 KiB per concurrent run.
            let available = match reader.fill_buf().await {
                Ok([]) => {
                    end.clean = true;
                    return end;
                }
                Ok(available) => available,
                Err(error) => {
                    tracing::debug!(pod = %self.pod, %error, "log stream broke");
                    end.error = Some(error);
                    return end;
                }
            };
            let read = available.len().min(CHUNK_BYTES);
            let start = end.seen;
            end.seen += read as u64;
            let mut fresh = &available[..read];
            if let Some(hasher) = check.as_mut() {
                let missing = delivered.bytes.saturating_sub(start);
                let known = usize::try_from(missing).unwrap_or(read).min(read);
                hasher.update(&fresh[..known]);
                fresh = &fresh[known..];
                if start + known as u64 == delivered.bytes {
                    let same = hasher.clone().finalize() == delivered.hash.clone().finalize();
                    if !same {
                        end.mismatch = true;
                        return end;
                    }
                    check = None;
                }
            }
            let chunk = (!fresh.is_empty()).then(|| Bytes::copy_from_slice(fresh));
            reader.as_mut().consume(read);
            let Some(chunk) = chunk else {
                continue;
            };
            delivered.hash.update(&chunk);
            delivered.bytes += chunk.len() as u64;
            summary.bytes = delivered.bytes;
            end.progressed = true;
            if self.sink.sender.send(Ok(chunk)).await.is_err() {
                end.consumer_gone = true;
                return end;
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
