//! How the command reaches the process: the parts that depend on the transport, not on the task.

use crate::delivery::LargePromptDelivery;
use crate::limits;
use crate::setters::setters;
use crate::{ClaudeArgsError, Credentials, Result, credentials};

/// The default [`BuildOptions::inputs_dir`].
const DEFAULT_INPUTS_DIR: &str = "/var/run/agentpod/inputs";

/// Where and how the command runs: the parts that depend on the transport, not on the task.
///
/// `Default`: `claude` from `PATH`, prompts up to 64 KiB (quoted) inline and larger ones on
/// stdin, input files under `/var/run/agentpod/inputs`, a 200 000-token context window for the
/// size check, no credentials, no inherited variables to blank.
///
/// ```
/// use agentpod_claude_args::{
///     BuildOptions, ClaudeCommand, ClaudeRequest, CredentialSource, Credentials, EnvValue,
///     LargePromptDelivery,
/// };
///
/// let options = BuildOptions::default()
///     .claude_path("/usr/local/bin/claude")
///     .large_prompt(LargePromptDelivery::File { path: "/var/run/agentpod/inputs/prompt.txt".into() })
///     .credentials(Credentials::default().api_key(CredentialSource::Environment))
///     .orchestrator_env_names(["CLAUDECODE", "PATH"]);
/// let command = ClaudeCommand::build(&ClaudeRequest::new("Summarise README.md"), &options)?;
/// // The process needs CLAUDECODE blank and the API key from the caller's secret store.
/// let needs: Vec<_> = command.env().iter().map(|var| (var.name.as_str(), &var.value)).collect();
/// assert_eq!(needs, [("CLAUDECODE", &EnvValue::Blank), ("ANTHROPIC_API_KEY", &EnvValue::Credential)]);
/// # Ok::<(), agentpod_claude_args::ClaudeArgsError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BuildOptions {
    /// The `claude` binary: a name on `PATH` or a path. A name starting with `-` is refused
    /// (a shell's `exec` would read it as an option); a relative path starting with `-` is run as
    /// `./<path>`.
    pub claude_path: String,
    /// Prompts whose shell-quoted form is longer than this go through
    /// [`large_prompt`](Self::large_prompt) instead of argv. At most
    /// [`MAX_INLINE_PROMPT_LIMIT_BYTES`](crate::limits::MAX_INLINE_PROMPT_LIMIT_BYTES).
    pub inline_prompt_limit_bytes: usize,
    /// Where prompts go that are not inline.
    pub large_prompt: LargePromptDelivery,
    /// Absolute directory where the process finds the command's
    /// [`input_files`](crate::ClaudeCommand::input_files) (inline JSON documents, system
    /// prompts too large for argv).
    pub inputs_dir: String,
    /// Context window (tokens) for the prompt-size check; `None` skips the check.
    pub context_window_tokens: Option<u64>,
    /// Where the credentials will be.
    pub credentials: Credentials,
    /// The orchestrator's environment variable names; every `CLAUDE*` one is blanked in the child
    /// (see [`env::blanked_env_names`](crate::env::blanked_env_names)).
    pub orchestrator_env_names: Vec<String>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            claude_path: "claude".to_owned(),
            inline_prompt_limit_bytes: limits::DEFAULT_INLINE_PROMPT_LIMIT_BYTES,
            large_prompt: LargePromptDelivery::Stdin,
            inputs_dir: DEFAULT_INPUTS_DIR.to_owned(),
            context_window_tokens: Some(limits::DEFAULT_CONTEXT_WINDOW_TOKENS),
            credentials: Credentials::default(),
            orchestrator_env_names: Vec::new(),
        }
    }
}

impl BuildOptions {
    setters! {
        string claude_path: String;
        value inline_prompt_limit_bytes: usize;
        value large_prompt: LargePromptDelivery;
        string inputs_dir: String;
        value context_window_tokens: Option<u64>;
        value credentials: Credentials;
        texts orchestrator_env_names: Vec<String>;
    }

    /// Checks the options on their own.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.claude_path.is_empty() {
            return Err(ClaudeArgsError::EmptyValue {
                field: "claude_path",
            });
        }
        check_nul("claude_path", &self.claude_path)?;
        if self.claude_path.starts_with('-') && !self.claude_path.contains('/') {
            return Err(ClaudeArgsError::ProgramLooksLikeOption {
                path: self.claude_path.clone(),
            });
        }
        if self.inline_prompt_limit_bytes > limits::MAX_INLINE_PROMPT_LIMIT_BYTES {
            return Err(ClaudeArgsError::InlineLimitTooLarge {
                requested: self.inline_prompt_limit_bytes,
                max: limits::MAX_INLINE_PROMPT_LIMIT_BYTES,
            });
        }
        let mut paths = credentials::file_paths(&self.credentials);
        if let LargePromptDelivery::File { path } = &self.large_prompt {
            paths.push(("large_prompt", path.as_str()));
        }
        paths.push(("inputs_dir", self.inputs_dir.as_str()));
        for (field, path) in paths {
            check_nul(field, path)?;
            if !path.starts_with('/') {
                return Err(ClaudeArgsError::RelativePath {
                    field,
                    path: path.to_owned(),
                });
            }
        }
        if let Some(url) = &self.credentials.base_url {
            check_nul("base_url", url)?;
        }
        Ok(())
    }
}

pub(crate) fn check_nul(field: &'static str, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(ClaudeArgsError::NulByte { field });
    }
    Ok(())
}
