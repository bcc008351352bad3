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

/// Attempts at a run whose pod turned out unusable before the CLI started (the exec could not
/// be opened, or the run script could not prepare the run); each such pod is deleted.
const ATTEMPTS: usize = 3;

/// How one attempt ended.
enum Attempt {
    Done(Result<AgentOutput>),
    /// Nothing of the run happened: try another pod.
    PodUnusable(AgentError),
}

/// What a run needs besides its pod.
pub(crate) struct RunContext {
    pub(crate) plan: RunPlan,
    pub(crate) events: EventSender,
    pub(crate) started: Instant,
    pub(crate) run_timeout: Duration,
    pub(crate) queue_timeout: Duration,
}

/// Runs `context.plan` in the checked-out pod; when the pod proves unusable before the CLI
/// started, deletes it and runs in another one (at most [`ATTEMPTS`] pods).
pub(crate) async fn drive(
    pool: Arc<Pool>,
    checkout: Checkout,
    context: RunContext,
) -> Result<AgentOutput> {
    let mut checkout = checkout;
    let mut api_requests = 0;
    context.events.send(AgentEvent::Running).await;
    for attempt in 1..=ATTEMPTS {
        match run_once(&pool, checkout, &context, &mut api_requests).await {
            Attempt::Done(result) => return result,
            Attempt::PodUnusable(error) if attempt < ATTEMPTS => {
                tracing::info!(pool = %pool.options.name, %error,
                    "the pod was unusable before the run started; trying another");
                checkout = pool.checkout(context.queue_timeout).await?;
            }
            Attempt::PodUnusable(error) => return Err(error),
        }
    }
    Err(claim_lost(&pool.namespace, "<none>"))
}

async fn run_once(
    pool: &Arc<Pool>,
    checkout: Checkout,
    context: &RunContext,
    api_requests: &mut u64,
) -> Attempt {
    let namespace = pool.namespace.clone();
    let pod = checkout.pod.clone();
    *api_requests += checkout.api_requests + 1;
    let mut held = Held {
        pool: Arc::clone(pool),
        checkout: Some(checkout),
    };
    let Some(current) = held.checkout.as_mut() else {
        return Attempt::Done(Err(claim_lost(&namespace, &pod)));
    };
    let options = ExecOptions::default()
        .concurrent(true)
        .run_timeout(context.run_timeout);
    let mut exec = current
        .claim
        .worker()
        .exec_streaming(&context.plan.exec, &options);
    let checked_out = context.started.elapsed();

    let mut parser = context.plan.command.stream_parser();
    let mut tail = Vec::new();
    let mut received = false;
    // Capped, so that a "no limit" claim time to live cannot overflow the timer.
    let renew_every = (pool.options.claim_ttl / 3)
        .clamp(Duration::from_millis(500), Duration::from_secs(24 * 3600));
    let mut renew =
        tokio::time::interval_at(tokio::time::Instant::now() + renew_every, renew_every);
    if let Some(mut stdout) = exec.take_stdout() {
        loop {
            tokio::select! {
                chunk = stdout.next() => {
                    let Some(chunk) = chunk else { break };
                    received = true;
                    parser.feed(&chunk);
                    keep_tail(&mut tail, &chunk);
                    for event in parser.take_events() {
                        context.events.send(event.into()).await;
                    }
                    if parser.has_result() {
                        context.events.send(AgentEvent::Result).await;
                        break;
                    }
                }
                _ = renew.tick() => {
                    *api_requests += 1;
                    let extra = bookkeeping(&pool.options, std::time::SystemTime::now());
                    match current.claim.renew(&extra).await {
                        Ok(true) => {}
                        Ok(false) => return Attempt::Done(Err(claim_lost(&namespace, &pod))),
                        Err(error) => return Attempt::Done(Err(error.into())),
                    }
                }
            }
        }
    }

    if parser.has_result() {
        // Return now, and give the pod back at once: the CLI exits right after its result,
        // and whatever of this run still runs when the next run starts is killed by the next
        // run's script before it starts anything. The exec ends by itself in the background.
        if let Some(checkout) = held.checkout.take() {
            pool.finish_in_background(checkout, true);
        }
        pool.background.spawn(async move {
            let _ = tokio::time::timeout(END_GRACE, exec.wait()).await;
        });
        let claude = match parser.finish() {
            Ok(claude) => claude,
            Err(error) => return Attempt::Done(Err(AgentError::from_outcome(error))),
        };
        let mut output = AgentOutput::from_claude(claude);
        output.pod = Some(pod);
        output.api_requests = *api_requests;
        output.timings.pod_start = Some(checked_out);
        output.timings.total = context.started.elapsed();
        return Attempt::Done(Ok(output));
    }

    let ended = wait(exec, &namespace, &pod, context.run_timeout).await;
    let unusable = !received
        && match &ended {
            Ok((code, _)) => *code == SCRIPT_FAILED,
            Err(AgentError::Infrastructure { source }) => matches!(
                **source,
                TransportError::Exec { .. } | TransportError::ExecSetupTimeout { .. }
            ),
            Err(_) => false,
        };
    let healthy = !unusable && matches!(&ended, Ok(output) if output.0 != SCRIPT_FAILED);
    if let Some(checkout) = held.checkout.take() {
        pool.finish(checkout, healthy).await;
    }
    if unusable {
        let error = match ended {
            Err(error) => error,
            Ok((code, stderr)) => AgentError::NoResult {
                pod: Some(pod),
                exit: Box::new(ExitStatus {
                    code: Some(code),
                    ..ExitStatus::default()
                }),
                output_tail: String::from_utf8_lossy(&stderr).trim().to_owned(),
                // Nothing came on stdout.
                source: ClaudeArgsError::MissingResult {
                    json_lines: 0,
                    other_lines: 0,
                },
            },
        };
        return Attempt::PodUnusable(error);
    }
    let (exit_code, stderr) = match ended {
        Ok(ended) => ended,
        Err(error) => return Attempt::Done(Err(error)),
    };
    Attempt::Done(match parser.finish() {
        Ok(claude) => {
            let mut output = AgentOutput::from_claude(claude);
            output.exit_code = Some(exit_code);
            output.pod = Some(pod);
            output.api_requests = *api_requests;
            output.timings.pod_start = Some(checked_out);
            output.timings.total = context.started.elapsed();
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
    })
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
