use super::*;
use crate::{Agent, K8sEphemeralProvider};

fn settings() -> Settings {
    K8sEphemeralProvider::builder("img")
        .base_url("http://10.0.0.1:9")
        .into_settings()
}

fn credentials(key: &str) -> RunCredentials {
    RunCredentials {
        api_key: Some(key.to_owned()),
        ..RunCredentials::default()
    }
}

#[test]
fn the_key_and_the_prompt_travel_on_stdin_only() {
    let request = Agent::new("the secret task").request().unwrap();
    let plan = plan(
        &settings(),
        &credentials("sk-ant-run-1"),
        "/tmp",
        "r1",
        &request,
    )
    .unwrap();
    let argv = plan.exec.command.join("\u{1}");
    assert!(!argv.contains("sk-ant-run-1"), "key in argv");
    assert!(!argv.contains("the secret task"), "prompt in argv");
    assert!(argv.contains("env:ANTHROPIC_API_KEY"), "{argv}");
    let stdin = String::from_utf8(plan.exec.stdin.clone()).unwrap();
    assert!(stdin.contains("sk-ant-run-1"));
    assert!(stdin.ends_with("the secret task"));
    // Debug shows neither.
    let debug = format!("{:?} {:?}", plan.exec, credentials("sk-ant-run-1"));
    assert!(
        !debug.contains("sk-ant-run-1") && !debug.contains("secret task"),
        "{debug}"
    );
}

#[test]
fn the_frame_header_counts_each_section_then_the_prompt() {
    let sections = vec![
        ("env:A".to_owned(), b"xy".to_vec()),
        ("file:f.json".to_owned(), b"{}\n".to_vec()),
    ];
    let exec = frame("/tmp", "r1", "exec claude -p", &sections, b"hello");
    assert_eq!(
        exec.command[3..],
        [
            "agentpod-pool",
            "/tmp",
            "r1",
            "exec claude -p",
            "env:A",
            "file:f.json"
        ]
    );
    assert_eq!(exec.stdin, b"2 3 5\nxy{}\nhello");
}

#[test]
fn credentials_from_secrets_and_sessions_are_refused() {
    let secret = K8sEphemeralProvider::builder("img")
        .api_key_from_secret("s", "k")
        .into_settings();
    assert!(matches!(
        RunCredentials::from_settings(&secret),
        Err(AgentError::Unsupported { .. })
    ));
    let resume = agentpod_claude_args::ClaudeRequest::new("go on").resume("abc");
    let request = Agent::from_claude_request(resume).request().unwrap();
    assert!(matches!(
        plan(
            &settings(),
            &RunCredentials::default(),
            "/tmp",
            "r1",
            &request
        ),
        Err(AgentError::Unsupported {
            option: "resume",
            ..
        })
    ));
}

#[tokio::test]
async fn invalid_pool_options_are_refused_before_anything_is_sent() {
    use crate::{K8sPoolProvider, PoolOptions};
    // A client that is never used: every case fails before a request.
    let kubeconfig = "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
        clusters: [{name: k, cluster: {server: 'http://127.0.0.1:9'}}]\n\
        contexts: [{name: c, context: {cluster: k, user: u}}]\nusers: [{name: u, user: {}}]\n";
    let transport = crate::ClusterConnection::inline_kubeconfig(kubeconfig)
        .connect()
        .await
        .unwrap();
    for options in [
        PoolOptions::default().max(0),
        PoolOptions::default().min(3).max(2),
        PoolOptions::default().max_waiters(0),
        PoolOptions::default().claim_ttl(std::time::Duration::from_secs(1)),
        PoolOptions::default().name("not a label value!"),
    ] {
        let built = K8sPoolProvider::builder(K8sEphemeralProvider::builder("img"), options.clone())
            .build(transport.clone());
        assert!(built.is_err(), "{options:?} was accepted");
    }
    let secret = K8sEphemeralProvider::builder("img").api_key_from_secret("s", "k");
    assert!(matches!(
        K8sPoolProvider::builder(secret, PoolOptions::default()).build(transport),
        Err(AgentError::Unsupported { .. })
    ));
}
