//! The pod a request becomes: what is in the Pod object, what is in Secrets.

use std::time::{Duration, UNIX_EPOCH};

use agentpod_claude_args::JsonOrPath;
use agentpod_podspec::AgentPodSpec;
use serde_json::json;

use super::pod::{NONESSENTIAL_TRAFFIC_VAR, PROMPT_IN_INPUTS_MAX, PodPlan, plan};
use super::{Credential, K8sEphemeralProvider, Settings};
use crate::{Agent, AgentError};

const PROMPT: &str = "prompt-marker-7f3a: fix the flaky test";
const KEY: &str = "sk-ant-secret-marker-91c2";
const SYSTEM: &str = "system-marker-55d1: be terse";
const MCP_TOKEN: &str = "mcp-token-marker-0b7e";

fn settings() -> Settings {
    K8sEphemeralProvider::builder(AgentPodSpec::new("runner:1").namespace("agents"))
        .api_key(Credential::Value(KEY.into()))
        .oauth_token(Credential::FromSecret {
            secret: "oauth".into(),
            key: "token".into(),
        })
        .base_url("http://10.0.0.1:8080")
        .settings
}

fn plan_for(agent: Agent) -> Result<PodPlan, AgentError> {
    let request = agent.request()?;
    plan(
        &settings(),
        &request,
        UNIX_EPOCH + Duration::from_secs(1_767_225_600),
    )
}

fn rendered(agent: Agent) -> PodPlan {
    match plan_for(agent) {
        Ok(plan) => plan,
        Err(error) => panic!("plan failed: {error}"),
    }
}

fn to_yaml<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[test]
fn prompt_system_prompt_documents_and_credentials_stay_out_of_the_pod() {
    let plan = rendered(
        Agent::new(PROMPT)
            .system_prompt(SYSTEM)
            .mcp_config(JsonOrPath::Json(
                json!({"mcpServers": {"x": {"type": "http", "url": "http://x", "headers": {"Authorization": MCP_TOKEN}}}}),
            ))
            .label("team", "infra"),
    );
    let pod = to_yaml(&plan.rendered.pod);
    for secret in [PROMPT, KEY, SYSTEM, MCP_TOKEN] {
        assert!(
            !pod.contains(secret),
            "{secret} is in the Pod object: {pod}"
        );
    }
    // …and they are in the inputs Secret.
    let secrets = to_yaml(&plan.rendered.secrets);
    assert_eq!(plan.rendered.secrets.len(), 1);
    let data = &plan.rendered.secrets[0].data;
    let values: Vec<String> = data
        .iter()
        .flatten()
        .map(|(_, v)| String::from_utf8_lossy(&v.0).into_owned())
        .collect();
    for secret in [PROMPT, KEY, SYSTEM, MCP_TOKEN] {
        assert!(
            values.iter().any(|v| v.contains(secret)),
            "{secret} missing from {secrets}"
        );
    }
    assert!(pod.contains(NONESSENTIAL_TRAFFIC_VAR));
    assert!(pod.contains(r#""team":"infra""#));
    // The OAuth token is referenced, never copied.
    assert!(
        pod.contains(r#""secretKeyRef":{"key":"token","name":"oauth"}"#),
        "{pod}"
    );
    assert!(plan.rendered.name().starts_with("agent-"));
}

#[test]
fn session_options_are_refused_before_anything_is_rendered() {
    let resume = agentpod_claude_args::ClaudeRequest::new("go on").resume("abc");
    let error = plan_for(Agent::from_claude_request(resume));
    assert!(
        matches!(
            error,
            Err(AgentError::Unsupported {
                option: "resume",
                ..
            })
        ),
        "{:?}",
        error.err()
    );
    let cont = agentpod_claude_args::ClaudeRequest::new("go on").continue_conversation(true);
    assert!(matches!(
        plan_for(Agent::from_claude_request(cont)),
        Err(AgentError::Unsupported { .. })
    ));
}

#[test]
fn a_bad_label_is_a_pod_error_before_any_request() {
    let error = plan_for(Agent::new("x").label("bad key!", "v"));
    assert!(
        matches!(&error, Err(e @ AgentError::InvalidPod { .. }) if e.is_invalid_input()),
        "{:?}",
        error.err()
    );
}

#[test]
fn a_large_prompt_is_split_over_secrets_and_piped_to_the_cli() {
    let prompt = "x".repeat(2 * 1024 * 1024);
    let plan = match plan(
        &Settings {
            context_window_tokens: None,
            ..settings()
        },
        &Agent::new(prompt.clone())
            .request()
            .unwrap_or_else(|e| panic!("{e}")),
        UNIX_EPOCH,
    ) {
        Ok(plan) => plan,
        Err(error) => panic!("{error}"),
    };
    let secrets = &plan.rendered.secrets;
    // The inputs Secret (the key) and three parts of at most 768 KiB.
    assert_eq!(
        secrets.len(),
        4,
        "{:?}",
        secrets.iter().map(|s| &s.metadata.name).collect::<Vec<_>>()
    );
    let mut joined = Vec::new();
    for secret in &secrets[1..] {
        let data = secret.data.as_ref().and_then(|d| d.get("part"));
        let Some(part) = data else {
            panic!("part missing")
        };
        assert!(part.0.len() <= 768 * 1024);
        joined.extend_from_slice(&part.0);
        let labels = secret.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get("agentpod.dev/pod").map(String::as_str),
            Some(plan.rendered.name())
        );
    }
    assert_eq!(joined, prompt.as_bytes());
    assert!(prompt.len() > PROMPT_IN_INPUTS_MAX);
    let pod = to_yaml(&plan.rendered.pod);
    assert!(!pod.contains(&prompt[..1000]));
    let command = plan
        .rendered
        .pod
        .spec
        .as_ref()
        .map(|s| s.containers[0].command.clone());
    let line = command
        .flatten()
        .and_then(|c| c.get(2).cloned())
        .unwrap_or_default();
    assert!(
        line.starts_with("cat /var/run/agentpod/prompt/1/part /var/run/agentpod/prompt/2/part /var/run/agentpod/prompt/3/part | { "),
        "{line}"
    );
}

#[test]
fn credential_debug_is_redacted() {
    let debug = format!("{:?} {:?}", Credential::Value(KEY.into()), settings());
    assert!(!debug.contains(KEY), "{debug}");
}

#[test]
fn oauth_credentials_from_a_secret_are_mounted_and_copied_not_inlined() {
    let settings = Settings {
        oauth_credentials: Some(Credential::FromSecret {
            secret: "claude-oauth".into(),
            key: "credentials.json".into(),
        }),
        ..settings()
    };
    let request = Agent::new("x").request().unwrap_or_else(|e| panic!("{e}"));
    let plan = plan(&settings, &request, UNIX_EPOCH).unwrap_or_else(|e| panic!("{e}"));
    let pod = to_yaml(&plan.rendered.pod);
    assert!(pod.contains(r#""secretName":"claude-oauth""#), "{pod}");
    assert!(
        pod.contains("/var/run/agentpod/oauth/credentials.json"),
        "{pod}"
    );
}

#[test]
fn render_is_the_plan_stamped_as_the_transport_creates_it() {
    let now = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let builder = K8sEphemeralProvider::builder(AgentPodSpec::new("runner:1").namespace("agents"))
        .api_key(Credential::Value(KEY.into()));
    let request = match Agent::new(PROMPT)
        .run_timeout(Duration::from_secs(60))
        .request()
    {
        Ok(request) => request,
        Err(error) => panic!("request refused: {error}"),
    };
    let rendered = match builder.render(&request, now) {
        Ok(rendered) => rendered,
        Err(error) => panic!("render failed: {error}"),
    };
    // The request's own run timeout shapes the deadline, as in `start`.
    let options = agentpod_transport::RunOptions::default().run_timeout(Duration::from_secs(60));
    let spec = rendered.pod.spec.as_ref();
    assert_eq!(
        spec.and_then(|s| s.active_deadline_seconds),
        Some(options.active_deadline_seconds())
    );
    for meta in
        std::iter::once(&rendered.pod.metadata).chain(rendered.secrets.iter().map(|s| &s.metadata))
    {
        let annotations = meta.annotations.clone().unwrap_or_default();
        assert!(
            annotations.contains_key(agentpod_podspec::labels::EXPIRES_AT_ANNOTATION),
            "{annotations:?}"
        );
        assert_eq!(
            annotations
                .get(agentpod_transport::RUN_TOKEN_ANNOTATION)
                .map(String::as_str),
            Some(agentpod_transport::PREVIEW_RUN_TOKEN)
        );
    }
    // Otherwise it is the plan `start` creates: same container, same Secret keys.
    let plan = match plan(&builder.settings, &request, now) {
        Ok(plan) => plan,
        Err(error) => panic!("plan failed: {error}"),
    };
    // (Each render draws a fresh name.)
    let containers = |pod: &k8s_openapi::api::core::v1::Pod, name: &str| {
        to_yaml(&pod.spec.as_ref().map(|spec| spec.containers.clone())).replace(name, "<name>")
    };
    assert_eq!(
        containers(&rendered.pod, rendered.name()),
        containers(&plan.rendered.pod, plan.rendered.name())
    );
    let keys = |secrets: &[k8s_openapi::api::core::v1::Secret]| {
        secrets
            .iter()
            .map(|s| {
                s.data
                    .clone()
                    .unwrap_or_default()
                    .into_keys()
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&rendered.secrets), keys(&plan.rendered.secrets));
}
