//! Running a command in a warm pod through the exec API.
//!
//! Four problems with a plain exec, and how we solve them:
//!
//! - **Secrets in the URL.** An exec request carries its argv in the URL's
//!   query, which API-server audit logs, proxies and kube's debug spans
//!   record. So the URL carries only a fixed `sh` wrapper; the caller's argv
//!   and stdin both travel over the stdin channel.
//! - **Stdin EOF.** The exec protocol the API server speaks before
//!   Kubernetes 1.29 (`v4.channel.k8s.io`) cannot half-close stdin: the only
//!   way to signal EOF is to close the whole session, losing the output and
//!   the exit status. So stdin is framed: a header line with the byte counts,
//!   then the bytes, and the channel stays open; the wrapper reads exactly
//!   that many bytes into a private temp dir, rebuilds the argv and feeds the
//!   stdin part to the command, which sees a normal EOF.
//! - **Orphans.** Closing an exec session does not stop the remote process,
//!   and a command's background children outlive it (holding stdout open, so
//!   the session would not end either). The wrapper starts the command in its
//!   own session and process group (`setsid`); when the command ends it ends
//!   the whole group (SIGTERM, up to 2 s, SIGKILL). It also keeps reading the
//!   otherwise idle stdin channel: when the session ends early — our timeout,
//!   our future dropped, our process killed — that channel reaches EOF and the
//!   group gets the same SIGTERM, SIGKILL treatment. No second exec, no
//!   cooperation needed.
//! - **Exit status.** The real code comes from the exec `Status` channel
//!   (`NonZeroExitCode` → cause `ExitCode`), never from the output.
//!
//! The image needs a POSIX `sh`, `head`, `tail`, `wc`, `mktemp`, `setsid`,
//! `kill`, `sleep` and `rm` (busybox has them all).

use std::convert::Infallible;
use std::sync::LazyLock;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::Api;
use kube::api::AttachParams;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::TransportError;

/// The `sh` wrapper every exec'd command runs under (see the module docs),
/// without its comment lines: they would only lengthen every request URL.
static WRAPPER: LazyLock<String> = LazyLock::new(|| {
    include_str!("exec_wrapper.sh")
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
});

/// What to run in a worker: the command's argv (no shell) and the bytes it
/// reads on stdin. How to run it (timeouts, output caps, container) is
/// [`ExecOptions`].
///
/// Both parts may carry secrets (a prompt, an inline settings document), so
/// both travel over the exec session's stdin channel, never in the request
/// URL, and `Debug` shows only the program name and sizes.
///
/// ```
/// use agentpod_transport::ExecRequest;
/// let request = ExecRequest::new(["claude", "-p", "--output-format", "json"])
///     .stdin("Summarise the repository");
/// assert_eq!(request.command[0], "claude");
/// assert_eq!(
///     format!("{request:?}"),
///     r#"ExecRequest { program: "claude", arguments: "<3 redacted>", stdin: "<24 bytes redacted>" }"#
/// );
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecRequest {
    /// The command's argv; the first word is the program (looked up in `PATH`).
    /// No word may contain a NUL byte.
    pub command: Vec<String>,
    /// Bytes the command reads on stdin, followed by EOF. Empty by default.
    pub stdin: Vec<u8>,
}

impl ExecRequest {
    /// Runs `command` (argv, no shell) with empty stdin.
    pub fn new<I, S>(command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            command: command.into_iter().map(Into::into).collect(),
            stdin: Vec::new(),
        }
    }

    /// Replaces the argv.
    #[must_use]
    pub fn command<I, S>(mut self, command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.command = command.into_iter().map(Into::into).collect();
        self
    }

    /// Bytes the command reads on stdin (then EOF).
    #[must_use]
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = input.into();
        self
    }

    /// The bytes sent on the stdin channel: a header line with the counts
    /// (`<argc> <len>… <stdin len>`), the arguments, then the stdin bytes.
    fn frame(&self) -> Result<Vec<u8>, String> {
        if self.command.is_empty() {
            return Err("the command is empty; give at least the program name".to_owned());
        }
        if let Some(index) = self.command.iter().position(|word| word.contains('\0')) {
            return Err(format!(
                "word {index} of the command contains a NUL byte, which no program can receive"
            ));
        }
        let mut header = self.command.len().to_string();
        for word in &self.command {
            header.push(' ');
            header.push_str(&word.len().to_string());
        }
        header.push(' ');
        header.push_str(&self.stdin.len().to_string());
        header.push('\n');
        let size =
            header.len() + self.command.iter().map(String::len).sum::<usize>() + self.stdin.len();
        let mut framed = Vec::with_capacity(size);
        framed.extend_from_slice(header.as_bytes());
        for word in &self.command {
            framed.extend_from_slice(word.as_bytes());
        }
        framed.extend_from_slice(&self.stdin);
        Ok(framed)
    }
}

impl std::fmt::Debug for ExecRequest {
    /// The program name and sizes only: arguments and stdin may hold secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecRequest")
            .field("program", &self.command.first().map_or("", String::as_str))
            .field(
                "arguments",
                &format!("<{} redacted>", self.command.len().saturating_sub(1)),
            )
            .field("stdin", &format!("<{} bytes redacted>", self.stdin.len()))
            .finish()
    }
}

/// How an [`ExecRequest`] runs: which container, how long, how much output is
/// kept, and whether it may share the worker with other execs.
///
/// ```no_run
/// # async fn f(worker: agentpod_transport::Worker) -> Result<(), agentpod_transport::TransportError> {
/// use agentpod_transport::{ExecOptions, ExecRequest};
/// use std::time::Duration;
/// let patient = ExecOptions::default()
///     .run_timeout(Duration::from_secs(1800))
///     .max_output_bytes(64 << 20);
/// let output = worker.exec(&ExecRequest::new(["make", "test"]), &patient).await?;
/// println!("exit {}", output.exit_code);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecOptions {
    /// Container to exec in; `None` is the worker's main (first) container.
    pub container: Option<String>,
    /// Longest time to establish the exec session.
    pub setup_timeout: Duration,
    /// Longest time the command may run once the session is up; then the
    /// session ends and the command's process group is killed.
    pub run_timeout: Duration,
    /// Bytes kept per output stream; the rest is read and dropped.
    pub max_output_bytes: usize,
    /// Let this exec run while another exec is running in the same worker.
    /// Off by default: two `claude` processes sharing one `$HOME` and working
    /// directory corrupt each other's state, so execs into one worker (from
    /// all handles of one [`Transport`](crate::Transport)) take turns.
    pub concurrent: bool,
    /// Longest wait for the worker's turn when it is busy with another exec;
    /// then [`TransportError::WorkerBusy`]. Ignored when `concurrent`.
    pub queue_timeout: Duration,
}

impl Default for ExecOptions {
    /// The first container, 15 s setup timeout, 300 s run timeout, at most
    /// 16 MiB kept per output stream, one exec at a time per worker, and no
    /// queue timeout (`Duration::MAX`: the wait is bounded by the running
    /// exec's own timeouts).
    fn default() -> Self {
        Self {
            container: None,
            setup_timeout: Duration::from_secs(15),
            run_timeout: Duration::from_secs(300),
            max_output_bytes: 16 * 1024 * 1024,
            concurrent: false,
            queue_timeout: Duration::MAX,
        }
    }
}

impl ExecOptions {
    /// Sets [`container`](Self::container).
    #[must_use]
    pub fn container(mut self, name: impl Into<String>) -> Self {
        self.container = Some(name.into());
        self
    }

    /// Sets [`setup_timeout`](Self::setup_timeout).
    #[must_use]
    pub fn setup_timeout(mut self, timeout: Duration) -> Self {
        self.setup_timeout = timeout;
        self
    }

    /// Sets [`run_timeout`](Self::run_timeout).
    #[must_use]
    pub fn run_timeout(mut self, timeout: Duration) -> Self {
        self.run_timeout = timeout;
        self
    }

    /// Sets [`max_output_bytes`](Self::max_output_bytes).
    #[must_use]
    pub fn max_output_bytes(mut self, bytes: usize) -> Self {
        self.max_output_bytes = bytes;
        self
    }

    /// Sets [`concurrent`](Self::concurrent).
    #[must_use]
    pub fn concurrent(mut self, concurrent: bool) -> Self {
        self.concurrent = concurrent;
        self
    }

    /// Sets [`queue_timeout`](Self::queue_timeout).
    #[must_use]
    pub fn queue_timeout(mut self, timeout: Duration) -> Self {
        self.queue_timeout = timeout;
        self
    }
}

/// What an exec'd command produced. A non-zero exit code is a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// The command's exit code (128 + n when killed by signal n).
    pub exit_code: i32,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error, kept apart from stdout.
    pub stderr: Vec<u8>,
    /// Stdout exceeded the limit and was cut.
    pub stdout_truncated: bool,
    /// Stderr exceeded the limit and was cut.
    pub stderr_truncated: bool,
}

/// Runs `request` in `container` of `namespace/pod` and returns its output and
/// exit code. Dropping the future or hitting the run timeout ends the session,
/// and the wrapper then kills the remote process group. With `stdout_sink`,
/// stdout goes there chunk by chunk as it arrives (and is not kept in the
/// output); a sink whose receiver is gone drops the rest.
pub(crate) async fn exec_in_pod(
    client: kube::Client,
    namespace: &str,
    pod: &str,
    container: &str,
    request: &ExecRequest,
    options: &ExecOptions,
    stdout_sink: Option<tokio::sync::mpsc::Sender<bytes::Bytes>>,
) -> Result<ExecOutput, TransportError> {
    let failed = |reason: String| TransportError::Exec {
        namespace: namespace.to_owned(),
        pod: pod.to_owned(),
        reason,
        source: None,
    };
    let framed = request
        .frame()
        .map_err(|reason| TransportError::InvalidExec {
            namespace: namespace.to_owned(),
            pod: pod.to_owned(),
            reason,
        })?;
    let api: Api<Pod> = Api::namespaced(client, namespace);
    let params = AttachParams {
        container: Some(
            options
                .container
                .clone()
                .unwrap_or_else(|| container.to_owned()),
        ),
        stdin: true,
        stdout: true,
        stderr: true,
        tty: false,
        ..AttachParams::default()
    };
    let argv = ["sh", "-c", WRAPPER.as_str(), "agentpod-exec"];
    let mut process =
        match tokio::time::timeout(options.setup_timeout, api.exec(pod, argv, &params)).await {
            Err(_) => {
                return Err(TransportError::ExecSetupTimeout {
                    namespace: namespace.to_owned(),
                    pod: pod.to_owned(),
                    timeout: options.setup_timeout,
                });
            }
            Ok(Err(error)) => {
                return Err(TransportError::Exec {
                    namespace: namespace.to_owned(),
                    pod: pod.to_owned(),
                    reason: "the exec session could not be opened".to_owned(),
                    source: Some(Box::new(error)),
                });
            }
            Ok(Ok(process)) => process,
        };
    let (Some(mut stdin), Some(stdout), Some(stderr), Some(status)) = (
        process.stdin(),
        process.stdout(),
        process.stderr(),
        process.take_status(),
    ) else {
        return Err(failed(
            "the exec session has no stdin/stdout/stderr/status channel".to_owned(),
        ));
    };
    let limit = options.max_output_bytes;
    let session = async {
        let write = async {
            // Keep `stdin` open afterwards: closing it ends a v4 session.
            if let Err(error) = stdin.write_all(&framed).await {
                tracing::debug!(%error, "exec stdin closed early");
            }
            std::future::pending::<Infallible>().await
        };
        let read = async {
            let stdout = async {
                match stdout_sink {
                    Some(sink) => {
                        forward(stdout, &sink).await;
                        (Vec::new(), false)
                    }
                    None => read_capped(stdout, limit).await,
                }
            };
            tokio::join!(stdout, read_capped(stderr, limit), status)
        };
        tokio::select! {
            never = write => match never {},
            outputs = read => outputs,
        }
    };
    let ((stdout, stdout_truncated), (stderr, stderr_truncated), status) =
        match tokio::time::timeout(options.run_timeout, session).await {
            Ok(outputs) => outputs,
            Err(_) => {
                drop(process);
                return Err(TransportError::ExecTimeout {
                    namespace: namespace.to_owned(),
                    pod: pod.to_owned(),
                    timeout: options.run_timeout,
                });
            }
        };
    let status =
        status.ok_or_else(|| failed("the session ended without an exit status".to_owned()))?;
    let exit_code = exit_code(&status).map_err(failed)?;
    Ok(ExecOutput {
        exit_code,
        stdout,
        stderr,
        stdout_truncated,
        stderr_truncated,
    })
}

/// Reads `reader` to its end, keeping at most `limit` bytes.
async fn read_capped(mut reader: impl AsyncRead + Unpin, limit: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => return (kept, truncated),
            Ok(read) => {
                let room = limit.saturating_sub(kept.len());
                if read > room {
                    truncated = true;
                }
                kept.extend_from_slice(&buffer[..read.min(room)]);
            }
        }
    }
}

/// Sends `reader`'s chunks to `sink` until the end; once the receiver is
/// gone, reads on and drops them (the command must not block on output).
async fn forward(
    mut reader: impl AsyncRead + Unpin,
    sink: &tokio::sync::mpsc::Sender<bytes::Bytes>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    let mut open = true;
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => {
                if open {
                    open = sink
                        .send(bytes::Bytes::copy_from_slice(&buffer[..read]))
                        .await
                        .is_ok();
                }
            }
        }
    }
}

/// The exit code from the exec `Status` message.
fn exit_code(status: &Status) -> Result<i32, String> {
    if status.status.as_deref() == Some("Success") {
        return Ok(0);
    }
    if status.reason.as_deref() == Some("NonZeroExitCode") {
        let code = status
            .details
            .as_ref()
            .and_then(|d| d.causes.as_ref())
            .and_then(|causes| {
                causes
                    .iter()
                    .find(|c| c.reason.as_deref() == Some("ExitCode"))
            })
            .and_then(|cause| cause.message.as_deref())
            .and_then(|message| message.trim().parse().ok());
        return code.ok_or_else(|| format!("NonZeroExitCode without a readable code: {status:?}"));
    }
    Err(format!(
        "{}: {}",
        status.reason.as_deref().unwrap_or("exec failed"),
        status.message.as_deref().unwrap_or("no message")
    ))
}

#[cfg(test)]
mod wrapper_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn status(json: serde_json::Value) -> Status {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn exit_codes_from_status() {
        assert_eq!(
            exit_code(&status(serde_json::json!({"status": "Success"}))),
            Ok(0)
        );
        let three = status(
            serde_json::json!({"status": "Failure", "reason": "NonZeroExitCode",
            "message": "command terminated with non-zero exit code: error executing command [sh], exit code 3",
            "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}),
        );
        assert_eq!(exit_code(&three), Ok(3));
        let internal = status(
            serde_json::json!({"status": "Failure", "reason": "InternalError",
            "message": "executable file not found"}),
        );
        assert_eq!(
            exit_code(&internal),
            Err("InternalError: executable file not found".to_owned())
        );
    }

    #[test]
    fn debug_never_shows_arguments_or_stdin() {
        let request = ExecRequest::new(["claude", "-p", "sk-ant-in-argv"]).stdin("sk-ant-in-stdin");
        for text in [format!("{request:?}"), format!("{request:#?}")] {
            assert!(!text.contains("sk-ant"), "{text}");
            assert!(text.contains("claude"), "the program name helps: {text}");
        }
    }

    #[test]
    fn the_frame_counts_every_word_and_the_stdin() {
        let request = ExecRequest::new(["printf", "", "a b\n"]).stdin("in");
        assert_eq!(request.frame().unwrap(), b"3 6 0 4 2\nprintfa b\nin");
        assert!(ExecRequest::new(Vec::<String>::new()).frame().is_err());
        let nul = ExecRequest::new(["echo", "a\0b"]).frame().unwrap_err();
        assert!(nul.contains("word 1"), "{nul}");
    }

    #[tokio::test]
    async fn capped_reads_drain_everything_but_keep_the_limit() {
        let data = vec![7u8; 100_000];
        let (kept, truncated) = read_capped(&data[..], 1000).await;
        assert_eq!(kept.len(), 1000);
        assert!(truncated);
        let (kept, truncated) = read_capped(&data[..10], 1000).await;
        assert_eq!(kept.len(), 10);
        assert!(!truncated);
    }
}
