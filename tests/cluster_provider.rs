//! `K8sEphemeralProvider` end to end: the real `claude` in the runner image, one pod per call on
//! the local cluster, against the offline model endpoint. What the agent answers, and how it
//! fails.
//!
//! Runs with `cargo xtask test`; skips loudly under plain `cargo test`.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should fail the test"
)]

use agentpod_e2e::{TEST_API_KEY, World};
use agentpod_provider::{Agent, AgentError, AgentEvent, AgentProvider};
use agentpod_testkit::model::{Matcher, Rule, Script};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use serde_json::json;

#[tokio::test]
async fn cluster_provider_text_answer() {
    let script = Script::new().rule(Rule::new(Matcher::prompt_contains("what is 2+2")).text("4"));
    let Some(world) = World::new(script).await else {
        return;
    };
    let provider = world.provider().await;

    let output = Agent::new("what is 2+2")
        .label("suite", "e2e")
        .run(&provider)
        .await
        .expect("the agent answers");

    assert_eq!(output.text, "4");
    // The output is returned at the result; the exit code only when the cluster reported it
    // by then.
    assert!(
        matches!(output.exit_code, None | Some(0)),
        "{:?}",
        output.exit_code
    );
    assert!(
        output
            .pod
            .as_deref()
            .is_some_and(|p| p.starts_with("agent-"))
    );
    assert!(output.api_requests > 0);
    assert!(output.turns >= 1);
    // `pod_start` is `None` when the container ran between two watch events.
    assert!(output.timings.total >= output.timings.pod_start.unwrap_or_default());
    assert!(output.timings.total > output.timings.agent);
    let sent = world.endpoint.messages_requests();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].prompt().as_deref(), Some("what is 2+2"));
    // The key reached the CLI through the Secret.
    assert_eq!(sent[0].header("x-api-key"), Some(TEST_API_KEY));
    world.assert_no_leftovers().await;
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema, PartialEq)]
struct Count {
    answer: u32,
    unit: String,
}

#[tokio::test]
async fn cluster_provider_structured_output_into_a_struct() {
    let script = Script::new().rule(
        Rule::new(Matcher::any().with_tool_offered("StructuredOutput"))
            .tool_use("StructuredOutput", json!({"answer": 4, "unit": "apples"})),
    );
    let Some(world) = World::new(script).await else {
        return;
    };
    let provider = world.provider().await;

    let output = Agent::new("count the apples")
        .output::<Count>()
        .run(&provider)
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
async fn cluster_provider_bash_tool_runs_in_the_pod_and_events_follow_it() {
    // The pod's shell computes the value and reports its uid and host name: an echo of our
    // input could not produce them.
    let script = Script::new()
        .rule(
            Rule::new(Matcher::prompt_contains("run the check").without_tool_result()).tool_use(
                "Bash",
                json!({"command": "echo result-$((6 * 7)) uid-$(id -u) host-$(hostname)", "description": "compute"}),
            ),
        )
        .rule(
            Rule::new(Matcher::any().with_tool_result_containing("result-42"))
                .text("the check printed 42"),
        );
    let Some(world) = World::new(script).await else {
        return;
    };
    let provider = world.provider().await;

    let mut run = Agent::new("run the check")
        .allowed_tools(["Bash"])
        .start(&provider)
        .await
        .expect("the run starts");
    let pod = run.pod().map(str::to_owned).expect("a pod");
    let events = run.take_events().expect("events");
    let (events, output) = tokio::join!(events.collect::<Vec<_>>(), run.output());
    let output = output.expect("the agent answers");

    assert_eq!(output.text, "the check printed 42");
    let result = events
        .iter()
        .find_map(|event| match event {
            AgentEvent::ToolResult { content, .. } => Some(content.clone()),
            _ => None,
        })
        .expect("a tool result event");
    assert_eq!(result.trim(), format!("result-42 uid-1000 host-{pod}"));
    let kinds: Vec<&str> = events
        .iter()
        .map(|event| match event {
            AgentEvent::PodCreated { .. } => "created",
            AgentEvent::Pending { .. } => "pending",
            AgentEvent::Running => "running",
            AgentEvent::AssistantText { .. } => "text",
            AgentEvent::ToolCall { .. } => "tool-call",
            AgentEvent::ToolResult { .. } => "tool-result",
            AgentEvent::Result => "result",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds.first(), Some(&"created"), "{kinds:?}");
    for expected in ["running", "tool-call", "tool-result", "text", "result"] {
        assert!(
            kinds.contains(&expected),
            "{expected} missing from {kinds:?}"
        );
    }
    let position = |kind| kinds.iter().position(|k| *k == kind);
    assert!(position("tool-call") < position("tool-result"), "{kinds:?}");
    assert!(position("tool-result") < position("result"), "{kinds:?}");
}

#[tokio::test]
async fn cluster_provider_401_is_a_typed_api_error() {
    let script = Script::new().rule(Rule::new(Matcher::any()).error(401));
    let Some(world) = World::new(script).await else {
        return;
    };
    let provider = world.provider().await;

    let error = Agent::new("hello")
        .run(&provider)
        .await
        .expect_err("a 401 is not an answer");

    match &error {
        AgentError::Api {
            status, error_type, ..
        } => {
            assert_eq!(*status, Some(401), "{error}");
            assert_eq!(
                error_type.as_deref(),
                Some("authentication_error"),
                "{error}"
            );
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(!error.is_retryable());
    world.assert_no_leftovers().await;
}

#[tokio::test]
async fn cluster_provider_max_turns_is_a_typed_error() {
    let script = Script::new().rule(Rule::new(Matcher::any()).tool_use(
        "Bash",
        json!({"command": "echo again", "description": "loop"}),
    ));
    let Some(world) = World::new(script).await else {
        return;
    };
    let provider = world.provider().await;

    let error = Agent::new("loop forever")
        .allowed_tools(["Bash"])
        .max_turns(1)
        .run(&provider)
        .await
        .expect_err("the turn limit stops it");

    match &error {
        AgentError::MaxTurns { stats, .. } => assert!(stats.num_turns >= 1, "{error}"),
        other => panic!("expected MaxTurns, got {other:?}"),
    }
    assert!(error.run_stats().is_some());
}

#[tokio::test]
async fn cluster_provider_invalid_input_fails_before_any_request() {
    let Some(world) = World::new(Script::new()).await else {
        return;
    };
    let provider = world.provider().await;
    let before = provider.transport().total_requests();

    let agents = [
        Agent::new("  \n\t"),
        Agent::new("x").max_turns(0),
        Agent::new("x").max_budget_usd(-0.5),
        Agent::new("x").label("not a label!", "v"),
        Agent::from_claude_request(
            agentpod_claude_args::ClaudeRequest::new("go on").resume("some-session"),
        ),
    ];
    for agent in agents {
        let error = agent.run(&provider).await.expect_err("refused");
        assert!(error.is_invalid_input(), "{error:?}");
        // Through the trait object too.
        let dyn_provider: &dyn AgentProvider = &provider;
        let again = agent.run(dyn_provider).await.expect_err("refused");
        assert!(again.is_invalid_input(), "{again:?}");
    }

    assert_eq!(provider.transport().total_requests(), before);
    assert!(world.endpoint.requests().is_empty());
    let pods: Api<Pod> = world.ns.api();
    let listed = pods
        .list(&ListParams::default())
        .await
        .expect("pods listed");
    assert!(listed.items.is_empty());
}

#[tokio::test]
async fn cluster_provider_api_key_from_an_existing_secret() {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::PostParams;

    let script = Script::new().rule(Rule::new(Matcher::any()).text("keyed"));
    let Some(world) = World::new(script).await else {
        return;
    };
    let key = "key-from-existing-secret-4d2a";
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "anthropic"},
        "stringData": {"api-key": key},
    }))
    .expect("valid Secret");
    let secrets: Api<Secret> = world.ns.api();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("Secret created");
    let provider = world
        .provider_builder()
        .api_key_from_secret("anthropic", "api-key")
        .connect(agentpod_provider::ClusterConnection::kubeconfig_file(
            world.cluster.kubeconfig(),
        ))
        .await
        .expect("connects");

    let output = Agent::new("hello").run(&provider).await.expect("answers");

    assert_eq!(output.text, "keyed");
    let sent = world.endpoint.messages_requests();
    assert_eq!(sent[0].header("x-api-key"), Some(key));
    // The referenced Secret is the caller's: it stays.
    assert!(secrets.get_opt("anthropic").await.expect("read").is_some());
}

#[tokio::test]
async fn cluster_provider_missing_cli_is_no_result_with_the_shell_s_words() {
    let Some(world) = World::new(Script::new()).await else {
        return;
    };
    let provider = world
        .provider_builder()
        .claude_path("/nonexistent/claude")
        .build(
            agentpod_provider::ClusterConnection::kubeconfig_file(world.cluster.kubeconfig())
                .connect()
                .await
                .expect("connects"),
        );

    let error = Agent::new("hello")
        .run(&provider)
        .await
        .expect_err("no CLI, no result");

    match &error {
        AgentError::NoResult {
            exit, output_tail, ..
        } => {
            assert_eq!(exit.code, Some(127), "{error}");
            assert!(output_tail.contains("/nonexistent/claude"), "{error}");
        }
        other => panic!("expected NoResult, got {other:?}"),
    }
    assert!(world.endpoint.requests().is_empty());
    world.assert_no_leftovers().await;
}

#[tokio::test]
async fn cluster_provider_missing_image_is_an_infrastructure_error() {
    let Some(world) = World::new(Script::new()).await else {
        return;
    };
    let template = agentpod_podspec::AgentPodSpec::new("agentpod.local/no-such-image:1")
        .namespace(world.ns.name())
        .image_pull_policy(agentpod_podspec::ImagePullPolicy::IfNotPresent);
    let provider = agentpod_provider::K8sEphemeralProvider::builder(template)
        .connect(agentpod_provider::ClusterConnection::kubeconfig_file(
            world.cluster.kubeconfig(),
        ))
        .await
        .expect("connects");

    let error = Agent::new("hello")
        .run(&provider)
        .await
        .expect_err("the image does not exist");

    match &error {
        AgentError::Infrastructure { source } => assert!(
            matches!(
                **source,
                agentpod_transport::TransportError::CannotStart { ref reason, .. }
                    if reason.contains("ImagePull")
            ),
            "{error}"
        ),
        other => panic!("expected an infrastructure error, got {other:?}"),
    }
    assert!(!error.is_retryable());
    world.assert_no_leftovers().await;
}
