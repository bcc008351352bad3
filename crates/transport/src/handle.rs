//! What a caller holds for a run: the handle, its events, its outcome.
//!
//! Kept apart from the driver (`run.rs`) so the public surface of a run reads
//! on one page: the [`RunHandle`] owns the background task (dropping it aborts
//! the task and so triggers the cleanup guard), and hands out the event and
//! log streams once each.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use agentpod_podspec::{AgentPodSpec, RenderedPod};
use futures::{Stream, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_util::task::AbortOnDropHandle;

use crate::logs::{LogStream, LogSummary};
use crate::metrics::RequestCounter;
use crate::{ExitStatus, PendingReason, TransportError};

/// What to run: a rendered pod, or a spec the transport renders (and can
/// render again under a fresh name on a name conflict).
///
/// Its `Debug` names the pod and its Secrets but never prints their values.
#[derive(Clone)]
pub enum PodSource {
    /// Objects rendered by the caller; created as they are.
    Rendered(Box<RenderedPod>),
    /// A spec rendered at create time.
    Spec(Box<AgentPodSpec>),
}

impl std::fmt::Debug for PodSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Hand-written: the spec and the rendered Secrets hold credentials.
        match self {
            Self::Rendered(rendered) => f
                .debug_struct("PodSource::Rendered")
                .field("namespace", &rendered.namespace())
                .field("name", &rendered.name())
                .field(
                    "secrets",
                    &rendered
                        .secrets
                        .iter()
                        .map(|s| s.metadata.name.as_deref().unwrap_or_default())
                        .collect::<Vec<_>>(),
                )
                .finish_non_exhaustive(),
            Self::Spec(_) => f
                .debug_struct("PodSource::Spec")
                .field("values", &"<redacted>")
                .finish_non_exhaustive(),
        }
    }
}

impl From<RenderedPod> for PodSource {
    fn from(rendered: RenderedPod) -> Self {
        Self::Rendered(Box::new(rendered))
    }
}

impl From<AgentPodSpec> for PodSource {
    fn from(spec: AgentPodSpec) -> Self {
        Self::Spec(Box::new(spec))
    }
}

impl PodSource {
    pub(crate) fn render(&self) -> Result<RenderedPod, TransportError> {
        match self {
            Self::Rendered(rendered) => Ok((**rendered).clone()),
            Self::Spec(spec) => Ok(spec.render(SystemTime::now())?),
        }
    }
}

/// A change in the run's state, in order, each reported once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEvent {
    /// The pod exists (its Secrets were created before it).
    Created {
        /// Pod name.
        pod: String,
        /// Pod UID.
        uid: String,
    },
    /// Waiting to run, and why.
    Pending(PendingReason),
    /// The container runs.
    Running,
    /// The pod finished.
    Finished(ExitStatus),
}

/// The run's events as a stream. Unbounded, but each state change is sent
/// once, so a run produces a handful of events.
#[derive(Debug)]
pub struct RunEvents(pub(crate) mpsc::UnboundedReceiver<RunEvent>);

impl Stream for RunEvents {
    type Item = RunEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<RunEvent>> {
        self.0.poll_recv(cx)
    }
}

/// Timings of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunTimings {
    /// From the pod's create to the container running (schedule + pull + start).
    pub start: Option<Duration>,
    /// From running to finished, as seen by the watch.
    pub run: Option<Duration>,
    /// From the first create request to the cleanup's last request.
    pub total: Duration,
}

/// The result of a run that finished: the exit status is in here, whatever it is.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Namespace of the pod.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// How the container and the pod ended.
    pub exit: ExitStatus,
    /// What the log follower delivered (`None` when logs were not followed).
    pub logs: Option<LogSummary>,
    /// API requests this run made, cleanup included.
    pub api_requests: u64,
    /// How often the watch had to resync after `410 Gone`.
    pub watch_resyncs: u32,
    /// Timings.
    pub timings: RunTimings,
}

/// A started run. Dropping it (or the future awaiting it) deletes the pod.
pub struct RunHandle {
    pub(crate) namespace: String,
    pub(crate) pod: String,
    pub(crate) task: AbortOnDropHandle<Result<RunOutcome, TransportError>>,
    pub(crate) events: Option<RunEvents>,
    pub(crate) logs: Option<LogStream>,
    pub(crate) requests: RequestCounter,
    /// Tells the driver the caller handed the run over.
    pub(crate) release: watch::Sender<bool>,
}

impl std::fmt::Debug for RunHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunHandle")
            .field("namespace", &self.namespace)
            .field("pod", &self.pod)
            .finish_non_exhaustive()
    }
}

impl RunHandle {
    /// The pod's name.
    pub fn pod(&self) -> &str {
        &self.pod
    }

    /// The pod's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The log stream (once).
    ///
    /// **Consume it concurrently with [`wait`](Self::wait)** (join, select or
    /// a spawned task): the channel holds only
    /// [`log_buffer_chunks`](crate::RunOptions::log_buffer_chunks) chunks, and
    /// the pod is deleted only after its log was read. If you read it only
    /// after `wait()` returned, `wait()` waits at most the run's
    /// [`log_drain_timeout`](crate::RunOptions::log_drain_timeout), then
    /// deletes the pod; the stream then yields what was buffered and ends with
    /// [`TransportError::LogDrainTimeout`], and the summary says incomplete.
    /// Dropping the stream is fine: the run stops reading the log.
    ///
    /// ```no_run
    /// # async fn f(transport: agentpod_transport::Transport, spec: agentpod_podspec::AgentPodSpec) -> agentpod_transport::Result<()> {
    /// use agentpod_transport::RunOptions;
    /// use futures::StreamExt;
    /// let mut run = transport.start(spec, RunOptions::default()).await?;
    /// let mut logs = run.take_logs().expect("taken once");
    /// let print = async {
    ///     while let Some(chunk) = logs.next().await {
    ///         print!("{}", String::from_utf8_lossy(&chunk?));
    ///     }
    ///     Ok::<_, agentpod_transport::TransportError>(())
    /// };
    /// let (outcome, printed) = tokio::join!(run.wait(), print);
    /// printed?;
    /// println!("\n{}", outcome?.exit);
    /// # Ok(()) }
    /// ```
    pub fn take_logs(&mut self) -> Option<LogStream> {
        self.logs.take()
    }

    /// The event stream (once).
    pub fn take_events(&mut self) -> Option<RunEvents> {
        self.events.take()
    }

    /// API requests made so far by this run.
    pub fn api_requests(&self) -> u64 {
        self.requests.get()
    }

    /// Hands the run over when the caller has what it needs before the
    /// container ended (e.g. an agent printed its result): the run stops
    /// reading the log, lets the container end by itself — at most
    /// [`CleanupPolicy::linger`](crate::CleanupPolicy::linger), 5 s by
    /// default — and then deletes the pod and its Secrets in the background.
    ///
    /// Unlike dropping the handle, which deletes at once (for a running pod a
    /// graceful and then a forced delete, and then each Secret), this waits
    /// on the watch the run already has, so a pod that ended costs one
    /// delete request: its first Secret, which owns the rest. A container
    /// still running after the linger is deleted like a dropped run; one that
    /// had not started yet is deleted at once. The outcome is not reported;
    /// [`Transport::finish_cleanups`](crate::Transport::finish_cleanups)
    /// waits for the deletion.
    ///
    /// ```no_run
    /// # async fn f(transport: agentpod_transport::Transport, spec: agentpod_podspec::AgentPodSpec) -> agentpod_transport::Result<()> {
    /// use agentpod_transport::RunOptions;
    /// use futures::StreamExt;
    /// let mut run = transport.start(spec, RunOptions::default()).await?;
    /// let mut logs = run.take_logs().expect("taken once");
    /// while let Some(chunk) = logs.next().await {
    ///     if chunk?.ends_with(b"DONE\n") {
    ///         break; // the answer is complete; the exit code does not matter here
    ///     }
    /// }
    /// run.finish_in_background();
    /// # Ok(()) }
    /// ```
    pub fn finish_in_background(self) {
        let _ = self.release.send(true);
        // The driver runs on; its cleanup guard keeps `finish_cleanups` waiting.
        drop(self.task.detach());
    }

    /// Waits for the outcome: the pod finished, its log was read (see
    /// [`take_logs`](Self::take_logs) for the rule), and its objects were
    /// deleted. A log stream not taken is discarded.
    pub async fn wait(mut self) -> Result<RunOutcome, TransportError> {
        drop(self.logs.take());
        let (namespace, pod) = (self.namespace.clone(), self.pod.clone());
        match (&mut self.task).await {
            Ok(result) => result,
            Err(source) => Err(TransportError::TaskFailed {
                namespace,
                pod,
                source,
            }),
        }
    }

    /// Waits for the outcome and collects the log into memory, keeping at most
    /// `max_bytes` (the rest is read and dropped so the pod can finish).
    pub async fn wait_with_output(
        mut self,
        max_bytes: usize,
    ) -> Result<(RunOutcome, Vec<u8>), TransportError> {
        let logs = self.logs.take();
        let collect = async move {
            let mut output = Vec::new();
            if let Some(mut logs) = logs {
                while let Some(chunk) = logs.next().await {
                    let chunk = chunk?;
                    let room = max_bytes.saturating_sub(output.len());
                    output.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
            }
            Ok::<_, TransportError>(output)
        };
        let (outcome, output) = tokio::join!(self.wait(), collect);
        Ok((outcome?, output?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_source_debug_never_shows_secret_values() {
        let secret = "sk-ant-api03-very-secret-value";
        let spec = AgentPodSpec::new("img")
            .name("p")
            .namespace("ns")
            .secret_env("ANTHROPIC_API_KEY", secret)
            .secret_file("settings.json", format!("{{\"token\": \"{secret}\"}}"));
        let rendered = spec.render(SystemTime::UNIX_EPOCH).unwrap();
        // Byte values print as number lists: look for those too.
        let as_numbers: String = secret
            .bytes()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(",");
        for source in [PodSource::from(spec), PodSource::from(rendered)] {
            for text in [format!("{source:?}"), format!("{source:#?}")] {
                let squeezed: String = text.split_whitespace().collect();
                assert!(!text.contains(secret), "{text}");
                assert!(!squeezed.contains(&as_numbers), "{text}");
            }
        }
        let shown = format!(
            "{:?}",
            PodSource::from(
                AgentPodSpec::new("img")
                    .name("p")
                    .namespace("ns")
                    .secret_env("K", secret)
                    .render(SystemTime::UNIX_EPOCH)
                    .unwrap()
            )
        );
        assert!(shown.contains("ns") && shown.contains("\"p\""), "{shown}");
    }
}
