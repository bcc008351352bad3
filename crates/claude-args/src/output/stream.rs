//! Line-by-line reading of the CLI's output with bounded memory.
//!
//! A transport feeds log chunks as they arrive; chunks may split lines anywhere (even inside a
//! UTF-8 character), so bytes are buffered until a newline. Memory stays bounded: a line longer
//! than the line limit is skipped (counted, never buffered whole), only the last `result`
//! document is kept, and retained events are capped by size, oldest dropped first. Consumers
//! that want every event drain them with [`StreamParser::take_events`] as they go.

use std::collections::VecDeque;

use serde_json::Value;

use super::result::{StreamContext, interpret_result};
use super::{ClaudeOutput, StreamEvent};
use crate::ClaudeArgsError;

/// Default longest line kept (16 MiB): far above a result with a maximal answer.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 * 1024 * 1024;
/// Default budget for retained events (16 MiB).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// Incremental parser for `--output-format json` and `stream-json` output.
///
/// ```
/// use agentpod_claude_args::{StreamEvent, StreamParser};
///
/// let mut parser = StreamParser::new(false);
/// // Chunks split lines anywhere; noise lines are skipped.
/// parser.feed(b"warning: something on stderr\n{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"te");
/// parser.feed(b"xt\",\"text\":\"4\"}]}}\n{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"4\"}\n");
/// let out = parser.finish().unwrap();
/// assert_eq!(out.text, "4");
/// assert_eq!(out.events, [StreamEvent::AssistantText { text: "4".into() }]);
/// ```
#[derive(Debug)]
pub struct StreamParser {
    schema_requested: bool,
    max_line_bytes: usize,
    max_event_bytes: usize,
    partial: Vec<u8>,
    skipping_long_line: bool,
    events: VecDeque<(StreamEvent, usize)>,
    event_bytes: usize,
    dropped_events: usize,
    last_result: Option<Value>,
    init_model: Option<String>,
    json_lines: usize,
    other_lines: usize,
}

impl StreamParser {
    /// A parser with the default limits. `schema_requested`: whether the run asked for
    /// `--json-schema` (a result without structured output is then an error).
    pub fn new(schema_requested: bool) -> Self {
        StreamParser {
            schema_requested,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            partial: Vec::new(),
            skipping_long_line: false,
            events: VecDeque::new(),
            event_bytes: 0,
            dropped_events: 0,
            last_result: None,
            init_model: None,
            json_lines: 0,
            other_lines: 0,
        }
    }

    /// Sets the longest line kept and the byte budget for retained events.
    ///
    /// ```
    /// use agentpod_claude_args::StreamParser;
    ///
    /// let mut parser = StreamParser::new(false).with_limits(64, 1024);
    /// parser.feed(&[b'x'; 1000]); // never buffered beyond 64 bytes
    /// parser.feed(b"\n{\"type\":\"result\",\"subtype\":\"success\",\"result\":\"ok\"}\n");
    /// assert_eq!(parser.finish().unwrap().text, "ok");
    /// ```
    pub fn with_limits(mut self, max_line_bytes: usize, max_event_bytes: usize) -> Self {
        self.max_line_bytes = max_line_bytes;
        self.max_event_bytes = max_event_bytes;
        self
    }

    /// Feeds the next chunk of output.
    pub fn feed(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(newline);
            rest = &tail[1..];
            if self.skipping_long_line || self.partial.len() + head.len() > self.max_line_bytes {
                self.skipping_long_line = false;
                self.partial = Vec::new();
                self.other_lines += 1;
            } else if self.partial.is_empty() {
                self.process_line(head);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(head);
                self.process_line(&line);
            }
        }
        if self.skipping_long_line {
            return;
        }
        if self.partial.len() + rest.len() > self.max_line_bytes {
            self.skipping_long_line = true;
            self.partial = Vec::new();
        } else {
            self.partial.extend_from_slice(rest);
        }
    }

    /// Removes and returns the events retained so far (for live progress).
    pub fn take_events(&mut self) -> Vec<StreamEvent> {
        self.event_bytes = 0;
        self.events.drain(..).map(|(event, _)| event).collect()
    }

    /// Whether a `result` document has been seen.
    pub fn has_result(&self) -> bool {
        self.last_result.is_some()
    }

    /// Ends the input (a last line without newline counts) and returns the run's outcome.
    ///
    /// ```
    /// use agentpod_claude_args::{ClaudeArgsError, StreamParser};
    ///
    /// let mut parser = StreamParser::new(false);
    /// parser.feed(b"error: unknown option '--bogus'\n");
    /// assert!(matches!(parser.finish(), Err(ClaudeArgsError::MissingResult { other_lines: 1, .. })));
    /// ```
    pub fn finish(mut self) -> Result<ClaudeOutput, ClaudeArgsError> {
        if self.skipping_long_line {
            self.other_lines += 1;
        } else if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.process_line(&line);
        }
        let Some(result) = self.last_result.take() else {
            return Err(ClaudeArgsError::MissingResult {
                json_lines: self.json_lines,
                other_lines: self.other_lines,
            });
        };
        let events = self.take_events();
        let context = StreamContext {
            init_model: self.init_model,
            events,
            dropped_events: self.dropped_events,
        };
        interpret_result(result, self.schema_requested, context)
    }

    fn process_line(&mut self, line: &[u8]) {
        let line = line.trim_ascii();
        if line.is_empty() {
            return;
        }
        let Ok(value) = serde_json::from_slice::<Value>(line) else {
            self.other_lines += 1;
            return;
        };
        self.json_lines += 1;
        match value.get("type").and_then(Value::as_str) {
            Some("result") => self.last_result = Some(value),
            Some("system") if value.get("subtype").and_then(Value::as_str) == Some("init") => {
                if let Some(model) = value.get("model").and_then(Value::as_str) {
                    self.init_model = Some(model.to_owned());
                }
            }
            Some("assistant") => {
                for block in content_blocks(&value) {
                    match block.get("type").and_then(Value::as_str) {
                        Some("text") => {
                            let text = str_field(block, "text");
                            if !text.is_empty() {
                                self.push_event(StreamEvent::AssistantText { text });
                            }
                        }
                        Some("tool_use") => self.push_event(StreamEvent::ToolCall {
                            id: str_field(block, "id"),
                            name: str_field(block, "name"),
                            input: block.get("input").cloned().unwrap_or(Value::Null),
                        }),
                        _ => {}
                    }
                }
            }
            Some("user") => {
                for block in content_blocks(&value) {
                    if block.get("type").and_then(Value::as_str) == Some("tool_result") {
                        self.push_event(StreamEvent::ToolResult {
                            tool_use_id: str_field(block, "tool_use_id"),
                            content: tool_result_text(block.get("content")),
                            is_error: block
                                .get("is_error")
                                .and_then(Value::as_bool)
                                .unwrap_or(false),
                        });
                    }
                }
            }
            _ => {}
        }
    }

    fn push_event(&mut self, event: StreamEvent) {
        let size = event.approx_bytes();
        self.events.push_back((event, size));
        self.event_bytes += size;
        while self.event_bytes > self.max_event_bytes {
            let Some((_, dropped_size)) = self.events.pop_front() else {
                break;
            };
            self.event_bytes -= dropped_size;
            self.dropped_events += 1;
        }
    }
}

/// Parses a whole output (json or stream-json) at once: the convenience form of
/// [`StreamParser`], without size limits since the output is already in memory.
///
/// ```
/// use agentpod_claude_args::{ClaudeArgsError, parse_output};
///
/// let not_logged_in = r#"{"type":"result","subtype":"success","is_error":true,"result":"Not logged in · Please run /login","terminal_reason":"api_error","api_error_status":null}"#;
/// let err = parse_output(not_logged_in, false).unwrap_err();
/// assert!(matches!(err, ClaudeArgsError::Api { status: None, .. }));
/// ```
pub fn parse_output(stdout: &str, schema_requested: bool) -> Result<ClaudeOutput, ClaudeArgsError> {
    let mut parser = StreamParser::new(schema_requested).with_limits(usize::MAX, usize::MAX);
    parser.feed(stdout.as_bytes());
    parser.finish()
}

fn content_blocks(message_line: &Value) -> impl Iterator<Item = &Value> {
    message_line
        .get("message")
        .and_then(|message| message.get("content"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn str_field(block: &Value, field: &str) -> String {
    block
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A tool result's content is a string or a list of blocks; text blocks are joined.
fn tool_result_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|block| block.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESULT: &str = r#"{"type":"result","subtype":"success","is_error":false,"result":"ok"}"#;

    #[test]
    fn every_split_point_gives_the_same_outcome() {
        let output = format!(
            "{}\n\nnoise\n{}\n",
            r#"{"type":"assistant","message":{"content":[{"type":"text","text":"héllo"}]}}"#,
            RESULT
        );
        let bytes = output.as_bytes();
        for split in 0..=bytes.len() {
            let mut parser = StreamParser::new(false);
            parser.feed(&bytes[..split]);
            parser.feed(&bytes[split..]);
            let out = parser.finish().unwrap();
            assert_eq!(out.text, "ok", "split at {split}");
            assert_eq!(out.events.len(), 1, "split at {split}");
        }
    }

    #[test]
    fn last_result_wins_and_missing_final_newline_is_fine() {
        let output = format!(
            "{}\n{}",
            RESULT.replace("\"ok\"", "\"first\""),
            RESULT.replace("\"ok\"", "\"second\"")
        );
        assert_eq!(parse_output(&output, false).unwrap().text, "second");
    }

    #[test]
    fn no_result_is_a_typed_error_with_line_counts() {
        let err = parse_output(
            "error: unknown option '--x'\n{\"type\":\"system\"}\n",
            false,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            ClaudeArgsError::MissingResult {
                json_lines: 1,
                other_lines: 1
            }
        ));
    }

    #[test]
    fn overlong_lines_are_skipped_without_buffering_them() {
        let mut parser = StreamParser::new(false).with_limits(100, 1000);
        for _ in 0..1000 {
            parser.feed(&[b'a'; 64]);
            assert!(parser.partial.len() <= 100);
        }
        parser.feed(b"\n");
        parser.feed(RESULT.as_bytes());
        let out = parser.finish().unwrap();
        assert_eq!(out.text, "ok");
    }

    #[test]
    fn overlong_result_line_is_missing_not_misparsed() {
        let mut parser = StreamParser::new(false).with_limits(10, 1000);
        parser.feed(RESULT.as_bytes());
        assert!(matches!(
            parser.finish(),
            Err(ClaudeArgsError::MissingResult { other_lines: 1, .. })
        ));
    }

    #[test]
    fn event_budget_drops_oldest_events_and_counts_them() {
        let mut parser = StreamParser::new(false).with_limits(10_000, 400);
        for i in 0..20 {
            let line = format!(
                r#"{{"type":"assistant","message":{{"content":[{{"type":"text","text":"event-{i:02}"}}]}}}}"#
            );
            parser.feed(line.as_bytes());
            parser.feed(b"\n");
        }
        parser.feed(RESULT.as_bytes());
        let out = parser.finish().unwrap();
        assert!(out.dropped_events > 0);
        assert_eq!(out.events.len() + out.dropped_events, 20);
        assert_eq!(
            out.events.last(),
            Some(&StreamEvent::AssistantText {
                text: "event-19".into()
            })
        );
    }

    #[test]
    fn tool_result_blocks_are_joined() {
        assert_eq!(
            tool_result_text(Some(&serde_json::json!([
                {"type":"text","text":"a"},{"type":"image"},{"type":"text","text":"b"}
            ]))),
            "a\nb"
        );
        assert_eq!(tool_result_text(None), "");
    }
}
