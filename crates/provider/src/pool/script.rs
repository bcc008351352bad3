//! One pool run as one exec: the `claude` command, its credentials, input files and prompt,
//! all framed onto the exec's stdin for the run script (`run_script.sh`).
//!
//! The script's argv holds only our fixed script, the scratch directory, the CLI's shell line
//! (flags and paths: the prompt is never inline) and section names; every value (credentials,
//! inline documents, the prompt) is a stdin section. The transport's exec carries argv and
//! stdin over the session's stdin channel, so none of it is in the exec URL either, and the
//! pod spec never holds a Claude credential.

use std::sync::LazyLock;

use agentpod_claude_args::env::{API_KEY_VAR, OAUTH_TOKEN_VAR};
use agentpod_claude_args::{
    BuildOptions, ClaudeCommand, CredentialSource, Credentials, EnvValue, LargePromptDelivery,
};
use agentpod_transport::ExecRequest;

use crate::k8s::{Credential, NONESSENTIAL_TRAFFIC_VAR, Settings, refuse_sessions};
use crate::{AgentError, AgentRequest, Result};

/// The run script, without its comment lines.
static SCRIPT: LazyLock<String> = LazyLock::new(|| {
    include_str!("run_script.sh")
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
});

/// The directory under the scratch dir where a run's `$HOME`, working dir and inputs live
/// (`<RUN_DIR>-<run id>`).
pub(crate) const RUN_DIR: &str = "agentpod-run";
const OAUTH_CREDENTIALS_KEY: &str = "oauth-credentials.json";

/// Credentials of one run, sent over stdin to its own `claude` process.
#[derive(Clone, Default)]
pub(crate) struct RunCredentials {
    pub(crate) api_key: Option<String>,
    pub(crate) oauth_token: Option<String>,
    pub(crate) oauth_credentials: Option<String>,
}

impl std::fmt::Debug for RunCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |value: &Option<String>| value.as_ref().map(|_| "<redacted>");
        f.debug_struct("RunCredentials")
            .field("api_key", &shown(&self.api_key))
            .field("oauth_token", &shown(&self.oauth_token))
            .field("oauth_credentials", &shown(&self.oauth_credentials))
            .finish()
    }
}

impl RunCredentials {
    /// The values of `settings`' credentials; a credential kept in a Secret cannot reach a
    /// running pod without a restart, so it is refused.
    pub(crate) fn from_settings(settings: &Settings) -> Result<Self> {
        let value = |credential: &Option<Credential>| match credential {
            None => Ok(None),
            Some(Credential::Value(value)) => Ok(Some(value.clone())),
            Some(Credential::FromSecret { .. }) => Err(AgentError::Unsupported {
                provider: "K8sPoolProvider",
                option: "a credential from a Secret",
                reason: "warm pods are not restarted per run, so a Secret cannot be mounted; \
                         give the value (Credential::Value), it reaches only the run's own process over exec stdin",
            }),
        };
        Ok(Self {
            api_key: value(&settings.api_key)?,
            oauth_token: value(&settings.oauth_token)?,
            oauth_credentials: value(&settings.oauth_credentials)?,
        })
    }
}

/// A run's command (for its parser) and the exec that runs it.
pub(crate) struct RunPlan {
    pub(crate) command: ClaudeCommand,
    pub(crate) exec: ExecRequest,
}

/// Builds the exec of one run. `scratch` is the pod's writable scratch directory (emptied
/// before and after every run).
pub(crate) fn plan(
    settings: &Settings,
    credentials: &RunCredentials,
    scratch: &str,
    run_id: &str,
    request: &AgentRequest,
) -> Result<RunPlan> {
    refuse_sessions(request, "K8sPoolProvider")?;
    let inputs_dir = format!("{scratch}/{RUN_DIR}-{run_id}/inputs");
    let mut wired = Credentials::default();
    if credentials.api_key.is_some() {
        wired = wired.api_key(CredentialSource::Environment);
    }
    if credentials.oauth_token.is_some() {
        wired = wired.oauth_token(CredentialSource::Environment);
    }
    if credentials.oauth_credentials.is_some() {
        wired = wired.oauth_credentials_file(format!("{inputs_dir}/{OAUTH_CREDENTIALS_KEY}"));
    }
    if let Some(url) = &settings.base_url {
        wired = wired.base_url(url.clone());
    }
    let options = BuildOptions::default()
        .claude_path(settings.claude_path.clone())
        .inline_prompt_limit_bytes(0)
        .large_prompt(LargePromptDelivery::Stdin)
        .inputs_dir(inputs_dir)
        .context_window_tokens(settings.context_window_tokens)
        .credentials(wired);
    let command = ClaudeCommand::build(request.claude(), &options)
        .map_err(|source| AgentError::InvalidRequest { source })?;

    let mut sections: Vec<(String, Vec<u8>)> = Vec::new();
    for var in command.env() {
        let value = match &var.value {
            EnvValue::Blank => Vec::new(),
            EnvValue::Plain(value) => value.clone().into_bytes(),
            EnvValue::Credential => {
                let value = match var.name.as_str() {
                    API_KEY_VAR => credentials.api_key.as_ref(),
                    OAUTH_TOKEN_VAR => credentials.oauth_token.as_ref(),
                    _ => None,
                };
                match value {
                    Some(value) => value.clone().into_bytes(),
                    None => {
                        return Err(AgentError::Unsupported {
                            provider: "K8sPoolProvider",
                            option: "credential",
                            reason: "the command needs a credential this provider does not know",
                        });
                    }
                }
            }
            _ => continue,
        };
        sections.push((format!("env:{}", var.name), value));
    }
    sections.push((format!("env:{NONESSENTIAL_TRAFFIC_VAR}"), b"1".to_vec()));
    if let Some(json) = &credentials.oauth_credentials {
        sections.push((
            format!("file:{OAUTH_CREDENTIALS_KEY}"),
            json.clone().into_bytes(),
        ));
    }
    for file in command.input_files() {
        sections.push((
            format!("file:{}", file.file_name()),
            file.contents.clone().into_bytes(),
        ));
    }
    let line = command.shell_line().map_err(AgentError::from)?.to_owned();
    let exec = frame(
        scratch,
        run_id,
        &line,
        &sections,
        command.prompt().as_bytes(),
    );
    Ok(RunPlan { command, exec })
}

/// The exec request: argv for the script, stdin with the sections and the prompt.
pub(crate) fn frame(
    scratch: &str,
    run_id: &str,
    line: &str,
    sections: &[(String, Vec<u8>)],
    prompt: &[u8],
) -> ExecRequest {
    let mut argv = vec![
        "sh".to_owned(),
        "-c".to_owned(),
        SCRIPT.clone(),
        "agentpod-pool".to_owned(),
        scratch.to_owned(),
        run_id.to_owned(),
        line.to_owned(),
    ];
    let mut header: Vec<String> = Vec::new();
    let mut body = Vec::new();
    for (name, value) in sections {
        argv.push(name.clone());
        header.push(value.len().to_string());
        body.extend_from_slice(value);
    }
    header.push(prompt.len().to_string());
    let mut stdin = header.join(" ").into_bytes();
    stdin.push(b'\n');
    stdin.extend_from_slice(&body);
    stdin.extend_from_slice(prompt);
    ExecRequest::new(argv).stdin(stdin)
}

#[cfg(test)]
#[path = "script_tests.rs"]
mod tests;
