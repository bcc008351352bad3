//! What a rule answers: assistant content blocks or an HTTP error.
//!
//! Kept as plain serde data so JSON/YAML script files and Rust builders share
//! one shape.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::script::Script;

/// What a rule answers.
///
/// In files this is externally tagged: `{text: "4"}`, `{tool_use: {name, input}}`,
/// `{content: [...]}` or `{error: {status: 500}}`.
///
/// ```
/// use agentpod_testkit::model::Reply;
/// let reply: Reply = serde_json::from_str(r#"{"error": {"status": 429}}"#).unwrap();
/// assert!(matches!(reply, Reply::Error(ref e) if e.status == 429));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Reply {
    /// An assistant message with one text block.
    Text(String),
    /// An assistant message with one `tool_use` block.
    ToolUse(ToolUse),
    /// An assistant message with these blocks in order.
    Content(Vec<Block>),
    /// An HTTP error response with the Anthropic error body.
    Error(HttpError),
    /// A `200 OK` whose body is exactly this text, as `text/event-stream`: garbage where the
    /// CLI expects server-sent events (a broken proxy, a wrong endpoint).
    Garbage(String),
}

impl Default for Reply {
    fn default() -> Self {
        Self::Text(Script::FALLBACK_TEXT.to_owned())
    }
}

/// One content block of a scripted assistant message.
///
/// ```
/// use agentpod_testkit::model::Block;
/// let blocks: Vec<Block> =
///     serde_json::from_str(r#"[{"text": "Here:"}, {"filler_text": 65536}]"#).unwrap();
/// assert_eq!(blocks[1], Block::FillerText(65536));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Block {
    /// A text block.
    Text(String),
    /// A text block of exactly this many bytes of numbered filler lines, for very long outputs.
    FillerText(usize),
    /// A tool call.
    ToolUse(ToolUse),
}

/// A `tool_use` block: the CLI runs tool `name` with `input` and sends back a `tool_result`.
///
/// ```
/// use agentpod_testkit::model::ToolUse;
/// let call = ToolUse::new("Bash", serde_json::json!({"command": "echo hi"}));
/// assert_eq!(call.name, "Bash");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolUse {
    /// Tool name as offered by the CLI (`Bash`, `StructuredOutput`, `Read`, …).
    pub name: String,
    /// Tool input object.
    #[serde(default = "empty_object")]
    pub input: Value,
    /// Block id; generated (`toolu_agentpod_N`) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl ToolUse {
    /// A tool call with a generated id.
    ///
    /// ```
    /// let call = agentpod_testkit::model::ToolUse::new("StructuredOutput", serde_json::json!({"answer": 4}));
    /// assert!(call.id.is_none());
    /// ```
    pub fn new(name: impl Into<String>, input: Value) -> Self {
        Self {
            name: name.into(),
            input,
            id: None,
        }
    }
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// An HTTP error answer: status plus `{"type":"error","error":{"type":…,"message":…}}`.
///
/// ```
/// use agentpod_testkit::model::HttpError;
/// let overloaded = HttpError::new(529);
/// assert_eq!(overloaded.effective_type(), "overloaded_error");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpError {
    /// HTTP status code (401, 429, 500, 529, …).
    pub status: u16,
    /// Anthropic error type; derived from the status when absent.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// Error message; a generic one is used when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Sends `x-should-retry: true|false`, which the CLI's API client obeys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub should_retry: Option<bool>,
    /// Sends `retry-after: N` (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl HttpError {
    /// An error of this status with derived type and message.
    ///
    /// ```
    /// assert_eq!(agentpod_testkit::model::HttpError::new(401).effective_type(), "authentication_error");
    /// ```
    pub fn new(status: u16) -> Self {
        Self {
            status,
            error_type: None,
            message: None,
            should_retry: None,
            retry_after_secs: None,
        }
    }

    /// The error type sent in the body.
    ///
    /// ```
    /// assert_eq!(agentpod_testkit::model::HttpError::new(429).effective_type(), "rate_limit_error");
    /// ```
    pub fn effective_type(&self) -> &str {
        if let Some(kind) = &self.error_type {
            return kind;
        }
        match self.status {
            400 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            529 => "overloaded_error",
            _ => "api_error",
        }
    }

    /// The message sent in the body.
    ///
    /// ```
    /// let e = agentpod_testkit::model::HttpError::new(500);
    /// assert!(e.effective_message().contains("500"));
    /// ```
    pub fn effective_message(&self) -> String {
        self.message.clone().unwrap_or_else(|| {
            format!(
                "scripted {} (HTTP {}) from the agentpod model endpoint",
                self.effective_type(),
                self.status
            )
        })
    }
}

/// An error event in the middle of an SSE stream: `event: error` with
/// `{"type":"error","error":{"type":…,"message":…}}`, after which the stream ends.
///
/// ```
/// let cut = agentpod_testkit::model::StreamError::after(2);
/// assert_eq!(cut.effective_type(), "overloaded_error");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamError {
    /// Number of normal events sent before the error (`message_start` counts).
    pub after_events: usize,
    /// Error type; `overloaded_error` when absent.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// Error message; a generic one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl StreamError {
    /// An `overloaded_error` after `events` events.
    ///
    /// ```
    /// assert_eq!(agentpod_testkit::model::StreamError::after(1).after_events, 1);
    /// ```
    pub fn after(events: usize) -> Self {
        Self {
            after_events: events,
            error_type: None,
            message: None,
        }
    }

    /// The error type sent.
    ///
    /// ```
    /// let cut = agentpod_testkit::model::StreamError { error_type: Some("api_error".into()),
    ///     ..agentpod_testkit::model::StreamError::after(0) };
    /// assert_eq!(cut.effective_type(), "api_error");
    /// ```
    pub fn effective_type(&self) -> &str {
        self.error_type.as_deref().unwrap_or("overloaded_error")
    }

    /// The error event's data.
    pub(crate) fn event_data(&self) -> Value {
        serde_json::json!({
            "type": "error",
            "error": {
                "type": self.effective_type(),
                "message": self.message.clone().unwrap_or_else(|| {
                    format!("scripted mid-stream {} from the agentpod model endpoint", self.effective_type())
                }),
            },
        })
    }
}
