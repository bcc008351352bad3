//! Turning a scripted reply into the Messages API wire format.
//!
//! The same assistant message is rendered either as one JSON object
//! (non-streaming) or as the SSE event sequence the CLI parses
//! (`message_start`, per block `content_block_start` / `_delta` / `_stop`,
//! `message_delta`, `message_stop`).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::reply::Block;
use super::script::Rule;

/// A fully resolved assistant message (ids assigned, filler expanded).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AssistantMessage {
    pub(crate) id: String,
    pub(crate) model: String,
    pub(crate) blocks: Vec<OutBlock>,
    pub(crate) stop_reason: String,
    pub(crate) input_tokens: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OutBlock {
    Text(String),
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
}

impl AssistantMessage {
    /// Resolves `blocks` of `rule`; `next_id` hands out unique numbers for ids.
    pub(crate) fn build(
        rule: &Rule,
        blocks: &[Block],
        model: &str,
        input_tokens: u64,
        mut next_id: impl FnMut() -> u64,
    ) -> Self {
        let blocks: Vec<OutBlock> = blocks
            .iter()
            .map(|block| match block {
                Block::Text(text) => OutBlock::Text(text.clone()),
                Block::FillerText(bytes) => OutBlock::Text(filler_text(*bytes)),
                Block::ToolUse(call) => OutBlock::ToolUse {
                    id: call
                        .id
                        .clone()
                        .unwrap_or_else(|| format!("toolu_agentpod_{}", next_id())),
                    name: call.name.clone(),
                    input: call.input.clone(),
                },
            })
            .collect();
        let has_tool_use = blocks
            .iter()
            .any(|block| matches!(block, OutBlock::ToolUse { .. }));
        let stop_reason = rule
            .stop_reason
            .clone()
            .unwrap_or_else(|| if has_tool_use { "tool_use" } else { "end_turn" }.to_owned());
        Self {
            id: format!("msg_agentpod_{}", next_id()),
            model: model.to_owned(),
            blocks,
            stop_reason,
            input_tokens,
        }
    }

    /// A rough token count: one token per four bytes of output, at least one.
    fn output_tokens(&self) -> u64 {
        let bytes: usize = self
            .blocks
            .iter()
            .map(|block| match block {
                OutBlock::Text(text) => text.len(),
                OutBlock::ToolUse { input, .. } => input.to_string().len(),
            })
            .sum();
        u64::try_from(bytes / 4).unwrap_or(u64::MAX).max(1)
    }

    fn usage(&self, output_tokens: u64) -> Value {
        json!({
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": output_tokens,
        })
    }

    /// The non-streaming response body.
    pub(crate) fn to_json(&self) -> Value {
        let content: Vec<Value> = self
            .blocks
            .iter()
            .map(|block| match block {
                OutBlock::Text(text) => json!({"type": "text", "text": text}),
                OutBlock::ToolUse { id, name, input } => {
                    json!({"type": "tool_use", "id": id, "name": name, "input": input})
                }
            })
            .collect();
        json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": self.stop_reason,
            "stop_sequence": null,
            "usage": self.usage(self.output_tokens()),
        })
    }

    /// The SSE events `(event name, data)` of the streaming response.
    pub(crate) fn to_sse_events(&self, chunk_bytes: usize) -> Vec<(&'static str, Value)> {
        let mut events = vec![(
            "message_start",
            json!({"type": "message_start", "message": {
                "id": self.id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": self.usage(1),
            }}),
        )];
        for (index, block) in self.blocks.iter().enumerate() {
            let (start, delta_type, delta_field, payload) = match block {
                OutBlock::Text(text) => (
                    json!({"type": "text", "text": ""}),
                    "text_delta",
                    "text",
                    text.clone(),
                ),
                OutBlock::ToolUse { id, name, input } => (
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                    "input_json_delta",
                    "partial_json",
                    input.to_string(),
                ),
            };
            events.push((
                "content_block_start",
                json!({"type": "content_block_start", "index": index, "content_block": start}),
            ));
            for piece in split_at_char_boundaries(&payload, chunk_bytes) {
                events.push((
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index,
                           "delta": {"type": delta_type, delta_field: piece}}),
                ));
            }
            events.push((
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ));
        }
        events.push((
            "message_delta",
            json!({"type": "message_delta",
                   "delta": {"stop_reason": self.stop_reason, "stop_sequence": null},
                   "usage": {"output_tokens": self.output_tokens()}}),
        ));
        events.push(("message_stop", json!({"type": "message_stop"})));
        events
    }
}

/// Splits `text` into pieces of at most `max_bytes` (more only to finish a
/// multi-byte character), never splitting a character.
pub(crate) fn split_at_char_boundaries(text: &str, max_bytes: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = max_bytes.max(1).min(rest.len());
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// Exactly `bytes` bytes of ASCII lines `filler line 000001 …\n`, so a test can
/// check that a long output arrived whole and in order.
pub(crate) fn filler_text(bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 64);
    let mut line = 1_u64;
    while text.len() < bytes {
        // Writing to a String cannot fail.
        let _ = writeln!(
            text,
            "filler line {line:06} the quick brown fox jumps over the lazy dog"
        );
        line += 1;
    }
    text.truncate(bytes);
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Matcher, ToolUse};

    fn message(blocks: &[Block]) -> AssistantMessage {
        let mut counter = 0;
        AssistantMessage::build(&Rule::new(Matcher::any()), blocks, "m", 10, || {
            counter += 1;
            counter
        })
    }

    #[test]
    fn splitting_never_cuts_a_character() {
        let text = "aé€😀b".repeat(5);
        for size in 1..8 {
            let pieces = split_at_char_boundaries(&text, size);
            assert_eq!(pieces.concat(), text);
            assert!(pieces.iter().all(|p| !p.is_empty()));
        }
        assert!(split_at_char_boundaries("", 4).is_empty());
    }

    #[test]
    fn filler_has_exact_length_and_numbered_lines() {
        let text = filler_text(10_000);
        assert_eq!(text.len(), 10_000);
        assert!(text.starts_with("filler line 000001 "));
        assert!(text.contains("filler line 000100 "));
    }

    #[test]
    fn tool_use_sets_stop_reason_and_streams_input_json() {
        let msg = message(&[
            Block::Text("running".into()),
            Block::ToolUse(ToolUse::new("Bash", json!({"command": "echo hi"}))),
        ]);
        assert_eq!(msg.stop_reason, "tool_use");
        let events = msg.to_sse_events(5);
        let names: Vec<&str> = events.iter().map(|(name, _)| *name).collect();
        assert_eq!(names.first(), Some(&"message_start"));
        assert_eq!(names.last(), Some(&"message_stop"));
        let partial: String = events
            .iter()
            .filter(|(_, data)| data["index"] == 1 && data["type"] == "content_block_delta")
            .map(|(_, data)| data["delta"]["partial_json"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            serde_json::from_str::<Value>(&partial).unwrap(),
            json!({"command": "echo hi"})
        );
        assert_eq!(msg.to_json()["content"][1]["name"], "Bash");
    }

    #[test]
    fn text_only_message_ends_turn() {
        let msg = message(&[Block::Text("4".into())]);
        assert_eq!(msg.stop_reason, "end_turn");
        assert_eq!(msg.to_json()["content"][0]["text"], "4");
    }
}
