//! Running a command in a warm pod through the exec API.
//!
//! Three problems with a plain exec, and how we solve them:
//!
//! - **Stdin EOF.** The exec protocol the API server speaks before
//!   Kubernetes 1.29 (`v4.channel.k8s.io`) cannot half-close stdin: the only
//!   way to signal EOF is to close the whole session, losing the output and
//!   the exit status. So stdin is framed: we send `<byte count>\n<bytes>` and
//!   keep the channel open; a small `sh` wrapper reads exactly that many bytes
//!   into a private temp file and feeds them to the command, which sees a
//!   normal EOF.
//! - **Orphans.** Closing an exec session does not stop the remote process.
//!   The wrapper starts the command in its own session and process group
//!   (`setsid`) and keeps reading the (otherwise idle) stdin channel; when the
//!   session ends — our timeout, our future dropped, our process killed — the
//!   channel reaches EOF and the wrapper sends SIGTERM to the whole group,
//!   then SIGKILL after 2 s. No second exec, no cooperation needed.
//! - **Exit status.** The real code comes from the exec `Status` channel
//!   (`NonZeroExitCode` → cause `ExitCode`), never from the output.
//!
//! The image needs a POSIX `sh`, `head`, `mktemp`, `setsid` and `kill`
//! (busybox has them all).

use std::convert::Infallible;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::Api;
use kube::api::AttachParams;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::{Transport, TransportError};

/// The `sh` wrapper every exec'd command runs under (see the module docs).
pub const EXEC_WRAPPER: &str = r#"IFS= read -r agentpod_len || exit 125
case "$agentpod_len" in ''|*[!0-9]*) echo "agentpod-exec: bad stdin header" >&2; exit 125;; esac
agentpod_dir=$(umask 077 && mktemp -d "${TMPDIR:-/tmp}/agentpod-exec.XXXXXX") || { echo "agentpod-exec: cannot create a temp dir; is ${TMPDIR:-/tmp} writable?" >&2; exit 125; }
head -c "$agentpod_len" > "$agentpod_dir/stdin" || exit 125
[ "$(wc -c < "$agentpod_dir/stdin")" -eq "$agentpod_len" ] || { rm -rf "$agentpod_dir"; echo "agentpod-exec: stdin ended early" >&2; exit 125; }
exec 3<&0
setsid "$@" < "$agentpod_dir/stdin" 3<&- &
agentpod_child=$!
{ while IFS= read -r _; do :; done; kill -s TERM -- "-$agentpod_child" 2>/dev/null; sleep 2; kill -s KILL -- "-$agentpod_child" 2>/dev/null; } <&3 &
agentpod_watchdog=$!
exec 3<&-
wait "$agentpod_child"; agentpod_status=$?
kill "$agentpod_watchdog" 2>/dev/null
rm -rf "$agentpod_dir"
exit "$agentpod_status"
"#;

/// A command to run in a pod.
///
/// ```
/// use agentpod_transport::ExecRequest;
/// use std::time::Duration;
/// let request = ExecRequest::new(["claude", "-p", "--output-format", "json"])
///     .stdin("Summarise the repository")
///     .run_timeout(Duration::from_secs(600));
/// assert_eq!(request.command()[0], "claude");
/// ```
#[derive(Debug, Clone)]
pub struct ExecRequest {
    command: Vec<String>,
    stdin: Vec<u8>,
    container: Option<String>,
    setup_timeout: Duration,
    run_timeout: Duration,
    max_output_bytes: usize,
}

impl ExecRequest {
    /// Runs `command` (argv, no shell) with empty stdin, 15 s setup timeout,
    /// 300 s run timeout and at most 16 MiB kept per output stream.
    pub fn new<I, S>(command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            command: command.into_iter().map(Into::into).collect(),
            stdin: Vec::new(),
            container: None,
            setup_timeout: Duration::from_secs(15),
            run_timeout: Duration::from_secs(300),
            max_output_bytes: 16 * 1024 * 1024,
        }
    }

    /// The command's argv.
    pub fn command(&self) -> &[String] {
        &self.command
    }

    /// Bytes the command reads on stdin (then EOF).
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = input.into();
        self
    }

    /// Container to exec in (default: the pod's only/first container).
    pub fn container(mut self, name: impl Into<String>) -> Self {
        self.container = Some(name.into());
        self
    }

    /// Longest time to establish the exec session.
    pub fn setup_timeout(mut self, timeout: Duration) -> Self {
        self.setup_timeout = timeout;
        self
    }

    /// Longest time the command may run once the session is up.
    pub fn run_timeout(mut self, timeout: Duration) -> Self {
        self.run_timeout = timeout;
        self
    }

    /// Bytes kept per output stream; the rest is read and dropped.
    pub fn max_output_bytes(mut self, bytes: usize) -> Self {
        self.max_output_bytes = bytes;
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

impl Transport {
    /// Runs `request` in `namespace/pod` and returns its output and exit code.
    /// Dropping the future or hitting the run timeout ends the session, and
    /// the wrapper then kills the remote process group.
    ///
    /// ```no_run
    /// # async fn f(transport: agentpod_transport::Transport) -> Result<(), agentpod_transport::TransportError> {
    /// use agentpod_transport::ExecRequest;
    /// let out = transport
    ///     .exec("agents", "worker-0", ExecRequest::new(["sh", "-c", "cat; echo oops >&2; exit 3"]).stdin("hi"))
    ///     .await?;
    /// assert_eq!((out.exit_code, &out.stdout[..], &out.stderr[..]), (3, &b"hi"[..], &b"oops\n"[..]));
    /// # Ok(()) }
    /// ```
    pub async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        request: ExecRequest,
    ) -> Result<ExecOutput, TransportError> {
        let failed = |reason: String| TransportError::Exec {
            namespace: namespace.to_owned(),
            pod: pod.to_owned(),
            reason,
            source: None,
        };
        let api: Api<Pod> = Api::namespaced(self.client(), namespace);
        let params = AttachParams {
            container: request.container.clone(),
            stdin: true,
            stdout: true,
            stderr: true,
            tty: false,
            ..AttachParams::default()
        };
        let mut argv: Vec<String> = ["sh", "-c", EXEC_WRAPPER, "agentpod-exec"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        argv.extend(request.command.iter().cloned());
        let mut process =
            match tokio::time::timeout(request.setup_timeout, api.exec(pod, argv, &params)).await {
                Err(_) => {
                    return Err(TransportError::ExecSetupTimeout {
                        namespace: namespace.to_owned(),
                        pod: pod.to_owned(),
                        timeout: request.setup_timeout,
                    });
                }
                Ok(Err(error)) => return Err(failed(error.to_string())),
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
        let limit = request.max_output_bytes;
        let session = async {
            let mut framed = format!("{}\n", request.stdin.len()).into_bytes();
            framed.extend_from_slice(&request.stdin);
            let write = async {
                // Keep `stdin` open afterwards: closing it ends a v4 session.
                if let Err(error) = stdin.write_all(&framed).await {
                    tracing::debug!(%error, "exec stdin closed early");
                }
                std::future::pending::<Infallible>().await
            };
            let read = async {
                tokio::join!(
                    read_capped(stdout, limit),
                    read_capped(stderr, limit),
                    status
                )
            };
            tokio::select! {
                never = write => match never {},
                outputs = read => outputs,
            }
        };
        let ((stdout, stdout_truncated), (stderr, stderr_truncated), status) =
            match tokio::time::timeout(request.run_timeout, session).await {
                Ok(outputs) => outputs,
                Err(_) => {
                    drop(process);
                    return Err(TransportError::ExecTimeout {
                        namespace: namespace.to_owned(),
                        pod: pod.to_owned(),
                        timeout: request.run_timeout,
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
