//! The bad-input corpus through the library: every entry ends in a typed error that says what
//! to change — before a single Kubernetes request is sent — or, where the input is odd but
//! legal (shell metacharacters, binary-ish text, a huge prompt), in a correct request. Never a
//! panic. The CLI's corpus is in `crates/cli/tests`.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentpod_podspec::{AgentPodSpec, ResourceKind, Resources};
use agentpod_provider::{
    Agent, AgentError, ClusterConnection, Credential, K8sEphemeralProvider, LocalProvider,
};
use agentpod_transport::Transport;
use http::{Request, Response};
use kube::client::Body;

/// A provider whose "cluster" counts requests and refuses them all.
fn counting_provider(template: AgentPodSpec) -> (K8sEphemeralProvider, Arc<AtomicUsize>) {
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    let service = tower::service_fn(move |_request: Request<Body>| {
        seen.fetch_add(1, Ordering::SeqCst);
        async move {
            Ok::<_, Infallible>(
                Response::builder()
                    .status(503)
                    .body(Body::from(b"{}".to_vec()))
                    .unwrap(),
            )
        }
    });
    let transport = Transport::from_client(kube::Client::new(service, "default"));
    let provider = K8sEphemeralProvider::builder(template)
        .api_key(Credential::Value("bad-input-key".into()))
        .build(transport);
    (provider, requests)
}

fn template() -> AgentPodSpec {
    AgentPodSpec::new("img").namespace("agents")
}

/// Runs `agent` against a counting provider; returns the error and the requests sent.
async fn refused(agent: Agent, template: AgentPodSpec) -> (AgentError, usize) {
    let (provider, requests) = counting_provider(template);
    let error = agent
        .run(&provider)
        .await
        .expect_err("bad input is refused");
    (error, requests.load(Ordering::SeqCst))
}

#[tokio::test]
async fn invalid_requests_are_refused_before_any_request() {
    let corpus: Vec<(&str, Agent)> = vec![
        ("empty prompt", Agent::new("")),
        ("blank prompt", Agent::new(" \n\t ")),
        ("zero max turns", Agent::new("x").max_turns(0)),
        ("negative budget", Agent::new("x").max_budget_usd(-1.0)),
        ("NaN budget", Agent::new("x").max_budget_usd(f64::NAN)),
        (
            "infinite budget",
            Agent::new("x").max_budget_usd(f64::INFINITY),
        ),
        ("empty model", Agent::new("x").model("")),
        (
            "model with a newline",
            Agent::new("x").model("opus\n--bogus"),
        ),
        (
            "label key with a space",
            Agent::new("x").label("bad key", "v"),
        ),
        (
            "label value too long",
            Agent::new("x").label("k", "v".repeat(64)),
        ),
        (
            "label value with a slash",
            Agent::new("x").label("k", "a/b"),
        ),
    ];
    for (name, agent) in corpus {
        let (error, requests) = refused(agent, template()).await;
        assert!(
            error.is_invalid_input(),
            "{name}: expected invalid input, got {error:?}"
        );
        assert!(!error.is_retryable(), "{name}");
        assert_eq!(
            requests, 0,
            "{name}: {requests} requests sent before the refusal"
        );
        let text = error.to_string();
        assert!(
            !text.contains("Some(") && !text.is_empty(),
            "{name}: {text}"
        );
    }
}

#[tokio::test]
async fn invalid_pod_options_are_refused_before_any_request() {
    let corpus: Vec<(&str, AgentPodSpec)> = vec![
        (
            "namespace with capitals",
            AgentPodSpec::new("img").namespace("Agents"),
        ),
        ("empty image", AgentPodSpec::new("")),
        (
            "negative memory",
            template().resources(Resources::default().limit(ResourceKind::Memory, "-1Gi")),
        ),
        (
            "quantity with a space",
            template().resources(Resources::default().limit(ResourceKind::Cpu, "1 core")),
        ),
        (
            "request above limit",
            template().resources(
                Resources::default()
                    .request(ResourceKind::Memory, "2Gi")
                    .limit(ResourceKind::Memory, "1Gi"),
            ),
        ),
        (
            "service account with a slash",
            template().service_account("a/b"),
        ),
        (
            "label on the template with a newline",
            template().label("k", "a\nb"),
        ),
    ];
    for (name, template) in corpus {
        let (error, requests) = refused(Agent::new("x"), template).await;
        assert!(
            matches!(error, AgentError::InvalidPod { .. }),
            "{name}: expected InvalidPod, got {error:?}"
        );
        assert_eq!(requests, 0, "{name}");
    }
}

#[tokio::test]
async fn odd_but_legal_prompts_become_requests() {
    let huge = "x".repeat(10 * 1024 * 1024);
    let corpus: Vec<(&str, String)> = vec![
        (
            "shell metacharacters",
            "$(rm -rf /); `id` '\"' && echo $HOME | cat > /etc/x".into(),
        ),
        ("control characters", "a\u{1}b\u{7f}c\r\n\t".into()),
        ("non-ASCII", "é語🙂 \u{202e}reversed".into()),
        ("leading dash", "--dangerously-skip-permissions".into()),
        ("10 MiB", huge),
    ];
    for (name, prompt) in corpus {
        let request = Agent::new(prompt.clone()).request();
        let request = request.unwrap_or_else(|error| panic!("{name}: refused: {error}"));
        assert_eq!(
            request.claude().prompt,
            prompt,
            "{name}: the prompt is kept byte for byte"
        );
    }
}

#[tokio::test]
async fn a_prompt_with_nul_is_refused_or_kept_whole() {
    // NUL cannot travel in argv; it may in a Secret or on stdin. Either way: no panic, and no
    // silently shortened prompt.
    let prompt = "before\0after";
    match Agent::new(prompt).request() {
        Ok(request) => assert_eq!(request.claude().prompt, prompt),
        Err(error) => assert!(error.is_invalid_input(), "{error:?}"),
    }
}

#[tokio::test]
async fn malformed_kubeconfigs_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, b"\0\x01 this: [is not: a kubeconfig").unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let no_cluster = dir.path().join("no-cluster");
    std::fs::write(
        &no_cluster,
        b"apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n",
    )
    .unwrap();
    let connections = [
        (
            "missing file",
            ClusterConnection::kubeconfig_file(dir.path().join("absent")),
        ),
        ("garbage", ClusterConnection::kubeconfig_file(&garbage)),
        ("empty", ClusterConnection::kubeconfig_file(&empty)),
        (
            "no cluster",
            ClusterConnection::kubeconfig_file(&no_cluster),
        ),
        (
            "unknown context",
            ClusterConnection::kubeconfig_file(&no_cluster).context("nowhere"),
        ),
        (
            "inline garbage",
            ClusterConnection::inline_kubeconfig("{{{{"),
        ),
    ];
    for (name, connection) in connections {
        let result = tokio::time::timeout(
            Duration::from_secs(30),
            K8sEphemeralProvider::builder(template()).connect(connection),
        )
        .await
        .unwrap_or_else(|_| panic!("{name}: connect hung"));
        let Err(error) = result else {
            panic!("{name}: connected to nothing");
        };
        let text = error.to_string();
        assert!(
            matches!(error, AgentError::Infrastructure { .. }) && !text.contains("Some("),
            "{name}: {error:?}"
        );
    }
}

#[tokio::test]
async fn a_missing_claude_binary_is_a_typed_local_error() {
    let provider = LocalProvider::builder()
        .claude_path("/nonexistent/claude")
        .api_key("k")
        .build();
    let error = Agent::new("x")
        .run(&provider)
        .await
        .expect_err("nothing to run");
    assert!(
        matches!(
            error,
            AgentError::Local { .. } | AgentError::NoResult { .. }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn shell_metacharacters_reach_the_model_byte_for_byte() {
    use agentpod_e2e::local::LocalWorld;
    use agentpod_testkit::model::{Matcher, Rule, Script};
    let prompt = "$(touch /tmp/agentpod-pwned); `id` '\"' && echo $HOME | cat; \\n é語";
    let world = LocalWorld::new(
        Script::new().rule(Rule::new(Matcher::prompt_contains(prompt)).text("exact")),
    )
    .await;
    let output = Agent::new(prompt)
        .run(&world.provider())
        .await
        .expect("the prompt is an ordinary prompt");
    assert_eq!(output.text, "exact", "the model saw the prompt unchanged");
    assert!(!std::path::Path::new("/tmp/agentpod-pwned").exists());
}
