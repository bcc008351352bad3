//! Run one pod on a cluster, stream its log as it is written, and read its exit status.
//!
//! ```sh
//! cargo run -p agentpod-examples --example pod_run
//! ```
//!
//! It uses your usual Kubernetes configuration (`KUBECONFIG` or `~/.kube/config`) and the
//! namespace `default`; `AGENTPOD_EXAMPLE_IMAGE` picks an image that has a POSIX `sh`
//! (default `busybox:1.36`). The pod and everything it made are deleted when the run ends —
//! also when you press Ctrl-C, because dropping the run deletes them.

// An example program talks to its user on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::time::Duration;

use agentpod::podspec::{AgentPodSpec, PodName};
use agentpod::transport::{ClusterConnection, RunOptions};
use futures::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let image = std::env::var("AGENTPOD_EXAMPLE_IMAGE").unwrap_or_else(|_| "busybox:1.36".into());
    let transport = ClusterConnection::default().connect().await?;

    // A job that writes a few lines over a second and fails on purpose: a non-zero exit is a
    // result to act on, not a transport error.
    let spec = AgentPodSpec::new(image)
        .name(PodName::generated("example-run"))
        .command([
            "sh",
            "-c",
            "for step in 1 2 3; do echo \"step $step\"; sleep 0.3; done; echo done >&2; exit 3",
        ]);
    let mut run = transport
        .start(
            spec,
            RunOptions::default().run_timeout(Duration::from_secs(120)),
        )
        .await?;
    eprintln!("started pod {}/{}", run.namespace(), run.pod());

    // Consume the log while waiting for the outcome (the run finishes only after its log was
    // delivered or dropped).
    let mut logs = run.take_logs().ok_or("the log is followed by default")?;
    let print_log = async move {
        let mut stdout = std::io::stdout();
        while let Some(chunk) = logs.next().await {
            stdout.write_all(&chunk?)?;
            stdout.flush()?;
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    };
    let (outcome, printed) = tokio::join!(run.wait(), print_log);
    printed?;
    let outcome = outcome?;

    eprintln!(
        "exit code {:?} ({}), {} API requests, pod started in {:?}",
        outcome.exit.code,
        outcome.exit.reason.as_deref().unwrap_or("no reason"),
        outcome.api_requests,
        outcome.timings.start,
    );
    // The example expects exactly the failure it asked for.
    if outcome.exit.code != Some(3) {
        return Err(format!("expected exit code 3, got {:?}", outcome.exit.code).into());
    }
    Ok(())
}
