//! Drives one pod run: transport events and log chunks in, agent events and the output out.
//!
//! The log is parsed line by line as it arrives (`StreamParser`): Kubernetes 1.20's logs API
//! merges stdout and stderr, and the parser skips non-JSON lines. Memory stays bounded: the
//! transport buffers a few 64 KiB chunks, the parser keeps at most one line and hands events
//! on at once, the event channel holds [`EVENT_BUFFER`](crate::EVENT_BUFFER) events, and the
//! tail kept for error messages is [`TAIL_BYTES`].

use std::time::Instant;

use agentpod_claude_args::{ClaudeArgsError, ClaudeCommand};
use agentpod_transport::{RunEvent, RunHandle, TransportError};
use futures::StreamExt;
use tokio_util::task::AbortOnDropHandle;

use crate::{AgentError, AgentEvent, AgentOutput, AgentRun, EventSender, Result};

/// Bytes of the log's end kept for an error without a result.
pub(crate) const TAIL_BYTES: usize = 4096;

/// Starts driving `handle` in a task of its own; dropping the returned run aborts the task,
/// which drops the handle, whose guard deletes the pod and its Secrets.
pub(crate) fn spawn(handle: RunHandle, command: ClaudeCommand, started: Instant) -> AgentRun {
    let pod = handle.pod().to_owned();
    let namespace = handle.namespace().to_owned();
    AgentRun::new(Some(pod.clone()), move |events| {
        let task = AbortOnDropHandle::new(tokio::spawn(drive(handle, command, events, started)));
        async move {
            match task.await {
                Ok(result) => result,
                Err(source) => Err(AgentError::from(TransportError::TaskFailed {
                    namespace,
                    pod,
                    source,
                })),
            }
        }
    })
}

async fn drive(
    mut handle: RunHandle,
    command: ClaudeCommand,
    events: EventSender,
    started: Instant,
) -> Result<AgentOutput> {
    let namespace = handle.namespace().to_owned();
    let pod = handle.pod().to_owned();
    let run_events = handle.take_events();
    let logs = handle.take_logs();

    let forward_run_events = {
        let events = events.clone();
        let namespace = namespace.clone();
        async move {
            let Some(mut run_events) = run_events else {
                return;
            };
            while let Some(event) = run_events.next().await {
                let event = match event {
                    RunEvent::Created { pod, .. } => AgentEvent::PodCreated {
                        namespace: namespace.clone(),
                        pod,
                    },
                    RunEvent::Pending(reason) => AgentEvent::Pending {
                        reason: reason.to_string(),
                    },
                    RunEvent::Running => AgentEvent::Running,
                    RunEvent::Finished(_) => continue,
                };
                events.send(event).await;
            }
        }
    };

    let parse_logs = {
        let events = events.clone();
        async move {
            let mut parser = command.stream_parser();
            let mut tail = Tail::default();
            let mut result_seen = false;
            let mut broken = None;
            if let Some(mut logs) = logs {
                while let Some(chunk) = logs.next().await {
                    let chunk = match chunk {
                        Ok(chunk) => chunk,
                        Err(error) => {
                            broken = Some(error);
                            break;
                        }
                    };
                    parser.feed(&chunk);
                    tail.push(&chunk);
                    for event in parser.take_events() {
                        events.send(event.into()).await;
                    }
                    if !result_seen && parser.has_result() {
                        result_seen = true;
                        events.send(AgentEvent::Result).await;
                    }
                }
            }
            (parser, tail, broken)
        }
    };

    let ((parser, tail, broken), (), outcome) =
        tokio::join!(parse_logs, forward_run_events, handle.wait());
    let outcome = outcome?;
    let parsed = parser.finish();
    let claude = match parsed {
        Ok(claude) => claude,
        Err(source @ ClaudeArgsError::MissingResult { .. }) => {
            if let Some(source) = broken {
                return Err(AgentError::from(source));
            }
            return Err(AgentError::NoResult {
                pod: Some(pod),
                exit: Box::new(outcome.exit),
                output_tail: tail.text(),
                source,
            });
        }
        Err(error) => return Err(AgentError::from_outcome(error)),
    };
    let mut output = AgentOutput::from_claude(claude);
    output.exit_code = outcome.exit.code;
    output.pod = Some(pod);
    output.api_requests = outcome.api_requests;
    output.timings.pod_start = outcome.timings.start;
    output.timings.pod_run = outcome.timings.run;
    output.timings.total = started.elapsed();
    Ok(output)
}

/// The last [`TAIL_BYTES`] of the log, for error messages.
#[derive(Default)]
struct Tail(Vec<u8>);

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        self.0.extend_from_slice(chunk);
        if self.0.len() > TAIL_BYTES {
            let cut = self.0.len() - TAIL_BYTES;
            self.0.drain(..cut);
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).trim().to_owned()
    }
}
