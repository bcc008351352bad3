//! The `mock` feature: a downstream test of code that takes a provider, with no cluster.

#![cfg(feature = "mock")]

use agentpod_claude_args::parse_output;
use agentpod_provider::{Agent, AgentError, AgentOutput, AgentProvider, MockAgentProvider};

/// Code under test: takes any provider, asks a question, falls back on retryable errors.
async fn ask(provider: &dyn AgentProvider, question: &str) -> Result<String, AgentError> {
    match Agent::new(question).max_turns(2).run(provider).await {
        Ok(output) => Ok(output.text),
        Err(error) if error.is_retryable() => Ok("later".to_owned()),
        Err(error) => Err(error),
    }
}

fn answer(text: &str) -> AgentOutput {
    let line = serde_json::json!({"type": "result", "subtype": "success", "result": text});
    match parse_output(&line.to_string(), false) {
        Ok(claude) => AgentOutput::from_claude(claude),
        Err(error) => panic!("fixture does not parse: {error}"),
    }
}

#[tokio::test]
async fn the_mock_answers_and_sees_the_validated_request() {
    let mut provider = MockAgentProvider::new();
    provider
        .expect_run()
        .withf(|request| request.claude().prompt == "2+2?" && request.claude().max_turns == Some(2))
        .times(1)
        .returning(|_| Ok(answer("4")));

    assert_eq!(ask(&provider, "2+2?").await.ok().as_deref(), Some("4"));
}

#[tokio::test]
async fn the_mock_returns_typed_errors() {
    let mut provider = MockAgentProvider::new();
    provider.expect_run().times(1).returning(|_| {
        Err(AgentError::Api {
            status: Some(529),
            error_type: Some("overloaded_error".into()),
            message: "Overloaded".into(),
            stats: Box::default(),
        })
    });

    assert_eq!(ask(&provider, "hi").await.ok().as_deref(), Some("later"));
}

#[tokio::test]
async fn invalid_input_never_reaches_the_mock() {
    // No expectation: any call would panic.
    let provider = MockAgentProvider::new();
    let error = ask(&provider, " ").await.err();
    assert!(error.is_some_and(|e| e.is_invalid_input()));
}
