//! Drives one run in a checked-out pod: the exec's stdout parsed as it arrives (the same
//! stream-json parser and events as the other providers), the claim renewed meanwhile, the
//! pod handed back when the exec ended.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentpod_claude_args::ClaudeArgsError;
use agentpod_transport::{ExecOptions, ExecStream, ExitStatus, TransportError};
use futures::StreamExt;

use super::members::bookkeeping;
use super::script::RunPlan;
use super::state::{Checkout, Pool, claim_lost};
use crate::{AgentError, AgentEvent, AgentOutput, EventSender, Result};

/// Bytes of the output's end kept for an error without a result.
const TAIL_BYTES: usize = 4096;
/// How long the release waits for the exec to end after the result (the CLI exits right
/// after printing it; the run script then cleans up).
const END_GRACE: Duration = Duration::from_secs(30);

/// The checkout of a running run: handed back when the run ends or is dropped.
struct Held {
    pool: Arc<Pool>,
    checkout: Option<Checkout>,
}

impl Drop for Held {
    fn drop(&mut self) {
        // A dropped run: the exec session closed, so its process group is being killed, and
        // the next run's script kills whatever is left before it starts.
        if let Some(checkout) = self.checkout.take() {
            self.pool.finish_in_background(checkout, true);
        }
    }
}

/// Runs `plan` in the checked-out pod.
pub(crate) async fn drive(
    pool: Arc<Pool>,
    checkout: Checkout,
    plan: RunPlan,
    events: EventSender,
    started: Instant,
    run_timeout: Duration,
) -> Result<AgentOutput> {
    let namespace = pool.namespace.clone();
    let pod = checkout.pod.clone();
    let mut api_requests = checkout.api_requests + 1;
    let mut held = Held {
        pool: Arc::clone(&pool),
        checkout: Some(checkout),
    };
    let Some(current) = held.checkout.as_mut() else {
        return Err(claim_lost(&namespace, &pod));
    };
    let options = ExecOptions::default()
        .concurrent(true)
        .run_timeout(run_timeout);
    let mut exec = current.claim.worker().exec_streaming(&plan.exec, &options);
    let checked_out = started.elapsed();
    events.send(AgentEvent::Running).await;

    let mut parser = plan.command.stream_parser();
    let mut tail = Vec::new();
    let renew_every = (pool.options.claim_ttl / 3).max(Duration::from_millis(500));
    let mut renew =
        tokio::time::interval_at(tokio::time::Instant::now() + renew_every, renew_every);
    if let Some(mut stdout) = exec.take_stdout() {
        loop {
            tokio::select! {
                chunk = stdout.next() => {
                    let Some(chunk) = chunk else { break };
                    parser.feed(&chunk);
                    keep_tail(&mut tail, &chunk);
                    for event in parser.take_events() {
                        events.send(event.into()).await;
                    }
                    if parser.has_result() {
                        events.send(AgentEvent::Result).await;
                        break;
                    }
                }
                _ = renew.tick() => {
                    api_requests += 1;
                    let extra = bookkeeping(&pool.options, std::time::SystemTime::now());
                    if !current.claim.renew(&extra).await? {
                        return Err(claim_lost(&namespace, &pod));
                    }
                }
            }
        }
    }

    if parser.has_result() {
        // Return now; the pod goes back once the exec ended (the CLI exits after its result).
        if let Some(checkout) = held.checkout.take() {
            let returned = Arc::clone(&pool);
            let finish = async move {
                let healthy = matches!(
                    tokio::time::timeout(END_GRACE, exec.wait()).await,
                    Ok(Ok(ref output)) if output.exit_code != SCRIPT_FAILED
                );
                returned.finish(checkout, healthy).await;
            };
            pool.background.spawn(finish);
        }
        let claude = parser.finish().map_err(AgentError::from_outcome)?;
        let mut output = AgentOutput::from_claude(claude);
        output.pod = Some(pod);
        output.api_requests = api_requests;
        output.timings.pod_start = Some(checked_out);
        output.timings.total = started.elapsed();
        return Ok(output);
    }

    let ended = wait(exec, &namespace, &pod, run_timeout).await;
    let healthy = matches!(&ended, Ok(output) if output.0 != SCRIPT_FAILED);
    if let Some(checkout) = held.checkout.take() {
        pool.finish(checkout, healthy).await;
    }
    let (exit_code, stderr) = ended?;
    match parser.finish() {
        Ok(claude) => {
            let mut output = AgentOutput::from_claude(claude);
            output.exit_code = Some(exit_code);
            output.pod = Some(pod);
            output.api_requests = api_requests;
            output.timings.pod_start = Some(checked_out);
            output.timings.total = started.elapsed();
            Ok(output)
        }
        Err(source @ ClaudeArgsError::MissingResult { .. }) => {
            keep_tail(&mut tail, &stderr);
            Err(AgentError::NoResult {
                pod: Some(pod),
                exit: Box::new(ExitStatus {
                    code: Some(exit_code),
                    ..ExitStatus::default()
                }),
                output_tail: String::from_utf8_lossy(&tail).trim().to_owned(),
                source,
            })
        }
        Err(error) => Err(AgentError::from_outcome(error)),
    }
}

/// The run script's exit code when it could not prepare the run (the pod is unusable).
const SCRIPT_FAILED: i32 = 125;

/// Waits for the exec's end: its exit code and stderr.
async fn wait(
    exec: ExecStream,
    namespace: &str,
    pod: &str,
    run_timeout: Duration,
) -> Result<(i32, Vec<u8>)> {
    match exec.wait().await {
        Ok(output) => Ok((output.exit_code, output.stderr)),
        Err(source @ TransportError::ExecTimeout { .. }) => Err(AgentError::RunTimeout {
            pod: Some(pod.to_owned()),
            timeout: run_timeout,
            source: Some(Box::new(source)),
        }),
        Err(error) => {
            tracing::debug!(%namespace, %pod, %error, "pool exec failed");
            Err(AgentError::from(error))
        }
    }
}

fn keep_tail(tail: &mut Vec<u8>, chunk: &[u8]) {
    tail.extend_from_slice(chunk);
    if tail.len() > TAIL_BYTES {
        let cut = tail.len() - TAIL_BYTES;
        tail.drain(..cut);
    }
}
