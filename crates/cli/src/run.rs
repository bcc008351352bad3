//! `agentpod run`: one agent through the provider layer.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use agentpod_provider::{AgentEvent, AgentOutput, AgentProvider, Transport};
use futures::StreamExt as _;

use crate::args::{ProviderKind, RunArgs, RunOutput};
use crate::failure::{self, Failure};
use crate::output::OutputDocument;
use crate::progress::Progress;
use crate::request;

/// How long the run's pod and Secrets may take to be deleted before the command exits (the
/// reaper removes whatever is left after that).
const CLEANUP_WAIT: Duration = Duration::from_secs(30);

/// Pod events shown under an error.
const EVENTS_SHOWN: usize = 5;

/// Runs `agentpod run`.
pub async fn run(args: &RunArgs, provider: ProviderKind) -> Result<(), Failure> {
    let prompt = request::read_prompt(args.prompt.as_deref())?;
    let agent = request::agent(prompt, &args.agent, &args.pod)?;
    // Validate before connecting: invalid input fails without touching the cluster.
    let _ = agent.request()?;
    let progress = Progress::new(args.quiet);
    let namespace = args
        .pod
        .namespace
        .clone()
        .unwrap_or_else(|| agentpod_podspec::consts::DEFAULT_NAMESPACE.to_owned());
    let (provider, transport): (Arc<dyn AgentProvider>, Option<Transport>) = match provider {
        ProviderKind::Ephemeral => {
            let connection = request::connection(&args.cluster);
            tracing::debug!(cluster = %connection.describe(), "connecting");
            let provider = request::ephemeral_builder(&args.pod)?
                .connect(connection)
                .await?;
            let transport = provider.transport().clone();
            (Arc::new(provider), Some(transport))
        }
        ProviderKind::Local => {
            let mut builder = request::local_builder(&args.pod)?;
            if let Some(timeout) = args.pod.run_timeout {
                builder = builder.run_timeout(timeout);
            }
            (Arc::new(builder.build()), None)
        }
    };
    if !request::has_credentials(&args.pod) {
        progress.note(
            "note: no ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN or --api-key-secret; the agent uses the credentials its image or machine has",
        );
    }
    progress.phase("starting");

    let outcome = tokio::select! {
        outcome = drive(&agent, provider.as_ref(), args.output, &progress) => outcome,
        _ = tokio::signal::ctrl_c() => Err(Failure::Interrupted),
    };
    // Whatever happened, the run is over (dropped): wait for its pod and Secrets to go.
    if let Some(transport) = transport.as_ref().filter(|t| t.pending_cleanups() > 0) {
        progress.phase("deleting the pod and its Secrets");
        if !transport.finish_cleanups(CLEANUP_WAIT).await {
            progress.note("the run's pod and Secrets were not deleted within 30 s; `agentpod reap` removes them once they expire");
        }
    }
    let outcome = match (outcome, &transport) {
        (Err(Failure::Agent(error, _)), Some(transport)) => {
            let events = match failure::pod_worth_describing(&error) {
                Some(pod) => pod_events(transport, &namespace, pod).await,
                None => Vec::new(),
            };
            Err(Failure::Agent(error, events))
        }
        (outcome, _) => outcome,
    };
    progress.finish();
    let output = outcome?;
    if !args.quiet {
        let mut summary = format!(
            "done in {:.1}s: {} turn{}, ${:.4}",
            progress.elapsed().as_secs_f64(),
            output.turns,
            if output.turns == 1 { "" } else { "s" },
            output.cost_usd
        );
        if let Some(pod) = &output.pod {
            summary.push_str(&format!(", pod {pod}"));
        }
        let _ = writeln!(std::io::stderr().lock(), "{summary}");
    }
    Ok(())
}

/// The last events of the run's pod, for the error report; nothing when they cannot be read
/// within a few seconds (the report does not wait on a struggling API server).
async fn pod_events(transport: &Transport, namespace: &str, pod: &str) -> Vec<String> {
    let read = transport.pod_events(namespace, pod, EVENTS_SHOWN);
    match tokio::time::timeout(Duration::from_secs(5), read).await {
        Ok(Ok(events)) => events.iter().map(ToString::to_string).collect(),
        Ok(Err(error)) => {
            tracing::debug!(%error, "could not read the pod's events");
            Vec::new()
        }
        Err(_) => Vec::new(),
    }
}

/// Starts the run, shows and (for stream-json) prints its events, prints its output.
async fn drive(
    agent: &agentpod_provider::Agent,
    provider: &dyn AgentProvider,
    format: RunOutput,
    progress: &Progress,
) -> Result<AgentOutput, Failure> {
    let mut run = agent.start(provider).await?;
    let mut events = run.take_events();
    let follow = async {
        let Some(events) = events.as_mut() else {
            return Ok(());
        };
        while let Some(event) = events.next().await {
            progress.event(&event);
            if format == RunOutput::StreamJson {
                print_event(&event)?;
            }
        }
        Ok::<(), Failure>(())
    };
    let (output, followed) = tokio::join!(run.output(), follow);
    let output = output?;
    followed?;
    progress.finish();
    let mut stdout = std::io::stdout().lock();
    match format {
        RunOutput::Text => {
            let text = match &output.structured {
                Some(value) => value.to_string(),
                None => output.text.clone(),
            };
            writeln!(stdout, "{}", text.trim_end())?;
        }
        RunOutput::Json => {
            let document = serde_json::to_string_pretty(&OutputDocument::new(&output))
                .map_err(|error| Failure::Output(error.into()))?;
            writeln!(stdout, "{document}")?;
        }
        RunOutput::StreamJson => {
            let document =
                serde_json::json!({"type": "output", "output": OutputDocument::new(&output)});
            writeln!(stdout, "{document}")?;
        }
    }
    stdout.flush()?;
    Ok(output)
}

fn print_event(event: &AgentEvent) -> Result<(), Failure> {
    let line = serde_json::to_string(event).map_err(|error| Failure::Output(error.into()))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    Ok(())
}
