//! What one non-interactive `claude -p` run should do, independent of where it runs.
//!
//! The request only names *what* the agent should do (prompt, model, tools, limits, session);
//! *how* it reaches the process (credentials, prompt delivery, binary path) lives in
//! [`BuildOptions`](crate::BuildOptions), because that depends on the transport, not on the task.
//! Field names follow the CLI's flags (`help.txt` of 2.1.328 is the authority), so the option
//! table in `docs/claude-args.md` is a one-to-one mapping.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{ClaudeArgsError, Effort, PermissionMode};

/// What the CLI prints (`--output-format`). Plain `text` is not offered: it cannot be parsed into
/// a typed result.
///
/// ```
/// use agentpod_claude_args::OutputFormat;
///
/// assert_eq!("stream-json".parse::<OutputFormat>().unwrap(), OutputFormat::StreamJson);
/// assert!("text".parse::<OutputFormat>().is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputFormat {
    /// One JSON result document at the end (`json`).
    #[default]
    Json,
    /// One JSON event per line while the agent works, then the result (`stream-json`; the CLI
    /// needs `--verbose` with it, which the builder adds).
    StreamJson,
}

impl OutputFormat {
    /// The exact value passed to `--output-format`.
    ///
    /// ```
    /// use agentpod_claude_args::OutputFormat;
    /// assert_eq!(OutputFormat::StreamJson.as_cli_str(), "stream-json");
    /// ```
    pub fn as_cli_str(self) -> &'static str {
        match self {
            OutputFormat::Json => "json",
            OutputFormat::StreamJson => "stream-json",
        }
    }
}

impl FromStr for OutputFormat {
    type Err = ClaudeArgsError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "json" => Ok(OutputFormat::Json),
            "stream-json" => Ok(OutputFormat::StreamJson),
            _ => Err(ClaudeArgsError::UnknownOutputFormat {
                value: value.to_owned(),
            }),
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_cli_str())
    }
}

/// A value the CLI accepts either as inline JSON or as a path to a JSON file
/// (`--mcp-config`, `--settings`, `--agents`).
///
/// Prefer [`JsonOrPath::Path`] for large values: inline JSON travels in one process argument,
/// which Linux caps at 128 KiB.
///
/// ```
/// use agentpod_claude_args::JsonOrPath;
/// use serde_json::json;
///
/// let inline = JsonOrPath::Json(json!({"mcpServers": {}}));
/// assert_eq!(inline.to_cli_value(), r#"{"mcpServers":{}}"#);
/// let file = JsonOrPath::Path("/etc/agent/mcp.json".into());
/// assert_eq!(file.to_cli_value(), "/etc/agent/mcp.json");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JsonOrPath {
    /// Inline JSON; must be an object.
    Json(serde_json::Value),
    /// A path the CLI reads (inside the container, when run in a pod).
    Path(String),
}

impl JsonOrPath {
    /// The argument value: compact JSON text or the path as given.
    pub fn to_cli_value(&self) -> String {
        match self {
            JsonOrPath::Json(value) => value.to_string(),
            JsonOrPath::Path(path) => path.clone(),
        }
    }
}

/// One non-interactive run of `claude -p`.
///
/// Start from [`ClaudeRequest::new`] and set the fields you need; every unset option leaves the
/// CLI's own default in place. [`ClaudeCommand::build`](crate::ClaudeCommand::build) validates
/// the request and turns it into a command.
///
/// ```
/// use agentpod_claude_args::{ClaudeRequest, OutputFormat, PermissionMode};
///
/// let request = ClaudeRequest {
///     model: Some("sonnet".into()),
///     output_format: OutputFormat::StreamJson,
///     allowed_tools: vec!["Read".into(), "Bash(git diff *)".into()],
///     max_turns: Some(8),
///     permission_mode: Some(PermissionMode::AcceptEdits),
///     ..ClaudeRequest::new("Review the last commit")
/// };
/// assert_eq!(request.prompt, "Review the last commit");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClaudeRequest {
    /// The task. Sent inline, on stdin or from a file depending on its size (see
    /// [`PromptDelivery`](crate::PromptDelivery)).
    pub prompt: String,
    /// `--output-format` (`--verbose` is added for stream-json).
    pub output_format: OutputFormat,
    /// `--model`: an alias (`sonnet`, `opus`) or a full model name.
    pub model: Option<String>,
    /// `--fallback-model`: models to try, in order, when the main one is busy.
    pub fallback_models: Vec<String>,
    /// `--system-prompt`: replaces the default system prompt.
    pub system_prompt: Option<String>,
    /// `--system-prompt-file`: like `system_prompt`, read from a file (for prompts too large for
    /// one argument). Exclusive with `system_prompt`.
    pub system_prompt_file: Option<String>,
    /// `--append-system-prompt`: added to the end of the (default or given) system prompt.
    pub append_system_prompt: Option<String>,
    /// `--append-system-prompt-file`: like `append_system_prompt`, read from a file. Exclusive
    /// with `append_system_prompt`.
    pub append_system_prompt_file: Option<String>,
    /// `--allowedTools`, one flag per entry (e.g. `Read`, `Bash(git *)`).
    pub allowed_tools: Vec<String>,
    /// `--disallowedTools`, one flag per entry.
    pub disallowed_tools: Vec<String>,
    /// `--max-turns`: at least 1.
    pub max_turns: Option<u32>,
    /// `--max-budget-usd`: a finite amount above 0.
    pub max_budget_usd: Option<f64>,
    /// `--mcp-config`, one flag per entry.
    pub mcp_configs: Vec<JsonOrPath>,
    /// `--strict-mcp-config`: only the servers from `mcp_configs`.
    pub strict_mcp_config: bool,
    /// `--bare`: skip hooks, plugins, CLAUDE.md discovery, OAuth (API key auth only).
    pub bare: bool,
    /// `--permission-mode`.
    pub permission_mode: Option<PermissionMode>,
    /// The explicit opt-in that [`PermissionMode::BypassPermissions`] requires.
    pub allow_bypass_permissions: bool,
    /// `--json-schema`: ask for structured output matching this schema (a JSON object).
    pub json_schema: Option<serde_json::Value>,
    /// `--resume`: a session id or title to continue.
    pub resume: Option<String>,
    /// `--session-id`: the UUID for the new session.
    pub session_id: Option<String>,
    /// `--fork-session`: resume into a new session id (needs `resume`).
    pub fork_session: bool,
    /// `--effort`.
    pub effort: Option<Effort>,
    /// `--add-dir`, one flag per directory.
    pub add_dirs: Vec<String>,
    /// `--settings`: a settings file or inline settings object.
    pub settings: Option<JsonOrPath>,
    /// `--agents`: custom sub-agents, inline or as a file.
    pub agents: Option<JsonOrPath>,
    /// Directory to run in. The `sh -c` line `cd`s there; argv users set it on their process or
    /// container.
    pub working_dir: Option<String>,
}

impl ClaudeRequest {
    /// A request with this prompt and every option left to the CLI's default (JSON output).
    ///
    /// ```
    /// use agentpod_claude_args::{ClaudeRequest, OutputFormat};
    /// let request = ClaudeRequest::new("hi");
    /// assert_eq!(request.output_format, OutputFormat::Json);
    /// assert!(request.model.is_none());
    /// ```
    pub fn new(prompt: impl Into<String>) -> Self {
        ClaudeRequest {
            prompt: prompt.into(),
            ..ClaudeRequest::default()
        }
    }

    /// Checks the combinations the CLI would refuse (or that this crate refuses for safety),
    /// before anything runs.
    ///
    /// ```
    /// use agentpod_claude_args::{ClaudeArgsError, ClaudeRequest, PermissionMode};
    ///
    /// let mut request = ClaudeRequest::new("hi");
    /// request.permission_mode = Some(PermissionMode::BypassPermissions);
    /// assert!(matches!(request.validate(), Err(ClaudeArgsError::BypassPermissionsNotAllowed)));
    /// request.allow_bypass_permissions = true;
    /// assert!(request.validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<(), ClaudeArgsError> {
        if self.prompt.is_empty() {
            return Err(ClaudeArgsError::EmptyPrompt);
        }
        if self.permission_mode == Some(PermissionMode::BypassPermissions)
            && !self.allow_bypass_permissions
        {
            return Err(ClaudeArgsError::BypassPermissionsNotAllowed);
        }
        if self.max_turns == Some(0) {
            return Err(ClaudeArgsError::ZeroMaxTurns);
        }
        if let Some(value) = self.max_budget_usd
            && !(value.is_finite() && value > 0.0)
        {
            return Err(ClaudeArgsError::InvalidMaxBudget { value });
        }
        if let Some(id) = &self.session_id
            && !is_uuid(id)
        {
            return Err(ClaudeArgsError::InvalidSessionId { value: id.clone() });
        }
        if self.fork_session && self.resume.is_none() {
            return Err(ClaudeArgsError::ForkWithoutResume);
        }
        if self.session_id.is_some() && self.resume.is_some() && !self.fork_session {
            return Err(ClaudeArgsError::SessionIdWithoutFork);
        }
        // The CLI accepts both and silently picks one; refuse the ambiguity.
        if self.system_prompt.is_some() && self.system_prompt_file.is_some() {
            return Err(ClaudeArgsError::ConflictingOptions {
                first: "system_prompt",
                second: "system_prompt_file",
            });
        }
        if self.append_system_prompt.is_some() && self.append_system_prompt_file.is_some() {
            return Err(ClaudeArgsError::ConflictingOptions {
                first: "append_system_prompt",
                second: "append_system_prompt_file",
            });
        }
        non_empty("system_prompt_file", self.system_prompt_file.as_deref())?;
        non_empty(
            "append_system_prompt_file",
            self.append_system_prompt_file.as_deref(),
        )?;
        non_empty("model", self.model.as_deref())?;
        non_empty("resume", self.resume.as_deref())?;
        non_empty("working_dir", self.working_dir.as_deref())?;
        for (field, list) in [
            ("fallback_models", &self.fallback_models),
            ("allowed_tools", &self.allowed_tools),
            ("disallowed_tools", &self.disallowed_tools),
            ("add_dirs", &self.add_dirs),
        ] {
            for item in list {
                non_empty(field, Some(item))?;
            }
        }
        for config in &self.mcp_configs {
            json_object_or_path("mcp_configs", config)?;
        }
        if let Some(settings) = &self.settings {
            json_object_or_path("settings", settings)?;
        }
        if let Some(agents) = &self.agents {
            json_object_or_path("agents", agents)?;
        }
        if let Some(schema) = &self.json_schema {
            json_object("json_schema", schema)?;
        }
        Ok(())
    }
}

fn non_empty(field: &'static str, value: Option<&str>) -> Result<(), ClaudeArgsError> {
    match value {
        Some("") => Err(ClaudeArgsError::EmptyValue { field }),
        _ => Ok(()),
    }
}

fn json_object_or_path(field: &'static str, value: &JsonOrPath) -> Result<(), ClaudeArgsError> {
    match value {
        JsonOrPath::Json(json) => json_object(field, json),
        JsonOrPath::Path(path) => non_empty(field, Some(path)),
    }
}

fn json_object(field: &'static str, value: &serde_json::Value) -> Result<(), ClaudeArgsError> {
    use serde_json::Value;
    let kind = match value {
        Value::Object(_) => return Ok(()),
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
    };
    Err(ClaudeArgsError::NotAJsonObject { field, kind })
}

/// `8-4-4-4-12` hexadecimal digits, the only session id form the CLI accepts.
fn is_uuid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> ClaudeRequest {
        ClaudeRequest::new("do it")
    }

    #[test]
    fn uuid_check_accepts_only_8_4_4_4_12_hex() {
        assert!(is_uuid("6593f3bc-5111-4222-b3a5-016bad56cb19"));
        assert!(is_uuid("6593F3BC-5111-4222-B3A5-016BAD56CB19"));
        for bad in [
            "",
            "nope",
            "6593f3bc51114222b3a5016bad56cb19",
            "6593f3bc-5111-4222-b3a5-016bad56cb1",
            "6593f3bc-5111-4222-b3a5-016bad56cb19-0",
            "g593f3bc-5111-4222-b3a5-016bad56cb19",
        ] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }

    #[test]
    fn validation_catches_each_refused_combination() {
        type ExpectedError = fn(&ClaudeArgsError) -> bool;
        let cases: Vec<(ClaudeRequest, ExpectedError)> = vec![
            (ClaudeRequest::new(""), |e| {
                matches!(e, ClaudeArgsError::EmptyPrompt)
            }),
            (
                ClaudeRequest {
                    max_turns: Some(0),
                    ..request()
                },
                |e| matches!(e, ClaudeArgsError::ZeroMaxTurns),
            ),
            (
                ClaudeRequest {
                    max_budget_usd: Some(0.0),
                    ..request()
                },
                |e| matches!(e, ClaudeArgsError::InvalidMaxBudget { .. }),
            ),
            (
                ClaudeRequest {
                    max_budget_usd: Some(f64::NAN),
                    ..request()
                },
                |e| matches!(e, ClaudeArgsError::InvalidMaxBudget { .. }),
            ),
            (
                ClaudeRequest {
                    session_id: Some("abc".into()),
                    ..request()
                },
                |e| matches!(e, ClaudeArgsError::InvalidSessionId { .. }),
            ),
            (
                ClaudeRequest {
                    fork_session: true,
                    ..request()
                },
                |e| matches!(e, ClaudeArgsError::ForkWithoutResume),
            ),
            (
                ClaudeRequest {
                    resume: Some("6593f3bc-5111-4222-b3a5-016bad56cb19".into()),
                    session_id: Some("6593f3bc-5111-4222-b3a5-016bad56cb10".into()),
                    ..request()
                },
                |e| matches!(e, ClaudeArgsError::SessionIdWithoutFork),
            ),
            (
                ClaudeRequest {
                    allowed_tools: vec!["Read".into(), String::new()],
                    ..request()
                },
                |e| {
                    matches!(
                        e,
                        ClaudeArgsError::EmptyValue {
                            field: "allowed_tools"
                        }
                    )
                },
            ),
            (
                ClaudeRequest {
                    json_schema: Some(json!("string")),
                    ..request()
                },
                |e| {
                    matches!(
                        e,
                        ClaudeArgsError::NotAJsonObject {
                            field: "json_schema",
                            kind: "a string"
                        }
                    )
                },
            ),
            (
                ClaudeRequest {
                    mcp_configs: vec![JsonOrPath::Json(json!([1]))],
                    ..request()
                },
                |e| {
                    matches!(
                        e,
                        ClaudeArgsError::NotAJsonObject {
                            field: "mcp_configs",
                            ..
                        }
                    )
                },
            ),
            (
                ClaudeRequest {
                    system_prompt: Some("a".into()),
                    system_prompt_file: Some("/a".into()),
                    ..request()
                },
                |e| {
                    matches!(
                        e,
                        ClaudeArgsError::ConflictingOptions {
                            second: "system_prompt_file",
                            ..
                        }
                    )
                },
            ),
            (
                ClaudeRequest {
                    append_system_prompt: Some("a".into()),
                    append_system_prompt_file: Some("/a".into()),
                    ..request()
                },
                |e| {
                    matches!(
                        e,
                        ClaudeArgsError::ConflictingOptions {
                            first: "append_system_prompt",
                            ..
                        }
                    )
                },
            ),
            (
                ClaudeRequest {
                    model: Some(String::new()),
                    ..request()
                },
                |e| matches!(e, ClaudeArgsError::EmptyValue { field: "model" }),
            ),
        ];
        for (request, expected) in cases {
            let err = request.validate().unwrap_err();
            assert!(expected(&err), "unexpected {err:?} for {request:?}");
        }
    }

    #[test]
    fn fork_with_resume_and_new_session_id_is_valid() {
        let request = ClaudeRequest {
            resume: Some("6593f3bc-5111-4222-b3a5-016bad56cb19".into()),
            session_id: Some("6593f3bc-5111-4222-b3a5-016bad56cb10".into()),
            fork_session: true,
            ..request()
        };
        assert!(request.validate().is_ok());
    }

    #[test]
    fn request_deserializes_with_defaults_and_strict_enums() {
        let parsed: ClaudeRequest = serde_json::from_str(
            r#"{"prompt":"p","output_format":"stream-json","permission_mode":"plan","effort":"low"}"#,
        )
        .unwrap();
        assert_eq!(parsed.output_format, OutputFormat::StreamJson);
        assert_eq!(parsed.permission_mode, Some(PermissionMode::Plan));
        assert!(serde_json::from_str::<ClaudeRequest>(r#"{"permission_mode":"yolo"}"#).is_err());
    }
}
