//! What a finished agent run returns.

use std::time::Duration;

use agentpod_claude_args::{ClaudeOutput, PermissionDenial, TokenUsage};
use serde::de::DeserializeOwned;

use crate::{AgentError, Result};

/// The answer of a successful run and what it cost.
///
/// `T` is the structured output's type: `serde_json::Value` for an [`Agent`](crate::Agent)
/// without [`output`](crate::Agent::output), the requested type otherwise (then
/// [`structured`](Self::structured) is always `Some`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AgentOutput<T = serde_json::Value> {
    /// The final answer text.
    pub text: String,
    /// The structured output, when a schema was requested (or the CLI returned one).
    pub structured: Option<T>,
    /// The session id the CLI reported.
    pub session_id: Option<String>,
    /// Total cost in USD as the CLI computed it.
    pub cost_usd: f64,
    /// Tokens used, cache reads and writes included.
    pub tokens: TokenUsage,
    /// Turns taken.
    pub turns: u32,
    /// The main model.
    pub model: Option<String>,
    /// Tool calls the permission mode refused.
    pub permission_denials: Vec<PermissionDenial>,
    /// Where the time went.
    pub timings: AgentTimings,
    /// The process's exit code, when known. A pod provider returns as soon as the result
    /// arrived, so this is `None` unless the cluster had reported the exit by then.
    pub exit_code: Option<i32>,
    /// The pod the agent ran in (`None` for providers without pods).
    pub pod: Option<String>,
    /// Requests the provider sent to its infrastructure (the Kubernetes API for pod providers)
    /// up to the output; `0` where there is none. A pod's cleanup after a result runs in the
    /// background and is not counted here (it is when the run ended without a result).
    pub api_requests: u64,
    /// Stream events left out of [`AgentRun::events`](crate::AgentRun::take_events) or the
    /// parser's memory to keep memory bounded.
    pub dropped_events: usize,
}

/// Where the time of a run went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentTimings {
    /// From the start call to the output.
    pub total: Duration,
    /// From the start call (or the pod's create) to the container running (`None` without
    /// pods, and when the container ran between two watch events so that it was never seen
    /// running).
    pub pod_start: Option<Duration>,
    /// From the container running to its end, as the cluster reported it (`None` without pods,
    /// and when the output was returned before the cluster reported the end).
    pub pod_run: Option<Duration>,
    /// The agent's own run time as the CLI reported it.
    pub agent: Duration,
    /// Time the CLI spent waiting for the model API, as it reported it.
    pub agent_api: Duration,
}

impl AgentOutput {
    /// An output from what the CLI printed; the provider fills in the rest.
    pub fn from_claude(output: ClaudeOutput) -> Self {
        let stats = output.stats;
        AgentOutput {
            text: output.text,
            structured: output.structured,
            session_id: stats.session_id,
            cost_usd: stats.total_cost_usd,
            tokens: stats.tokens,
            turns: stats.num_turns,
            model: stats.model,
            permission_denials: output.permission_denials,
            timings: AgentTimings {
                agent: Duration::from_millis(stats.duration_ms),
                agent_api: Duration::from_millis(stats.duration_api_ms),
                ..AgentTimings::default()
            },
            exit_code: None,
            pod: None,
            api_requests: 0,
            dropped_events: output.dropped_events,
        }
    }

    /// The same output with the structured value deserialised into `T`.
    ///
    /// ```
    /// use agentpod_provider::AgentOutput;
    /// use agentpod_claude_args::parse_output;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Answer { answer: u32 }
    /// let claude = parse_output(
    ///     r#"{"type":"result","subtype":"success","result":"","structured_output":{"answer":4}}"#,
    ///     true,
    /// )?;
    /// let typed = AgentOutput::from_claude(claude).into_typed::<Answer>()?;
    /// assert_eq!(typed.structured.map(|a| a.answer), Some(4));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_typed<T: DeserializeOwned>(self) -> Result<AgentOutput<T>> {
        let structured =
            match self.structured {
                Some(value) => Some(serde_json::from_value::<T>(value.clone()).map_err(
                    |source| AgentError::OutputMismatch {
                        type_name: std::any::type_name::<T>(),
                        value,
                        source,
                    },
                )?),
                None => None,
            };
        Ok(AgentOutput {
            text: self.text,
            structured,
            session_id: self.session_id,
            cost_usd: self.cost_usd,
            tokens: self.tokens,
            turns: self.turns,
            model: self.model,
            permission_denials: self.permission_denials,
            timings: self.timings,
            exit_code: self.exit_code,
            pod: self.pod,
            api_requests: self.api_requests,
            dropped_events: self.dropped_events,
        })
    }
}
