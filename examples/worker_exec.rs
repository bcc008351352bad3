//! Keep a warm worker pod and exec commands into it: stdin in, stdout and stderr apart, the
//! real exit code; state in `$HOME` survives between execs; then check its health and delete it.
//!
//! ```sh
//! cargo run -p agentpod-examples --example worker_exec
//! ```
//!
//! It uses your usual Kubernetes configuration (`KUBECONFIG` or `~/.kube/config`) and the
//! namespace `default`; `AGENTPOD_EXAMPLE_IMAGE` picks an image that has a POSIX `sh` (default
//! `busybox:1.36`). The worker is deleted at the end; if the program is killed before, the next
//! run finds the worker and uses it.

// An example program talks to its user on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, SystemTime};

use agentpod::podspec::{AgentPodSpec, PodName, RestartPolicy};
use agentpod::transport::{ClusterConnection, ExecOptions, ExecRequest, StartPolicy};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let image = std::env::var("AGENTPOD_EXAMPLE_IMAGE").unwrap_or_else(|_| "busybox:1.36".into());
    let transport = ClusterConnection::default().connect().await?;

    // A worker is a named pod with a long-running main process (a shell, so it also reaps the
    // orphans of exec'd commands). Callers that race, here or in other processes, share it.
    let rendered = AgentPodSpec::new(image)
        .name(PodName::explicit("example-worker"))
        .restart_policy(RestartPolicy::Always)
        .termination_grace_period_seconds(0)
        .command(["sh", "-c", "while :; do sleep 3600; done"])
        .render(SystemTime::now())?;
    let start = StartPolicy::default().start_timeout(Duration::from_secs(120));
    let worker = transport.ensure_worker(&rendered, start).await?;
    eprintln!(
        "worker {}/{} ({}) is {}",
        worker.namespace(),
        worker.name(),
        worker.uid(),
        worker.health().await?
    );

    // What to run (argv, stdin) is kept apart from how (timeouts, output cap). The text on stdin
    // — a prompt, say — travels on the exec session, never in the request URL.
    let options = ExecOptions::default().run_timeout(Duration::from_secs(60));
    let count = ExecRequest::new(["sh", "-c", "wc -w; echo 'counted' >&2; exit 2"])
        .stdin("three words here");
    let output = worker.exec(&count, &options).await?;
    let words = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    println!("words: {words}");
    eprintln!(
        "stderr: {}exit code: {} (a result, not an error)",
        String::from_utf8_lossy(&output.stderr),
        output.exit_code
    );

    // Execs into one worker take turns and share its $HOME.
    let remember = ExecRequest::new(["sh", "-c", "echo remembered > \"$HOME/note\""]);
    worker.exec(&remember, &options).await?;
    let recall = ExecRequest::new(["sh", "-c", "cat \"$HOME/note\""]);
    let note = worker.exec(&recall, &options).await?;
    println!("note: {}", String::from_utf8_lossy(&note.stdout).trim());

    worker.delete().await?;
    eprintln!("deleted; health now: {}", worker.health().await?);

    if (output.exit_code, words.as_str()) != (2, "3") {
        return Err(format!(
            "expected 3 words and exit code 2, got {words:?} and {}",
            output.exit_code
        )
        .into());
    }
    Ok(())
}
