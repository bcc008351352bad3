//! Request + deployment options → the exact command a transport runs.
//!
//! The same [`ClaudeCommand`] serves every transport: an argv for exec APIs and local spawning,
//! and a POSIX `sh -c` line for container commands. Every value goes into argv as one
//! `--flag=value` word, so a value that starts with `-` can never be taken for a flag and
//! optional-value flags (`--resume [value]`) never swallow the next word; an inline prompt comes
//! last, after `--`. The shell line is quoted by `shlex` (a maintained, audited quoting crate), not
//! by hand.

use serde::Serialize;

use crate::credentials::{self, Credentials, EnvVar, SetupStep, wire_credentials};
use crate::output::{ClaudeOutput, StreamParser, parse_output};
use crate::prompt::{self, LargePromptDelivery, MAX_ARGUMENT_BYTES, PromptDelivery};
use crate::{ClaudeArgsError, ClaudeRequest, OutputFormat, blanked_env_names};

/// Where and how the command runs: the parts that depend on the transport, not on the task.
///
/// ```
/// use agentpod_claude_args::{BuildOptions, LargePromptDelivery};
///
/// let options = BuildOptions {
///     claude_path: "/usr/local/bin/claude".into(),
///     large_prompt: LargePromptDelivery::File { path: "/var/run/agentpod/prompt.txt".into() },
///     context_window_tokens: Some(1_000_000),
///     ..BuildOptions::default()
/// };
/// assert_eq!(options.inline_prompt_limit_bytes, 64 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BuildOptions {
    /// The `claude` binary (name on `PATH` or absolute path). Default `claude`.
    pub claude_path: String,
    /// Prompts whose shell-quoted form is longer than this go through
    /// [`large_prompt`](Self::large_prompt) instead of argv. Default 64 KiB, at most
    /// [`MAX_INLINE_PROMPT_LIMIT_BYTES`](crate::MAX_INLINE_PROMPT_LIMIT_BYTES).
    pub inline_prompt_limit_bytes: usize,
    /// Where larger prompts go. Default stdin.
    pub large_prompt: LargePromptDelivery,
    /// Context window (tokens) for the prompt-size check; `None` skips the check.
    /// Default 200 000.
    pub context_window_tokens: Option<u64>,
    /// Credential references.
    pub credentials: Credentials,
    /// The orchestrator's environment variable names; every `CLAUDE*` one is blanked in the child
    /// (see [`blanked_env_names`]).
    pub orchestrator_env_names: Vec<String>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            claude_path: "claude".to_owned(),
            inline_prompt_limit_bytes: prompt::DEFAULT_INLINE_PROMPT_LIMIT_BYTES,
            large_prompt: LargePromptDelivery::Stdin,
            context_window_tokens: Some(prompt::DEFAULT_CONTEXT_WINDOW_TOKENS),
            credentials: Credentials::default(),
            orchestrator_env_names: Vec::new(),
        }
    }
}

/// A ready-to-run `claude -p` invocation.
///
/// ```
/// use agentpod_claude_args::{BuildOptions, ClaudeCommand, ClaudeRequest, PromptDelivery};
///
/// let request = ClaudeRequest { model: Some("sonnet".into()), ..ClaudeRequest::new("-h is a prompt") };
/// let command = ClaudeCommand::build(&request, &BuildOptions::default()).unwrap();
/// assert_eq!(
///     command.argv(),
///     ["claude", "-p", "--output-format=json", "--model=sonnet", "--", "-h is a prompt"]
/// );
/// assert_eq!(
///     command.shell_line(),
///     "exec claude -p '--output-format=json' '--model=sonnet' -- '-h is a prompt'"
/// );
/// assert_eq!(command.prompt_delivery(), &PromptDelivery::Inline);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaudeCommand {
    argv: Vec<String>,
    shell_line: String,
    prompt: String,
    prompt_delivery: PromptDelivery,
    env: Vec<EnvVar>,
    setup_steps: Vec<SetupStep>,
    working_dir: Option<String>,
    output_format: OutputFormat,
    schema_requested: bool,
}

impl ClaudeCommand {
    /// Validates the request and options and builds the command.
    ///
    /// ```
    /// use agentpod_claude_args::{BuildOptions, ClaudeArgsError, ClaudeCommand, ClaudeRequest};
    ///
    /// let huge = ClaudeRequest::new("x".repeat(900_000));
    /// let err = ClaudeCommand::build(&huge, &BuildOptions::default()).unwrap_err();
    /// assert!(matches!(err, ClaudeArgsError::PromptTooLarge { .. }));
    /// ```
    pub fn build(request: &ClaudeRequest, options: &BuildOptions) -> Result<Self, ClaudeArgsError> {
        request.validate()?;
        validate_options(options)?;
        check_nul("prompt", &request.prompt)?;
        if let Some(window) = options.context_window_tokens {
            let bytes = request.prompt.len()
                + request.system_prompt.as_ref().map_or(0, String::len)
                + request.append_system_prompt.as_ref().map_or(0, String::len);
            prompt::check_prompt_size(bytes, window)?;
        }

        let prompt_delivery = choose_delivery(&request.prompt, options)?;
        let argv = build_argv(request, options, &prompt_delivery)?;

        let blanked = blanked_env_names(&options.orchestrator_env_names);
        let (env, setup_steps) = wire_credentials(&options.credentials, &blanked);
        if let Some(dir) = &request.working_dir {
            check_nul("working_dir", dir)?;
        }
        let shell_line = shell_line(
            &argv,
            &setup_steps,
            request.working_dir.as_deref(),
            &prompt_delivery,
        )?;

        Ok(ClaudeCommand {
            argv,
            shell_line,
            prompt: request.prompt.clone(),
            prompt_delivery,
            env,
            setup_steps,
            working_dir: request.working_dir.clone(),
            output_format: request.output_format,
            schema_requested: request.json_schema.is_some(),
        })
    }

    /// The program and its arguments (`argv[0]` is the `claude` binary).
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// The POSIX shell line: setup steps, `cd`, then `exec claude …` (with `< file` when the
    /// prompt is mounted). Run it as `sh -c <line>`.
    pub fn shell_line(&self) -> &str {
        &self.shell_line
    }

    /// `["sh", "-c", <shell line>]`, e.g. for a container's `command`.
    ///
    /// ```
    /// use agentpod_claude_args::{BuildOptions, ClaudeCommand, ClaudeRequest};
    /// let command = ClaudeCommand::build(&ClaudeRequest::new("hi"), &BuildOptions::default()).unwrap();
    /// assert_eq!(command.sh_c_argv()[..2], ["sh", "-c"]);
    /// ```
    pub fn sh_c_argv(&self) -> Vec<String> {
        vec!["sh".to_owned(), "-c".to_owned(), self.shell_line.clone()]
    }

    /// True when the plain [`argv`](Self::argv) is not enough: there are setup steps or the
    /// prompt comes from a mounted file. Run [`shell_line`](Self::shell_line) then.
    ///
    /// ```
    /// use agentpod_claude_args::{BuildOptions, ClaudeCommand, ClaudeRequest, Credentials};
    ///
    /// let plain = ClaudeCommand::build(&ClaudeRequest::new("hi"), &BuildOptions::default()).unwrap();
    /// assert!(!plain.requires_shell());
    ///
    /// let options = BuildOptions {
    ///     credentials: Credentials {
    ///         oauth_credentials_file: Some("/var/run/claude/credentials.json".into()),
    ///         ..Credentials::default()
    ///     },
    ///     ..BuildOptions::default()
    /// };
    /// let oauth = ClaudeCommand::build(&ClaudeRequest::new("hi"), &options).unwrap();
    /// assert!(oauth.requires_shell());
    /// assert!(oauth.shell_line().starts_with("mkdir -p \"$HOME/.claude\" && cp "));
    /// ```
    pub fn requires_shell(&self) -> bool {
        !self.setup_steps.is_empty() || matches!(self.prompt_delivery, PromptDelivery::File { .. })
    }

    /// How the prompt travels.
    pub fn prompt_delivery(&self) -> &PromptDelivery {
        &self.prompt_delivery
    }

    /// The prompt text (whatever the delivery).
    pub fn prompt(&self) -> &str {
        &self.prompt
    }

    /// The bytes to write to stdin (then close it), when the prompt goes through stdin.
    pub fn stdin_prompt(&self) -> Option<&str> {
        matches!(self.prompt_delivery, PromptDelivery::Stdin).then_some(self.prompt.as_str())
    }

    /// `(path, contents)` to mount, when the prompt comes from a file.
    ///
    /// ```
    /// use agentpod_claude_args::{BuildOptions, ClaudeCommand, ClaudeRequest, LargePromptDelivery};
    ///
    /// let options = BuildOptions {
    ///     large_prompt: LargePromptDelivery::File { path: "/prompt/p.txt".into() },
    ///     inline_prompt_limit_bytes: 0,
    ///     ..BuildOptions::default()
    /// };
    /// let command = ClaudeCommand::build(&ClaudeRequest::new("hi"), &options).unwrap();
    /// assert_eq!(command.prompt_file(), Some(("/prompt/p.txt", "hi")));
    /// assert!(command.shell_line().ends_with(" < /prompt/p.txt"));
    /// ```
    pub fn prompt_file(&self) -> Option<(&str, &str)> {
        match &self.prompt_delivery {
            PromptDelivery::File { path } => Some((path.as_str(), self.prompt.as_str())),
            _ => None,
        }
    }

    /// Environment entries for the process: blanked `CLAUDE*` names, then credentials.
    ///
    /// ```
    /// use agentpod_claude_args::{BuildOptions, ClaudeCommand, ClaudeRequest, EnvValue};
    ///
    /// let options = BuildOptions {
    ///     orchestrator_env_names: vec!["CLAUDECODE".into(), "HOME".into()],
    ///     ..BuildOptions::default()
    /// };
    /// let command = ClaudeCommand::build(&ClaudeRequest::new("hi"), &options).unwrap();
    /// assert_eq!(command.env()[0].name, "CLAUDECODE");
    /// assert_eq!(command.env()[0].value, EnvValue::Literal(String::new()));
    /// ```
    pub fn env(&self) -> &[EnvVar] {
        &self.env
    }

    /// Steps the shell line performs before `exec`.
    pub fn setup_steps(&self) -> &[SetupStep] {
        &self.setup_steps
    }

    /// The request's working directory.
    pub fn working_dir(&self) -> Option<&str> {
        self.working_dir.as_deref()
    }

    /// The output format the command asks for.
    pub fn output_format(&self) -> OutputFormat {
        self.output_format
    }

    /// Whether a JSON schema was requested (a result without structured output is then an error).
    pub fn schema_requested(&self) -> bool {
        self.schema_requested
    }

    /// Parses the whole stdout of this command (see [`parse_output`]).
    ///
    /// ```
    /// use agentpod_claude_args::{BuildOptions, ClaudeCommand, ClaudeRequest};
    ///
    /// let command = ClaudeCommand::build(&ClaudeRequest::new("2+2?"), &BuildOptions::default()).unwrap();
    /// let out = command
    ///     .parse_output(r#"{"type":"result","subtype":"success","is_error":false,"result":"4","session_id":"s"}"#)
    ///     .unwrap();
    /// assert_eq!(out.text, "4");
    /// ```
    pub fn parse_output(&self, stdout: &str) -> Result<ClaudeOutput, ClaudeArgsError> {
        parse_output(stdout, self.schema_requested)
    }

    /// A streaming parser set up for this command, to feed log chunks as they arrive.
    ///
    /// ```
    /// use agentpod_claude_args::{BuildOptions, ClaudeArgsError, ClaudeCommand, ClaudeRequest};
    /// use serde_json::json;
    ///
    /// let request = ClaudeRequest { json_schema: Some(json!({"type": "object"})), ..ClaudeRequest::new("hi") };
    /// let command = ClaudeCommand::build(&request, &BuildOptions::default()).unwrap();
    /// let mut parser = command.stream_parser();
    /// parser.feed(br#"{"type":"result","subtype":"success","result":"no JSON here"}"#);
    /// assert!(matches!(parser.finish(), Err(ClaudeArgsError::SchemaMissing { .. })));
    /// ```
    pub fn stream_parser(&self) -> StreamParser {
        StreamParser::new(self.schema_requested)
    }
}

fn validate_options(options: &BuildOptions) -> Result<(), ClaudeArgsError> {
    if options.claude_path.is_empty() {
        return Err(ClaudeArgsError::EmptyValue {
            field: "claude_path",
        });
    }
    check_nul("claude_path", &options.claude_path)?;
    if options.inline_prompt_limit_bytes > prompt::MAX_INLINE_PROMPT_LIMIT_BYTES {
        return Err(ClaudeArgsError::InlineLimitTooLarge {
            requested: options.inline_prompt_limit_bytes,
            max: prompt::MAX_INLINE_PROMPT_LIMIT_BYTES,
        });
    }
    let mut paths = credentials::mounted_paths(&options.credentials);
    if let LargePromptDelivery::File { path } = &options.large_prompt {
        paths.push(("large_prompt", path.as_str()));
    }
    for (field, path) in paths {
        check_nul(field, path)?;
        if !path.starts_with('/') {
            return Err(ClaudeArgsError::RelativePath {
                field,
                path: path.to_owned(),
            });
        }
    }
    if let Some(url) = &options.credentials.base_url {
        check_nul("base_url", url)?;
    }
    Ok(())
}

fn choose_delivery(
    prompt: &str,
    options: &BuildOptions,
) -> Result<PromptDelivery, ClaudeArgsError> {
    // Measure the quoted form: a prompt of quotes grows up to 4x when quoted, and the shell
    // line must still fit into one argument.
    let quoted_len = shlex::try_quote(prompt)
        .map_err(|_| ClaudeArgsError::NulByte { field: "prompt" })?
        .len();
    if quoted_len <= options.inline_prompt_limit_bytes {
        return Ok(PromptDelivery::Inline);
    }
    Ok(match &options.large_prompt {
        LargePromptDelivery::Stdin => PromptDelivery::Stdin,
        LargePromptDelivery::File { path } => PromptDelivery::File { path: path.clone() },
    })
}

/// Collects `--flag` and `--flag=value` words, checking every value on the way in.
struct Argv(Vec<String>);

impl Argv {
    fn flag(&mut self, flag: &'static str) {
        self.0.push(flag.to_owned());
    }

    fn value(
        &mut self,
        flag: &'static str,
        field: &'static str,
        value: &str,
    ) -> Result<(), ClaudeArgsError> {
        check_nul(field, value)?;
        let word = format!("{flag}={value}");
        check_argument_len(flag, word.len())?;
        self.0.push(word);
        Ok(())
    }

    fn values(
        &mut self,
        flag: &'static str,
        field: &'static str,
        values: &[String],
    ) -> Result<(), ClaudeArgsError> {
        values
            .iter()
            .try_for_each(|value| self.value(flag, field, value))
    }
}

fn build_argv(
    request: &ClaudeRequest,
    options: &BuildOptions,
    delivery: &PromptDelivery,
) -> Result<Vec<String>, ClaudeArgsError> {
    let mut argv = Argv(vec![options.claude_path.clone(), "-p".to_owned()]);
    argv.value(
        "--output-format",
        "output_format",
        request.output_format.as_cli_str(),
    )?;
    if request.output_format == OutputFormat::StreamJson {
        // `-p` with stream-json is refused without --verbose.
        argv.flag("--verbose");
    }
    if let Some(model) = &request.model {
        argv.value("--model", "model", model)?;
    }
    if !request.fallback_models.is_empty() {
        argv.value(
            "--fallback-model",
            "fallback_models",
            &request.fallback_models.join(","),
        )?;
    }
    if let Some(text) = &request.system_prompt {
        argv.value("--system-prompt", "system_prompt", text)?;
    }
    if let Some(path) = &request.system_prompt_file {
        argv.value("--system-prompt-file", "system_prompt_file", path)?;
    }
    if let Some(text) = &request.append_system_prompt {
        argv.value("--append-system-prompt", "append_system_prompt", text)?;
    }
    if let Some(path) = &request.append_system_prompt_file {
        argv.value(
            "--append-system-prompt-file",
            "append_system_prompt_file",
            path,
        )?;
    }
    argv.values("--allowedTools", "allowed_tools", &request.allowed_tools)?;
    argv.values(
        "--disallowedTools",
        "disallowed_tools",
        &request.disallowed_tools,
    )?;
    if let Some(turns) = request.max_turns {
        argv.value("--max-turns", "max_turns", &turns.to_string())?;
    }
    if let Some(budget) = request.max_budget_usd {
        // f64's Display never uses an exponent, which the CLI's number parser needs.
        argv.value("--max-budget-usd", "max_budget_usd", &budget.to_string())?;
    }
    for config in &request.mcp_configs {
        argv.value("--mcp-config", "mcp_configs", &config.to_cli_value())?;
    }
    if request.strict_mcp_config {
        argv.flag("--strict-mcp-config");
    }
    if request.bare {
        argv.flag("--bare");
    }
    if let Some(mode) = request.permission_mode {
        argv.value("--permission-mode", "permission_mode", mode.as_cli_str())?;
    }
    if let Some(schema) = &request.json_schema {
        argv.value("--json-schema", "json_schema", &schema.to_string())?;
    }
    if let Some(session) = &request.resume {
        argv.value("--resume", "resume", session)?;
    }
    if let Some(id) = &request.session_id {
        argv.value("--session-id", "session_id", id)?;
    }
    if request.fork_session {
        argv.flag("--fork-session");
    }
    if let Some(effort) = request.effort {
        argv.value("--effort", "effort", effort.as_cli_str())?;
    }
    argv.values("--add-dir", "add_dirs", &request.add_dirs)?;
    if let Some(settings) = &request.settings {
        argv.value("--settings", "settings", &settings.to_cli_value())?;
    }
    if let Some(agents) = &request.agents {
        argv.value("--agents", "agents", &agents.to_cli_value())?;
    }
    let mut argv = argv.0;
    if *delivery == PromptDelivery::Inline {
        argv.push("--".to_owned());
        argv.push(request.prompt.clone());
    }
    Ok(argv)
}

fn shell_line(
    argv: &[String],
    setup_steps: &[SetupStep],
    working_dir: Option<&str>,
    delivery: &PromptDelivery,
) -> Result<String, ClaudeArgsError> {
    let mut parts: Vec<String> = Vec::new();
    for step in setup_steps {
        parts.push(match step {
            SetupStep::CopyOAuthCredentials { from } => format!(
                "mkdir -p \"$HOME/.claude\" && cp {} \"$HOME/{file}\" && chmod 600 \"$HOME/{file}\"",
                quote("oauth_credentials_file", from)?,
                file = credentials::CREDENTIALS_FILE_IN_HOME,
            ),
            // `NAME="$(cat f)" && export NAME`: the assignment's status is cat's, so a missing
            // file stops the line; `export NAME="$(…)"` would hide that failure.
            SetupStep::ExportFromFile { name, path } => {
                format!("{name}=\"$(cat {})\" && export {name}", quote("secret file", path)?)
            }
        });
    }
    if let Some(dir) = working_dir {
        parts.push(format!("cd -- {}", quote("working_dir", dir)?));
    }
    let words = argv.iter().map(String::as_str);
    let mut exec = format!(
        "exec {}",
        shlex::try_join(words).map_err(|_| ClaudeArgsError::NulByte { field: "argument" })?
    );
    if let PromptDelivery::File { path } = delivery {
        exec.push_str(" < ");
        exec.push_str(&quote("large_prompt", path)?);
    }
    parts.push(exec);
    let line = parts.join(" && ");
    if line.len() > MAX_ARGUMENT_BYTES {
        return Err(ClaudeArgsError::ArgumentTooLong {
            what: "the sh -c line".to_owned(),
            bytes: line.len(),
            limit: MAX_ARGUMENT_BYTES,
        });
    }
    Ok(line)
}

fn quote(field: &'static str, value: &str) -> Result<String, ClaudeArgsError> {
    shlex::try_quote(value)
        .map(|quoted| quoted.into_owned())
        .map_err(|_| ClaudeArgsError::NulByte { field })
}

fn check_nul(field: &'static str, value: &str) -> Result<(), ClaudeArgsError> {
    if value.contains('\0') {
        return Err(ClaudeArgsError::NulByte { field });
    }
    Ok(())
}

fn check_argument_len(flag: &str, bytes: usize) -> Result<(), ClaudeArgsError> {
    if bytes > MAX_ARGUMENT_BYTES {
        return Err(ClaudeArgsError::ArgumentTooLong {
            what: flag.to_owned(),
            bytes,
            limit: MAX_ARGUMENT_BYTES,
        });
    }
    Ok(())
}
