//! Run a Claude Code agent with one call — in a pod of its own, or as a local process — and
//! follow its events as they happen.
//!
//! ```sh
//! ANTHROPIC_API_KEY=… AGENTPOD_EXAMPLE_IMAGE=<a runner image with claude> \
//!     cargo run -p agentpod-examples --example agent_run -- "Say hello in one word"
//! AGENTPOD_EXAMPLE_PROVIDER=local ANTHROPIC_API_KEY=… \
//!     cargo run -p agentpod-examples --example agent_run
//! ```
//!
//! - `AGENTPOD_EXAMPLE_PROVIDER`: `k8s` (default: one pod per call, your usual Kubernetes
//!   configuration, namespace `AGENTPOD_EXAMPLE_NAMESPACE` or `default`) or `local` (the
//!   `claude` on your `PATH`). The provider is picked at run time, as an
//!   `Arc<dyn AgentProvider>`.
//! - `AGENTPOD_EXAMPLE_IMAGE`: the pod's image, which must hold the `claude` CLI (at
//!   `AGENTPOD_EXAMPLE_CLAUDE`, default `claude` on the image's `PATH`).
//! - `ANTHROPIC_API_KEY` (required), `ANTHROPIC_BASE_URL` (optional, e.g. a test endpoint).
//!   The key travels in a Secret of the run, never in the Pod object.
//!
//! The pod and its Secrets are deleted when the run ends, also on Ctrl-C (dropping the run
//! deletes them). A failed run exits non-zero and says why (`AgentError` names it).

// An example program talks to its user on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;
use std::time::Duration;

use agentpod::podspec::AgentPodSpec;
use agentpod::provider::{
    Agent, AgentEvent, AgentProvider, ClusterConnection, Credential, K8sEphemeralProvider,
    LocalProvider, Transport,
};
use futures::StreamExt;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// The provider, and for pods the transport whose cleanups must finish before the exit.
type Picked = (Arc<dyn AgentProvider>, Option<Transport>);

async fn provider() -> Result<Picked, Box<dyn std::error::Error>> {
    let key = env("ANTHROPIC_API_KEY").ok_or("set ANTHROPIC_API_KEY")?;
    let base_url = env("ANTHROPIC_BASE_URL");
    if env("AGENTPOD_EXAMPLE_PROVIDER").as_deref() == Some("local") {
        let mut builder = LocalProvider::builder()
            .api_key(key)
            .run_timeout(Duration::from_secs(300));
        if let Some(url) = base_url {
            builder = builder.base_url(url);
        }
        if let Some(claude) = env("AGENTPOD_EXAMPLE_CLAUDE") {
            builder = builder.claude_path(claude);
        }
        return Ok((Arc::new(builder.build()), None));
    }
    let image = env("AGENTPOD_EXAMPLE_IMAGE")
        .ok_or("set AGENTPOD_EXAMPLE_IMAGE to an image with the claude CLI")?;
    let namespace = env("AGENTPOD_EXAMPLE_NAMESPACE").unwrap_or_else(|| "default".into());
    let mut builder = K8sEphemeralProvider::builder(AgentPodSpec::new(image).namespace(namespace))
        .api_key(Credential::Value(key));
    if let Some(url) = base_url {
        builder = builder.base_url(url);
    }
    if let Some(claude) = env("AGENTPOD_EXAMPLE_CLAUDE") {
        builder = builder.claude_path(claude);
    }
    let provider = builder.connect(ClusterConnection::default()).await?;
    let transport = provider.transport().clone();
    Ok((Arc::new(provider), Some(transport)))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let prompt = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let prompt = if prompt.trim().is_empty() {
        "Say hello in one word.".to_owned()
    } else {
        prompt
    };
    let (provider, transport) = provider().await?;

    // Describe the run; invalid values fail here, before anything is sent.
    let agent = Agent::new(prompt)
        .max_turns(4)
        .label("example", "agent-run");
    let mut run = agent.start(provider.as_ref()).await?;
    if let Some(pod) = run.pod() {
        eprintln!("started pod {pod}");
    }

    // Follow the events while awaiting the output (take them right after `start`).
    let mut events = run.take_events().ok_or("events are there until taken")?;
    let print_events = async move {
        while let Some(event) = events.next().await {
            match event {
                AgentEvent::Pending { reason } => eprintln!("… pending: {reason}"),
                AgentEvent::Running => eprintln!("… running"),
                AgentEvent::AssistantText { text } => eprintln!("assistant: {text}"),
                AgentEvent::ToolCall { name, input, .. } => eprintln!("tool call: {name} {input}"),
                AgentEvent::ToolResult { content, .. } => eprintln!("tool result: {content}"),
                other => eprintln!("… {other:?}"),
            }
        }
    };
    let (output, ()) = tokio::join!(run.output(), print_events);
    let output = output?;

    println!("{}", output.text);
    eprintln!(
        "{} turns, ${:.4}, {} output tokens, {:?} in all ({:?} the agent itself), exit code {:?}, {} Kubernetes API requests",
        output.turns,
        output.cost_usd,
        output.tokens.output_tokens,
        output.timings.total,
        output.timings.agent,
        output.exit_code,
        output.api_requests,
    );
    // Let the cleanups spawned when the run ended (pod, Secrets) finish before the exit.
    if let Some(transport) = transport
        && !transport.finish_cleanups(Duration::from_secs(30)).await
    {
        eprintln!("the cleanup of the run's pod and Secrets did not finish within 30 s");
    }
    Ok(())
}
