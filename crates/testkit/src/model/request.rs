//! What the endpoint records about each request, and how it reads a Messages body.
//!
//! Matching and assertions use the same reading of a request (prompt, tool
//! results, offered tools), so a test asserts on exactly what the script saw.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One HTTP request the endpoint received (control paths under `/_agentpod/` excluded).
///
/// Serialized as-is by `GET /_agentpod/requests`, so another process can
/// deserialize the list into `Vec<RecordedRequest>`.
///
/// ```
/// use agentpod_testkit::model::RecordedRequest;
/// let recorded: RecordedRequest = serde_json::from_value(serde_json::json!({
///     "method": "POST", "path": "/v1/messages", "query": "beta=true", "headers": {},
///     "body": {"stream": true, "messages": [{"role": "user", "content": "hi"}]},
///     "matched_rule": null
/// })).unwrap();
/// assert!(recorded.is_messages());
/// assert_eq!(recorded.prompt().as_deref(), Some("hi"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// HTTP method (`HEAD`, `POST`, …).
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Raw query string (`beta=true`), if any.
    pub query: Option<String>,
    /// Request headers, lower-cased names, minus connection plumbing
    /// (`host`, `connection`, `content-length`, `accept-encoding`).
    pub headers: BTreeMap<String, String>,
    /// Body parsed as JSON; a non-JSON body is kept as a JSON string; `None` when empty.
    pub body: Option<Value>,
    /// Index of the script rule that answered, `None` for the fallback or non-Messages paths.
    pub matched_rule: Option<usize>,
}

impl RecordedRequest {
    /// True for `POST /v1/messages` (the model call, streaming or not).
    ///
    /// ```
    /// # use agentpod_testkit::model::RecordedRequest;
    /// # let r = RecordedRequest { method: "HEAD".into(), path: "/api/hello".into(), query: None,
    /// #     headers: Default::default(), body: None, matched_rule: None };
    /// assert!(!r.is_messages());
    /// ```
    pub fn is_messages(&self) -> bool {
        self.method == "POST" && self.path == "/v1/messages"
    }

    /// Header value by lower-case name.
    ///
    /// ```
    /// # use agentpod_testkit::model::RecordedRequest;
    /// # let r = RecordedRequest { method: "POST".into(), path: "/v1/messages".into(), query: None,
    /// #     headers: [("x-api-key".to_string(), "test".to_string())].into(), body: None, matched_rule: None };
    /// assert_eq!(r.header("x-api-key"), Some("test"));
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// Whether the body asked for an SSE stream (`"stream": true`).
    ///
    /// ```
    /// # use agentpod_testkit::model::RecordedRequest;
    /// # let r = RecordedRequest { method: "POST".into(), path: "/v1/messages".into(), query: None,
    /// #     headers: Default::default(), body: Some(serde_json::json!({"stream": true})), matched_rule: None };
    /// assert!(r.is_streaming());
    /// ```
    pub fn is_streaming(&self) -> bool {
        self.view().is_some_and(|view| view.is_streaming())
    }

    /// The prompt as rules see it (see [`Matcher`](super::Matcher)).
    ///
    /// ```
    /// # use agentpod_testkit::model::RecordedRequest;
    /// # let r = RecordedRequest { method: "POST".into(), path: "/v1/messages".into(), query: None,
    /// #     headers: Default::default(), matched_rule: None, body: Some(serde_json::json!(
    /// #     {"messages": [{"role": "user", "content": [{"type": "text", "text": "what is 2+2"}]}]})) };
    /// assert_eq!(r.prompt().as_deref(), Some("what is 2+2"));
    /// ```
    pub fn prompt(&self) -> Option<String> {
        self.view().and_then(|view| view.prompt())
    }

    /// `tool_result` blocks of the last message (what the CLI sends after running a tool).
    ///
    /// ```
    /// # use agentpod_testkit::model::RecordedRequest;
    /// # let r = RecordedRequest { method: "POST".into(), path: "/v1/messages".into(), query: None,
    /// #     headers: Default::default(), matched_rule: None, body: Some(serde_json::json!(
    /// #     {"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
    /// #       "content": [{"type": "text", "text": "hi\n"}]}]}]})) };
    /// let results = r.tool_results();
    /// assert_eq!(results[0].tool_use_id, "t1");
    /// assert_eq!(results[0].content, "hi\n");
    /// ```
    pub fn tool_results(&self) -> Vec<ToolResult> {
        self.view()
            .map(|view| view.last_tool_results())
            .unwrap_or_default()
    }

    /// Names of the tools the request offered to the model.
    ///
    /// ```
    /// # use agentpod_testkit::model::RecordedRequest;
    /// # let r = RecordedRequest { method: "POST".into(), path: "/v1/messages".into(), query: None,
    /// #     headers: Default::default(), matched_rule: None,
    /// #     body: Some(serde_json::json!({"tools": [{"name": "Bash"}]})) };
    /// assert_eq!(r.tool_names(), vec!["Bash".to_string()]);
    /// ```
    pub fn tool_names(&self) -> Vec<String> {
        self.view()
            .map(|view| view.tool_names())
            .unwrap_or_default()
    }

    /// The `model` field of the body.
    ///
    /// ```
    /// # use agentpod_testkit::model::RecordedRequest;
    /// # let r = RecordedRequest { method: "POST".into(), path: "/v1/messages".into(), query: None,
    /// #     headers: Default::default(), matched_rule: None,
    /// #     body: Some(serde_json::json!({"model": "claude-sonnet-5-5"})) };
    /// assert_eq!(r.model(), Some("claude-sonnet-5-5"));
    /// ```
    pub fn model(&self) -> Option<&str> {
        self.body.as_ref()?.get("model")?.as_str()
    }

    fn view(&self) -> Option<MessagesView<'_>> {
        self.body.as_ref().map(MessagesView::new)
    }
}

/// A `tool_result` block the CLI sent back, with its content flattened to text.
///
/// ```
/// let result = agentpod_testkit::model::ToolResult {
///     tool_use_id: "toolu_1".into(), content: "hi\n".into(), is_error: false,
/// };
/// assert!(result.content.starts_with("hi"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolResult {
    /// Id of the `tool_use` block this answers.
    pub tool_use_id: String,
    /// Text content (text parts joined with newlines).
    pub content: String,
    /// The CLI marked the tool run as failed (or denied).
    pub is_error: bool,
}

/// Read-only view of a Messages API request body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MessagesView<'a> {
    body: &'a Value,
}

impl<'a> MessagesView<'a> {
    pub(crate) fn new(body: &'a Value) -> Self {
        Self { body }
    }

    pub(crate) fn is_streaming(&self) -> bool {
        self.body.get("stream").and_then(Value::as_bool) == Some(true)
    }

    pub(crate) fn model(&self) -> Option<&'a str> {
        self.body.get("model").and_then(Value::as_str)
    }

    fn messages(&self) -> &'a [Value] {
        self.body
            .get("messages")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// Text of the latest user message that has text besides system reminders.
    pub(crate) fn prompt(&self) -> Option<String> {
        self.messages()
            .iter()
            .rev()
            .filter(|message| message.get("role").and_then(Value::as_str) == Some("user"))
            .find_map(|message| {
                let texts: Vec<&str> = content_blocks(message)
                    .filter(|block| block_type(block) == Some("text"))
                    .filter_map(|block| block.get("text").and_then(Value::as_str))
                    .filter(|text| !text.trim_start().starts_with("<system-reminder>"))
                    .collect();
                let text = match message.get("content") {
                    Some(Value::String(text)) => text.clone(),
                    _ => texts.join("\n"),
                };
                (!text.is_empty()).then_some(text)
            })
    }

    /// `tool_result` blocks of the last message.
    pub(crate) fn last_tool_results(&self) -> Vec<ToolResult> {
        let Some(last) = self.messages().last() else {
            return Vec::new();
        };
        content_blocks(last)
            .filter(|block| block_type(block) == Some("tool_result"))
            .map(|block| ToolResult {
                tool_use_id: block
                    .get("tool_use_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                content: flatten_text(block.get("content")),
                is_error: block.get("is_error").and_then(Value::as_bool) == Some(true),
            })
            .collect()
    }

    pub(crate) fn tool_names(&self) -> Vec<String> {
        self.body
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|tool| tool.get("name").and_then(Value::as_str))
            .map(str::to_owned)
            .collect()
    }
}

fn content_blocks(message: &Value) -> impl Iterator<Item = &Value> {
    message
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn block_type(block: &Value) -> Option<&str> {
    block.get("type").and_then(Value::as_str)
}

fn flatten_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prompt_skips_system_reminders_and_survives_tool_result_turns() {
        let body = json!({"messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>\nattribution\n</system-reminder>\n"},
                {"type": "text", "text": "run echo hi"}
            ]},
            {"role": "system", "content": [{"type": "text", "text": "# Environment"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "hi"}]}
        ]});
        let view = MessagesView::new(&body);
        assert_eq!(view.prompt().as_deref(), Some("run echo hi"));
        let results = view.last_tool_results();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].content, "hi");
        assert!(!results[0].is_error);
    }

    #[test]
    fn tool_results_only_come_from_the_last_message() {
        let body = json!({"messages": [
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "old"}]},
            {"role": "user", "content": "next question"}
        ]});
        let view = MessagesView::new(&body);
        assert!(view.last_tool_results().is_empty());
        assert_eq!(view.prompt().as_deref(), Some("next question"));
    }
}
