#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::sync::atomic::{AtomicUsize, Ordering};

use agentpod_claude_args::{JsonOrPath, parse_output};
use futures::StreamExt;
use serde_json::json;

use super::*;
use crate::Agent;

/// A provider that answers from a script and counts its calls.
#[derive(Default)]
struct Scripted {
    calls: AtomicUsize,
}

#[async_trait]
impl AgentProvider for Scripted {
    async fn start(&self, request: &AgentRequest) -> Result<AgentRun> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let prompt = request.claude().prompt.clone();
        Ok(AgentRun::new(
            Some("agent-x1".into()),
            move |events| async move {
                events.send(AgentEvent::Running).await;
                if prompt.contains("fail") {
                    let claude = parse_output(
                        r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":401,"api_error_type":"authentication_error","result":"Invalid API key","num_turns":1,"total_cost_usd":0}"#,
                        false,
                    )?;
                    return Ok(AgentOutput::from_claude(claude));
                }
                events
                    .send(AgentEvent::ToolCall {
                        id: "toolu_1".into(),
                        name: "Bash".into(),
                        input: json!({"command": "echo 42", "description": "count"}),
                    })
                    .await;
                events
                    .send(AgentEvent::ToolResult {
                        tool_use_id: "toolu_1".into(),
                        content: "42 sk-secret-in-tool-output".into(),
                        is_error: false,
                    })
                    .await;
                events
                    .send(AgentEvent::AssistantText { text: "42".into() })
                    .await;
                events.send(AgentEvent::Result).await;
                let claude = parse_output(
                    r#"{"type":"result","subtype":"success","result":"42","num_turns":2,"total_cost_usd":0.0123,"duration_ms":900,"duration_api_ms":700,"session_id":"s-1","usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":3}}"#,
                    false,
                )?;
                let mut output = AgentOutput::from_claude(claude);
                output.pod = Some("agent-x1".into());
                output.exit_code = Some(0);
                output.api_requests = 7;
                Ok(output)
            },
        ))
    }
}

/// The events and output of one run.
async fn run_all(
    provider: &dyn AgentProvider,
    agent: &Agent,
) -> (Vec<AgentEvent>, Result<AgentOutput>) {
    let mut run = match agent.start(provider).await {
        Ok(run) => run,
        Err(error) => return (Vec::new(), Err(error)),
    };
    let events = run.take_events().unwrap();
    let (events, output) = tokio::join!(events.collect::<Vec<_>>(), run.output());
    (events, output)
}

fn agent_with_token() -> Agent {
    Agent::new("count to 42")
        .allowed_tools(["Bash"])
        .label("team", "qa")
        .mcp_config(JsonOrPath::Json(
            json!({"mcpServers": {"x": {"headers": {"Authorization": "Bearer mcp-token-77"}}}}),
        ))
}

#[tokio::test]
async fn a_recorded_run_replays_identically_and_the_file_is_reviewable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.jsonl");
    let scripted = Scripted::default();
    let recorder = RecordingProvider::create(&scripted, &path)
        .unwrap()
        .redact("sk-secret-in-tool-output");
    let agent = agent_with_token();
    let (recorded_events, recorded) = run_all(&recorder, &agent).await;
    let recorded = recorded.unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("mcp-token-77"), "{text}");
    assert!(!text.contains("sk-secret-in-tool-output"), "{text}");
    insta::assert_snapshot!("fixture_file", text);

    let replay = ReplayProvider::open(&path).unwrap();
    let (events, output) = run_all(&replay, &agent).await;
    let output = output.unwrap();
    // The redacted tool output is the one difference.
    let redacted: Vec<AgentEvent> = recorded_events
        .into_iter()
        .map(|event| match event {
            AgentEvent::ToolResult {
                tool_use_id,
                is_error,
                ..
            } => AgentEvent::ToolResult {
                tool_use_id,
                content: "42 [redacted]".into(),
                is_error,
            },
            other => other,
        })
        .collect();
    assert_eq!(events, redacted);
    assert_eq!(output, recorded);
    assert_eq!(
        scripted.calls.load(Ordering::SeqCst),
        1,
        "replay ran nothing"
    );
}

#[tokio::test]
async fn agent_errors_are_recorded_and_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("errors.jsonl");
    let recorder = RecordingProvider::create(Scripted::default(), &path).unwrap();
    let agent = Agent::new("please fail");
    let (_, recorded) = run_all(&recorder, &agent).await;
    let recorded = recorded.unwrap_err();
    assert!(
        matches!(
            &recorded,
            AgentError::Api {
                status: Some(401),
                ..
            }
        ),
        "{recorded:?}"
    );
    let (events, replayed) = run_all(&ReplayProvider::open(&path).unwrap(), &agent).await;
    assert_eq!(events, vec![AgentEvent::Running]);
    assert_eq!(replayed.unwrap_err().to_string(), recorded.to_string());
}

#[tokio::test]
async fn a_miss_is_an_error_naming_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.jsonl");
    std::fs::write(&path, "").unwrap();
    let replay = ReplayProvider::open(&path).unwrap();
    let agent = Agent::new("never recorded prompt");
    let key = ReplayProvider::key_of(&agent.request().unwrap());
    let error = agent.run(&replay).await.unwrap_err();
    let AgentError::ReplayMiss {
        key: missed,
        prompt,
        fixture,
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(missed, &key);
    assert_eq!(prompt, "never recorded prompt");
    assert_eq!(fixture, &path);
    assert!(error.to_string().contains("never recorded prompt"));
}

#[test]
fn the_key_covers_every_field_and_ignores_map_order() {
    let key = |agent: Agent| ReplayProvider::key_of(&agent.request().unwrap());
    let mut first = serde_json::Map::new();
    first.insert("a".into(), json!(1));
    first.insert("b".into(), json!({"y": 2, "x": 3}));
    let mut second = serde_json::Map::new();
    second.insert("b".into(), json!({"x": 3, "y": 2}));
    second.insert("a".into(), json!(1));
    let base = || Agent::new("p").label("one", "1").label("two", "2");
    assert_eq!(
        key(base().settings(JsonOrPath::Json(first.into()))),
        key(Agent::new("p")
            .label("two", "2")
            .label("one", "1")
            .settings(JsonOrPath::Json(second.into()))),
    );
    let reference = key(base());
    for changed in [
        Agent::new("p ").label("one", "1").label("two", "2"),
        base().label("three", "3"),
        base().model("sonnet"),
        base().max_turns(2),
        base().run_timeout(std::time::Duration::from_secs(5)),
        base().start_timeout(std::time::Duration::from_secs(5)),
        base().system_prompt("s"),
    ] {
        assert_ne!(key(changed), reference);
    }
    assert_eq!(reference.len(), 64);
}

#[test]
fn a_broken_fixture_names_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.jsonl");
    std::fs::write(&path, "{\"event\":{\"type\":\"running\"}}\n").unwrap();
    let error = ReplayProvider::open(&path).unwrap_err();
    assert!(
        matches!(&error, AgentError::Fixture { line: Some(1), path: p, .. } if p == &path),
        "{error:?}"
    );
    std::fs::write(&path, "\nnot json\n").unwrap();
    let error = ReplayProvider::open(&path).unwrap_err();
    assert!(
        matches!(&error, AgentError::Fixture { line: Some(2), .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_secret_added_to_a_clone_is_redacted_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clone.jsonl");
    let recorder = RecordingProvider::create(Arc::new(Scripted::default()), &path).unwrap();
    let shared = recorder.clone();
    let redacting = recorder.redact("sk-secret-in-tool-output");
    let (_, output) = run_all(&redacting, &Agent::new("count")).await;
    output.unwrap();
    drop(shared);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("sk-secret-in-tool-output"), "{text}");
}
