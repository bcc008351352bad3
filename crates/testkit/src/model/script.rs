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
use super::matcher::Matcher;
use super::reply::{HttpError, Reply, StreamError, ToolUse};

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
    /// Breaks a streamed answer with an SSE `error` event (like an overload mid-stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_error: Option<StreamError>,
    /// Cuts a streamed answer after this many events: the connection is aborted with no
    /// `error` event and no end of the chunked body (a proxy or network dropping it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_after_events: Option<usize>,
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

    /// When streaming, sends an `overloaded_error` SSE event after `events` events and ends the stream.
    ///
    /// ```
    /// use agentpod_testkit::model::{Matcher, Rule};
    /// let rule = Rule::new(Matcher::any()).text("cut short").stream_error_after(3);
    /// assert_eq!(rule.stream_error.unwrap().after_events, 3);
    /// ```
    #[must_use]
    pub fn stream_error_after(mut self, events: usize) -> Self {
        self.stream_error = Some(StreamError::after(events));
        self
    }

    /// When streaming, aborts the connection after `events` events, mid-message.
    ///
    /// ```
    /// use agentpod_testkit::model::{Matcher, Rule};
    /// let rule = Rule::new(Matcher::any()).text("never finished").cut_after(2);
    /// assert_eq!(rule.cut_after_events, Some(2));
    /// ```
    #[must_use]
    pub fn cut_after(mut self, events: usize) -> Self {
        self.cut_after_events = Some(events);
        self
    }

    /// Answers `200 OK` with `body` where server-sent events belong.
    ///
    /// ```
    /// use agentpod_testkit::model::{Matcher, Reply, Rule};
    /// let rule = Rule::new(Matcher::any()).garbage("not an event stream");
    /// assert!(matches!(rule.reply, Reply::Garbage(_)));
    /// ```
    #[must_use]
    pub fn garbage(self, body: impl Into<String>) -> Self {
        self.reply(Reply::Garbage(body.into()))
    }

    pub(crate) fn effective_chunk_bytes(&self) -> usize {
        self.chunk_bytes.unwrap_or(Self::DEFAULT_CHUNK_BYTES).max(1)
    }
}

fn duration_millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
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
