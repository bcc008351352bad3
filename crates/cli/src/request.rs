//! From the command line to the library's types: the prompt, the `Agent`, the providers.
//!
//! `run` and `render` build the `K8sEphemeralProviderBuilder` with the same function
//! ([`ephemeral_builder`]), so what `render` prints is what `run` sends: both end in the
//! provider's own pod rendering.

use std::io::Read as _;
use std::path::Path;

use agentpod_claude_args::{ClaudeRequest, PermissionMode};
use agentpod_podspec::AgentPodSpec;
use agentpod_podspec::consts::DEFAULT_NAMESPACE;
use agentpod_provider::{
    Agent, ClusterConnection, Credential, K8sEphemeralProvider, K8sEphemeralProviderBuilder,
    LocalProvider, LocalProviderBuilder,
};

use crate::args::{AgentArgs, ClusterArgs, PodArgs};
use crate::failure::Failure;

/// The variable the API key is read from (never a flag: argv is visible to every user).
pub const API_KEY_ENV: &str = "ANTHROPIC_API_KEY";
/// The variable the OAuth token is read from.
pub const OAUTH_TOKEN_ENV: &str = "CLAUDE_CODE_OAUTH_TOKEN";

/// The prompt: the text itself, `@FILE`, or `-` for stdin.
pub fn read_prompt(given: Option<&str>) -> Result<String, Failure> {
    match given {
        None => Err(Failure::Usage(
            "no prompt: give the task as an argument, as @FILE, or as - to read it from stdin"
                .into(),
        )),
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|error| {
                    Failure::Usage(format!("cannot read the prompt from stdin: {error}"))
                })?;
            Ok(text)
        }
        Some(text) => match text.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path).map_err(|error| {
                Failure::Usage(format!("cannot read the prompt file {path}: {error}"))
            }),
            None => Ok(text.to_owned()),
        },
    }
}

fn read_schema(path: &Path) -> Result<serde_json::Value, Failure> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        Failure::Usage(format!(
            "cannot read the JSON schema file {}: {error}",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|error| {
        Failure::Usage(format!(
            "the JSON schema file {} is not valid JSON: {error}",
            path.display()
        ))
    })
}

/// The agent the flags describe.
pub fn agent(prompt: String, args: &AgentArgs, pod: &PodArgs) -> Result<Agent, Failure> {
    let mut claude = ClaudeRequest::new(prompt);
    claude.model.clone_from(&args.model);
    claude.fallback_models.clone_from(&args.fallback_model);
    claude.system_prompt.clone_from(&args.system_prompt);
    claude
        .append_system_prompt
        .clone_from(&args.append_system_prompt);
    claude.allowed_tools.clone_from(&args.allowed_tools);
    claude.disallowed_tools.clone_from(&args.disallowed_tools);
    claude.max_turns = args.max_turns;
    claude.max_budget_usd = args.max_budget_usd;
    claude.permission_mode = args.permission_mode;
    // Naming the mode on the command line is the explicit opt-in the request asks for.
    claude.allow_bypass_permissions =
        args.permission_mode == Some(PermissionMode::BypassPermissions);
    claude.effort = args.effort;
    if let Some(path) = &args.json_schema {
        claude.json_schema = Some(read_schema(path)?);
    }
    let mut agent = Agent::from_claude_request(claude);
    for (key, value) in &pod.label {
        agent = agent.label(key.clone(), value.clone());
    }
    if let Some(timeout) = pod.start_timeout {
        agent = agent.start_timeout(timeout);
    }
    if let Some(timeout) = pod.run_timeout {
        agent = agent.run_timeout(timeout);
    }
    Ok(agent)
}

fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Whether any credential is configured (else the agent relies on the image's own login).
pub fn has_credentials(pod: &PodArgs) -> bool {
    pod.api_key_secret.is_some()
        || env_value(API_KEY_ENV).is_some()
        || env_value(OAUTH_TOKEN_ENV).is_some()
}

/// The pod provider's builder: `run` connects it, `render` renders with it.
pub fn ephemeral_builder(pod: &PodArgs) -> Result<K8sEphemeralProviderBuilder, Failure> {
    let image = pod.image.clone().ok_or_else(|| {
        Failure::Usage(
            "no image: pass --image IMAGE (an image with the claude CLI), set AGENTPOD_IMAGE, or set `image` in the config file"
                .into(),
        )
    })?;
    let namespace = pod
        .namespace
        .clone()
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    let mut template = AgentPodSpec::new(image).namespace(namespace);
    for (name, value) in &pod.env {
        template = template.env(name.clone(), value.clone());
    }
    for (name, reference) in &pod.secret_env {
        template = template.env_from_secret(
            name.clone(),
            reference.secret.clone(),
            reference.key.clone(),
        );
    }
    let mut builder = K8sEphemeralProvider::builder(template);
    if let Some(path) = &pod.claude_path {
        builder = builder.claude_path(path.clone());
    }
    if let Some(url) = &pod.base_url {
        builder = builder.base_url(url.clone());
    }
    if let Some(reference) = &pod.api_key_secret {
        builder = builder.api_key_from_secret(reference.secret.clone(), reference.key.clone());
    } else if let Some(key) = env_value(API_KEY_ENV) {
        builder = builder.api_key(Credential::Value(key));
    }
    if let Some(token) = env_value(OAUTH_TOKEN_ENV) {
        builder = builder.oauth_token(Credential::Value(token));
    }
    Ok(builder)
}

/// The local provider's builder (`--provider local`).
pub fn local_builder(pod: &PodArgs) -> Result<LocalProviderBuilder, Failure> {
    if pod.api_key_secret.is_some() {
        return Err(Failure::Usage(
            "--api-key-secret reads a Kubernetes Secret, which --provider local has not; set ANTHROPIC_API_KEY instead"
                .into(),
        ));
    }
    if !pod.secret_env.is_empty() {
        return Err(Failure::Usage(
            "--secret-env reads a Kubernetes Secret, which --provider local has not; use --env or the environment instead"
                .into(),
        ));
    }
    let mut builder = LocalProvider::builder();
    if let Some(path) = &pod.claude_path {
        builder = builder.claude_path(path.clone());
    }
    if let Some(url) = &pod.base_url {
        builder = builder.base_url(url.clone());
    }
    if let Some(key) = env_value(API_KEY_ENV) {
        builder = builder.api_key(key);
    }
    if let Some(token) = env_value(OAUTH_TOKEN_ENV) {
        builder = builder.oauth_token(token);
    }
    for (name, value) in &pod.env {
        builder = builder.env(name.clone(), value.clone());
    }
    Ok(builder)
}

/// The cluster the flags name.
pub fn connection(cluster: &ClusterArgs) -> ClusterConnection {
    let mut connection = match &cluster.kubeconfig {
        Some(path) => ClusterConnection::kubeconfig_file(path.clone()),
        None => ClusterConnection::default(),
    };
    if let Some(context) = &cluster.context {
        connection = connection.context(context.clone());
    }
    connection
}
