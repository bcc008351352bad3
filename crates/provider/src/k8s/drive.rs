//! Drives one pod run: transport events and log chunks in, agent events and the output out.
//!
//! The log is parsed line by line as it arrives (`StreamParser`): Kubernetes 1.20's logs API
//! merges stdout and stderr, and the parser skips non-JSON lines. Memory stays bounded: the
//! transport buffers a few 64 KiB chunks, the parser keeps at most one line and hands events
//! on at once, the event channel holds [`EVENT_BUFFER`](crate::EVENT_BUFFER) events, and the
//! tail kept for error messages is [`TAIL_BYTES`].

use std::time::{Duration, Instant};

use agentpod_claude_args::{ClaudeArgsError, ClaudeCommand, StreamParser};
use agentpod_transport::{ExitStatus, RunEvent, RunEvents, RunHandle, TransportError};
use futures::{FutureExt, Stream, StreamExt};
use tokio_util::task::AbortOnDropHandle;

use crate::{AgentError, AgentEvent, AgentOutput, AgentRun, EventSender, Result};

/// Bytes of the log's end kept for an error without a result.
pub(crate) const TAIL_BYTES: usize = 4096;

/// Starts driving `handle` in a task of its own; dropping the returned run aborts the task,
/// which drops the handle, whose guard deletes the pod and its Secrets.
pub(crate) fn spawn(
    handle: RunHandle,
    command: ClaudeCommand,
    started: Instant,
    exit_code_grace: Duration,
) -> AgentRun {
    let pod = handle.pod().to_owned();
    let namespace = handle.namespace().to_owned();
    AgentRun::new(Some(pod.clone()), move |events| {
        let task = AbortOnDropHandle::new(tokio::spawn(drive(
            handle,
            command,
            events,
            started,
            exit_code_grace,
        )));
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
    exit_code_grace: Duration,
) -> Result<AgentOutput> {
    let namespace = handle.namespace().to_owned();
    let pod = handle.pod().to_owned();
    let mut run_events = handle.take_events();
    let logs = handle.take_logs();
    let mut seen = Seen::default();

    // Read the log while forwarding the run's events, until the result arrived or the log
    // ended.
    let LogRead {
        parser,
        tail,
        broken,
    } = {
        let read = read_log(logs, command.stream_parser(), &events);
        let forward = forward(run_events.as_mut(), &events, &namespace, &mut seen);
        tokio::pin!(read, forward);
        let mut forwarding = true;
        loop {
            tokio::select! {
                log = &mut read => break log,
                () = &mut forward, if forwarding => forwarding = false,
            }
        }
    };

    if parser.has_result() {
        // Return now. The container's exit is known only if the cluster already reported it
        // (the kubelet notices it on its 1 s status relist). The run ends in the background:
        // the transport reads no more of the log, waits on its watch for the pod's end and
        // then deletes the inputs Secret, which owns the pod (`Transport::finish_cleanups`
        // awaits that).
        // Note what the run reported meanwhile (a finish, maybe), without sending anything
        // after `Result`.
        if let Some(run_events) = run_events.as_mut() {
            while let Some(Some(event)) = run_events.next().now_or_never() {
                let _ = seen.note(event, &namespace);
            }
            if seen.exit.is_none() && !exit_code_grace.is_zero() {
                // Asked for: wait (on the watch the run already has) for the reported exit.
                let wait = async {
                    while let Some(event) = run_events.next().await {
                        let _ = seen.note(event, &namespace);
                        if seen.exit.is_some() {
                            break;
                        }
                    }
                };
                let _ = tokio::time::timeout(exit_code_grace, wait).await;
            }
        }
        let api_requests = handle.api_requests();
        handle.finish_in_background();
        let claude = parser.finish().map_err(AgentError::from_outcome)?;
        let mut output = AgentOutput::from_claude(claude);
        output.exit_code = seen.exit.and_then(|exit| exit.code);
        output.pod = Some(pod);
        output.api_requests = api_requests;
        output.timings.pod_start = seen
            .running
            .map(|running| running.saturating_duration_since(started));
        output.timings.pod_run = seen
            .running
            .zip(seen.finished)
            .map(|(running, finished)| finished.saturating_duration_since(running));
        output.timings.total = started.elapsed();
        return Ok(output);
    }

    // No result: the outcome (the exit status, or why the run failed) explains why.
    let ((), outcome) = tokio::join!(
        forward(run_events.as_mut(), &events, &namespace, &mut seen),
        handle.wait()
    );
    let outcome = outcome?;
    match parser.finish() {
        Ok(claude) => {
            // The result was the log's last line, without a newline.
            let mut output = AgentOutput::from_claude(claude);
            output.exit_code = outcome.exit.code;
            output.pod = Some(pod);
            output.api_requests = outcome.api_requests;
            output.timings.pod_start = outcome.timings.start;
            output.timings.pod_run = outcome.timings.run;
            output.timings.total = started.elapsed();
            Ok(output)
        }
        Err(source @ ClaudeArgsError::MissingResult { .. }) => {
            if let Some(source) = broken {
                return Err(AgentError::from(source));
            }
            Err(AgentError::NoResult {
                pod: Some(pod),
                exit: Box::new(outcome.exit),
                output_tail: tail.text(),
                source,
            })
        }
        Err(error) => Err(AgentError::from_outcome(error)),
    }
}

/// What the run's events told so far.
#[derive(Default)]
struct Seen {
    /// When the container was seen running.
    running: Option<Instant>,
    /// When the pod was seen finished.
    finished: Option<Instant>,
    /// How it finished.
    exit: Option<ExitStatus>,
}

impl Seen {
    /// Notes `event`; returns the agent event to send, if any.
    fn note(&mut self, event: RunEvent, namespace: &str) -> Option<AgentEvent> {
        match event {
            RunEvent::Created { pod, .. } => Some(AgentEvent::PodCreated {
                namespace: namespace.to_owned(),
                pod,
            }),
            RunEvent::Pending(reason) => Some(AgentEvent::Pending {
                reason: reason.to_string(),
            }),
            RunEvent::Running => {
                self.running = Some(Instant::now());
                Some(AgentEvent::Running)
            }
            RunEvent::Finished(exit) => {
                self.finished = Some(Instant::now());
                self.exit = Some(exit);
                None
            }
        }
    }
}

/// Forwards the run's events until they end.
async fn forward(
    run_events: Option<&mut RunEvents>,
    events: &EventSender,
    namespace: &str,
    seen: &mut Seen,
) {
    let Some(run_events) = run_events else {
        return;
    };
    while let Some(event) = run_events.next().await {
        if let Some(event) = seen.note(event, namespace) {
            events.send(event).await;
        }
    }
}

/// What reading the log gave.
pub(super) struct LogRead {
    pub(super) parser: StreamParser,
    pub(super) tail: Tail,
    /// The error that ended the log early, if one did.
    pub(super) broken: Option<TransportError>,
}

/// Reads the log, parsing it as it arrives and sending each event on, until the CLI's
/// `result` document arrived or the log ended. It does not wait for the log to end after the
/// result: the kubelet ends the follow only once it noticed the container's exit (its status
/// relist runs every second), and nothing the CLI prints after its result changes the outcome.
pub(super) async fn read_log<S, B>(
    logs: Option<S>,
    mut parser: StreamParser,
    events: &EventSender,
) -> LogRead
where
    S: Stream<Item = std::result::Result<B, TransportError>> + Unpin,
    B: AsRef<[u8]>,
{
    let mut tail = Tail::default();
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
            parser.feed(chunk.as_ref());
            tail.push(chunk.as_ref());
            for event in parser.take_events() {
                events.send(event.into()).await;
            }
            if parser.has_result() {
                events.send(AgentEvent::Result).await;
                break;
            }
        }
    }
    LogRead {
        parser,
        tail,
        broken,
    }
}

/// The last [`TAIL_BYTES`] of the log, for error messages.
#[derive(Default)]
pub(super) struct Tail(Vec<u8>);

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        self.0.extend_from_slice(chunk);
        if self.0.len() > TAIL_BYTES {
            let cut = self.0.len() - TAIL_BYTES;
            self.0.drain(..cut);
        }
    }

    pub(super) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).trim().to_owned()
    }
}

#[cfg(test)]
#[path = "drive_tests.rs"]
mod tests;
