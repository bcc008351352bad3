//! The real `claude` CLI 2.1.328 against the scripted endpoint on 127.0.0.1.
//!
//! These are the proof that the endpoint speaks what the CLI needs: every test
//! runs the real binary and asserts both on its result and on what the
//! endpoint recorded.

// Helpers here are test code too: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::OnceLock;

use agentpod_testkit::model::{Block, RecordedRequest};
use agentpod_testkit::model::{ClaudeCli, HttpError, Matcher, ModelEndpoint, Reply, Rule, Script};
use serde_json::{Value, json};

/// Installs (once per test binary) or finds the pinned CLI; fails loudly.
fn cli() -> &'static ClaudeCli {
    static CLI: OnceLock<ClaudeCli> = OnceLock::new();
    CLI.get_or_init(|| match ClaudeCli::ensure_installed() {
        Ok(cli) => cli,
        Err(error) => panic!("the real claude CLI is required for these tests: {error}"),
    })
}

struct CliRun {
    exit_code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl CliRun {
    /// The final `result` object (the whole stdout for json, the last line for stream-json).
    fn result(&self) -> Value {
        let line = support::last_line(&self.stdout)
            .unwrap_or_else(|| panic!("claude printed nothing; stderr: {}", self.stderr));
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("result is not JSON ({e}): {line}"));
        assert_eq!(value["type"], "result", "last line is the result: {line}");
        value
    }

    /// The `result` object of a run that must have exited 0.
    fn succeeded(&self) -> Value {
        let result = self.result();
        assert_eq!(self.exit_code, Some(0), "stderr: {}", self.stderr);
        result
    }
}

async fn run_claude(endpoint: &ModelEndpoint, args: &[&str], extra_env: &[(&str, &str)]) -> CliRun {
    let home = tempfile::tempdir().unwrap();
    let mut command = cli().command(&endpoint.base_url(), home.path());
    command.args(args);
    for (name, value) in extra_env {
        command.env(name, value);
    }
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), command.output())
        .await
        .expect("claude finished within 60 s")
        .expect("claude started");
    CliRun {
        exit_code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The `--json-schema` of the structured-output tests.
const ANSWER_SCHEMA: &str =
    r#"{"type":"object","properties":{"answer":{"type":"integer"}},"required":["answer"]}"#;

/// Which rule answered each model turn, in order.
fn matched_rules(endpoint: &ModelEndpoint) -> Vec<Option<usize>> {
    endpoint
        .messages_requests()
        .iter()
        .map(|r| r.matched_rule)
        .collect()
}

fn arithmetic_script() -> Script {
    Script::new().rule(Rule::new(Matcher::prompt_contains("what is 2+2")).text("4"))
}

fn only_model_request(endpoint: &ModelEndpoint) -> RecordedRequest {
    let sent = endpoint.messages_requests();
    assert_eq!(sent.len(), 1, "exactly one model turn: {sent:#?}");
    sent.into_iter().next().unwrap()
}

#[tokio::test]
async fn plain_text_turn_succeeds_with_json_output() {
    let endpoint = support::serve(arithmetic_script()).await;

    let run = run_claude(&endpoint, &support::json_args("what is 2+2", &[]), &[]).await;

    let result = run.succeeded();
    assert_eq!(result["is_error"], false);
    assert_eq!(result["subtype"], "success");
    assert_eq!(result["result"], "4");
    assert_eq!(result["num_turns"], 1);

    // With non-essential traffic off, the CLI skips its `HEAD /api/hello` probe:
    // the model turn is the only request.
    assert_eq!(endpoint.requests().len(), 1, "{:#?}", endpoint.requests());
    let sent = only_model_request(&endpoint);
    assert_eq!(sent.query.as_deref(), Some("beta=true"));
    assert!(sent.is_streaming());
    assert_eq!(sent.prompt().as_deref(), Some("what is 2+2"));
    assert_eq!(sent.matched_rule, Some(0));
    assert_eq!(sent.header("x-api-key"), Some("agentpod-test-key"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert!(sent.tool_names().iter().any(|tool| tool == "Bash"));
    assert!(
        !sent
            .tool_names()
            .iter()
            .any(|tool| tool == "StructuredOutput")
    );
}

#[tokio::test]
async fn plain_text_turn_streams_assistant_and_result_lines() {
    let endpoint = support::serve(arithmetic_script()).await;

    let run = run_claude(
        &endpoint,
        &[
            "-p",
            "what is 2+2",
            "--output-format",
            "stream-json",
            "--verbose",
        ],
        &[],
    )
    .await;

    assert_eq!(run.exit_code, Some(0), "stderr: {}", run.stderr);
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "system");
    assert_eq!(lines[0]["subtype"], "init");
    let assistant = lines
        .iter()
        .find(|line| line["type"] == "assistant")
        .expect("an assistant line");
    assert_eq!(assistant["message"]["content"][0]["text"], "4");
    assert_eq!(run.result()["result"], "4");
    assert_eq!(only_model_request(&endpoint).matched_rule, Some(0));
}

#[tokio::test]
async fn json_schema_run_returns_the_structured_output_tool_input() {
    let endpoint = support::serve(
        Script::new().rule(
            Rule::new(Matcher::any().with_tool_offered("StructuredOutput"))
                .tool_use("StructuredOutput", json!({"answer": 4})),
        ),
    )
    .await;

    let run = run_claude(
        &endpoint,
        &support::json_args("what is 2+2", &["--json-schema", ANSWER_SCHEMA]),
        &[],
    )
    .await;

    let result = run.succeeded();
    assert_eq!(result["is_error"], false);
    assert_eq!(result["structured_output"], json!({"answer": 4}));
    let sent = only_model_request(&endpoint);
    let body = sent.body.as_ref().unwrap();
    let tool = body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tool| tool["name"] == "StructuredOutput")
        .expect("StructuredOutput offered");
    assert_eq!(tool["input_schema"]["required"], json!(["answer"]));
}

#[tokio::test]
async fn bash_tool_call_is_really_executed_and_its_output_sent_back() {
    // The shell must compute 42: the output cannot be an echo of our input.
    let endpoint = support::serve(
        Script::new()
            .rule(
                Rule::new(Matcher::prompt_contains("run the check").without_tool_result())
                    .tool_use(
                        "Bash",
                        json!({"command": "echo agentpod-$((6 * 7))", "description": "compute"}),
                    ),
            )
            .rule(
                Rule::new(Matcher::any().with_tool_result_containing("agentpod-42"))
                    .text("the check printed 42"),
            ),
    )
    .await;

    let run = run_claude(
        &endpoint,
        &support::json_args("run the check", &["--allowedTools", "Bash"]),
        &[],
    )
    .await;

    let result = run.succeeded();
    assert_eq!(result["result"], "the check printed 42");
    assert_eq!(result["num_turns"], 2);
    let sent = endpoint.messages_requests();
    assert_eq!(sent.len(), 2);
    assert!(sent[0].tool_results().is_empty());
    let results = sent[1].tool_results();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].content.trim(), "agentpod-42");
    assert!(!results[0].is_error);
    assert!(results[0].tool_use_id.starts_with("toolu_"));
    assert_eq!(sent[1].prompt().as_deref(), Some("run the check"));
    assert_eq!(sent[1].matched_rule, Some(1));
}

#[tokio::test]
async fn http_errors_end_the_run_with_an_error_result_naming_the_status() {
    for status in [401_u16, 429, 500, 529] {
        let endpoint =
            support::serve(Script::new().rule(Rule::new(Matcher::any()).error(status))).await;

        let run = run_claude(&endpoint, &support::json_args("hello", &[]), &[]).await;

        let result = run.result();
        assert_eq!(run.exit_code, Some(1), "status {status}: {}", run.stdout);
        assert_eq!(result["is_error"], true, "status {status}");
        assert_eq!(result["api_error_status"], status);
        assert!(
            result["result"]
                .as_str()
                .unwrap()
                .contains(&status.to_string()),
            "status {status}: {}",
            result["result"]
        );
        assert_eq!(
            endpoint.messages_requests().len(),
            1,
            "status {status}: retries are off, one attempt"
        );
    }
}

#[tokio::test]
async fn should_retry_false_stops_the_cli_retrying_even_with_retries_enabled() {
    let endpoint = support::serve(Script::new().rule(Rule::new(Matcher::any()).reply(
        Reply::Error(HttpError {
            should_retry: Some(false),
            ..HttpError::new(500)
        }),
    )))
    .await;

    let run = run_claude(
        &endpoint,
        &support::json_args("hello", &[]),
        &[("CLAUDE_CODE_MAX_RETRIES", "3")],
    )
    .await;

    assert_eq!(run.result()["api_error_status"], 500);
    assert_eq!(endpoint.messages_requests().len(), 1);
}

#[tokio::test]
async fn an_overloaded_first_attempt_is_retried_and_the_turn_recovers() {
    let endpoint = support::serve(
        Script::new()
            .rule(Rule::new(Matcher::any()).error(529).times(1))
            .rule(Rule::new(Matcher::any()).text("recovered")),
    )
    .await;

    let run = run_claude(
        &endpoint,
        &support::json_args("hello", &[]),
        &[("CLAUDE_CODE_MAX_RETRIES", "1")],
    )
    .await;

    assert_eq!(
        run.result()["result"],
        "recovered",
        "stderr: {}",
        run.stderr
    );
    let rules = matched_rules(&endpoint);
    assert_eq!(rules, [Some(0), Some(1)]);
}

#[tokio::test]
async fn a_long_streamed_output_reaches_the_result_whole() {
    let endpoint = support::serve(
        Script::new().rule(
            Rule::new(Matcher::any())
                .reply(Reply::Content(vec![Block::FillerText(256 * 1024)]))
                .chunk_bytes(4096),
        ),
    )
    .await;

    let run = run_claude(&endpoint, &support::json_args("write a lot", &[]), &[]).await;

    let result = run.succeeded();
    let text = result["result"].as_str().unwrap();
    assert_eq!(text.len(), 256 * 1024);
    assert!(text.starts_with("filler line 000001 "));
}

#[tokio::test]
async fn a_stream_broken_by_an_error_event_falls_back_to_a_non_streaming_request() {
    let endpoint = support::serve(
        Script::new()
            .rule(
                Rule::new(Matcher::any())
                    .text("this answer is cut short")
                    .chunk_bytes(4)
                    .stream_error_after(3)
                    .times(1),
            )
            .rule(Rule::new(Matcher::any()).text("answered without streaming")),
    )
    .await;

    let run = run_claude(&endpoint, &support::json_args("hello", &[]), &[]).await;

    let result = run.succeeded();
    assert_eq!(result["result"], "answered without streaming");
    let streaming: Vec<bool> = endpoint
        .messages_requests()
        .iter()
        .map(RecordedRequest::is_streaming)
        .collect();
    assert_eq!(streaming, [true, false]);
}

#[tokio::test]
async fn a_json_schema_run_answered_in_text_is_told_to_call_structured_output() {
    let endpoint = support::serve(
        Script::new()
            .rule(
                Rule::new(Matcher::prompt_contains("[structured-output-enforce]"))
                    .tool_use("StructuredOutput", json!({"answer": 4})),
            )
            .rule(Rule::new(Matcher::any()).text("four")),
    )
    .await;

    let run = run_claude(
        &endpoint,
        &support::json_args("what is 2+2", &["--json-schema", ANSWER_SCHEMA]),
        &[],
    )
    .await;

    assert_eq!(
        run.result()["structured_output"],
        json!({"answer": 4}),
        "stderr: {}",
        run.stderr
    );
    let rules = matched_rules(&endpoint);
    assert_eq!(
        rules,
        [Some(1), Some(0)],
        "text first, then the enforce turn"
    );
}
