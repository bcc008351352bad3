//! Request + build options → the exact command a transport runs.
//!
//! The same [`ClaudeCommand`] serves every transport: an argv for exec APIs and local spawning,
//! and a POSIX `sh -c` line for runners that take one command line. Every value goes into argv as one
//! `--flag=value` word, so a value that starts with `-` can never be taken for a flag and
//! optional-value flags (`--resume [value]`) never swallow the next word; an inline prompt comes
//! last, after `--`. The shell line is quoted by `shlex` (a maintained, audited quoting crate), not
//! by hand.

mod argv;
mod options;
mod plan;
mod shell;

use crate::credentials::{EnvVar, SetupStep, wire_credentials};
use crate::delivery::{InputFile, PromptDelivery};
use crate::limits::{self, MAX_ARGUMENT_BYTES};
use crate::output::{ClaudeOutput, StreamParser, parse_output};
use crate::{ClaudeArgsError, ClaudeRequest, OutputFormat, Result, env};

pub use options::BuildOptions;
use options::check_nul;
use plan::Plan;

/// A ready-to-run `claude -p` invocation and everything the process needs besides it.
///
/// Run [`argv`](Self::argv) directly (exec APIs, local spawning) unless
/// [`requires_shell`](Self::requires_shell), else [`sh_c_argv`](Self::sh_c_argv). Either way,
/// before the process starts: put every [`input_files`](Self::input_files) entry at its path,
/// set every [`env`](Self::env) entry, write [`stdin_prompt`](Self::stdin_prompt) to stdin (or
/// give it an empty stdin), and start it in [`working_dir`](Self::working_dir) when argv is run.
///
/// ```
/// use agentpod_claude_args::{BuildOptions, ClaudeCommand, ClaudeRequest, InputKind, JsonOrPath};
/// use serde_json::json;
///
/// let request = ClaudeRequest::new("-h is a prompt, not a flag")
///     .model("sonnet")
///     .mcp_configs([JsonOrPath::Json(json!({"mcpServers": {"docs": {"type": "http", "url": "http://docs"}}}))]);
/// let command = ClaudeCommand::build(&request, &BuildOptions::default())?;
/// assert_eq!(
///     command.argv(),
///     [
///         "claude", "-p", "--output-format=json", "--model=sonnet",
///         "--mcp-config=/var/run/agentpod/inputs/mcp-config-1.json",
///         "--", "-h is a prompt, not a flag",
///     ]
/// );
/// // The inline MCP configuration is a file the process must find, never an argument.
/// let file = &command.input_files()[0];
/// assert_eq!((file.kind, file.file_name()), (InputKind::McpConfig, "mcp-config-1.json"));
/// assert!(!command.requires_shell());
///
/// let stdout = r#"{"type":"result","subtype":"success","is_error":false,"result":"Done."}"#;
/// assert_eq!(command.parse_output(stdout)?.text, "Done.");
/// # Ok::<(), agentpod_claude_args::ClaudeArgsError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ClaudeCommand {
    argv: Vec<String>,
    shell_line: std::result::Result<String, usize>,
    prompt: String,
    prompt_delivery: PromptDelivery,
    input_files: Vec<InputFile>,
    env: Vec<EnvVar>,
    setup_steps: Vec<SetupStep>,
    working_dir: Option<String>,
    output_format: OutputFormat,
    schema_requested: bool,
}

impl ClaudeCommand {
    /// Validates the request and options and builds the command.
    ///
    /// Refuses only what cannot be delivered: an argv word over the per-argument limit that
    /// cannot move into a file, or a command that needs the shell (setup steps, a prompt file)
    /// whose shell line would not fit even after moving the prompt and the system prompts out.
    pub fn build(request: &ClaudeRequest, options: &BuildOptions) -> Result<Self> {
        request.validate()?;
        options.validate()?;
        check_nul("prompt", &request.prompt)?;
        if let Some(dir) = &request.working_dir {
            check_nul("working_dir", dir)?;
        }
        if let Some(window) = options.context_window_tokens {
            let bytes = request.prompt.len()
                + request.system_prompt.as_ref().map_or(0, String::len)
                + request.append_system_prompt.as_ref().map_or(0, String::len);
            limits::check_prompt_size(bytes, window)?;
        }
        let blanked = env::blanked_env_names(&options.orchestrator_env_names);
        let (env, setup_steps) = wire_credentials(&options.credentials, &blanked);

        let initial = Plan::initial(request, options)?;
        let mut plan = initial.clone();
        let (plan, argv, shell_line) = loop {
            let argv = argv::build_argv(request, &options.claude_path, &plan)?;
            let line = shell::shell_line(
                &argv,
                &setup_steps,
                request.working_dir.as_deref(),
                &plan.prompt,
            )?;
            if line.len() <= MAX_ARGUMENT_BYTES {
                break (plan, argv, Ok(line));
            }
            if !plan.move_next(request, options) {
                // No shell line can carry it; argv users keep the plan that needs least.
                let argv = argv::build_argv(request, &options.claude_path, &initial)?;
                break (initial, argv, Err(line.len()));
            }
        };
        let command = ClaudeCommand {
            argv,
            shell_line,
            prompt: request.prompt.clone(),
            input_files: plan.input_files(request),
            prompt_delivery: plan.prompt,
            env,
            setup_steps,
            working_dir: request.working_dir.clone(),
            output_format: request.output_format,
            schema_requested: request.json_schema.is_some(),
        };
        if command.requires_shell() {
            command.shell_line()?;
        }
        Ok(command)
    }

    /// The program and its arguments (`argv[0]` is the `claude` binary).
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// The POSIX shell line: setup steps, `cd`, then `exec claude …` (with `< file` when the
    /// prompt comes from a file). Run it as `sh -c <line>`.
    ///
    /// An error ([`ClaudeArgsError::ArgumentTooLong`]) only when the line would not fit one
    /// argument even with the prompt and system prompts moved out, and the command does not
    /// [`require the shell`](Self::requires_shell) (run [`argv`](Self::argv) then).
    pub fn shell_line(&self) -> Result<&str> {
        match &self.shell_line {
            Ok(line) => Ok(line),
            Err(bytes) => Err(ClaudeArgsError::ArgumentTooLong {
                what: "the sh -c line".to_owned(),
                bytes: *bytes,
                limit: MAX_ARGUMENT_BYTES,
            }),
        }
    }

    /// `["sh", "-c", <shell line>]`, for runners that take a program and its arguments.
    pub fn sh_c_argv(&self) -> Result<Vec<String>> {
        Ok(vec![
            "sh".to_owned(),
            "-c".to_owned(),
            self.shell_line()?.to_owned(),
        ])
    }

    /// True when the plain [`argv`](Self::argv) is not enough: there are setup steps or the
    /// prompt comes from a file. Run [`shell_line`](Self::shell_line) then.
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

    /// Files the process must find before it starts: the prompt's (when it comes from a file),
    /// system prompts moved out of argv for their size, and every inline JSON document. Deliver
    /// them like credentials.
    pub fn input_files(&self) -> &[InputFile] {
        &self.input_files
    }

    /// Environment the process must see: blanked `CLAUDE*` names first, then plain values and
    /// credentials.
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
    pub fn parse_output(&self, stdout: &str) -> Result<ClaudeOutput> {
        parse_output(stdout, self.schema_requested)
    }

    /// A streaming parser set up for this command, to feed log chunks as they arrive.
    pub fn stream_parser(&self) -> StreamParser {
        StreamParser::new(self.schema_requested)
    }
}
