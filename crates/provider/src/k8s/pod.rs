//! The one place where an agent request becomes a pod: the command from `agentpod-claude-args`,
//! its needs (credentials, input files, variables) met with `agentpod-podspec`'s secret inputs.
//!
//! The rule this module keeps: **the prompt, the system prompts, inline documents and every
//! credential stay out of the Pod object.** They travel in Secrets (the podspec inputs Secret,
//! and for prompts over [`PROMPT_IN_INPUTS_MAX`] extra Secrets of at most [`PROMPT_PART_BYTES`]),
//! and the pod refers to them by `secretKeyRef` or a Secret volume. Argv holds flags only.

use std::collections::BTreeMap;
use std::time::SystemTime;

use agentpod_claude_args::env::{API_KEY_VAR, OAUTH_TOKEN_VAR};
use agentpod_claude_args::{
    BuildOptions, ClaudeCommand, CredentialSource, Credentials, EnvValue, LargePromptDelivery,
};
use agentpod_podspec::labels::POD_NAME_LABEL;
use agentpod_podspec::{PodName, RenderedPod, Volume, VolumeMount};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Credential, Settings};
use crate::{AgentError, AgentRequest, Result};

/// Prompts up to this size travel in the inputs Secret (one Secret per run).
pub(crate) const PROMPT_IN_INPUTS_MAX: usize = 512 * 1024;
/// Larger prompts are split over Secrets of this many bytes each (Kubernetes stores at most
/// 1 MiB per Secret).
pub(crate) const PROMPT_PART_BYTES: usize = 768 * 1024;
/// Where the parts of a large prompt are mounted (`<dir>/<n>/part`).
const PROMPT_PARTS_DIR: &str = "/var/run/agentpod/prompt";
/// The variable that keeps the CLI from any traffic besides the model API.
pub(crate) const NONESSENTIAL_TRAFFIC_VAR: &str = "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC";
const OAUTH_CREDENTIALS_KEY: &str = "oauth-credentials.json";
/// Where an OAuth credentials file from an existing Secret is mounted (`<dir>/<key>`).
const OAUTH_SECRET_DIR: &str = "/var/run/agentpod/oauth";
const OAUTH_SECRET_VOLUME: &str = "agentpod-oauth";
const PROMPT_KEY: &str = "prompt.txt";

/// A rendered run: the objects to create and the command whose output is parsed.
pub(crate) struct PodPlan {
    pub(crate) rendered: RenderedPod,
    pub(crate) command: ClaudeCommand,
}

/// Refuses what a pod that dies with its run (or a warm pod emptied after each run) cannot do.
pub(crate) fn refuse_sessions(request: &AgentRequest, provider: &'static str) -> Result<()> {
    const REASON: &str = "the session transcript is deleted with the run's pod or home, so there is nothing to resume; \
                          run the follow-up as a new request with the context in the prompt";
    let claude = request.claude();
    let option = if claude.resume.is_some() {
        "resume"
    } else if claude.continue_conversation {
        "continue_conversation"
    } else if claude.session_id.is_some() {
        "session_id"
    } else {
        return Ok(());
    };
    Err(AgentError::Unsupported {
        provider,
        option,
        reason: REASON,
    })
}

/// Builds the pod of one run.
pub(crate) fn plan(
    settings: &Settings,
    request: &AgentRequest,
    now: SystemTime,
) -> Result<PodPlan> {
    refuse_sessions(request, "K8sEphemeralProvider")?;
    let name = PodName::generated(settings.name_prefix.clone())
        .resolve(now)
        .map_err(AgentError::from)?;
    let mut spec = settings
        .template
        .clone()
        .name(PodName::explicit(name.clone()));
    let inputs_path = |key: &str| spec.inputs_file_path(key);

    // System prompts go to files too: they are part of the task.
    let mut claude = request.claude().clone();
    let mut secret_files: Vec<(String, String)> = Vec::new();
    if let Some(text) = claude.system_prompt.take() {
        claude.system_prompt_file = Some(inputs_path("system-prompt.txt"));
        secret_files.push(("system-prompt.txt".into(), text));
    }
    if let Some(text) = claude.append_system_prompt.take() {
        claude.append_system_prompt_file = Some(inputs_path("append-system-prompt.txt"));
        secret_files.push(("append-system-prompt.txt".into(), text));
    }

    let split = claude.prompt.len() > PROMPT_IN_INPUTS_MAX;
    // The template's inputs directory: podspec answers with `<dir>/<key>` for any key.
    let inputs_dir = inputs_path("x")
        .strip_suffix("/x")
        .map(str::to_owned)
        .unwrap_or_default();
    let mut credentials = Credentials::default();
    if settings.api_key.is_some() {
        credentials = credentials.api_key(CredentialSource::Environment);
    }
    if settings.oauth_token.is_some() {
        credentials = credentials.oauth_token(CredentialSource::Environment);
    }
    match &settings.oauth_credentials {
        Some(Credential::Value(_)) => {
            credentials = credentials.oauth_credentials_file(inputs_path(OAUTH_CREDENTIALS_KEY));
        }
        Some(Credential::FromSecret { key, .. }) => {
            credentials = credentials.oauth_credentials_file(format!("{OAUTH_SECRET_DIR}/{key}"));
        }
        None => {}
    }
    if let Some(url) = &settings.base_url {
        credentials = credentials.base_url(url.clone());
    }
    let options = BuildOptions::default()
        .claude_path(settings.claude_path.clone())
        // Never inline: the prompt stays out of argv and so out of the Pod object.
        .inline_prompt_limit_bytes(0)
        .large_prompt(if split {
            LargePromptDelivery::Stdin
        } else {
            LargePromptDelivery::File {
                path: inputs_path(PROMPT_KEY),
            }
        })
        .inputs_dir(inputs_dir)
        .context_window_tokens(settings.context_window_tokens)
        .credentials(credentials);
    let command = ClaudeCommand::build(&claude, &options)
        .map_err(|source| AgentError::InvalidRequest { source })?;

    // The command's needs, met with podspec's secret inputs.
    for var in command.env() {
        spec = match &var.value {
            EnvValue::Blank => spec.blank_env([var.name.as_str()]),
            EnvValue::Plain(value) => spec.env(var.name.clone(), value.clone()),
            EnvValue::Credential => {
                let source = match var.name.as_str() {
                    API_KEY_VAR => settings.api_key.as_ref(),
                    OAUTH_TOKEN_VAR => settings.oauth_token.as_ref(),
                    _ => None,
                };
                match source {
                    Some(Credential::Value(value)) => {
                        spec.secret_env(var.name.clone(), value.as_bytes())
                    }
                    Some(Credential::FromSecret { secret, key }) => {
                        spec.env_from_secret(var.name.clone(), secret.clone(), key.clone())
                    }
                    None => {
                        return Err(AgentError::Unsupported {
                            provider: "K8sEphemeralProvider",
                            option: "credential",
                            reason: "the command needs a credential this provider does not know",
                        });
                    }
                }
            }
            _ => spec,
        };
    }
    match &settings.oauth_credentials {
        Some(Credential::Value(json)) => {
            spec = spec.secret_file(OAUTH_CREDENTIALS_KEY, json.as_bytes());
        }
        Some(Credential::FromSecret { secret, .. }) => {
            spec = spec
                .volume(Volume::secret(OAUTH_SECRET_VOLUME, secret.clone()))
                .mount(VolumeMount::new(OAUTH_SECRET_VOLUME, OAUTH_SECRET_DIR).read_only());
        }
        None => {}
    }
    for file in command.input_files() {
        spec = spec.secret_file(file.file_name().to_owned(), file.contents.as_bytes());
    }
    for (key, text) in secret_files {
        spec = spec.secret_file(key, text.into_bytes());
    }
    spec = spec.env(NONESSENTIAL_TRAFFIC_VAR, "1");
    for (key, value) in request.labels() {
        spec = spec.label(key.clone(), value.clone());
    }

    let parts = if split {
        claude.prompt.as_bytes().chunks(PROMPT_PART_BYTES).collect()
    } else {
        Vec::new()
    };
    let mut part_paths = Vec::new();
    for index in 1..=parts.len() {
        let volume = format!("agentpod-prompt-{index}");
        let dir = format!("{PROMPT_PARTS_DIR}/{index}");
        part_paths.push(format!("{dir}/part"));
        spec = spec
            .volume(Volume::secret(
                volume.clone(),
                part_secret_name(&name, index),
            ))
            .mount(VolumeMount::new(volume, dir).read_only());
    }
    let line = command.shell_line().map_err(AgentError::from)?;
    spec = if part_paths.is_empty() {
        spec.command(command.sh_c_argv().map_err(AgentError::from)?)
    } else {
        // Our own fixed paths: nothing in them needs quoting.
        let cat = format!("cat {} | {{ {line}; }}", part_paths.join(" "));
        spec.command(["sh".to_owned(), "-c".to_owned(), cat])
    };

    let mut rendered = spec.render(now).map_err(AgentError::from)?;
    let pod_labels = rendered.pod.metadata.labels.clone().unwrap_or_default();
    for (index, part) in parts.into_iter().enumerate() {
        rendered
            .secrets
            .push(part_secret(&name, &rendered, index + 1, &pod_labels, part));
    }
    Ok(PodPlan { rendered, command })
}

fn part_secret_name(pod: &str, index: usize) -> String {
    format!("{pod}-prompt-{index}")
}

/// A Secret holding one part of a large prompt, labelled like the inputs Secret so that the
/// transport stamps, owns and deletes it and the reaper finds it.
fn part_secret(
    pod: &str,
    rendered: &RenderedPod,
    index: usize,
    pod_labels: &BTreeMap<String, String>,
    part: &[u8],
) -> Secret {
    let mut labels = pod_labels.clone();
    labels.insert(POD_NAME_LABEL.to_owned(), pod.to_owned());
    Secret {
        metadata: ObjectMeta {
            name: Some(part_secret_name(pod, index)),
            namespace: Some(rendered.namespace().to_owned()),
            labels: Some(labels),
            annotations: rendered.pod.metadata.annotations.clone(),
            ..ObjectMeta::default()
        },
        immutable: Some(true),
        type_: Some("Opaque".to_owned()),
        data: Some(BTreeMap::from([(
            "part".to_owned(),
            ByteString(part.to_vec()),
        )])),
        ..Secret::default()
    }
}
