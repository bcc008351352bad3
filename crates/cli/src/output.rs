//! The JSON documents `run -o json` and `-o stream-json` print.
//!
//! The library's `AgentOutput` is a plain Rust struct; this is its stable JSON form, field for
//! field, with durations in milliseconds.

use std::time::Duration;

use agentpod_claude_args::{PermissionDenial, TokenUsage};
use agentpod_provider::AgentOutput;
use serde::Serialize;
use serde_json::Value;

use crate::failure::Failure;

/// `AgentOutput` as JSON.
#[derive(Debug, Serialize)]
pub struct OutputDocument<'a> {
    /// The final answer text.
    pub text: &'a str,
    /// The structured output, when a schema was given.
    pub structured: Option<&'a Value>,
    /// The CLI's session id.
    pub session_id: Option<&'a str>,
    /// Total cost in USD.
    pub cost_usd: f64,
    /// Tokens used.
    pub tokens: &'a TokenUsage,
    /// Turns taken.
    pub turns: u32,
    /// The main model.
    pub model: Option<&'a str>,
    /// Tool calls the permission mode refused.
    pub permission_denials: &'a [PermissionDenial],
    /// Where the time went.
    pub timings: Timings,
    /// The process's exit code, when known.
    pub exit_code: Option<i32>,
    /// The pod the agent ran in.
    pub pod: Option<&'a str>,
    /// Requests sent to the Kubernetes API up to the output.
    pub api_requests: u64,
    /// Stream events left out to keep memory bounded.
    pub dropped_events: usize,
}

/// `AgentTimings` in milliseconds.
#[derive(Debug, Serialize)]
pub struct Timings {
    /// From the start call to the output.
    pub total_ms: u64,
    /// From the start call to the container running, when seen.
    pub pod_start_ms: Option<u64>,
    /// From running to the container's end, when seen before the output.
    pub pod_run_ms: Option<u64>,
    /// The agent's own run time, as the CLI reported it.
    pub agent_ms: u64,
    /// Time the CLI waited for the model API.
    pub agent_api_ms: u64,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl<'a> OutputDocument<'a> {
    /// The document of `output`.
    pub fn new(output: &'a AgentOutput) -> Self {
        let timings = output.timings;
        OutputDocument {
            text: &output.text,
            structured: output.structured.as_ref(),
            session_id: output.session_id.as_deref(),
            cost_usd: output.cost_usd,
            tokens: &output.tokens,
            turns: output.turns,
            model: output.model.as_deref(),
            permission_denials: &output.permission_denials,
            timings: Timings {
                total_ms: millis(timings.total),
                pod_start_ms: timings.pod_start.map(millis),
                pod_run_ms: timings.pod_run.map(millis),
                agent_ms: millis(timings.agent),
                agent_api_ms: millis(timings.agent_api),
            },
            exit_code: output.exit_code,
            pod: output.pod.as_deref(),
            api_requests: output.api_requests,
            dropped_events: output.dropped_events,
        }
    }
}

/// The error document of `-o json` / `-o stream-json`: `{"error": {...}}`.
pub fn error_document(failure: &Failure) -> Value {
    let mut error = serde_json::json!({
        "kind": failure.kind(),
        "exit_code": failure.exit_code(),
        "message": failure.headline(),
    });
    if let Failure::Agent(agent, events) = failure {
        if let Some(stats) = agent.run_stats()
            && let Ok(stats) = serde_json::to_value(stats)
        {
            error["stats"] = stats;
        }
        if !events.is_empty() {
            error["events"] = serde_json::json!(events);
        }
    }
    serde_json::json!({ "error": error })
}
