//! The CLI's output as typed values.
//!
//! Both output formats end with one `{"type":"result", …}` document, so one line-based reader
//! serves both: [`StreamParser`] for log chunks as they arrive, [`parse_output`] for a whole
//! stdout. The reader tolerates what log streams add (blank lines, stderr noise, a truncated
//! line) and lets the last result win.
//!
//! A result is only a success when `is_error` is false *and* the subtype is `success`: the CLI
//! reports "Not logged in" with `subtype: "success"` and `is_error: true`, which a naive reader
//! would return as an answer.

mod result;
mod stream;
mod structured;

use serde::{Deserialize, Serialize};

pub use stream::{DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_LINE_BYTES, StreamParser, parse_output};
pub use structured::extract_json_from_text;

/// A successful run.
///
/// ```
/// use agentpod_claude_args::parse_output;
///
/// let out = parse_output(
///     r#"{"type":"result","subtype":"success","is_error":false,"result":"4","session_id":"s1","num_turns":1,"total_cost_usd":0.01}"#,
///     false,
/// ).unwrap();
/// assert_eq!((out.text.as_str(), out.stats.num_turns), ("4", 1));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaudeOutput {
    /// The final answer text (`result`).
    pub text: String,
    /// Structured output: the CLI's `structured_output`, else (only when a schema was requested)
    /// a JSON object or array found in the text.
    pub structured: Option<serde_json::Value>,
    /// Session, cost, tokens, turns, model, durations.
    pub stats: RunStats,
    /// Tool calls the permission mode refused.
    pub permission_denials: Vec<PermissionDenial>,
    /// What happened during the run (stream-json only; empty for json).
    pub events: Vec<StreamEvent>,
    /// Events left out to keep memory bounded (see [`StreamParser::with_limits`]).
    pub dropped_events: usize,
}

/// What a run used. Kept by run errors too, because a failed run still costs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// The session id (to resume later).
    pub session_id: Option<String>,
    /// Total cost in USD as the CLI computed it.
    pub total_cost_usd: f64,
    /// Token counts.
    pub tokens: TokenUsage,
    /// Turns taken.
    pub num_turns: u32,
    /// The main model: the stream's init model, else the model that cost most.
    pub model: Option<String>,
    /// Wall time of the run (ms).
    pub duration_ms: u64,
    /// Time spent in API calls (ms).
    pub duration_api_ms: u64,
}

/// Token counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Input tokens written to the prompt cache.
    pub cache_creation_input_tokens: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read_input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
}

impl TokenUsage {
    /// All input tokens: uncached + cache creation + cache read.
    pub fn total_input_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.cache_creation_input_tokens)
            .saturating_add(self.cache_read_input_tokens)
    }
}

/// A tool call refused by the permission mode.
///
/// ```
/// use agentpod_claude_args::parse_output;
///
/// let out = parse_output(
///     r#"{"type":"result","subtype":"success","result":"done","permission_denials":[{"tool_name":"Bash","tool_use_id":"t1","tool_input":{"command":"rm -rf /"}}]}"#,
///     false,
/// ).unwrap();
/// assert_eq!(out.permission_denials[0].tool_name, "Bash");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermissionDenial {
    /// The tool (`Bash`, `Write`, an MCP tool…).
    pub tool_name: String,
    /// The id of the refused call.
    #[serde(default)]
    pub tool_use_id: String,
    /// The input the model gave.
    #[serde(default)]
    pub tool_input: serde_json::Value,
}

/// One thing that happened during a stream-json run.
///
/// ```
/// use agentpod_claude_args::{StreamEvent, StreamParser};
///
/// let mut parser = StreamParser::new(false);
/// parser.feed(br#"{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}}]}}"#);
/// parser.feed(b"\n");
/// assert!(matches!(&parser.take_events()[0], StreamEvent::ToolCall { name, .. } if name == "Bash"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StreamEvent {
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
        input: serde_json::Value,
    },
    /// A tool's result as given back to the model.
    ToolResult {
        /// The call it answers.
        tool_use_id: String,
        /// Result text (text blocks joined with newlines).
        content: String,
        /// Whether the tool failed (or was refused).
        is_error: bool,
    },
}

impl StreamEvent {
    /// Approximate heap size, for the parser's memory bound.
    fn approx_bytes(&self) -> usize {
        let payload = match self {
            StreamEvent::AssistantText { text } => text.len(),
            StreamEvent::ToolCall { id, name, input } => {
                id.len() + name.len() + input.to_string().len()
            }
            StreamEvent::ToolResult {
                tool_use_id,
                content,
                ..
            } => tool_use_id.len() + content.len(),
        };
        payload + std::mem::size_of::<StreamEvent>()
    }
}
