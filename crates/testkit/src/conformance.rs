//! The provider conformance suite: one call runs the same behaviour checks against any
//! [`AgentProvider`] wired to the offline model endpoint (feature `conformance`).
//!
//! Start an endpoint with [`Conformance::script`] where the provider's agents reach it, build
//! the provider against its base URL (any API key: the endpoint accepts every key), then:
//!
//! ```no_run
//! use agentpod_provider::LocalProvider;
//! use agentpod_testkit::conformance::Conformance;
//! use agentpod_testkit::model::ModelEndpoint;
//!
//! # async fn f() {
//! let endpoint = ModelEndpoint::start_local(Conformance::script()).await.unwrap();
//! let provider = LocalProvider::builder()
//!     .api_key("any")
//!     .base_url(endpoint.base_url())
//!     .env("CLAUDE_CODE_MAX_RETRIES", "0")
//!     .build();
//! let report = Conformance::new(&provider, &endpoint).run().await;
//! assert!(report.passed(), "{report}");
//! # }
//! ```
//!
//! The checks, in order ([`Check`]): a text answer (with its events), structured output into a
//! struct, a Bash tool run (its call, its real output, the answer after it), a 401 from the
//! model API as a typed API error, the max-turns limit, the run timeout, and cancellation by
//! dropping a started run while the model is answering. Give [`Conformance::settled`] a check
//! of your backend's leftovers (no pod, no process): it must pass after the timeout and the
//! cancellation.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentpod_provider::{Agent, AgentError, AgentEvent, AgentOutput, AgentProvider};
use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::json;

use crate::model::{Matcher, ModelEndpoint, Rule, Script};

const TEXT_PROMPT: &str = "conformance check: answer in text";
const TEXT_ANSWER: &str = "conformance-text-answer";
const STRUCTURED_PROMPT: &str = "conformance check: answer in structure";
const TOOL_PROMPT: &str = "conformance check: run the tool";
const TOOL_OUTPUT: &str = "conformance-tool-42";
const TOOL_ANSWER: &str = "the tool printed conformance-tool-42";
const API_ERROR_PROMPT: &str = "conformance check: be refused";
const MAX_TURNS_PROMPT: &str = "conformance check: loop forever";
const TIMEOUT_PROMPT: &str = "conformance check: wait past the timeout";
const CANCEL_PROMPT: &str = "conformance check: wait to be cancelled";

/// Longest a single check may take before it fails as hung.
const CHECK_LIMIT: Duration = Duration::from_secs(240);
/// Longest [`Conformance::settled`] may take to pass.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// The structured answer of the structured-output check.
#[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
pub struct ConformanceAnswer {
    /// Always 42.
    pub answer: u32,
    /// Always `"conformance"`.
    pub unit: String,
}

/// One behaviour the suite checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Check {
    /// A text answer, with an `AssistantText` event of it, then a `Result` event.
    Text,
    /// `Agent::output::<ConformanceAnswer>()` gets the typed value.
    StructuredOutput,
    /// A Bash tool call really runs: `ToolCall`, a `ToolResult` with the command's output,
    /// then the answer.
    ToolRun,
    /// A 401 from the model API is `AgentError::Api { status: Some(401) }`, not retryable.
    ApiError,
    /// A run stopped by `max_turns(1)` is `AgentError::MaxTurns`.
    MaxTurns,
    /// A run past its `run_timeout` is `AgentError::RunTimeout`, then the backend settles.
    Timeout,
    /// Dropping a started run while the model answers stops it: the backend settles.
    Cancellation,
}

/// The outcome of one check.
#[derive(Debug)]
pub struct CheckOutcome {
    /// Which check.
    pub check: Check,
    /// `Err` says what was wrong.
    pub result: Result<(), String>,
    /// How long it took.
    pub elapsed: Duration,
}

/// What [`Conformance::run`] found.
#[derive(Debug)]
pub struct ConformanceReport {
    /// Every check, in the order run.
    pub checks: Vec<CheckOutcome>,
}

impl ConformanceReport {
    /// True when every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.result.is_ok())
    }

    /// The checks that failed.
    pub fn failures(&self) -> Vec<&CheckOutcome> {
        self.checks.iter().filter(|c| c.result.is_err()).collect()
    }
}

impl fmt::Display for ConformanceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for outcome in &self.checks {
            match &outcome.result {
                Ok(()) => writeln!(f, "ok    {:?} ({:?})", outcome.check, outcome.elapsed)?,
                Err(why) => writeln!(
                    f,
                    "FAIL  {:?} ({:?}): {why}",
                    outcome.check, outcome.elapsed
                )?,
            }
        }
        Ok(())
    }
}

type Settled = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// The suite, for one provider and the endpoint it talks to.
pub struct Conformance<'a> {
    provider: &'a dyn AgentProvider,
    endpoint: &'a ModelEndpoint,
    run_timeout: Duration,
    settled: Option<Settled>,
}

impl<'a> Conformance<'a> {
    /// The suite for `provider`, whose agents reach `endpoint` (started with
    /// [`script`](Self::script)).
    pub fn new(provider: &'a dyn AgentProvider, endpoint: &'a ModelEndpoint) -> Self {
        Conformance {
            provider,
            endpoint,
            run_timeout: Duration::from_secs(5),
            settled: None,
        }
    }

    /// The run timeout the timeout check sets (default 5 s; the endpoint answers after 120 s).
    #[must_use]
    pub fn run_timeout(mut self, timeout: Duration) -> Self {
        self.run_timeout = timeout;
        self
    }

    /// A check that the backend left nothing behind (no pod, no Secret, no process): polled
    /// after the timeout and the cancellation until it returns `Ok` (at most 60 s).
    #[must_use]
    pub fn settled<F, Fut>(mut self, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.settled = Some(Arc::new(move || Box::pin(check())));
        self
    }

    /// Runs every check, one after the other, and reports each.
    pub async fn run(self) -> ConformanceReport {
        let mut checks = Vec::new();
        for check in [
            Check::Text,
            Check::StructuredOutput,
            Check::ToolRun,
            Check::ApiError,
            Check::MaxTurns,
            Check::Timeout,
            Check::Cancellation,
        ] {
            let started = Instant::now();
            let result = match tokio::time::timeout(CHECK_LIMIT, self.check(check)).await {
                Ok(result) => result,
                Err(_) => Err(format!("hung for {CHECK_LIMIT:?}")),
            };
            tracing::info!(?check, ok = result.is_ok(), "conformance check done");
            checks.push(CheckOutcome {
                check,
                result,
                elapsed: started.elapsed(),
            });
        }
        ConformanceReport { checks }
    }

    async fn check(&self, check: Check) -> Result<(), String> {
        match check {
            Check::Text => self.text().await,
            Check::StructuredOutput => self.structured().await,
            Check::ToolRun => self.tool_run().await,
            Check::ApiError => {
                let error = expect_error(Agent::new(API_ERROR_PROMPT).run(self.provider).await)?;
                match &error {
                    AgentError::Api {
                        status: Some(401), ..
                    } if !error.is_retryable() => Ok(()),
                    other => Err(format!(
                        "expected Api {{ status: Some(401) }}, got {other:?}"
                    )),
                }
            }
            Check::MaxTurns => {
                let agent = Agent::new(MAX_TURNS_PROMPT)
                    .allowed_tools(["Bash"])
                    .max_turns(1);
                match expect_error(agent.run(self.provider).await)? {
                    AgentError::MaxTurns { .. } => Ok(()),
                    other => Err(format!("expected MaxTurns, got {other:?}")),
                }
            }
            Check::Timeout => {
                let agent = Agent::new(TIMEOUT_PROMPT).run_timeout(self.run_timeout);
                match expect_error(agent.run(self.provider).await)? {
                    AgentError::RunTimeout { timeout, .. } if timeout == self.run_timeout => {}
                    other => return Err(format!("expected RunTimeout, got {other:?}")),
                }
                self.settle().await
            }
            Check::Cancellation => self.cancellation().await,
        }
    }

    async fn text(&self) -> Result<(), String> {
        let (events, output) = events_and_output(self.provider, &Agent::new(TEXT_PROMPT)).await?;
        let output = output.map_err(|e| format!("no answer: {e}"))?;
        if output.text != TEXT_ANSWER {
            return Err(format!(
                "answer {:?}, expected {TEXT_ANSWER:?}",
                output.text
            ));
        }
        // Infrastructure events (`Running`, `Pending`) may come at any point; the agent's own
        // events keep their order.
        let said = events.iter().position(
            |event| matches!(event, AgentEvent::AssistantText { text } if text == TEXT_ANSWER),
        );
        let result = events.iter().position(|event| event == &AgentEvent::Result);
        match (said, result) {
            (Some(said), Some(result)) if said < result => Ok(()),
            _ => Err(format!(
                "expected AssistantText({TEXT_ANSWER:?}), then Result: {events:?}"
            )),
        }
    }

    async fn structured(&self) -> Result<(), String> {
        let output = Agent::new(STRUCTURED_PROMPT)
            .output::<ConformanceAnswer>()
            .run(self.provider)
            .await
            .map_err(|e| format!("no typed answer: {e}"))?;
        let expected = ConformanceAnswer {
            answer: 42,
            unit: "conformance".into(),
        };
        if output.structured.as_ref() != Some(&expected) {
            return Err(format!(
                "got {:?}, expected {expected:?}",
                output.structured
            ));
        }
        Ok(())
    }

    async fn tool_run(&self) -> Result<(), String> {
        let agent = Agent::new(TOOL_PROMPT).allowed_tools(["Bash"]);
        let (events, output) = events_and_output(self.provider, &agent).await?;
        let output = output.map_err(|e| format!("no answer: {e}"))?;
        if output.text != TOOL_ANSWER {
            return Err(format!(
                "answer {:?}, expected {TOOL_ANSWER:?}",
                output.text
            ));
        }
        let call = events
            .iter()
            .position(|event| matches!(event, AgentEvent::ToolCall { name, .. } if name == "Bash"));
        let result = events.iter().position(|event| {
            matches!(event, AgentEvent::ToolResult { content, is_error: false, .. }
                if content.trim() == TOOL_OUTPUT)
        });
        match (call, result) {
            (Some(call), Some(result)) if call < result => Ok(()),
            _ => Err(format!(
                "expected a Bash ToolCall, then a ToolResult of {TOOL_OUTPUT:?}: {events:?}"
            )),
        }
    }

    async fn cancellation(&self) -> Result<(), String> {
        let mut run = Agent::new(CANCEL_PROMPT)
            .start(self.provider)
            .await
            .map_err(|e| format!("did not start: {e}"))?;
        let events = run.take_events();
        let mut output = Box::pin(run.output());
        // Wait until the agent is really under way: its model request has arrived.
        loop {
            let asked = self.endpoint.messages_requests().iter().any(|request| {
                request
                    .prompt()
                    .is_some_and(|prompt| prompt.contains(CANCEL_PROMPT))
            });
            if asked {
                break;
            }
            tokio::select! {
                result = &mut output => {
                    return Err(format!("ended before it was cancelled: {:?}", result.map(|o| o.text)));
                }
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        drop(output);
        drop(events);
        self.settle().await
    }

    async fn settle(&self) -> Result<(), String> {
        let Some(settled) = &self.settled else {
            return Ok(());
        };
        let deadline = Instant::now() + SETTLE_LIMIT;
        loop {
            match settled().await {
                Ok(()) => return Ok(()),
                Err(why) if Instant::now() >= deadline => {
                    return Err(format!("not settled after {SETTLE_LIMIT:?}: {why}"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    /// The endpoint script every check relies on.
    pub fn script() -> Script {
        conformance_script()
    }
}

/// The endpoint script the checks need (see [`Conformance::script`]).
pub fn conformance_script() -> Script {
    let bash = |command: &str| json!({"command": command, "description": "conformance"});
    Script::new()
        .rule(Rule::new(Matcher::prompt_contains(TEXT_PROMPT)).text(TEXT_ANSWER))
        .rule(
            Rule::new(
                Matcher::prompt_contains(STRUCTURED_PROMPT).with_tool_offered("StructuredOutput"),
            )
            .tool_use(
                "StructuredOutput",
                json!({"answer": 42, "unit": "conformance"}),
            ),
        )
        .rule(
            Rule::new(Matcher::prompt_contains(TOOL_PROMPT).without_tool_result())
                .tool_use("Bash", bash("echo conformance-tool-$((6 * 7))")),
        )
        .rule(
            Rule::new(
                Matcher::prompt_contains(TOOL_PROMPT).with_tool_result_containing(TOOL_OUTPUT),
            )
            .text(TOOL_ANSWER),
        )
        .rule(Rule::new(Matcher::prompt_contains(API_ERROR_PROMPT)).error(401))
        .rule(
            Rule::new(Matcher::prompt_contains(MAX_TURNS_PROMPT))
                .tool_use("Bash", bash("echo again")),
        )
        .rule(
            Rule::new(Matcher::prompt_contains(TIMEOUT_PROMPT))
                .text("too late")
                .delay(Duration::from_secs(120)),
        )
        .rule(
            Rule::new(Matcher::prompt_contains(CANCEL_PROMPT))
                .text("never read")
                .delay(Duration::from_secs(120)),
        )
}

fn expect_error<T>(result: Result<T, AgentError>) -> Result<AgentError, String> {
    match result {
        Ok(_) => Err("succeeded, expected an error".into()),
        Err(error) => Ok(error),
    }
}

async fn events_and_output<P: AgentProvider + ?Sized>(
    provider: &P,
    agent: &Agent,
) -> Result<(Vec<AgentEvent>, Result<AgentOutput, AgentError>), String> {
    let mut run = agent
        .start(provider)
        .await
        .map_err(|e| format!("did not start: {e}"))?;
    let events = run
        .take_events()
        .ok_or("the run's events were already taken")?;
    Ok(tokio::join!(events.collect::<Vec<_>>(), run.output()))
}
