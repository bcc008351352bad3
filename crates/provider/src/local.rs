//! `LocalProvider`: the same request run by a local `claude` process.

use std::fmt;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentpod_claude_args::env::{API_KEY_VAR, OAUTH_TOKEN_VAR};
use agentpod_claude_args::{
    BuildOptions, ClaudeArgsError, ClaudeCommand, CredentialSource, Credentials, EnvValue,
};
use agentpod_transport::ExitStatus;
use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::local_kill::TreeGuard;
use crate::{AgentError, AgentEvent, AgentOutput, AgentProvider, AgentRequest, AgentRun, Result};

/// The variable that keeps the CLI from any traffic besides the model API.
const NONESSENTIAL_TRAFFIC_VAR: &str = "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC";
/// Bytes of stderr and stdout kept for an error without a result.
const TAIL_BYTES: usize = 4096;

#[derive(Clone)]
struct LocalSettings {
    claude_path: String,
    working_dir: Option<String>,
    api_key: Option<String>,
    oauth_token: Option<String>,
    base_url: Option<String>,
    env: Vec<(String, String)>,
    context_window_tokens: Option<u64>,
    run_timeout: Duration,
}

impl fmt::Debug for LocalSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSettings")
            .field("claude_path", &self.claude_path)
            .field("working_dir", &self.working_dir)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field(
                "oauth_token",
                &self.oauth_token.as_ref().map(|_| "<redacted>"),
            )
            .field("base_url", &self.base_url)
            .field(
                "env",
                &self.env.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .field("run_timeout", &self.run_timeout)
            .finish_non_exhaustive()
    }
}

/// Runs each agent as a local `claude` process: same command, same parsing, same events as the
/// pod providers.
///
/// The process inherits this process's environment, with every `CLAUDE*` variable blanked (an
/// agent started from inside another would act as its sub-agent), plus the credentials and
/// variables set here and `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`. It runs in a process
/// group of its own; when the run times out or its future is dropped, that group and every
/// process the CLI started (its tools run in sessions of their own) are killed with SIGKILL.
/// Inline documents (MCP configurations, settings) are written to a private temporary
/// directory (mode 700) that is removed after the run.
///
/// ```no_run
/// use agentpod_provider::{Agent, LocalProvider};
///
/// # async fn f() -> Result<(), agentpod_provider::AgentError> {
/// let provider = LocalProvider::builder().api_key("sk-ant-…").build();
/// let output = Agent::new("What is 2+2?").run(&provider).await?;
/// # let _ = output; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct LocalProvider {
    settings: Arc<LocalSettings>,
}

impl LocalProvider {
    /// A builder: `claude` from `PATH`, the current directory, the caller's own credentials
    /// (none set), run timeout 300 s.
    pub fn builder() -> LocalProviderBuilder {
        LocalProviderBuilder {
            settings: LocalSettings {
                claude_path: "claude".to_owned(),
                working_dir: None,
                api_key: None,
                oauth_token: None,
                base_url: None,
                env: Vec::new(),
                context_window_tokens: Some(
                    agentpod_claude_args::limits::DEFAULT_CONTEXT_WINDOW_TOKENS,
                ),
                run_timeout: Duration::from_secs(300),
            },
        }
    }
}

/// Builds a [`LocalProvider`].
#[derive(Debug, Clone)]
#[must_use]
pub struct LocalProviderBuilder {
    settings: LocalSettings,
}

impl LocalProviderBuilder {
    /// The `claude` binary: a name on `PATH` or a path.
    pub fn claude_path(mut self, path: impl Into<String>) -> Self {
        self.settings.claude_path = path.into();
        self
    }

    /// Directory the process starts in (a request's own working dir is relative to it).
    pub fn working_dir(mut self, dir: impl Into<String>) -> Self {
        self.settings.working_dir = Some(dir.into());
        self
    }

    /// `ANTHROPIC_API_KEY` for the process (in its environment, never in argv).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.settings.api_key = Some(key.into());
        self
    }

    /// `CLAUDE_CODE_OAUTH_TOKEN` for the process.
    pub fn oauth_token(mut self, token: impl Into<String>) -> Self {
        self.settings.oauth_token = Some(token.into());
        self
    }

    /// `ANTHROPIC_BASE_URL`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.settings.base_url = Some(url.into());
        self
    }

    /// One more variable for the process, one per call (e.g. `HOME`).
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.env.push((name.into(), value.into()));
        self
    }

    /// Context window (tokens) for the prompt-size check; `None` skips the check.
    pub fn context_window_tokens(mut self, tokens: Option<u64>) -> Self {
        self.settings.context_window_tokens = tokens;
        self
    }

    /// Longest a run may take unless the agent sets its own
    /// [`run_timeout`](crate::Agent::run_timeout). `Duration::MAX`: no limit.
    pub fn run_timeout(mut self, timeout: Duration) -> Self {
        self.settings.run_timeout = timeout;
        self
    }

    /// The provider.
    pub fn build(self) -> LocalProvider {
        LocalProvider {
            settings: Arc::new(self.settings),
        }
    }
}

#[async_trait]
impl AgentProvider for LocalProvider {
    async fn start(&self, request: &AgentRequest) -> Result<AgentRun> {
        let started = Instant::now();
        let settings = &self.settings;
        let inputs = tempfile::Builder::new()
            .prefix("agentpod-inputs-")
            .tempdir()
            .map_err(|source| AgentError::Local {
                action: "create the inputs directory",
                source,
            })?;
        let mut credentials = Credentials::default();
        if settings.api_key.is_some() {
            credentials = credentials.api_key(CredentialSource::Environment);
        }
        if settings.oauth_token.is_some() {
            credentials = credentials.oauth_token(CredentialSource::Environment);
        }
        if let Some(url) = &settings.base_url {
            credentials = credentials.base_url(url.clone());
        }
        let inherited: Vec<String> = std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .collect();
        let options = BuildOptions::default()
            .claude_path(settings.claude_path.clone())
            .inputs_dir(inputs.path().to_string_lossy().into_owned())
            .context_window_tokens(settings.context_window_tokens)
            .credentials(credentials)
            .orchestrator_env_names(inherited);
        let command = ClaudeCommand::build(request.claude(), &options)
            .map_err(|source| AgentError::InvalidRequest { source })?;

        for file in command.input_files() {
            write_private(&file.path, &file.contents).await?;
        }
        let argv = if command.requires_shell() {
            command.sh_c_argv()?
        } else {
            command.argv().to_vec()
        };
        let (program, args) = argv.split_first().ok_or(AgentError::Unsupported {
            provider: "LocalProvider",
            option: "argv",
            reason: "the command is empty",
        })?;
        let mut process = Command::new(program);
        process
            .args(args)
            .process_group(0)
            .kill_on_drop(true)
            .stdin(if command.stdin_prompt().is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut dir = settings.working_dir.clone().map(std::path::PathBuf::from);
        if !command.requires_shell()
            && let Some(request_dir) = command.working_dir()
        {
            dir = Some(match dir {
                Some(base) => base.join(request_dir),
                None => request_dir.into(),
            });
        }
        if let Some(dir) = dir {
            process.current_dir(dir);
        }
        for var in command.env() {
            match &var.value {
                EnvValue::Blank => process.env(&var.name, ""),
                EnvValue::Plain(value) => process.env(&var.name, value),
                EnvValue::Credential => {
                    let value = match var.name.as_str() {
                        API_KEY_VAR => settings.api_key.as_deref(),
                        OAUTH_TOKEN_VAR => settings.oauth_token.as_deref(),
                        _ => None,
                    };
                    process.env(&var.name, value.unwrap_or_default())
                }
                _ => &mut process,
            };
        }
        process.env(NONESSENTIAL_TRAFFIC_VAR, "1");
        for (name, value) in &settings.env {
            process.env(name, value);
        }
        let mut child = process.spawn().map_err(|source| AgentError::Local {
            action: "start the claude process",
            source,
        })?;
        let guard = TreeGuard::new(child.id().and_then(|id| i32::try_from(id).ok()));
        let stdin = command.stdin_prompt().map(str::to_owned);
        let timeout = request.run_timeout().unwrap_or(settings.run_timeout);

        Ok(AgentRun::new(None, move |events| async move {
            // Kept until the run ends: the directory holds the input files.
            let _inputs = inputs;
            let mut guard = guard;
            events.send(AgentEvent::Running).await;
            let run = drive(&mut child, stdin, command, events);
            let result = match tokio::time::timeout(timeout, run).await {
                Ok(result) => result,
                Err(_) => Err(AgentError::RunTimeout {
                    pod: None,
                    timeout,
                    source: None,
                }),
            };
            if result.is_ok() {
                // The process ended on its own; leave everything alone.
                guard.disarm();
            }
            drop(guard);
            let mut output = result?;
            output.timings.total = started.elapsed();
            Ok(output)
        }))
    }
}

/// Writes an input file only its owner can read.
async fn write_private(path: &str, contents: &str) -> Result<()> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true).mode(0o600);
    let write = async {
        let mut file = options.open(path).await?;
        file.write_all(contents.as_bytes()).await?;
        file.flush().await
    };
    write.await.map_err(|source| AgentError::Local {
        action: "write an input file",
        source,
    })
}

async fn drive(
    child: &mut Child,
    stdin: Option<String>,
    command: ClaudeCommand,
    events: crate::EventSender,
) -> Result<AgentOutput> {
    let io_error = |action| move |source| AgentError::Local { action, source };
    let feed = {
        let pipe = child.stdin.take();
        async move {
            if let (Some(mut pipe), Some(prompt)) = (pipe, stdin) {
                // A process that exits early closes the pipe; its outcome says why.
                let _ = pipe.write_all(prompt.as_bytes()).await;
            }
        }
    };
    let mut stdout = child.stdout.take();
    let read_stdout = async {
        let mut parser = command.stream_parser();
        let mut tail = Vec::new();
        let mut buffer = vec![0_u8; 64 * 1024];
        let mut result_seen = false;
        if let Some(stdout) = stdout.as_mut() {
            loop {
                let read = stdout
                    .read(&mut buffer)
                    .await
                    .map_err(io_error("read the process's output"))?;
                if read == 0 {
                    break;
                }
                let chunk = &buffer[..read];
                parser.feed(chunk);
                keep_tail(&mut tail, chunk);
                for event in parser.take_events() {
                    events.send(event.into()).await;
                }
                if !result_seen && parser.has_result() {
                    result_seen = true;
                    events.send(AgentEvent::Result).await;
                }
            }
        }
        Ok::<_, AgentError>((parser, tail))
    };
    let mut stderr = child.stderr.take();
    let read_stderr = async {
        let mut tail = Vec::new();
        let mut buffer = vec![0_u8; 16 * 1024];
        if let Some(stderr) = stderr.as_mut() {
            while let Ok(read) = stderr.read(&mut buffer).await {
                if read == 0 {
                    break;
                }
                keep_tail(&mut tail, &buffer[..read]);
            }
        }
        tail
    };
    let ((), stdout, stderr_tail) = tokio::join!(feed, read_stdout, read_stderr);
    let (parser, stdout_tail) = stdout?;
    let status = child
        .wait()
        .await
        .map_err(io_error("wait for the process"))?;
    let exit = ExitStatus {
        code: status.code(),
        signal: std::os::unix::process::ExitStatusExt::signal(&status),
        ..ExitStatus::default()
    };
    match parser.finish() {
        Ok(claude) => {
            let mut output = AgentOutput::from_claude(claude);
            output.exit_code = exit.code;
            Ok(output)
        }
        Err(source @ ClaudeArgsError::MissingResult { .. }) => {
            let mut tail = String::from_utf8_lossy(&stdout_tail).trim().to_owned();
            let stderr = String::from_utf8_lossy(&stderr_tail);
            if !stderr.trim().is_empty() {
                tail = format!("{tail}\n{}", stderr.trim()).trim().to_owned();
            }
            Err(AgentError::NoResult {
                pod: None,
                exit: Box::new(exit),
                output_tail: tail,
                source,
            })
        }
        Err(error) => Err(AgentError::from_outcome(error)),
    }
}

fn keep_tail(tail: &mut Vec<u8>, chunk: &[u8]) {
    tail.extend_from_slice(chunk);
    if tail.len() > TAIL_BYTES {
        let cut = tail.len() - TAIL_BYTES;
        tail.drain(..cut);
    }
}
