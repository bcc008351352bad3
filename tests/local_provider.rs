//! `LocalProvider` end to end: the real `claude` (the pinned CLI testkit installs) as a local
//! process against the offline model endpoint on loopback. Same checks as the pod provider's.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should fail the test"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use agentpod_provider::{Agent, AgentError, AgentEvent, LocalProvider, LocalProviderBuilder};
use agentpod_testkit::model::{ClaudeCli, Matcher, ModelEndpoint, Rule, Script};
use futures::StreamExt;
use serde_json::json;

const KEY: &str = "agentpod-local-key-8e1d";

struct Local {
    endpoint: ModelEndpoint,
    home: tempfile::TempDir,
    cli: ClaudeCli,
}

async fn local(script: Script) -> Local {
    let cli = ClaudeCli::ensure_installed().expect("the pinned CLI installs");
    let endpoint = ModelEndpoint::start_local(script)
        .await
        .expect("endpoint starts");
    let home = tempfile::tempdir().expect("temp HOME");
    Local {
        endpoint,
        home,
        cli,
    }
}

impl Local {
    fn builder(&self) -> LocalProviderBuilder {
        let home = self.home.path().to_string_lossy().into_owned();
        LocalProvider::builder()
            .claude_path(self.cli.path().to_string_lossy().into_owned())
            .working_dir(home.clone())
            .api_key(KEY)
            .base_url(self.endpoint.base_url())
            .env("HOME", home)
            .env("CLAUDE_CODE_MAX_RETRIES", "0")
    }

    fn provider(&self) -> LocalProvider {
        self.builder().build()
    }
}

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline"))
                .is_ok_and(|line| String::from_utf8_lossy(&line).contains(marker))
        })
        .collect()
}

async fn wait_until_gone(marker: &str) {
    for _ in 0..100 {
        if processes_with(marker).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("processes left: {:?}", processes_with(marker));
}

#[tokio::test]
async fn local_text_answer() {
    let world =
        local(Script::new().rule(Rule::new(Matcher::prompt_contains("what is 2+2")).text("4")))
            .await;
    let output = Agent::new("what is 2+2")
        .run(&world.provider())
        .await
        .expect("answers");
    assert_eq!(output.text, "4");
    assert_eq!(output.exit_code, Some(0));
    assert_eq!(output.pod, None);
    let sent = world.endpoint.messages_requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("x-api-key"), Some(KEY));
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema, PartialEq)]
struct Count {
    answer: u32,
    unit: String,
}

#[tokio::test]
async fn local_structured_output_into_a_struct() {
    let world = local(
        Script::new().rule(
            Rule::new(Matcher::any().with_tool_offered("StructuredOutput"))
                .tool_use("StructuredOutput", json!({"answer": 4, "unit": "apples"})),
        ),
    )
    .await;
    let output = Agent::new("count the apples")
        .output::<Count>()
        .run(&world.provider())
        .await
        .expect("a typed answer");
    assert_eq!(
        output.structured,
        Some(Count {
            answer: 4,
            unit: "apples".into()
        })
    );
}

#[tokio::test]
async fn local_bash_tool_runs_and_events_follow_it() {
    let world = local(
        Script::new()
            .rule(
                Rule::new(Matcher::prompt_contains("run the check").without_tool_result())
                    .tool_use(
                        "Bash",
                        json!({"command": "echo result-$((6 * 7)) in-$(pwd)", "description": "compute"}),
                    ),
            )
            .rule(
                Rule::new(Matcher::any().with_tool_result_containing("result-42"))
                    .text("the check printed 42"),
            ),
    )
    .await;
    let mut run = Agent::new("run the check")
        .allowed_tools(["Bash"])
        .start(&world.provider())
        .await
        .expect("starts");
    let events = run.take_events().expect("events");
    let (events, output) = tokio::join!(events.collect::<Vec<_>>(), run.output());
    assert_eq!(output.expect("answers").text, "the check printed 42");
    let result = events
        .iter()
        .find_map(|event| match event {
            AgentEvent::ToolResult { content, .. } => Some(content.clone()),
            _ => None,
        })
        .expect("a tool result");
    let home = world.home.path().canonicalize().expect("home exists");
    assert_eq!(
        result.trim(),
        format!("result-42 in-{}", home.display()),
        "{events:?}"
    );
    assert!(events.contains(&AgentEvent::Running));
    assert!(events.contains(&AgentEvent::Result));
}

#[tokio::test]
async fn local_401_is_a_typed_api_error() {
    let world = local(Script::new().rule(Rule::new(Matcher::any()).error(401))).await;
    let error = Agent::new("hello")
        .run(&world.provider())
        .await
        .expect_err("a 401 is not an answer");
    assert!(
        matches!(
            &error,
            AgentError::Api {
                status: Some(401),
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn local_max_turns_is_a_typed_error() {
    let world = local(Script::new().rule(Rule::new(Matcher::any()).tool_use(
        "Bash",
        json!({"command": "echo again", "description": "loop"}),
    )))
    .await;
    let error = Agent::new("loop")
        .allowed_tools(["Bash"])
        .max_turns(1)
        .run(&world.provider())
        .await
        .expect_err("the limit stops it");
    assert!(matches!(error, AgentError::MaxTurns { .. }), "{error:?}");
}

#[tokio::test]
async fn local_run_timeout_kills_the_process_group() {
    let marker = "local-timeout-marker-5c1e";
    let world = local(
        Script::new().rule(
            Rule::new(Matcher::any())
                .text("late")
                .delay(Duration::from_secs(60)),
        ),
    )
    .await;
    let error = Agent::new(marker)
        .run_timeout(Duration::from_secs(3))
        .run(&world.provider())
        .await
        .expect_err("times out");
    assert!(
        matches!(&error, AgentError::RunTimeout { pod: None, .. }),
        "{error:?}"
    );
    wait_until_gone(marker).await;
}

#[tokio::test]
async fn local_dropped_future_kills_the_process() {
    let marker = "local-drop-marker-77aa";
    let world = local(
        Script::new().rule(
            Rule::new(Matcher::any())
                .text("never read")
                .delay(Duration::from_secs(60)),
        ),
    )
    .await;
    let provider = world.provider();
    let agent = Agent::new(marker);
    let mut call = Box::pin(agent.run(&provider));
    let deadline = Instant::now() + Duration::from_secs(60);
    while world.endpoint.messages_requests().is_empty() {
        tokio::select! {
            result = &mut call => panic!("ended on its own: {result:?}"),
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        assert!(Instant::now() < deadline, "the CLI never called the model");
    }
    assert!(!processes_with(marker).is_empty());
    drop(call);
    wait_until_gone(marker).await;
}

#[tokio::test]
async fn local_ten_concurrent_calls() {
    let mut script = Script::new();
    for n in 0..10 {
        script = script.rule(
            Rule::new(Matcher::prompt_contains(format!("call number {n}!")))
                .text(format!("answer {n}")),
        );
    }
    let world = local(script).await;
    let provider = world.provider();
    let calls = (0..10).map(|n| {
        let provider = provider.clone();
        async move {
            (
                n,
                Agent::new(format!("call number {n}!")).run(&provider).await,
            )
        }
    });
    for (n, result) in futures::future::join_all(calls).await {
        assert_eq!(result.expect("answers").text, format!("answer {n}"));
    }
}

#[tokio::test]
async fn local_two_mib_prompt() {
    let world =
        local(Script::new().rule(Rule::new(Matcher::prompt_contains("END-OF-BIG")).text("big")))
            .await;
    let line = "the quick brown fox jumps over the lazy dog 0123456789\n";
    let mut prompt = line.repeat(2 * 1024 * 1024 / line.len());
    prompt.push_str("END-OF-BIG");
    let provider = world
        .builder()
        .context_window_tokens(Some(1_000_000))
        .build();
    let output = Agent::new(prompt.clone())
        .run(&provider)
        .await
        .expect("answers");
    assert_eq!(output.text, "big");
    let received = world.endpoint.messages_requests()[0]
        .prompt()
        .unwrap_or_default();
    assert!(received == prompt, "the prompt arrived changed");
}

#[tokio::test]
async fn local_invalid_input_fails_before_any_request() {
    let world = local(Script::new()).await;
    let provider = world.provider();
    for agent in [
        Agent::new(" "),
        Agent::new("x").max_turns(0),
        Agent::new("x").max_budget_usd(f64::NAN),
    ] {
        let error = agent.run(&provider).await.expect_err("refused");
        assert!(error.is_invalid_input(), "{error:?}");
    }
    assert!(world.endpoint.requests().is_empty());
}

#[tokio::test]
async fn local_dropped_future_kills_the_tools_it_started() {
    // The Bash tool's shell is a grandchild: only killing the process group reaches it.
    let marker = "local-grandchild-marker-d41c";
    let world = local(Script::new().rule(
        Rule::new(Matcher::any().without_tool_result()).tool_use(
            "Bash",
            json!({"command": format!("tail -f /dev/null; echo {marker}"), "description": "wait"}),
        ),
    ))
    .await;
    let provider = world.provider();
    let agent = Agent::new("wait for the tool").allowed_tools(["Bash"]);
    let mut call = Box::pin(agent.run(&provider));
    let deadline = Instant::now() + Duration::from_secs(60);
    while processes_with(marker).is_empty() {
        tokio::select! {
            result = &mut call => panic!("ended on its own: {result:?}"),
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        assert!(Instant::now() < deadline, "the tool never started");
    }
    drop(call);
    wait_until_gone(marker).await;
}
