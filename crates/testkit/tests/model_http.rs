//! The endpoint's wire behaviour, checked with a plain HTTP client: SSE event
//! order, non-streaming bodies, error shapes, rule budgets, recording, and the
//! standalone binary.

// Helpers here are test code too: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agentpod_testkit::model::{
    Block, HttpError, Matcher, ModelEndpoint, ModelEndpointError, RecordedRequest, Reply, Rule,
    Script,
};
use axum::body::Bytes;
use axum::http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }
}

async fn send(method: &str, url: &str, body: Option<Value>) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let request = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .header("x-api-key", "wire-test")
        .body(Full::new(Bytes::from(payload)))
        .unwrap();
    let response = client.request(request).await.expect("endpoint answers");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// `POST /v1/messages` with a one-prompt body.
async fn post_messages(endpoint: &ModelEndpoint, prompt: &str, stream: bool) -> Answer {
    let url = format!("{}/v1/messages", endpoint.base_url());
    send("POST", &url, Some(messages_body(prompt, stream))).await
}

fn messages_body(prompt: &str, stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-5-5",
        "stream": stream,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
    })
}

/// Parses an SSE body into (event name, data) pairs.
fn sse_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .map(|frame| {
            let mut name = String::new();
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = value.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
            (name, serde_json::from_str(&data).expect("JSON data"))
        })
        .collect()
}

fn streamed_text(events: &[(String, Value)], index: u64) -> String {
    events
        .iter()
        .filter(|(name, data)| name == "content_block_delta" && data["index"] == index)
        .map(|(_, data)| data["delta"]["text"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn streaming_reply_is_the_sse_sequence_the_cli_parses_and_is_recorded() {
    let endpoint = support::serve(
        Script::new()
            .rule(Rule::new(Matcher::prompt_contains("weather")).text("sunny"))
            .rule(Rule::new(Matcher::prompt_contains("2+2")).text("4")),
    )
    .await;

    let answer = send(
        "POST",
        &format!("{}/v1/messages?beta=true", endpoint.base_url()),
        Some(messages_body("what is 2+2", true)),
    )
    .await;

    assert_eq!(answer.status, 200);
    assert!(answer.headers["content-type"].starts_with("text/event-stream"));
    let events = sse_events(&answer.body);
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(events[0].1["message"]["model"], "claude-sonnet-5-5");
    assert_eq!(streamed_text(&events, 0), "4");
    assert_eq!(events[4].1["delta"]["stop_reason"], "end_turn");

    let recorded = endpoint.requests();
    assert_eq!(recorded.len(), 1);
    assert!(recorded[0].is_messages());
    assert!(recorded[0].is_streaming());
    assert_eq!(recorded[0].query.as_deref(), Some("beta=true"));
    assert_eq!(recorded[0].header("x-api-key"), Some("wire-test"));
    assert_eq!(recorded[0].prompt().as_deref(), Some("what is 2+2"));
    assert_eq!(recorded[0].matched_rule, Some(1));
}

#[tokio::test]
async fn non_streaming_reply_is_one_message_object_with_tool_use() {
    let endpoint = support::serve(Script::new().rule(Rule::new(Matcher::any()).reply(
        Reply::Content(vec![
            Block::Text("calling".into()),
            Block::ToolUse(agentpod_testkit::model::ToolUse::new(
                "StructuredOutput",
                json!({"answer": 4}),
            )),
        ]),
    )))
    .await;

    let answer = post_messages(&endpoint, "anything", false).await;

    assert_eq!(answer.status, 200);
    let message = answer.json();
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["stop_reason"], "tool_use");
    assert_eq!(
        message["content"][0],
        json!({"type": "text", "text": "calling"})
    );
    assert_eq!(message["content"][1]["type"], "tool_use");
    assert_eq!(message["content"][1]["input"], json!({"answer": 4}));
    assert!(
        message["content"][1]["id"]
            .as_str()
            .unwrap()
            .starts_with("toolu_")
    );
}

#[tokio::test]
async fn error_reply_carries_the_anthropic_error_body_and_retry_headers() {
    let endpoint = support::serve(Script::new().rule(Rule::new(Matcher::any()).reply(
        Reply::Error(HttpError {
            should_retry: Some(false),
            retry_after_secs: Some(7),
            ..HttpError::new(529)
        }),
    )))
    .await;

    let answer = post_messages(&endpoint, "hi", true).await;

    assert_eq!(answer.status, 529);
    let body = answer.json();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "overloaded_error");
    assert!(body["error"]["message"].as_str().unwrap().contains("529"));
    assert_eq!(answer.headers["x-should-retry"], "false");
    assert_eq!(answer.headers["retry-after"], "7");
}

#[tokio::test]
async fn a_rule_with_a_budget_falls_through_once_used_up_and_unmatched_requests_get_ok() {
    let endpoint = support::serve(
        Script::new()
            .rule(
                Rule::new(Matcher::prompt_contains("flaky"))
                    .error(500)
                    .times(1),
            )
            .rule(Rule::new(Matcher::prompt_contains("flaky")).text("recovered")),
    )
    .await;
    let url = format!("{}/v1/messages", endpoint.base_url());

    let first = send("POST", &url, Some(messages_body("flaky", false))).await;
    let second = send("POST", &url, Some(messages_body("flaky", false))).await;
    let other = send("POST", &url, Some(messages_body("unscripted", false))).await;

    assert_eq!(first.status, 500);
    assert_eq!(second.json()["content"][0]["text"], "recovered");
    assert_eq!(
        other.json()["content"][0]["text"],
        Script::FALLBACK_TEXT,
        "no rule matched, so the fallback answers"
    );
    let rules: Vec<Option<usize>> = endpoint.requests().iter().map(|r| r.matched_rule).collect();
    assert_eq!(rules, [Some(0), Some(1), None]);
}

#[tokio::test]
async fn long_output_arrives_whole_in_bounded_chunks() {
    let endpoint = support::serve(
        Script::new().rule(
            Rule::new(Matcher::any())
                .reply(Reply::Content(vec![Block::FillerText(64 * 1024)]))
                .chunk_bytes(1024),
        ),
    )
    .await;

    let answer = post_messages(&endpoint, "long please", true).await;

    let events = sse_events(&answer.body);
    let deltas = events
        .iter()
        .filter(|(name, _)| name == "content_block_delta")
        .count();
    assert_eq!(deltas, 64);
    let text = streamed_text(&events, 0);
    assert_eq!(text.len(), 64 * 1024);
    assert!(text.starts_with("filler line 000001 "));
}

#[tokio::test]
async fn stream_error_cuts_the_stream_with_an_error_event() {
    let endpoint = support::serve(
        Script::new().rule(
            Rule::new(Matcher::any())
                .text("never finished")
                .chunk_bytes(2)
                .stream_error_after(3),
        ),
    )
    .await;

    let answer = post_messages(&endpoint, "hi", true).await;

    assert_eq!(answer.status, 200);
    let events = sse_events(&answer.body);
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "error"
        ]
    );
    assert_eq!(events[3].1["error"]["type"], "overloaded_error");
}

#[tokio::test]
async fn delay_holds_back_the_answer() {
    let delay = Duration::from_millis(300);
    let endpoint = support::serve(Script::new().rule(Rule::new(Matcher::any()).delay(delay))).await;
    let started = Instant::now();
    let answer = post_messages(&endpoint, "slow", false).await;
    assert_eq!(answer.status, 200);
    assert!(started.elapsed() >= delay, "answered before the delay");
}

#[tokio::test]
async fn control_path_lists_and_clears_recordings_and_unknown_paths_are_recorded_404s() {
    let endpoint = support::serve(Script::new()).await;
    let base = endpoint.base_url();

    assert_eq!(
        send("HEAD", &format!("{base}/api/hello"), None)
            .await
            .status,
        200
    );
    let tokens = send(
        "POST",
        &format!("{base}/v1/messages/count_tokens?beta=true"),
        Some(messages_body("count me", false)),
    )
    .await;
    assert!(tokens.json()["input_tokens"].as_u64().unwrap() > 0);
    let unknown = send("GET", &format!("{base}/v1/models"), None).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["type"], "not_found_error");

    let listed = send("GET", &format!("{base}/_agentpod/requests"), None).await;
    let recorded: Vec<RecordedRequest> = serde_json::from_str(&listed.body).unwrap();
    let seen: Vec<(String, String)> = recorded
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            ("HEAD".to_owned(), "/api/hello".to_owned()),
            ("POST".to_owned(), "/v1/messages/count_tokens".to_owned()),
            ("GET".to_owned(), "/v1/models".to_owned()),
        ]
    );
    assert_eq!(recorded, endpoint.requests());

    let cleared = send("DELETE", &format!("{base}/_agentpod/requests"), None).await;
    assert_eq!(cleared.status, 204);
    assert!(endpoint.requests().is_empty());
}

#[tokio::test]
async fn a_busy_address_is_a_bind_error_naming_it() {
    let first = support::serve(Script::new()).await;
    let error = ModelEndpoint::start(Script::new(), first.local_addr())
        .await
        .unwrap_err();
    assert!(matches!(error, ModelEndpointError::Bind { addr, .. } if addr == first.local_addr()));
    assert!(error.to_string().contains(&first.local_addr().to_string()));
}

#[tokio::test]
async fn shutdown_closes_the_listener() {
    let endpoint = support::serve(Script::new()).await;
    let addr = endpoint.local_addr();
    endpoint.shutdown().await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn binary_prints_its_address_first_and_serves_a_yaml_script() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.yaml");
    std::fs::write(
        &script,
        "rules:\n  - when: { prompt_contains: ping }\n    reply: { text: pong }\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_agentpod-model-endpoint"))
        .args(["--listen", "127.0.0.1:0", "--script"])
        .arg(&script)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let addr: std::net::SocketAddr = first_line.trim().parse().expect("first line is ADDR:PORT");

    let answer = send(
        "POST",
        &format!("http://{addr}/v1/messages"),
        Some(messages_body("ping", false)),
    )
    .await;
    let listed = send("GET", &format!("http://{addr}/_agentpod/requests"), None).await;
    child.kill().unwrap();
    child.wait().unwrap();

    assert_eq!(answer.json()["content"][0]["text"], "pong");
    let recorded: Vec<RecordedRequest> = serde_json::from_str(&listed.body).unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].matched_rule, Some(0));
}

#[test]
fn binary_rejects_an_invalid_script_with_a_useful_message() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("bad.json");
    std::fs::write(&script, r#"{"rules": [{"reply": {"txt": "typo"}}]}"#).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_agentpod-model-endpoint"))
        .arg("--script")
        .arg(&script)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "no address is printed on failure");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.json") && stderr.contains("txt"),
        "{stderr}"
    );
}
