//! Record/replay end to end: runs of the real `claude` (as a `LocalProvider`) against the
//! offline model endpoint are recorded, then replayed with the endpoint shut down and no CLI
//! configured at all: same events, same output, same errors.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should fail the test"
)]

use agentpod_e2e::local::{LOCAL_API_KEY, LocalWorld};
use agentpod_provider::{
    Agent, AgentError, AgentEvent, AgentOutput, AgentProvider, RecordingProvider, ReplayProvider,
};
use agentpod_testkit::model::{Matcher, Rule, Script};
use futures::StreamExt;
use serde_json::json;

async fn events_and_output(
    provider: &dyn AgentProvider,
    agent: &Agent,
) -> (Vec<AgentEvent>, Result<AgentOutput, AgentError>) {
    let mut run = match agent.start(provider).await {
        Ok(run) => run,
        Err(error) => return (Vec::new(), Err(error)),
    };
    let events = run.take_events().expect("events");
    tokio::join!(events.collect::<Vec<_>>(), run.output())
}

fn script() -> Script {
    Script::new()
        .rule(Rule::new(Matcher::prompt_contains("say four")).text("4"))
        .rule(
            Rule::new(Matcher::prompt_contains("run the check").without_tool_result()).tool_use(
                "Bash",
                json!({"command": "echo check-$((6 * 7))", "description": "compute"}),
            ),
        )
        .rule(
            Rule::new(Matcher::any().with_tool_result_containing("check-42"))
                .text("the check printed 42"),
        )
        .rule(Rule::new(Matcher::prompt_contains("refuse me")).error(401))
}

#[tokio::test]
async fn local_runs_recorded_then_replayed_without_cli_or_model() {
    let world = LocalWorld::new(script()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let fixture = dir.path().join("local.jsonl");
    let recorder = RecordingProvider::create(world.provider(), &fixture).expect("fixture opens");
    let agents = [
        Agent::new("say four"),
        Agent::new("run the check").allowed_tools(["Bash"]),
        Agent::new("refuse me"),
    ];
    let mut recorded = Vec::new();
    for agent in &agents {
        recorded.push(events_and_output(&recorder, agent).await);
    }
    assert_eq!(recorded[0].1.as_ref().expect("answers").text, "4");
    assert_eq!(
        recorded[1].1.as_ref().expect("answers").text,
        "the check printed 42"
    );
    assert!(
        matches!(
            &recorded[2].1,
            Err(AgentError::Api {
                status: Some(401),
                ..
            })
        ),
        "{:?}",
        recorded[2].1
    );
    let model_requests = world.endpoint.messages_requests().len();
    assert!(model_requests >= 4, "{model_requests} model requests");

    // No model, no CLI, no HOME: only the fixture.
    let LocalWorld {
        endpoint,
        home,
        cli,
    } = world;
    endpoint.shutdown().await.expect("endpoint stops");
    drop((home, cli));
    let text = std::fs::read_to_string(&fixture).expect("fixture written");
    assert!(
        !text.contains(LOCAL_API_KEY),
        "the API key is in the fixture"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("{\"request\""))
            .count(),
        3
    );

    let replay = ReplayProvider::open(&fixture).expect("fixture reads");
    assert_eq!(replay.len(), 3);
    for (agent, (events, outcome)) in agents.iter().zip(&recorded) {
        let (replayed_events, replayed) = events_and_output(&replay, agent).await;
        assert_eq!(&replayed_events, events);
        match (outcome, replayed) {
            (Ok(output), Ok(replayed)) => assert_eq!(output, &replayed),
            (Err(error), Err(replayed)) => assert_eq!(error.to_string(), replayed.to_string()),
            (outcome, replayed) => panic!("recorded {outcome:?}, replayed {replayed:?}"),
        }
    }
    assert!(
        recorded[1]
            .0
            .iter()
            .any(|e| matches!(e, AgentEvent::ToolCall { name, .. } if name == "Bash"))
    );

    // A request that differs in any field is a miss, named, not a call.
    let other = Agent::new("say four").max_turns(3);
    let error = other.run(&replay).await.expect_err("not recorded");
    assert!(
        matches!(&error, AgentError::ReplayMiss { prompt, .. } if prompt == "say four"),
        "{error:?}"
    );
}
