//! Why the command failed, its exit code and the line a human reads.
//!
//! The exit codes are part of the interface (scripts branch on them): see [`exit`] and the
//! table in `docs/cli.md`. Each `AgentError` variant maps to exactly one of them.

use agentpod_provider::AgentError;
use agentpod_transport::TransportError;

/// The exit codes, documented in `agentpod --help` and `docs/cli.md`.
pub mod exit {
    /// The agent answered.
    pub const SUCCESS: u8 = 0;
    /// The agent ran and failed: the model API refused it, max turns, budget, structured
    /// output missing or not matching, an error result.
    pub const AGENT: u8 = 1;
    /// Usage error: a bad flag or value (clap's own code), a missing prompt, an unreadable
    /// file, a request the validation refused before anything was sent.
    pub const USAGE: u8 = 2;
    /// Infrastructure: the cluster cannot be reached or the kubeconfig used, the image cannot
    /// be pulled, the pod cannot be scheduled, it was OOM-killed, evicted or hit its deadline,
    /// the agent ended without a result, the local process could not start.
    pub const INFRASTRUCTURE: u8 = 3;
    /// The start or run timeout expired (the pod was deleted).
    pub const TIMEOUT: u8 = 4;
    /// Interrupted with Ctrl-C (the pod was deleted).
    pub const INTERRUPTED: u8 = 130;
}

/// Everything that ends the command with a non-zero exit code.
#[derive(Debug)]
pub enum Failure {
    /// The command line, the configuration or an input file is wrong; nothing was sent.
    Usage(String),
    /// The run failed (or was refused before it started), with the last Kubernetes events of
    /// its pod when they help (a pod that could not start or ended without a result).
    Agent(Box<AgentError>, Vec<String>),
    /// A cluster operation outside a run failed (reap).
    Cluster(TransportError),
    /// Something on the cluster side failed, said in words (e.g. deletes the reaper could not do).
    Infrastructure(String),
    /// Writing the output failed.
    Output(std::io::Error),
    /// Ctrl-C.
    Interrupted,
}

impl From<AgentError> for Failure {
    fn from(error: AgentError) -> Self {
        Failure::Agent(Box::new(error), Vec::new())
    }
}

impl From<TransportError> for Failure {
    fn from(error: TransportError) -> Self {
        Failure::Cluster(error)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Failure::Output(error)
    }
}

impl Failure {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => exit::USAGE,
            Failure::Agent(error, _) => agent_exit_code(error),
            Failure::Cluster(_) | Failure::Infrastructure(_) => exit::INFRASTRUCTURE,
            Failure::Output(_) => exit::AGENT,
            Failure::Interrupted => exit::INTERRUPTED,
        }
    }

    /// A short, stable name of the failure's kind (`-o json` error documents).
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Usage(_) => "usage",
            Failure::Agent(error, _) => agent_kind(error),
            Failure::Cluster(_) | Failure::Infrastructure(_) => "infrastructure",
            Failure::Output(_) => "output",
            Failure::Interrupted => "interrupted",
        }
    }

    /// The message without the indented lines below it (events, output tail).
    pub fn headline(&self) -> String {
        match self {
            Failure::Agent(error, _) => agent_message(error),
            other => other.message(),
        }
    }

    /// What a human reads: the error's message (with its causes, which our error types already
    /// carry in their messages), on one line where the cause allows.
    pub fn message(&self) -> String {
        match self {
            Failure::Usage(message) => message.clone(),
            Failure::Agent(error, events) => {
                let mut message = agent_message(error);
                for event in events {
                    message.push_str("\n  event: ");
                    message.push_str(event);
                }
                message
            }
            Failure::Cluster(error) => with_hint(chain(error), cluster_hint(error)),
            Failure::Infrastructure(message) => message.clone(),
            Failure::Output(error) => format!("cannot write the output: {error}"),
            Failure::Interrupted => "interrupted; the run's pod and Secrets were deleted".into(),
        }
    }
}

/// The pod (`namespace`-relative name) of a failure whose pod's events may say why: it could
/// not start, vanished, or ended without a result.
pub fn pod_worth_describing(error: &AgentError) -> Option<&str> {
    match error {
        AgentError::StartTimeout { pod, .. } => Some(pod),
        AgentError::NoResult { pod: Some(pod), .. } => Some(pod),
        AgentError::Infrastructure { source } => match &**source {
            TransportError::CannotStart { pod, .. }
            | TransportError::Unschedulable { pod, .. }
            | TransportError::PodVanished { pod, .. } => Some(pod),
            _ => None,
        },
        _ => None,
    }
}

/// Exit code of an agent error. `AgentError` is `#[non_exhaustive]`: a variant added later
/// counts as an agent failure until it is sorted in here.
pub fn agent_exit_code(error: &AgentError) -> u8 {
    match error {
        AgentError::InvalidRequest { .. }
        | AgentError::InvalidPod { .. }
        | AgentError::Unsupported { .. }
        | AgentError::InvalidOutputType { .. }
        | AgentError::ReplayMiss { .. }
        | AgentError::Fixture { .. } => exit::USAGE,
        AgentError::StartTimeout { .. } | AgentError::RunTimeout { .. } => exit::TIMEOUT,
        AgentError::Infrastructure { .. }
        | AgentError::NoResult { .. }
        | AgentError::Local { .. } => exit::INFRASTRUCTURE,
        _ => exit::AGENT,
    }
}

fn agent_kind(error: &AgentError) -> &'static str {
    match error {
        AgentError::InvalidRequest { .. } => "invalid_request",
        AgentError::InvalidPod { .. } => "invalid_pod",
        AgentError::Unsupported { .. } => "unsupported",
        AgentError::InvalidOutputType { .. } => "invalid_output_type",
        AgentError::StartTimeout { .. } => "start_timeout",
        AgentError::RunTimeout { .. } => "run_timeout",
        AgentError::Infrastructure { .. } => "infrastructure",
        AgentError::Local { .. } => "local",
        AgentError::NoResult { .. } => "no_result",
        AgentError::Api { .. } => "api",
        AgentError::MaxTurns { .. } => "max_turns",
        AgentError::MaxBudget { .. } => "max_budget",
        AgentError::SchemaMissing { .. } => "schema_missing",
        AgentError::OutputMismatch { .. } => "output_mismatch",
        AgentError::RunFailed { .. } => "run_failed",
        AgentError::InvalidResult { .. } => "invalid_result",
        _ => "agent",
    }
}

/// The first line of the error's message, then each cause the message does not already
/// contain (e.g. kube's "client error (Connect)" gains "Connection refused"). Only first
/// lines: some parsers quote the input over several lines.
fn chain(error: &dyn std::error::Error) -> String {
    let first_line = |text: String| text.lines().next().unwrap_or_default().trim().to_owned();
    let mut message = first_line(error.to_string());
    let mut cause = error.source();
    while let Some(source) = cause {
        let text = first_line(source.to_string());
        if !text.is_empty() && !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = source.source();
    }
    message
}

fn agent_message(error: &AgentError) -> String {
    let text = error.to_string();
    match error {
        AgentError::Infrastructure { source } => with_hint(chain(error), cluster_hint(source)),
        AgentError::NoResult {
            exit, output_tail, ..
        } => {
            // The tail goes below the message, indented, instead of at the end of the line.
            let head = text
                .strip_suffix(output_tail.as_str())
                .map(|head| head.trim_end().trim_end_matches(':').to_owned())
                .unwrap_or_else(|| text.clone());
            let mut message = head;
            if exit.code == Some(127) {
                message.push_str("; the claude CLI was not found in the image (see --claude-path)");
            }
            let tail: Vec<&str> = output_tail.lines().rev().take(8).collect();
            for line in tail.into_iter().rev() {
                message.push_str("\n  | ");
                message.push_str(line);
            }
            message
        }
        _ => chain(error),
    }
}

fn with_hint(text: String, hint: Option<&'static str>) -> String {
    match hint {
        Some(hint) => format!("{text}; {hint}"),
        None => text,
    }
}

fn cluster_hint(error: &TransportError) -> Option<&'static str> {
    match error {
        TransportError::Connection { .. } => {
            Some("check --kubeconfig / AGENTPOD_KUBECONFIG / KUBECONFIG and --context")
        }
        TransportError::RetriesExhausted { .. } => {
            Some("is the cluster up and the kubeconfig's server address right?")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn each_family_has_its_own_exit_code() {
        let timeout = AgentError::RunTimeout {
            pod: Some("p".into()),
            timeout: Duration::from_secs(1),
            source: None,
        };
        assert_eq!(agent_exit_code(&timeout), exit::TIMEOUT);
        let api = AgentError::Api {
            status: Some(401),
            error_type: None,
            message: "bad key".into(),
            stats: Box::default(),
        };
        assert_eq!(agent_exit_code(&api), exit::AGENT);
        let infra = AgentError::from(TransportError::CannotStart {
            namespace: "n".into(),
            pod: "p".into(),
            reason: "ErrImagePull".into(),
            message: "not found".into(),
        });
        assert_eq!(agent_exit_code(&infra), exit::INFRASTRUCTURE);
        let invalid = AgentError::InvalidRequest {
            source: agentpod_claude_args::ClaudeArgsError::EmptyPrompt,
        };
        assert_eq!(agent_exit_code(&invalid), exit::USAGE);
        let codes = [
            exit::SUCCESS,
            exit::AGENT,
            exit::USAGE,
            exit::INFRASTRUCTURE,
            exit::TIMEOUT,
            exit::INTERRUPTED,
        ];
        let distinct: std::collections::BTreeSet<u8> = codes.into_iter().collect();
        assert_eq!(distinct.len(), codes.len());
    }
}
