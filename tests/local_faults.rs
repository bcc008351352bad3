//! The model API misbehaving, end to end: the real `claude` (pinned) as a local process against
//! the offline endpoint scripted to fail in each way a real API, or the network in between, can.
//! Every case ends in a typed error (or, where the CLI's own fallback absorbs the fault, in the
//! answer) and never hangs: each run has a run timeout, and the test a guard far above it.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should fail the test"
)]

use std::time::Duration;

use agentpod_e2e::local::LocalWorld;
use agentpod_provider::{Agent, AgentError, AgentOutput};
use agentpod_testkit::model::{HttpError, Matcher, Reply, Rule, Script};

/// Far above every run timeout below: reaching it means the run hung.
const HANG_GUARD: Duration = Duration::from_secs(120);
/// The run timeout of each faulty run.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs one agent against `script` with the CLI's own retries set to `retries`.
async fn run_against(
    world: &LocalWorld,
    retries: u32,
    run_timeout: Duration,
) -> Result<AgentOutput, AgentError> {
    let provider = world
        .builder()
        .env("CLAUDE_CODE_MAX_RETRIES", retries.to_string())
        .run_timeout(run_timeout)
        .build();
    tokio::time::timeout(HANG_GUARD, Agent::new("fault under test").run(&provider))
        .await
        .expect("the run ended (no hang)")
}

/// One API error, checked for status, type and the retry classification.
async fn assert_api_error(rule: Rule, status: Option<u16>, error_type: Option<&str>) -> String {
    let world = LocalWorld::new(Script::new().rule(rule)).await;
    let error = run_against(&world, 0, RUN_TIMEOUT)
        .await
        .expect_err("a fault is not an answer");
    let AgentError::Api {
        status: seen_status,
        error_type: seen_type,
        message,
        ..
    } = &error
    else {
        panic!("expected AgentError::Api, got {error:?}");
    };
    assert_eq!(*seen_status, status, "{error}");
    assert_eq!(seen_type.as_deref(), error_type, "{error}");
    assert_eq!(
        error.is_retryable(),
        matches!(status, Some(429 | 500..=599)),
        "{error}"
    );
    message.clone()
}

#[tokio::test]
async fn rate_limited_429_is_a_retryable_api_error() {
    assert_api_error(
        Rule::new(Matcher::any()).error(429),
        Some(429),
        Some("rate_limit_error"),
    )
    .await;
}

#[tokio::test]
async fn server_error_500_is_a_retryable_api_error() {
    assert_api_error(
        Rule::new(Matcher::any()).error(500),
        Some(500),
        Some("api_error"),
    )
    .await;
}

#[tokio::test]
async fn overloaded_529_is_a_retryable_api_error() {
    assert_api_error(
        Rule::new(Matcher::any()).error(529),
        Some(529),
        Some("overloaded_error"),
    )
    .await;
}

#[tokio::test]
async fn garbage_instead_of_events_is_an_api_error_naming_it() {
    let message = assert_api_error(
        Rule::new(Matcher::any()).garbage("this is not\n\nan event stream {{{\n\n"),
        None,
        None,
    )
    .await;
    assert!(message.contains("malformed"), "{message}");
}

#[tokio::test]
async fn a_connection_cut_mid_stream_is_an_api_error_naming_it() {
    let message = assert_api_error(
        Rule::new(Matcher::any())
            .text("never finished")
            .cut_after(3),
        None,
        None,
    )
    .await;
    assert!(message.contains("Connection dropped"), "{message}");
}

#[tokio::test]
async fn an_overload_mid_stream_is_absorbed_by_the_clis_non_streaming_retry() {
    let world = LocalWorld::new(
        Script::new().rule(
            Rule::new(Matcher::any())
                .text("whole answer")
                .stream_error_after(3),
        ),
    )
    .await;
    let output = run_against(&world, 0, RUN_TIMEOUT)
        .await
        .expect("the CLI retries once without streaming");
    assert_eq!(output.text, "whole answer");
    let streaming: Vec<bool> = world
        .endpoint
        .messages_requests()
        .iter()
        .filter(|request| {
            request
                .prompt()
                .is_some_and(|p| p.contains("fault under test"))
        })
        .map(|request| request.is_streaming())
        .collect();
    assert_eq!(streaming, [true, false], "a streamed try, then a plain one");
}

#[tokio::test]
async fn overloads_within_the_clis_retry_budget_end_in_the_answer() {
    let overloaded = HttpError {
        retry_after_secs: Some(0),
        ..HttpError::new(529)
    };
    let world = LocalWorld::new(
        Script::new()
            .rule(
                Rule::new(Matcher::prompt_contains("fault under test"))
                    .reply(Reply::Error(overloaded))
                    .times(2),
            )
            .rule(Rule::new(Matcher::any()).text("after two overloads")),
    )
    .await;
    let output = run_against(&world, 2, RUN_TIMEOUT)
        .await
        .expect("two retries absorb two overloads");
    assert_eq!(output.text, "after two overloads");
}

#[tokio::test]
async fn a_slow_drip_past_the_run_timeout_is_a_run_timeout() {
    // 40 events a second apart: the answer would take 40 s, the run may take 4.
    let world = LocalWorld::new(
        Script::new().rule(
            Rule::new(Matcher::any())
                .text("drip ".repeat(40))
                .chunk_bytes(5)
                .chunk_delay(Duration::from_secs(1)),
        ),
    )
    .await;
    let timeout = Duration::from_secs(4);
    let error = run_against(&world, 0, timeout)
        .await
        .expect_err("the drip outlasts the run timeout");
    assert!(
        matches!(error, AgentError::RunTimeout { timeout: seen, .. } if seen == timeout),
        "{error:?}"
    );
}
