//! A warm pool: several agents, one after another and at once, in pods that stay warm between
//! runs — each run in a pod of its own at a time, with a fresh `$HOME`, and its own key.
//!
//! ```sh
//! ANTHROPIC_API_KEY=… AGENTPOD_EXAMPLE_IMAGE=<a runner image with claude> \
//!     cargo run -p agentpod-examples --example pool_run
//! ```
//!
//! - `AGENTPOD_EXAMPLE_IMAGE`: the pods' image, which must hold the `claude` CLI (at
//!   `AGENTPOD_EXAMPLE_CLAUDE`, default `claude` on the image's `PATH`).
//! - `AGENTPOD_EXAMPLE_NAMESPACE` (default `default`), `ANTHROPIC_BASE_URL` (optional).
//! - `ANTHROPIC_API_KEY` (required): it reaches each run's `claude` over the exec's stdin; the
//!   pods carry no credential.
//!
//! The pool's pods are deleted at the end (`shutdown`); `agentpod pool status example-pool`
//! shows them meanwhile from another terminal.

// An example program talks to its user on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, Instant};

use agentpod::podspec::AgentPodSpec;
use agentpod::provider::{
    Agent, ClusterConnection, Credential, K8sEphemeralProvider, K8sPoolProvider, PoolOptions,
};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = env("ANTHROPIC_API_KEY").ok_or("set ANTHROPIC_API_KEY")?;
    let image = env("AGENTPOD_EXAMPLE_IMAGE")
        .ok_or("set AGENTPOD_EXAMPLE_IMAGE to an image with the claude CLI")?;
    let namespace = env("AGENTPOD_EXAMPLE_NAMESPACE").unwrap_or_else(|| "default".into());

    // The pods are made as the ephemeral provider would make them (hardened preset).
    let mut pods = K8sEphemeralProvider::builder(AgentPodSpec::new(image).namespace(namespace));
    if let Some(url) = env("ANTHROPIC_BASE_URL") {
        pods = pods.base_url(url);
    }
    if let Some(claude) = env("AGENTPOD_EXAMPLE_CLAUDE") {
        pods = pods.claude_path(claude);
    }
    let options = PoolOptions::default().name("example-pool").min(1).max(2);
    let pool = K8sPoolProvider::builder(pods, options)
        .connect(ClusterConnection::default())
        .await?;
    let started = Instant::now();
    pool.warm_up().await?;
    eprintln!("pool warm in {:?}", started.elapsed());

    // Each run's key goes to its own process only.
    let provider = pool.with_api_key(Credential::Value(key))?;
    for question in ["Say hello in one word.", "Name a prime number."] {
        let started = Instant::now();
        let output = Agent::new(question).max_turns(2).run(&provider).await?;
        println!(
            "{} ({:?}, pod {:?})",
            output.text,
            started.elapsed(),
            output.pod
        );
    }

    // Two at once: the pool grows to its max of 2, one run per pod.
    let (one, two) = (
        Agent::new("Say one.").max_turns(2),
        Agent::new("Say two.").max_turns(2),
    );
    let (first, second) = tokio::join!(one.run(&provider), two.run(&provider));
    println!("{} / {}", first?.text, second?.text);
    print!("{}", pool.status().await?);

    let report = pool.shutdown(Duration::from_secs(60)).await?;
    eprintln!("deleted {} pod(s)", report.deleted.len());
    Ok(())
}
