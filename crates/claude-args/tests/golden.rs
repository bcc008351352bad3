//! Golden tests: outputs printed by the real CLI 2.1.328 (see `fixtures/README.md`) must parse
//! into exactly these typed values.

// Helpers outside `#[test]` functions panic on purpose: a broken fixture or shell must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentpod_claude_args::{ClaudeArgsError, StreamEvent, StreamParser, TokenUsage, parse_output};
use serde_json::json;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn success_json_gives_text_usage_model_and_session() {
    let out = parse_output(&fixture("result-success.json"), false).unwrap();
    assert_eq!(out.text, "4");
    assert_eq!(out.structured, None);
    assert_eq!(
        out.stats.session_id.as_deref(),
        Some("6593f3bc-5111-4222-b3a5-016bad56cb19")
    );
    assert_eq!(out.stats.total_cost_usd, 0.000054);
    assert_eq!(
        out.stats.tokens,
        TokenUsage {
            input_tokens: 12,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
            output_tokens: 3
        }
    );
    assert_eq!(out.stats.num_turns, 1);
    assert_eq!(out.stats.model.as_deref(), Some("claude-sonnet-5-5"));
    assert_eq!(
        (out.stats.duration_ms, out.stats.duration_api_ms),
        (160, 30)
    );
    assert!(out.permission_denials.is_empty());
    assert!(out.events.is_empty());
}

#[test]
fn not_logged_in_is_an_error_despite_success_subtype() {
    for name in [
        "result-not-logged-in.json",
        "stream-json-not-logged-in.jsonl",
    ] {
        let err = parse_output(&fixture(name), false).unwrap_err();
        match &err {
            ClaudeArgsError::Api {
                status,
                error_type,
                message,
                stats,
            } => {
                assert_eq!(*status, None, "{name}");
                assert_eq!(*error_type, None, "{name}");
                assert_eq!(message, "Not logged in · Please run /login", "{name}");
                assert_eq!(stats.total_cost_usd, 0.0, "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn api_error_keeps_status_and_type() {
    let err = parse_output(&fixture("result-api-error-401.json"), false).unwrap_err();
    assert!(
        matches!(
            &err,
            ClaudeArgsError::Api { status: Some(401), error_type: Some(t), message, .. }
                if t == "authentication_error" && message == "Invalid API key · Fix external API key"
        ),
        "{err:?}"
    );
}

#[test]
fn max_turns_is_distinct_and_keeps_partial_usage() {
    let err = parse_output(&fixture("result-error-max-turns.json"), false).unwrap_err();
    let ClaudeArgsError::MaxTurns { message, stats } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(message, "Reached maximum number of turns (1)");
    assert_eq!(stats.total_cost_usd, 0.0002864);
    assert_eq!(stats.num_turns, 2);
    assert!(stats.tokens.output_tokens > 0);
    assert_eq!(err.run_stats(), Some(&**stats));
}

#[test]
fn max_budget_is_distinct_and_keeps_partial_usage() {
    let err = parse_output(&fixture("result-error-max-budget.json"), false).unwrap_err();
    let ClaudeArgsError::MaxBudget { message, stats } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(message, "Reached maximum budget ($1e-7)");
    assert_eq!(stats.total_cost_usd, 0.0002864);
    assert_eq!(stats.model.as_deref(), Some("claude-opus-5-5"));
    // `usage` is all zeros in this document; the per-model totals keep the real spend.
    assert_eq!(
        stats.tokens,
        TokenUsage {
            input_tokens: 20,
            cache_creation_input_tokens: 5,
            cache_read_input_tokens: 7,
            output_tokens: 9
        }
    );
}

#[test]
fn schema_without_structured_output_is_a_schema_error_with_usage() {
    let text = fixture("result-json-schema-no-tool-call.json");
    let err = parse_output(&text, true).unwrap_err();
    let ClaudeArgsError::SchemaMissing {
        text: answer,
        stats,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(answer, "4");
    assert_eq!(stats.tokens.input_tokens, 24);
    assert_eq!(stats.total_cost_usd, 0.000108);
    // Without a schema the same document is a plain success.
    assert_eq!(parse_output(&text, false).unwrap().text, "4");
}

#[test]
fn structured_output_field_is_used() {
    let out = parse_output(&fixture("result-structured-output.json"), true).unwrap();
    assert_eq!(out.structured, Some(json!({"answer": 4})));
    assert_eq!(out.text, r#"{"answer":4}"#);
}

#[test]
fn stream_success_gives_events_and_init_model() {
    let out = parse_output(&fixture("stream-json-success.jsonl"), false).unwrap();
    assert_eq!(out.text, "4");
    assert_eq!(
        out.events,
        [StreamEvent::AssistantText { text: "4".into() }]
    );
    assert_eq!(out.stats.model.as_deref(), Some("claude-sonnet-5-5"));
    assert_eq!(
        out.stats.session_id.as_deref(),
        Some("d270a159-f02a-4423-8114-d2aafcf383f3")
    );
}

#[test]
fn stream_tool_call_gives_call_result_and_cache_tokens() {
    let out = parse_output(&fixture("stream-json-tool-call.jsonl"), false).unwrap();
    assert_eq!(
        out.events,
        [
            StreamEvent::AssistantText {
                text: "Let me look.".into()
            },
            StreamEvent::ToolCall {
                id: "toolu_01".into(),
                name: "Bash".into(),
                input: json!({"command": "echo hi-from-tool", "description": "Print a greeting"}),
            },
            StreamEvent::ToolResult {
                tool_use_id: "toolu_01".into(),
                content: "hi-from-tool".into(),
                is_error: false,
            },
            StreamEvent::AssistantText {
                text: "Done: hi-from-tool".into()
            },
        ]
    );
    assert_eq!(out.text, "Done: hi-from-tool");
    assert_eq!(out.stats.num_turns, 2);
    assert_eq!(
        out.stats.tokens,
        TokenUsage {
            input_tokens: 40,
            cache_creation_input_tokens: 10,
            cache_read_input_tokens: 14,
            output_tokens: 18
        }
    );
    assert_eq!(out.stats.tokens.total_input_tokens(), 64);
}

#[test]
fn stream_permission_denial_is_reported() {
    let out = parse_output(&fixture("stream-json-permission-denied.jsonl"), false).unwrap();
    assert_eq!(out.permission_denials.len(), 1);
    let denial = &out.permission_denials[0];
    assert_eq!(denial.tool_name, "Bash");
    assert_eq!(denial.tool_use_id, "toolu_01");
    assert_eq!(
        denial.tool_input["command"],
        "touch /tmp/capture/ws/created-by-tool"
    );
    let refused = out
        .events
        .iter()
        .find_map(|event| match event {
            StreamEvent::ToolResult {
                content, is_error, ..
            } => Some((content.clone(), *is_error)),
            _ => None,
        })
        .unwrap();
    assert!(refused.1, "a refused call is an error result");
    assert!(refused.0.contains("don't ask mode"), "{}", refused.0);
}

#[test]
fn streaming_in_small_chunks_equals_whole_parse() {
    for name in [
        "stream-json-tool-call.jsonl",
        "stream-json-permission-denied.jsonl",
        "stream-json-not-logged-in.jsonl",
    ] {
        let text = fixture(name);
        let whole = parse_output(&text, false);
        let mut parser = StreamParser::new(false);
        for chunk in text.as_bytes().chunks(7) {
            parser.feed(chunk);
        }
        let chunked = parser.finish();
        assert_eq!(format!("{whole:?}"), format!("{chunked:?}"), "{name}");
    }
}

#[test]
fn stderr_noise_around_the_json_result_is_tolerated() {
    let noisy = format!(
        "Warning: something\n\n{}\nError: trailing noise\n",
        fixture("result-success.json").trim()
    );
    assert_eq!(parse_output(&noisy, false).unwrap().text, "4");
}
