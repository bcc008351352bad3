//! Render an agent pod to YAML without a cluster: what `kubectl apply` would get.
//!
//! ```sh
//! cargo run -p agentpod-examples --example pod_render
//! ```
//!
//! The pod runs the real `claude -p` command line, hardened by default, with the API key in a
//! `Secret` the pod refers to. Rendering is pure: the time is an input, so the same options
//! always give the same YAML (that is what makes pod specs snapshot-testable).

// An example program talks to its user on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, SystemTime};

use agentpod::claude_args::{BuildOptions, ClaudeCommand, ClaudeRequest};
use agentpod::podspec::{AgentPodSpec, ResourceKind, Resources};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let request = ClaudeRequest::new("Summarise README.md in three bullet points");
    let command = ClaudeCommand::build(&request, &BuildOptions::default())?;

    let rendered = AgentPodSpec::new("agentpod.local/claude-runner:2.1.328")
        .name("summarise-readme")
        .namespace("agents")
        .command(command.argv().iter().cloned())
        .resources(
            Resources::default()
                .request(ResourceKind::Cpu, "250m")
                .limit(ResourceKind::Memory, "1Gi"),
        )
        // A placeholder: a real program reads the key from its own secret store.
        .secret_env("ANTHROPIC_API_KEY", "sk-ant-placeholder")
        .expires_after(Duration::from_secs(3600))
        .render(SystemTime::now())?;

    print!("{}", serde_norway::to_string(&rendered.pod)?);
    for secret in &rendered.secrets {
        let keys: Vec<_> = secret.data.iter().flat_map(|data| data.keys()).collect();
        // The Secret's values stay out of the output; its name and keys say what the pod needs.
        eprintln!(
            "plus Secret {} with keys {keys:?}",
            secret.metadata.name.as_deref().unwrap_or_default()
        );
    }
    Ok(())
}
