//! A stand-in for a user's orchestrator process, for the fault suite: starts one agent run on
//! the cluster, prints `running <pod>` once the agent runs, then waits for the output. The test
//! kills it with SIGKILL mid-run, as a crash or an OOM kill of the orchestrator would.
//!
//! Configured by the test through the environment: `KUBECONFIG`, `AGENTPOD_E2E_NAMESPACE`,
//! `AGENTPOD_E2E_BASE_URL`, `AGENTPOD_E2E_PROMPT`.

#![allow(
    clippy::print_stdout,
    reason = "the test reads what this process prints"
)]

use std::io::Write as _;
use std::time::Duration;

use agentpod_podspec::{AgentPodSpec, ImagePullPolicy};
use agentpod_provider::{
    Agent, AgentEvent, ClusterConnection, Credential, K8sEphemeralProvider, RunOptions, StartPolicy,
};
use agentpod_testkit::cluster::{CLAUDE_RUNNER_BINARY, CLAUDE_RUNNER_IMAGE};
use futures::StreamExt;

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let template = AgentPodSpec::new(CLAUDE_RUNNER_IMAGE)
        .namespace(var("AGENTPOD_E2E_NAMESPACE")?)
        .image_pull_policy(ImagePullPolicy::IfNotPresent)
        .env("CLAUDE_CODE_MAX_RETRIES", "0");
    // Short bounds, so the reaper may act soon after the crash: the pod's deadline and the
    // objects' expiry follow from them.
    let options = RunOptions::default()
        .start(StartPolicy::default().start_timeout(Duration::from_secs(10)))
        .run_timeout(Duration::from_secs(5))
        .expiry_margin(Duration::from_secs(1));
    let provider = K8sEphemeralProvider::builder(template)
        .claude_path(CLAUDE_RUNNER_BINARY)
        .api_key(Credential::Value(format!(
            "agentpod-e2e-orchestrator-key-{}",
            agentpod_testkit::cluster::CREDENTIAL_MARKER
        )))
        .base_url(var("AGENTPOD_E2E_BASE_URL")?)
        .run_options(options)
        .connect(ClusterConnection::default())
        .await?;
    let mut run = Agent::new(var("AGENTPOD_E2E_PROMPT")?)
        .allowed_tools(["Bash"])
        .start(&provider)
        .await?;
    let pod = run.pod().unwrap_or_default().to_owned();
    let mut events = run.take_events().ok_or("events are there until taken")?;
    while let Some(event) = events.next().await {
        if matches!(event, AgentEvent::ToolCall { .. }) {
            println!("running {pod}");
            std::io::stdout().flush()?;
        }
    }
    let _ = run.output().await;
    Ok(())
}
