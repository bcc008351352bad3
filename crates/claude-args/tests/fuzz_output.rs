//! Fuzzing the output side at scale (proptest): whatever bytes a pod's log or a process's stdout
//! holds — the CLI's real documents, noise lines from stderr, documents cut or twisted, invalid
//! UTF-8, lines far past the limits — parsing never panics, and the outcome does not depend on
//! how the bytes were split into chunks (the log arrives in arbitrary pieces).
//!
//! `AGENTPOD_FUZZ_CASES` raises the number of cases per property (default 512; the long runs
//! use 100 000).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentpod_claude_args::{StreamParser, parse_output};
use proptest::prelude::*;
use serde_json::json;

fn cases() -> u32 {
    std::env::var("AGENTPOD_FUZZ_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(512)
}

/// Text that stresses JSON string handling.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("4".to_owned()),
        Just("\"quoted\" \\ back\nslash".to_owned()),
        Just("```json\n{\"answer\": 4}\n```".to_owned()),
        Just("é語🙂\u{0}\u{1f}".to_owned()),
        any::<String>(),
    ]
}

/// One document the CLI prints in stream-json, with fuzzed values.
fn document() -> impl Strategy<Value = String> {
    prop_oneof![
        (text(), text()).prop_map(|(session, model)| json!({
            "type": "system", "subtype": "init", "session_id": session, "model": model,
            "tools": ["Bash"], "cwd": "/w"
        })
        .to_string()),
        text().prop_map(|t| json!({
            "type": "assistant",
            "message": {"role": "assistant", "content": [{"type": "text", "text": t}]}
        })
        .to_string()),
        (text(), text()).prop_map(|(id, command)| json!({
            "type": "assistant",
            "message": {"role": "assistant", "content": [
                {"type": "tool_use", "id": id, "name": "Bash", "input": {"command": command}}
            ]}
        })
        .to_string()),
        (text(), text(), any::<bool>()).prop_map(|(id, content, is_error)| json!({
            "type": "user",
            "message": {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": id, "content": content, "is_error": is_error}
            ]}
        })
        .to_string()),
        (
            prop_oneof![
                Just("success"),
                Just("error_max_turns"),
                Just("error_max_budget_usd"),
                Just("error_during_execution"),
                Just("bogus")
            ],
            any::<bool>(),
            text(),
            any::<f64>(),
            any::<u32>(),
        )
            .prop_map(|(subtype, is_error, result, cost, turns)| json!({
                "type": "result", "subtype": subtype, "is_error": is_error, "result": result,
                "total_cost_usd": cost, "num_turns": turns, "session_id": "s",
                "usage": {"input_tokens": turns, "output_tokens": 1},
                "structured_output": {"answer": turns}
            })
            .to_string()),
        // Right type, wrong shapes.
        Just(r#"{"type":"result","result":5,"is_error":"yes","num_turns":-1}"#.to_owned()),
        Just(r#"{"type":"assistant","message":{"content":"not a list"}}"#.to_owned()),
        Just(r#"{"type":"user","message":null}"#.to_owned()),
        Just(r#"{"type":7}"#.to_owned()),
        Just("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]".to_owned()),
        // stderr noise merged into the log (Kubernetes 1.20), and plain garbage.
        Just("(node:1) Warning: something deprecated".to_owned()),
        Just("error: unknown option '--bogus'".to_owned()),
        any::<String>(),
    ]
}

/// A whole output: documents, each possibly cut short, joined by newlines or CRLF, plus
/// stray bytes (invalid UTF-8 included).
fn output() -> impl Strategy<Value = Vec<u8>> {
    let line = (document(), any::<bool>(), 0usize..64).prop_map(|(doc, cut, at)| {
        let mut bytes = doc.into_bytes();
        if cut && at < bytes.len() {
            bytes.truncate(at);
        }
        bytes
    });
    let piece = prop_oneof![
        8 => line,
        1 => proptest::collection::vec(any::<u8>(), 0..32),
    ];
    (
        proptest::collection::vec(
            (piece, prop_oneof![Just(&b"\n"[..]), Just(&b"\r\n"[..])]),
            0..12,
        ),
        any::<bool>(),
    )
        .prop_map(|(pieces, trailing_newline)| {
            let mut out = Vec::new();
            for (piece, end) in pieces {
                out.extend_from_slice(&piece);
                out.extend_from_slice(end);
            }
            if !trailing_newline {
                out.pop();
            }
            out
        })
}

/// Parses `bytes` fed in pieces cut at `cuts`; with `limits`, events are taken only at the end
/// (taking them frees the retained-events budget, so taking along the way keeps more).
fn parse_in_chunks(bytes: &[u8], cuts: &[usize], limits: Option<(usize, usize)>) -> String {
    let mut parser = StreamParser::new(false);
    if let Some((line, event)) = limits {
        parser = parser.with_limits(line, event);
    }
    let mut points: Vec<usize> = cuts.iter().map(|cut| cut % (bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut events = Vec::new();
    let mut from = 0;
    for point in points.into_iter().chain([bytes.len()]) {
        parser.feed(&bytes[from..point]);
        if limits.is_none() {
            events.extend(parser.take_events());
        }
        from = point;
    }
    events.extend(parser.take_events());
    let outcome = parser.finish();
    format!("{events:?} {outcome:?}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn the_outcome_does_not_depend_on_how_the_log_was_chunked(
        bytes in output(),
        cuts in proptest::collection::vec(any::<usize>(), 0..16),
    ) {
        let whole = parse_in_chunks(&bytes, &[], None);
        prop_assert_eq!(parse_in_chunks(&bytes, &cuts, None), whole);
    }

    #[test]
    fn small_limits_never_panic_and_do_not_depend_on_chunking(
        bytes in output(),
        cuts in proptest::collection::vec(any::<usize>(), 0..16),
        line_limit in 1usize..256,
        event_limit in 1usize..512,
    ) {
        let limits = Some((line_limit, event_limit));
        let whole = parse_in_chunks(&bytes, &[], limits);
        prop_assert_eq!(parse_in_chunks(&bytes, &cuts, limits), whole);
    }

    #[test]
    fn whole_output_parsing_never_panics(bytes in output(), schema in any::<bool>()) {
        // With a schema, a text answer goes through the JSON-in-text extraction too.
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_output(&text, schema);
    }
}
