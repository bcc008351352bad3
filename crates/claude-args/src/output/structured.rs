//! Finding a JSON answer in free text.
//!
//! With `--json-schema` the CLI normally returns the validated value in `structured_output`.
//! When the model answers in text instead, the value is often still there: as the whole text, in
//! a fenced code block, or surrounded by prose. Only objects and arrays count: a bare `4` or
//! `"yes"` is prose, not a structured answer.

use serde_json::Value;

/// The JSON object or array in `text`: the whole text, else the first fenced code block that
/// holds one, else the span from the first `{` to the last `}`.
///
/// ```
/// use agentpod_claude_args::output::extract_json_from_text;
/// use serde_json::json;
///
/// assert_eq!(extract_json_from_text(r#"{"a":1}"#), Some(json!({"a":1})));
/// assert_eq!(extract_json_from_text("Here:\n```json\n[1,2]\n```\n"), Some(json!([1, 2])));
/// assert_eq!(extract_json_from_text(r#"The answer is {"a":{"b":2}}."#), Some(json!({"a":{"b":2}})));
/// assert_eq!(extract_json_from_text("4"), None);
/// ```
pub fn extract_json_from_text(text: &str) -> Option<Value> {
    parse_container(text)
        .or_else(|| fenced_blocks(text).find_map(parse_container))
        .or_else(|| outermost_braces(text).and_then(parse_container))
}

fn parse_container(candidate: &str) -> Option<Value> {
    match serde_json::from_str(candidate.trim()) {
        Ok(value @ (Value::Object(_) | Value::Array(_))) => Some(value),
        _ => None,
    }
}

/// The bodies of ``` fenced blocks (an info string such as `json` after the opening fence is
/// skipped).
fn fenced_blocks(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let open = rest.find("```")?;
        let after_open = &rest[open + 3..];
        let body_start = after_open.find('\n').map_or(after_open.len(), |i| i + 1);
        let body = &after_open[body_start..];
        let close = body.find("```")?;
        rest = &body[close + 3..];
        Some(&body[..close])
    })
}

fn outermost_braces(text: &str) -> Option<&str> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    (start < end).then(|| &text[start..=end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_text_with_whitespace() {
        assert_eq!(
            extract_json_from_text("\n  {\"ok\": true}\n"),
            Some(json!({"ok": true}))
        );
    }

    #[test]
    fn second_fence_is_used_when_the_first_is_not_json() {
        let text = "```sh\nls -l\n```\nthen\n```json\n{\"n\": 3}\n```";
        assert_eq!(extract_json_from_text(text), Some(json!({"n": 3})));
    }

    #[test]
    fn fence_without_info_string() {
        assert_eq!(
            extract_json_from_text("```\n{\"n\": 1}\n```"),
            Some(json!({"n": 1}))
        );
    }

    #[test]
    fn unclosed_fence_falls_back_to_braces() {
        assert_eq!(
            extract_json_from_text("```json\n{\"n\": 1}"),
            Some(json!({"n": 1}))
        );
    }

    #[test]
    fn scalars_prose_and_broken_json_give_nothing() {
        for text in [
            "4",
            "\"yes\"",
            "true",
            "no json here",
            "{not json}",
            "} {",
            "",
        ] {
            assert_eq!(extract_json_from_text(text), None, "{text:?}");
        }
    }

    #[test]
    fn braces_inside_strings_do_not_confuse_the_outer_span() {
        assert_eq!(
            extract_json_from_text(r#"Result: {"s": "a } b"} done"#),
            Some(json!({"s": "a } b"}))
        );
    }
}
