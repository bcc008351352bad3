//! A started run: its events as they happen and its outcome.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use agentpod_claude_args::StreamEvent;
use futures::Stream;
use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::{AgentOutput, Result};

/// Something that happened during a run, in order.
///
/// Serialised (for fixture files) as `{"type": "assistant_text", "text": …}` and so on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AgentEvent {
    /// The pod exists.
    PodCreated {
        /// Namespace of the pod.
        namespace: String,
        /// Pod name.
        pod: String,
    },
    /// Waiting to run, and why (Kubernetes' words: `ContainerCreating`, `Unschedulable: …`).
    Pending {
        /// Why.
        reason: String,
    },
    /// The agent's process runs.
    Running,
    /// Text the assistant wrote.
    AssistantText {
        /// The text.
        text: String,
    },
    /// A tool call the assistant made.
    ToolCall {
        /// Call id (matches the result's `tool_use_id`).
        id: String,
        /// Tool name.
        name: String,
        /// Tool input.
        input: Value,
    },
    /// A tool's result as given back to the model.
    ToolResult {
        /// The call it answers.
        tool_use_id: String,
        /// Result text.
        content: String,
        /// Whether the tool failed or was refused.
        is_error: bool,
    },
    /// The CLI's result document arrived; the outcome follows.
    Result,
}

impl From<StreamEvent> for AgentEvent {
    fn from(event: StreamEvent) -> Self {
        match event {
            StreamEvent::AssistantText { text } => Self::AssistantText { text },
            StreamEvent::ToolCall { id, name, input } => Self::ToolCall { id, name, input },
            StreamEvent::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => Self::ToolResult {
                tool_use_id,
                content,
                is_error,
            },
        }
    }
}

/// The events of a run, as a stream that ends when the run does.
#[derive(Debug)]
pub struct AgentEvents(mpsc::Receiver<AgentEvent>);

impl Stream for AgentEvents {
    type Item = AgentEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<AgentEvent>> {
        self.0.poll_recv(cx)
    }
}

/// Events buffered between a run and a slow reader of [`AgentRun::take_events`].
pub const EVENT_BUFFER: usize = 64;

/// The sending side of a run's events, for provider authors.
///
/// Once a reader took the events ([`AgentRun::take_events`]), sending waits while the buffer
/// ([`EVENT_BUFFER`] events) is full, so memory stays bounded and no event is lost. Until then,
/// events are buffered up to [`EVENT_BUFFER`] and further ones dropped, so a run driven in the
/// background never stalls on events nobody asked for. Once the reader is gone, events are
/// discarded at once.
#[derive(Debug, Clone)]
pub struct EventSender {
    sender: mpsc::Sender<AgentEvent>,
    taken: Arc<AtomicBool>,
}

impl EventSender {
    /// Sends one event; returns `false` when it was not delivered (nobody listens, or nobody
    /// took the events yet and the buffer is full).
    pub async fn send(&self, event: AgentEvent) -> bool {
        if self.taken.load(Ordering::Acquire) {
            self.sender.send(event).await.is_ok()
        } else {
            self.sender.try_send(event).is_ok()
        }
    }
}

/// A started run: follow its events with [`take_events`](Self::take_events) and await its
/// outcome with [`output`](Self::output). Dropping it (or the future awaiting the output)
/// cancels the run, and the provider cleans up (the pod and its Secrets are deleted).
pub struct AgentRun {
    events: Option<AgentEvents>,
    taken: Arc<AtomicBool>,
    outcome: BoxFuture<'static, Result<AgentOutput>>,
    pod: Option<String>,
}

impl std::fmt::Debug for AgentRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentRun")
            .field("pod", &self.pod)
            .finish_non_exhaustive()
    }
}

impl AgentRun {
    /// A run from its parts, for provider authors: `outcome` drives or awaits the run and must
    /// stop the run's work when dropped; it sends events through the [`EventSender`] handed to
    /// `start`.
    ///
    /// ```
    /// use agentpod_provider::{AgentEvent, AgentOutput, AgentRun};
    /// use agentpod_claude_args::parse_output;
    ///
    /// # tokio_test_block(async {
    /// let mut run = AgentRun::new(None, |events| async move {
    ///     events.send(AgentEvent::Running).await;
    ///     let claude = parse_output(r#"{"type":"result","subtype":"success","result":"4"}"#, false)?;
    ///     Ok(AgentOutput::from_claude(claude))
    /// });
    /// let output = run.output().await?;
    /// assert_eq!(output.text, "4");
    /// # Ok::<(), agentpod_provider::AgentError>(()) });
    /// # fn tokio_test_block<F: std::future::Future>(f: F) -> F::Output {
    /// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    /// # }
    /// ```
    pub fn new<F, Fut>(pod: Option<String>, start: F) -> Self
    where
        F: FnOnce(EventSender) -> Fut,
        Fut: Future<Output = Result<AgentOutput>> + Send + 'static,
    {
        let (sender, receiver) = mpsc::channel(EVENT_BUFFER);
        let taken = Arc::new(AtomicBool::new(false));
        let events = EventSender {
            sender,
            taken: taken.clone(),
        };
        AgentRun {
            events: Some(AgentEvents(receiver)),
            taken,
            outcome: Box::pin(start(events)),
            pod,
        }
    }

    /// The pod the run uses, when the provider creates one before returning the run.
    pub fn pod(&self) -> Option<&str> {
        self.pod.as_deref()
    }

    /// The event stream (once), starting with the events buffered so far. Read it concurrently
    /// with [`output`](Self::output) (e.g. in a spawned task or with `tokio::join!`): from now
    /// on the run waits while [`EVENT_BUFFER`] unread events are queued, so none is lost.
    /// Take it right after `start` to see every event: until it is taken, events beyond the
    /// first [`EVENT_BUFFER`] are dropped.
    pub fn take_events(&mut self) -> Option<AgentEvents> {
        let events = self.events.take();
        if events.is_some() {
            self.taken.store(true, Ordering::Release);
        }
        events
    }

    /// Waits for the outcome. Events not taken are discarded.
    pub async fn output(mut self) -> Result<AgentOutput> {
        drop(self.events.take());
        self.outcome.await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use agentpod_claude_args::parse_output;
    use futures::StreamExt;

    use super::*;

    fn output() -> Result<AgentOutput> {
        let claude = parse_output(
            r#"{"type":"result","subtype":"success","result":"ok"}"#,
            false,
        )?;
        Ok(AgentOutput::from_claude(claude))
    }

    /// A run driven in the background that sends `count` events, counting the sends done.
    fn background_run(count: usize, sent: Arc<AtomicUsize>) -> AgentRun {
        AgentRun::new(None, move |events| {
            let task = tokio::spawn(async move {
                for _ in 0..count {
                    events.send(AgentEvent::Running).await;
                    sent.fetch_add(1, Ordering::SeqCst);
                }
                output()
            });
            async move { task.await.unwrap_or_else(|e| panic!("{e}")) }
        })
    }

    async fn wait_for(sent: &AtomicUsize, count: usize) -> bool {
        tokio::time::timeout(Duration::from_secs(5), async {
            while sent.load(Ordering::SeqCst) < count {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .is_ok()
    }

    #[tokio::test]
    async fn events_nobody_took_never_stall_a_background_run() {
        let sent = Arc::new(AtomicUsize::new(0));
        let run = background_run(10 * EVENT_BUFFER, sent.clone());
        // The caller does other work before awaiting the output.
        assert!(
            wait_for(&sent, 10 * EVENT_BUFFER).await,
            "the run stalled after {} events",
            sent.load(Ordering::SeqCst)
        );
        assert!(run.output().await.is_ok());
    }

    #[tokio::test]
    async fn taken_events_are_all_delivered_in_order() {
        let sent = Arc::new(AtomicUsize::new(0));
        let mut run = background_run(3 * EVENT_BUFFER, sent.clone());
        let events = run.take_events().map(|events| events.collect::<Vec<_>>());
        let (events, output) = tokio::join!(
            async move {
                match events {
                    Some(events) => events.await,
                    None => Vec::new(),
                }
            },
            run.output()
        );
        assert!(output.is_ok());
        assert_eq!(events.len(), 3 * EVENT_BUFFER);
    }
}
