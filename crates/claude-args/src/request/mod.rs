//! What one non-interactive `claude -p` run should do, independent of where it runs.
//!
//! The request only names *what* the agent should do (prompt, model, tools, limits, session);
//! *how* it reaches the process (credentials, prompt delivery, binary path) lives in
//! [`BuildOptions`](crate::BuildOptions), because that depends on the transport, not on the task.
//! Field names follow the CLI's flags (`help.txt` of 2.1.328 is the authority), so the option
//! table in `docs/claude-args.md` is a one-to-one mapping.

mod types;
mod validate;

use serde::{Deserialize, Serialize};

use crate::setters::setters;
use crate::{Effort, PermissionMode};

pub(crate) use types::is_cli_whitespace;
pub use types::{InputFormat, JsonOrPath, OutputFormat, SettingSource, ToolSet};

/// One non-interactive run of `claude -p`.
///
/// Start from [`ClaudeRequest::new`] and set what you need with the setters (each named like its
/// field); every unset option leaves the CLI's own default in place.
/// [`ClaudeCommand::build`](crate::ClaudeCommand::build) validates the request (see
/// [`validate`](Self::validate)) and turns it into a command.
///
/// ```
/// use agentpod_claude_args::{ClaudeRequest, OutputFormat, PermissionMode, ToolSet};
///
/// let request = ClaudeRequest::new("Review the last commit")
///     .model("sonnet")
///     .output_format(OutputFormat::StreamJson)
///     .tools(ToolSet::Only(vec!["Read".into(), "Grep".into(), "Bash".into()]))
///     .allowed_tools(["Read", "Bash(git diff *)"])
///     .max_turns(8)
///     .permission_mode(PermissionMode::DontAsk)
///     .no_session_persistence(true);
/// assert!(request.validate().is_ok());
/// assert_eq!(request.max_turns, Some(8));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ClaudeRequest {
    /// The task. Sent inline, on stdin or from a file depending on its size (see
    /// [`PromptDelivery`](crate::PromptDelivery)). Must hold more than whitespace.
    pub prompt: String,
    /// How the prompt is given (`--input-format`). Default: text, which sends no flag.
    pub input_format: InputFormat,
    /// `--output-format` (`--verbose` is added for stream-json). Default: JSON.
    pub output_format: OutputFormat,
    /// `--model`: an alias (`sonnet`, `opus`) or a full model name.
    pub model: Option<String>,
    /// `--fallback-model`: models to try, in order, when the main one is busy.
    pub fallback_models: Vec<String>,
    /// `--system-prompt`: replaces the default system prompt. Moved into an input file when it
    /// does not fit one argument (or the shell line).
    pub system_prompt: Option<String>,
    /// `--system-prompt-file`: like `system_prompt`, read from a file the process finds at this
    /// path. Exclusive with `system_prompt`.
    pub system_prompt_file: Option<String>,
    /// `--append-system-prompt`: added to the end of the (default or given) system prompt.
    pub append_system_prompt: Option<String>,
    /// `--append-system-prompt-file`: like `append_system_prompt`, read from a file. Exclusive
    /// with `append_system_prompt`.
    pub append_system_prompt_file: Option<String>,
    /// `--exclude-dynamic-system-prompt-sections`: move per-machine sections (working directory,
    /// environment, git status) out of the default system prompt, for prompt-cache reuse. Only
    /// with the default system prompt.
    pub exclude_dynamic_system_prompt_sections: bool,
    /// `--tools`: which built-in tools exist for the model at all.
    pub tools: Option<ToolSet>,
    /// `--allowedTools`, one flag per entry (e.g. `Read`, `Bash(git *)`): tools that run without
    /// a permission prompt.
    pub allowed_tools: Vec<String>,
    /// `--disallowedTools`, one flag per entry.
    pub disallowed_tools: Vec<String>,
    /// `--max-turns`: at least 1.
    pub max_turns: Option<u32>,
    /// `--max-budget-usd`: a finite amount above 0.
    pub max_budget_usd: Option<f64>,
    /// `--mcp-config`, one flag per entry. Inline JSON becomes an input file.
    pub mcp_configs: Vec<JsonOrPath>,
    /// `--strict-mcp-config`: only the servers from `mcp_configs`.
    pub strict_mcp_config: bool,
    /// `--bare`: skip hooks, plugins, CLAUDE.md discovery, OAuth (API key auth only).
    pub bare: bool,
    /// `--restricted`: no command- or code-running built-in tools unless `tools` names them, no
    /// user/project/local settings, file tools confined to the working directories, and no
    /// `bypassPermissions`.
    pub restricted: bool,
    /// `--safe-mode`: start with every customisation (CLAUDE.md, skills, plugins, hooks, MCP
    /// servers, custom agents, …) disabled.
    pub safe_mode: bool,
    /// `--setting-sources`: which settings files to load (an empty list loads none).
    pub setting_sources: Option<Vec<SettingSource>>,
    /// `--settings`: a settings file or inline settings object (inline becomes an input file).
    /// Settings that turn on `bypassPermissions` need
    /// [`allow_bypass_permissions`](Self::allow_bypass_permissions).
    pub settings: Option<JsonOrPath>,
    /// `--agents`: custom sub-agents, inline (becomes an input file) or as a file.
    pub agents: Option<JsonOrPath>,
    /// `--plugin-dir`, one flag per directory or `.zip`.
    pub plugin_dirs: Vec<String>,
    /// `--disable-slash-commands`: no skills and no commands.
    pub disable_slash_commands: bool,
    /// `--permission-mode`.
    pub permission_mode: Option<PermissionMode>,
    /// The explicit opt-in that `bypassPermissions` requires, whether asked for with
    /// [`permission_mode`](Self::permission_mode) or in inline `settings`/`agents`. Adds no flag.
    pub allow_bypass_permissions: bool,
    /// `--json-schema`: ask for structured output matching this schema (a JSON object).
    pub json_schema: Option<serde_json::Value>,
    /// `--continue`: continue the most recent conversation in the working directory.
    pub continue_conversation: bool,
    /// `--resume`: a session id or name to continue.
    pub resume: Option<String>,
    /// `--session-id`: the UUID for the new session.
    pub session_id: Option<String>,
    /// `--fork-session`: resume or continue into a new session id.
    pub fork_session: bool,
    /// `--no-session-persistence`: do not save the session to disk (it cannot be resumed).
    pub no_session_persistence: bool,
    /// `--name`: a display name for the session.
    pub name: Option<String>,
    /// `--effort`.
    pub effort: Option<Effort>,
    /// `--add-dir`, one flag per directory.
    pub add_dirs: Vec<String>,
    /// `--betas`, one flag per beta header (API key users only).
    pub betas: Vec<String>,
    /// `--debug-file`: write debug logs to this path (turns debug mode on).
    pub debug_file: Option<String>,
    /// Directory to run in. The `sh -c` line `cd`s there; argv users start their process
    /// there.
    pub working_dir: Option<String>,
}

impl ClaudeRequest {
    /// A request with this prompt and every option left to the CLI's default (JSON output).
    pub fn new(prompt: impl Into<String>) -> Self {
        ClaudeRequest {
            prompt: prompt.into(),
            ..ClaudeRequest::default()
        }
    }

    setters! {
        string prompt: String;
        value input_format: InputFormat;
        value output_format: OutputFormat;
        text model: Option<String>;
        texts fallback_models: Vec<String>;
        text system_prompt: Option<String>;
        text system_prompt_file: Option<String>;
        text append_system_prompt: Option<String>;
        text append_system_prompt_file: Option<String>;
        value exclude_dynamic_system_prompt_sections: bool;
        some tools: ToolSet;
        texts allowed_tools: Vec<String>;
        texts disallowed_tools: Vec<String>;
        some max_turns: u32;
        some max_budget_usd: f64;
        list mcp_configs: JsonOrPath;
        value strict_mcp_config: bool;
        value bare: bool;
        value restricted: bool;
        value safe_mode: bool;
        some setting_sources: Vec<SettingSource>;
        some settings: JsonOrPath;
        some agents: JsonOrPath;
        texts plugin_dirs: Vec<String>;
        value disable_slash_commands: bool;
        some permission_mode: PermissionMode;
        value allow_bypass_permissions: bool;
        some json_schema: serde_json::Value;
        value continue_conversation: bool;
        text resume: Option<String>;
        text session_id: Option<String>;
        value fork_session: bool;
        value no_session_persistence: bool;
        text name: Option<String>;
        some effort: Effort;
        texts add_dirs: Vec<String>;
        texts betas: Vec<String>;
        text debug_file: Option<String>;
        text working_dir: Option<String>;
    }
}
