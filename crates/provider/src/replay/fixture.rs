//! The fixture format: request keys, the readable request summary and the lines of a file.

use std::fmt::Write as _;
use std::time::Duration;

use agentpod_claude_args::{PermissionDenial, RunStats, TokenUsage};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{AgentError, AgentEvent, AgentOutput, AgentRequest, AgentTimings};

/// Version of the key derivation; a change of the request's shape bumps it.
const KEY_VERSION: &str = "agentpod-replay-v1";

/// Characters of the prompt kept in a fixture's readable summary.
const PROMPT_SHOWN: usize = 400;

/// The request fields that may carry credentials when inline (`--mcp-config`, `--settings`,
/// `--agents` JSON): the summary shows their hash only.
const INLINE_SECRET_FIELDS: [&str; 3] = ["mcp_configs", "settings", "agents"];

/// The key of a request: SHA-256 over the canonical JSON (object keys sorted at every level) of
/// every field of the request, so it changes with any field and never with map order.
pub(crate) fn request_key(request: &AgentRequest) -> String {
    let mut text = String::from(KEY_VERSION);
    text.push('\n');
    canonical(&request.key_document(), &mut text);
    hex_sha256(text.as_bytes())
}

/// What a fixture shows of a request: the prompt (shortened), every field that is not at its
/// default, and inline JSON that may hold credentials as its hash only.
pub(crate) fn request_summary(request: &AgentRequest) -> Value {
    let mut document = request.key_document();
    if let Some(object) = document.as_object_mut() {
        object.retain(|_, value| !is_default(value));
    }
    if let Some(claude) = document.get_mut("claude").and_then(Value::as_object_mut) {
        claude.retain(|_, value| !is_default(value));
        if let Some(Value::String(prompt)) = claude.get_mut("prompt") {
            *prompt = shorten(prompt);
        }
        for field in INLINE_SECRET_FIELDS {
            if let Some(value) = claude.get_mut(field) {
                hide_inline_json(value);
            }
        }
    }
    document
}

/// `null`, `false`, `[]`, `{}`: a field left at its default, left out of the summary.
fn is_default(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(object) => object.is_empty(),
        _ => false,
    }
}

/// The first characters of a prompt, for a human and for [`AgentError::ReplayMiss`].
pub(crate) fn shorten(text: &str) -> String {
    if text.chars().count() <= PROMPT_SHOWN {
        return text.to_owned();
    }
    let head: String = text.chars().take(PROMPT_SHOWN).collect();
    format!("{head}… ({} bytes in all)", text.len())
}

/// Replaces every `{"json": …}` (an inline [`JsonOrPath`](agentpod_claude_args::JsonOrPath))
/// inside `value` with `{"json_sha256": …}`.
fn hide_inline_json(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(hide_inline_json),
        Value::Object(object) => {
            if let Some(inline) = object.remove("json") {
                let mut text = String::new();
                canonical(&inline, &mut text);
                object.insert(
                    "json_sha256".into(),
                    Value::String(hex_sha256(text.as_bytes())),
                );
            }
        }
        _ => {}
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// JSON with object keys sorted at every level, whatever map type `serde_json` was built with.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            out.push('{');
            for (n, key) in keys.into_iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(item) = object.get(key) {
                    canonical(item, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// One line of a fixture file. A run is a `request` line, its `event` lines in order, and an
/// `output` or `error` line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Line {
    Request(RecordedRequest),
    Event(AgentEvent),
    Output(Box<RecordedOutput>),
    Error(RecordedError),
}

/// The head of a recorded run.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RecordedRequest {
    /// [`request_key`] of the request.
    pub key: String,
    /// The pod the run reported at its start, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// [`request_summary`] of the request, for review (replay reads only the key).
    pub shows: Value,
}

/// An [`AgentOutput`], field for field.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RecordedOutput {
    text: String,
    structured: Option<Value>,
    session_id: Option<String>,
    cost_usd: f64,
    tokens: TokenUsage,
    turns: u32,
    model: Option<String>,
    permission_denials: Vec<PermissionDenial>,
    timings: RecordedTimings,
    exit_code: Option<i32>,
    pod: Option<String>,
    api_requests: u64,
    dropped_events: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RecordedTimings {
    total: Duration,
    pod_start: Option<Duration>,
    pod_run: Option<Duration>,
    agent: Duration,
    agent_api: Duration,
}

impl From<&AgentOutput> for RecordedOutput {
    fn from(output: &AgentOutput) -> Self {
        let timings = output.timings;
        RecordedOutput {
            text: output.text.clone(),
            structured: output.structured.clone(),
            session_id: output.session_id.clone(),
            cost_usd: output.cost_usd,
            tokens: output.tokens,
            turns: output.turns,
            model: output.model.clone(),
            permission_denials: output.permission_denials.clone(),
            timings: RecordedTimings {
                total: timings.total,
                pod_start: timings.pod_start,
                pod_run: timings.pod_run,
                agent: timings.agent,
                agent_api: timings.agent_api,
            },
            exit_code: output.exit_code,
            pod: output.pod.clone(),
            api_requests: output.api_requests,
            dropped_events: output.dropped_events,
        }
    }
}

impl From<RecordedOutput> for AgentOutput {
    fn from(recorded: RecordedOutput) -> Self {
        let timings = recorded.timings;
        AgentOutput {
            text: recorded.text,
            structured: recorded.structured,
            session_id: recorded.session_id,
            cost_usd: recorded.cost_usd,
            tokens: recorded.tokens,
            turns: recorded.turns,
            model: recorded.model,
            permission_denials: recorded.permission_denials,
            timings: AgentTimings {
                total: timings.total,
                pod_start: timings.pod_start,
                pod_run: timings.pod_run,
                agent: timings.agent,
                agent_api: timings.agent_api,
            },
            exit_code: recorded.exit_code,
            pod: recorded.pod,
            api_requests: recorded.api_requests,
            dropped_events: recorded.dropped_events,
        }
    }
}

/// The errors a fixture keeps: the agent's own outcomes and the run timeout, all plain data.
/// Infrastructure failures are not recorded (they say nothing about the request).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum RecordedError {
    Api {
        status: Option<u16>,
        error_type: Option<String>,
        message: String,
        stats: RunStats,
    },
    MaxTurns {
        message: String,
        stats: RunStats,
    },
    MaxBudget {
        message: String,
        stats: RunStats,
    },
    SchemaMissing {
        text: String,
        stats: RunStats,
    },
    RunFailed {
        subtype: String,
        message: String,
        stats: RunStats,
    },
    RunTimeout {
        pod: Option<String>,
        timeout: Duration,
    },
}

impl RecordedError {
    /// The recordable form of `error`, `None` for errors a fixture does not keep.
    pub(crate) fn from_error(error: &AgentError) -> Option<Self> {
        Some(match error {
            AgentError::Api {
                status,
                error_type,
                message,
                stats,
            } => Self::Api {
                status: *status,
                error_type: error_type.clone(),
                message: message.clone(),
                stats: (**stats).clone(),
            },
            AgentError::MaxTurns { message, stats } => Self::MaxTurns {
                message: message.clone(),
                stats: (**stats).clone(),
            },
            AgentError::MaxBudget { message, stats } => Self::MaxBudget {
                message: message.clone(),
                stats: (**stats).clone(),
            },
            AgentError::SchemaMissing { text, stats } => Self::SchemaMissing {
                text: text.clone(),
                stats: (**stats).clone(),
            },
            AgentError::RunFailed {
                subtype,
                message,
                stats,
            } => Self::RunFailed {
                subtype: subtype.clone(),
                message: message.clone(),
                stats: (**stats).clone(),
            },
            AgentError::RunTimeout { pod, timeout, .. } => Self::RunTimeout {
                pod: pod.clone(),
                timeout: *timeout,
            },
            _ => return None,
        })
    }

    /// The error as the recorded run returned it (a run timeout without its transport source).
    pub(crate) fn into_error(self) -> AgentError {
        match self {
            Self::Api {
                status,
                error_type,
                message,
                stats,
            } => AgentError::Api {
                status,
                error_type,
                message,
                stats: Box::new(stats),
            },
            Self::MaxTurns { message, stats } => AgentError::MaxTurns {
                message,
                stats: Box::new(stats),
            },
            Self::MaxBudget { message, stats } => AgentError::MaxBudget {
                message,
                stats: Box::new(stats),
            },
            Self::SchemaMissing { text, stats } => AgentError::SchemaMissing {
                text,
                stats: Box::new(stats),
            },
            Self::RunFailed {
                subtype,
                message,
                stats,
            } => AgentError::RunFailed {
                subtype,
                message,
                stats: Box::new(stats),
            },
            Self::RunTimeout { pod, timeout } => AgentError::RunTimeout {
                pod,
                timeout,
                source: None,
            },
        }
    }
}
