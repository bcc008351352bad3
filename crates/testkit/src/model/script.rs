//! The script a [`ModelEndpoint`](super::ModelEndpoint) answers from.
//!
//! A script is an ordered list of [`Rule`]s. For every `POST /v1/messages` the
//! endpoint takes the first rule whose [`Matcher`] holds (and whose `times`
//! budget is not used up) and plays its [`Reply`]. Scripts are plain data so the
//! same script can be written in Rust for in-process tests or in a JSON/YAML
//! file for the `agentpod-model-endpoint` binary running next to a pod.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ModelEndpointError;
use super::request::MessagesView;

/// Ordered rules; the first matching rule answers a request.
///
/// When no rule matches, the endpoint answers with the text `OK` (see
/// [`Script::FALLBACK_TEXT`]), so an empty script still completes a CLI turn.
///
/// ```
/// use agentpod_testkit::model::{Matcher, Rule, Script};
///
/// let script = Script::new()
///     .rule(Rule::new(Matcher::prompt_contains("2+2")).text("4"))
///     .rule(Rule::new(Matcher::any()).text("I only know arithmetic"));
/// assert_eq!(script.rules().len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    #[serde(default)]
    rules: Vec<Rule>,
}

impl Script {
    /// Text of the reply used when no rule matches.
    pub const FALLBACK_TEXT: &'static str = "OK";

    /// An empty script: every request gets [`Script::FALLBACK_TEXT`].
    ///
    /// ```
    /// assert!(agentpod_testkit::model::Script::new().rules().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a rule; rules are tried in the order they were added.
    ///
    /// ```
    /// use agentpod_testkit::model::{Matcher, Rule, Script};
    /// let script = Script::new().rule(Rule::new(Matcher::any()).text("hello"));
    /// assert_eq!(script.rules()[0].reply, agentpod_testkit::model::Reply::Text("hello".into()));
    /// ```
    #[must_use]
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// The rules in matching order.
    ///
    /// ```
    /// assert_eq!(agentpod_testkit::model::Script::new().rules().len(), 0);
    /// ```
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Parses a script from JSON text.
    ///
    /// ```
    /// let script = agentpod_testkit::model::Script::from_json_str(
    ///     r#"{"rules": [{"when": {"prompt_contains": "hi"}, "reply": {"text": "hello"}}]}"#,
    /// ).unwrap();
    /// assert_eq!(script.rules().len(), 1);
    /// ```
    pub fn from_json_str(text: &str) -> Result<Self, ModelEndpointError> {
        serde_json::from_str(text).map_err(|source| ModelEndpointError::ScriptParse {
            origin: "JSON text".into(),
            reason: source.to_string(),
        })
    }

    /// Parses a script from YAML text.
    ///
    /// ```
    /// let script = agentpod_testkit::model::Script::from_yaml_str(
    ///     "rules:\n  - when: { prompt_contains: boom }\n    reply: { error: { status: 500 } }\n",
    /// ).unwrap();
    /// assert_eq!(script.rules().len(), 1);
    /// ```
    pub fn from_yaml_str(text: &str) -> Result<Self, ModelEndpointError> {
        let parse_error = |reason: String| ModelEndpointError::ScriptParse {
            origin: "YAML text".into(),
            reason,
        };
        // Going through a JSON value gives YAML files exactly the JSON shape
        // (single-key maps for replies) instead of YAML's `!tag` enum syntax.
        let value: Value =
            serde_norway::from_str(text).map_err(|source| parse_error(source.to_string()))?;
        serde_json::from_value(value).map_err(|source| parse_error(source.to_string()))
    }

    /// Loads a script file: `*.json` is read as JSON, anything else as YAML.
    ///
    /// ```no_run
    /// let script = agentpod_testkit::model::Script::from_file("script.yaml".as_ref()).unwrap();
    /// ```
    pub fn from_file(path: &Path) -> Result<Self, ModelEndpointError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ModelEndpointError::ScriptRead {
                path: path.to_path_buf(),
                source,
            })?;
        let parsed = if path.extension().is_some_and(|ext| ext == "json") {
            Self::from_json_str(&text)
        } else {
            Self::from_yaml_str(&text)
        };
        parsed.map_err(|error| match error {
            ModelEndpointError::ScriptParse { reason, .. } => ModelEndpointError::ScriptParse {
                origin: path.display().to_string(),
                reason,
            },
            other => other,
        })
    }
}

/// One scripted answer: when [`Matcher`] holds, play [`Reply`] with the given pacing.
///
/// In files, `delay_ms`, `chunk_bytes`, `chunk_delay_ms`, `times` and
/// `stop_reason` sit next to `when` and `reply`.
///
/// ```
/// use std::time::Duration;
/// use agentpod_testkit::model::{Matcher, Rule};
///
/// // Fail the first request with 529 overloaded, then fall through to later rules.
/// let rule = Rule::new(Matcher::any()).error(529).times(1).delay(Duration::from_millis(20));
/// assert_eq!(rule.times, Some(1));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Conditions that must all hold; the default matches every request.
    #[serde(default)]
    pub when: Matcher,
    /// What to answer.
    #[serde(default)]
    pub reply: Reply,
    /// Wait this long before sending the response head (milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Size of each streamed text or tool-input delta; default [`Rule::DEFAULT_CHUNK_BYTES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_bytes: Option<usize>,
    /// Pause between streamed events (milliseconds), to simulate a slow model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_delay_ms: Option<u64>,
    /// Match at most this many requests, then let later rules answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Overrides the stop reason (default: `tool_use` when the reply has a tool call, else `end_turn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
}

impl Rule {
    /// Default size of one streamed delta in bytes.
    pub const DEFAULT_CHUNK_BYTES: usize = 128;

    /// A rule with the given condition that answers [`Reply::default`] (text `OK`).
    ///
    /// ```
    /// use agentpod_testkit::model::{Matcher, Rule};
    /// assert_eq!(Rule::new(Matcher::any()).when, Matcher::any());
    /// ```
    pub fn new(when: Matcher) -> Self {
        Self {
            when,
            ..Self::default()
        }
    }

    /// Answers with the given reply.
    ///
    /// ```
    /// use agentpod_testkit::model::{Block, Matcher, Reply, Rule};
    /// let rule = Rule::new(Matcher::any()).reply(Reply::Content(vec![Block::FillerText(4096)]));
    /// assert!(matches!(rule.reply, Reply::Content(_)));
    /// ```
    #[must_use]
    pub fn reply(mut self, reply: Reply) -> Self {
        self.reply = reply;
        self
    }

    /// Answers with one text block.
    ///
    /// ```
    /// use agentpod_testkit::model::{Matcher, Reply, Rule};
    /// assert_eq!(Rule::new(Matcher::any()).text("4").reply, Reply::Text("4".into()));
    /// ```
    #[must_use]
    pub fn text(self, text: impl Into<String>) -> Self {
        self.reply(Reply::Text(text.into()))
    }

    /// Answers with one `tool_use` block calling `name` with `input`.
    ///
    /// ```
    /// use agentpod_testkit::model::{Matcher, Rule};
    /// let rule = Rule::new(Matcher::prompt_contains("schema"))
    ///     .tool_use("StructuredOutput", serde_json::json!({"answer": 4}));
    /// ```
    #[must_use]
    pub fn tool_use(self, name: impl Into<String>, input: Value) -> Self {
        self.reply(Reply::ToolUse(ToolUse::new(name, input)))
    }

    /// Answers with an HTTP error of this status and the Anthropic error body.
    ///
    /// ```
    /// use agentpod_testkit::model::{Matcher, Reply, Rule};
    /// let rule = Rule::new(Matcher::any()).error(401);
    /// assert!(matches!(rule.reply, Reply::Error(ref e) if e.status == 401));
    /// ```
    #[must_use]
    pub fn error(self, status: u16) -> Self {
        self.reply(Reply::Error(HttpError::new(status)))
    }

    /// Waits `delay` before answering.
    ///
    /// ```
    /// use std::time::Duration;
    /// use agentpod_testkit::model::{Matcher, Rule};
    /// assert_eq!(Rule::new(Matcher::any()).delay(Duration::from_millis(5)).delay_ms, Some(5));
    /// ```
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay_ms = Some(duration_millis(delay));
        self
    }

    /// Streams text and tool input in deltas of `bytes` bytes.
    ///
    /// ```
    /// use agentpod_testkit::model::{Matcher, Rule};
    /// assert_eq!(Rule::new(Matcher::any()).chunk_bytes(1024).chunk_bytes, Some(1024));
    /// ```
    #[must_use]
    pub fn chunk_bytes(mut self, bytes: usize) -> Self {
        self.chunk_bytes = Some(bytes);
        self
    }

    /// Pauses `delay` between streamed events.
    ///
    /// ```
    /// use std::time::Duration;
    /// use agentpod_testkit::model::{Matcher, Rule};
    /// let rule = Rule::new(Matcher::any()).chunk_delay(Duration::from_millis(10));
    /// assert_eq!(rule.chunk_delay_ms, Some(10));
    /// ```
    #[must_use]
    pub fn chunk_delay(mut self, delay: Duration) -> Self {
        self.chunk_delay_ms = Some(duration_millis(delay));
        self
    }

    /// Lets this rule answer at most `count` requests.
    ///
    /// ```
    /// use agentpod_testkit::model::{Matcher, Rule};
    /// assert_eq!(Rule::new(Matcher::any()).times(2).times, Some(2));
    /// ```
    #[must_use]
    pub fn times(mut self, count: u32) -> Self {
        self.times = Some(count);
        self
    }

    /// Overrides the `stop_reason` sent with the message (e.g. `max_tokens`).
    ///
    /// ```
    /// use agentpod_testkit::model::{Matcher, Rule};
    /// let rule = Rule::new(Matcher::any()).stop_reason("max_tokens");
    /// assert_eq!(rule.stop_reason.as_deref(), Some("max_tokens"));
    /// ```
    #[must_use]
    pub fn stop_reason(mut self, reason: impl Into<String>) -> Self {
        self.stop_reason = Some(reason.into());
        self
    }

    pub(crate) fn effective_chunk_bytes(&self) -> usize {
        self.chunk_bytes.unwrap_or(Self::DEFAULT_CHUNK_BYTES).max(1)
    }
}

fn duration_millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Conditions on a Messages request; every field that is set must hold.
///
/// The *prompt* is the text of the latest user message that carries text other
/// than the CLI's `<system-reminder>` blocks: the `-p` prompt on the first
/// turn, and still that prompt on turns that only send back tool results.
///
/// ```
/// use agentpod_testkit::model::Matcher;
///
/// // Turn 2 of a tool run: the CLI sent back a tool_result containing "hi".
/// let after_tool = Matcher::prompt_contains("say hi").with_tool_result_containing("hi");
/// assert_eq!(after_tool.tool_result, Some(true));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    /// The prompt contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_contains: Option<String>,
    /// The last message does (`true`) or does not (`false`) carry a `tool_result` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_result: Option<bool>,
    /// A `tool_result` in the last message contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_result_contains: Option<String>,
    /// The request offers a tool of this name (e.g. `StructuredOutput` under `--json-schema`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_offered: Option<String>,
}

impl Matcher {
    /// Matches every request.
    ///
    /// ```
    /// assert_eq!(agentpod_testkit::model::Matcher::any(), Default::default());
    /// ```
    pub fn any() -> Self {
        Self::default()
    }

    /// Matches when the prompt contains `text`.
    ///
    /// ```
    /// let m = agentpod_testkit::model::Matcher::prompt_contains("2+2");
    /// assert_eq!(m.prompt_contains.as_deref(), Some("2+2"));
    /// ```
    pub fn prompt_contains(text: impl Into<String>) -> Self {
        Self {
            prompt_contains: Some(text.into()),
            ..Self::default()
        }
    }

    /// Additionally requires that the last message carries a `tool_result`.
    ///
    /// ```
    /// let m = agentpod_testkit::model::Matcher::any().with_tool_result();
    /// assert_eq!(m.tool_result, Some(true));
    /// ```
    #[must_use]
    pub fn with_tool_result(mut self) -> Self {
        self.tool_result = Some(true);
        self
    }

    /// Additionally requires that the last message carries no `tool_result` (first turn).
    ///
    /// ```
    /// let m = agentpod_testkit::model::Matcher::any().without_tool_result();
    /// assert_eq!(m.tool_result, Some(false));
    /// ```
    #[must_use]
    pub fn without_tool_result(mut self) -> Self {
        self.tool_result = Some(false);
        self
    }

    /// Additionally requires a `tool_result` in the last message containing `text`.
    ///
    /// ```
    /// let m = agentpod_testkit::model::Matcher::any().with_tool_result_containing("hi");
    /// assert_eq!(m.tool_result_contains.as_deref(), Some("hi"));
    /// ```
    #[must_use]
    pub fn with_tool_result_containing(mut self, text: impl Into<String>) -> Self {
        self.tool_result = Some(true);
        self.tool_result_contains = Some(text.into());
        self
    }

    /// Additionally requires the request to offer the tool `name`.
    ///
    /// ```
    /// let m = agentpod_testkit::model::Matcher::any().with_tool_offered("StructuredOutput");
    /// assert_eq!(m.tool_offered.as_deref(), Some("StructuredOutput"));
    /// ```
    #[must_use]
    pub fn with_tool_offered(mut self, name: impl Into<String>) -> Self {
        self.tool_offered = Some(name.into());
        self
    }

    pub(crate) fn matches(&self, request: &MessagesView<'_>) -> bool {
        if let Some(needle) = &self.prompt_contains
            && !request
                .prompt()
                .is_some_and(|prompt| prompt.contains(needle))
        {
            return false;
        }
        let results = request.last_tool_results();
        if let Some(wanted) = self.tool_result
            && wanted == results.is_empty()
        {
            return false;
        }
        if let Some(needle) = &self.tool_result_contains
            && !results.iter().any(|result| result.content.contains(needle))
        {
            return false;
        }
        if let Some(name) = &self.tool_offered
            && !request.tool_names().iter().any(|tool| tool == name)
        {
            return false;
        }
        true
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_script_with_every_reply_kind_parses() {
        let script = Script::from_yaml_str(
            r#"
rules:
  - when: { prompt_contains: "run it", tool_result: false }
    reply: { tool_use: { name: Bash, input: { command: "echo hi" } } }
  - when: { tool_result_contains: "hi" }
    reply: { text: "done" }
  - when: { tool_offered: StructuredOutput }
    reply:
      content:
        - text: "here"
        - filler_text: 10
        - tool_use: { name: StructuredOutput, input: { answer: 4 }, id: toolu_1 }
  - reply: { error: { status: 529, should_retry: false } }
    delay_ms: 5
    times: 1
"#,
        )
        .unwrap();
        assert_eq!(script.rules().len(), 4);
        assert_eq!(
            script.rules()[0].reply,
            Reply::ToolUse(ToolUse::new(
                "Bash",
                serde_json::json!({"command": "echo hi"})
            ))
        );
        assert_eq!(script.rules()[3].times, Some(1));
        assert_eq!(script.rules()[3].when, Matcher::any());
    }

    #[test]
    fn unknown_fields_are_rejected_with_the_origin_named() {
        let error = Script::from_json_str(r#"{"rules": [{"wen": {}}]}"#).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("JSON text") && text.contains("wen"), "{text}");
    }

    #[test]
    fn script_round_trips_through_json() {
        let script = Script::new().rule(
            Rule::new(Matcher::prompt_contains("x").with_tool_offered("StructuredOutput"))
                .tool_use("StructuredOutput", serde_json::json!({"a": 1}))
                .times(3)
                .chunk_bytes(7),
        );
        let text = serde_json::to_string(&script).unwrap();
        assert_eq!(Script::from_json_str(&text).unwrap(), script);
    }
}
