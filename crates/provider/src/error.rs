//! The crate's one error type.
//!
//! Three families share one enum so that a caller matches in one place: *our validation*
//! (nothing was sent anywhere), *infrastructure* (the place the agent runs failed it), and
//! *agent outcomes* (the CLI ran and reported a failure). Agent outcomes keep the partial
//! [`RunStats`] because a failed run still costs money and tokens.

use std::time::Duration;

use agentpod_claude_args::{ClaudeArgsError, RunStats};
use agentpod_podspec::PodSpecError;
use agentpod_transport::{ExitStatus, TransportError};

/// `Result` with [`AgentError`] as the default error.
pub type Result<T, E = AgentError> = std::result::Result<T, E>;

/// Everything that can go wrong running an agent.
///
/// ```
/// use agentpod_provider::{AgentError, Agent};
///
/// // Invalid input is refused before anything is sent anywhere.
/// let error = Agent::new("   ").request().unwrap_err();
/// assert!(matches!(error, AgentError::InvalidRequest { .. }));
/// assert!(!error.is_retryable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    // ----- our validation: nothing was sent -----
    /// The request is invalid (empty prompt, zero max turns, negative budget, …); the cause
    /// names the field and says what to change.
    #[error("invalid agent request: {source}")]
    InvalidRequest {
        /// The protocol crate's verdict.
        #[source]
        source: ClaudeArgsError,
    },

    /// The pod for this request could not be rendered (a bad label, a resource quantity, …).
    #[error("invalid pod for the agent: {source}")]
    InvalidPod {
        /// The pod-spec crate's verdict.
        #[source]
        source: PodSpecError,
    },

    /// The request asks for something this provider cannot do.
    #[error("{provider} cannot run requests with {option}: {reason}")]
    Unsupported {
        /// The provider (`K8sEphemeralProvider`, …).
        provider: &'static str,
        /// The request option (`resume`, `session_id`, …).
        option: &'static str,
        /// Why, and what to do instead.
        reason: &'static str,
    },

    /// The type given to [`Agent::output`](crate::Agent::output) cannot be a structured answer.
    #[error("{type_name} cannot be the structured output: {reason}")]
    InvalidOutputType {
        /// The Rust type.
        type_name: &'static str,
        /// Why not.
        reason: &'static str,
    },

    // ----- infrastructure -----
    /// The agent did not start within the start timeout (scheduling, image pull, a busy node).
    #[error("the agent {pod} did not start within {timeout:?}: {source}")]
    StartTimeout {
        /// Where it was meant to run (pod name).
        pod: String,
        /// The start timeout that expired.
        timeout: Duration,
        /// The transport's report (last state seen).
        #[source]
        source: Box<TransportError>,
    },

    /// The agent ran longer than the run timeout and was stopped (the pod deleted, the local
    /// process group killed).
    #[error(
        "the agent{} ran longer than its run timeout of {timeout:?} and was stopped",
        in_pod(pod)
    )]
    RunTimeout {
        /// The pod it ran in (`None` for providers without pods).
        pod: Option<String>,
        /// The run timeout that expired.
        timeout: Duration,
        /// The transport's report, when a transport enforced the timeout.
        #[source]
        source: Option<Box<TransportError>>,
    },

    /// The cluster or the place the agent runs failed (API unreachable, image pull, not
    /// schedulable, a vanished pod, …). [`TransportError`] says which.
    #[error("infrastructure failure: {source}")]
    Infrastructure {
        /// The transport's error, with Kubernetes' own reason and message.
        #[source]
        source: Box<TransportError>,
    },

    /// Every pod of a warm pool stayed busy (the pool at its maximum size) for the whole
    /// queue timeout, or the wait queue was full; nothing ran.
    #[error(
        "warm pool {pool}: no pod became free within {waited:?} ({reason}); raise the pool's max, its queue timeout, or enable the ephemeral fallback"
    )]
    PoolExhausted {
        /// The pool's name.
        pool: String,
        /// How long the caller waited.
        waited: Duration,
        /// `all pods busy` or `wait queue full (N waiting)`.
        reason: String,
    },

    /// A local operation failed (starting the `claude` process, writing an input file, reading
    /// its output).
    #[error("could not {action}: {source}")]
    Local {
        /// What was attempted.
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The container ended without the CLI's result: OOM-killed, evicted, the pod's deadline, or
    /// the CLI died. `exit` says how; `output_tail` holds the last lines it printed (stderr is
    /// in the log on Kubernetes 1.20).
    #[error(
        "the agent{} ended without a result ({}{}): {output_tail}",
        in_pod(pod),
        exit_facts(exit),
        exit_hint(exit)
    )]
    NoResult {
        /// The pod it ran in (`None` for providers without pods).
        pod: Option<String>,
        /// How the container and the pod ended.
        exit: Box<ExitStatus>,
        /// The last lines of the output (at most a few KiB), for a human.
        output_tail: String,
        /// What the output parser saw.
        #[source]
        source: ClaudeArgsError,
    },

    // ----- agent outcomes: the CLI ran and reported a failure -----
    /// The model API answered with an error (bad key, overloaded, …).
    #[error("the model API refused the agent{}: {message}", api_facts(*status, error_type.as_deref()))]
    Api {
        /// HTTP status, when reported.
        status: Option<u16>,
        /// The API's error type (`authentication_error`, `overloaded_error`, …).
        error_type: Option<String>,
        /// The CLI's message.
        message: String,
        /// What the run used until it failed.
        stats: Box<RunStats>,
    },

    /// The run stopped at the max-turns limit.
    #[error("the agent stopped at the max-turns limit after {} turns: {message}; raise max_turns or narrow the task", stats.num_turns)]
    MaxTurns {
        /// The CLI's message.
        message: String,
        /// What the run used.
        stats: Box<RunStats>,
    },

    /// The run stopped at the budget limit.
    #[error("the agent stopped at the budget limit after spending ${}: {message}", stats.total_cost_usd)]
    MaxBudget {
        /// The CLI's message.
        message: String,
        /// What the run used.
        stats: Box<RunStats>,
    },

    /// Structured output was asked for but the model answered in text.
    #[error("structured output was requested but the agent answered in text: {text:?}")]
    SchemaMissing {
        /// The text answer.
        text: String,
        /// What the run used.
        stats: Box<RunStats>,
    },

    /// The structured output does not deserialise into the requested type.
    #[error("the structured output does not fit {type_name}: {source}")]
    OutputMismatch {
        /// The Rust type asked for.
        type_name: &'static str,
        /// The structured value the agent returned.
        value: serde_json::Value,
        /// What serde reported.
        #[source]
        source: serde_json::Error,
    },

    /// Any other failure the CLI reported (e.g. "Prompt is too long").
    #[error("the agent failed ({subtype}): {message}")]
    RunFailed {
        /// The result's subtype.
        subtype: String,
        /// The CLI's message.
        message: String,
        /// What the run used.
        stats: Box<RunStats>,
    },

    // ----- record / replay -----
    /// [`ReplayProvider`](crate::ReplayProvider) holds no recorded run for this request;
    /// nothing was run. Record it with [`RecordingProvider`](crate::RecordingProvider).
    #[error(
        "no recorded run in {} for request {key} (prompt {prompt:?}); record it with RecordingProvider",
        fixture.display()
    )]
    ReplayMiss {
        /// The request's key (see `ReplayProvider::key_of`).
        key: String,
        /// The request's prompt (its first characters).
        prompt: String,
        /// The fixture file searched.
        fixture: std::path::PathBuf,
    },

    /// A fixture file could not be read, parsed or written.
    #[error("fixture {}{}: {source}", path.display(), line.map(|n| format!(" line {n}")).unwrap_or_default())]
    Fixture {
        /// The file.
        path: std::path::PathBuf,
        /// The line (1-based), when one line is at fault.
        line: Option<usize>,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The CLI's result document has an unexpected shape.
    #[error("the agent's result could not be read: {source}")]
    InvalidResult {
        /// The parser's error.
        #[source]
        source: ClaudeArgsError,
    },
}

fn in_pod(pod: &Option<String>) -> String {
    pod.as_ref()
        .map(|pod| format!(" in pod {pod}"))
        .unwrap_or_default()
}

/// ` (HTTP 429, rate_limit_error)`, or as much of it as is known.
fn api_facts(status: Option<u16>, error_type: Option<&str>) -> String {
    match (status, error_type) {
        (Some(status), Some(kind)) => format!(" (HTTP {status}, {kind})"),
        (Some(status), None) => format!(" (HTTP {status})"),
        (None, Some(kind)) => format!(" ({kind})"),
        (None, None) => String::new(),
    }
}

/// `exit code 137, reason OOMKilled`, or as much of it as is known.
fn exit_facts(exit: &ExitStatus) -> String {
    let code = exit.code.map_or_else(
        || "exit code unknown".to_owned(),
        |code| format!("exit code {code}"),
    );
    match exit.reason.as_deref().or(exit.pod_reason.as_deref()) {
        Some(reason) => format!("{code}, reason {reason}"),
        None => code,
    }
}

fn exit_hint(exit: &ExitStatus) -> &'static str {
    if exit.oom_killed() {
        ", out of memory: raise the memory limit"
    } else if exit.deadline_exceeded() {
        ", the pod's deadline passed"
    } else if exit.evicted() {
        ", evicted by the node"
    } else {
        ""
    }
}

impl AgentError {
    /// The one classifier for "may trying again help?": `true` for infrastructure failures that
    /// usually pass (see [`TransportError::is_retryable`]), a start timeout, an eviction, and
    /// model API errors that are throttling or overload (429, 5xx); `false` when something has
    /// to change first (the request, a key, a limit, the image).
    ///
    /// ```
    /// use agentpod_provider::AgentError;
    /// let overloaded = AgentError::Api {
    ///     status: Some(529),
    ///     error_type: Some("overloaded_error".into()),
    ///     message: "Overloaded".into(),
    ///     stats: Default::default(),
    /// };
    /// assert!(overloaded.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::StartTimeout { .. } | Self::PoolExhausted { .. } => true,
            Self::Infrastructure { source } => source.is_retryable(),
            Self::NoResult { exit, .. } => exit.evicted(),
            Self::Api { status, .. } => {
                matches!(status, Some(429 | 500..=599))
            }
            _ => false,
        }
    }

    /// True when nothing ran: the request or the pod was refused before anything was sent.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Self::InvalidRequest { .. }
                | Self::InvalidPod { .. }
                | Self::Unsupported { .. }
                | Self::InvalidOutputType { .. }
                | Self::ReplayMiss { .. }
        )
    }

    /// What a failed run used (cost, tokens, turns), when the CLI reported it.
    pub fn run_stats(&self) -> Option<&RunStats> {
        match self {
            Self::Api { stats, .. }
            | Self::MaxTurns { stats, .. }
            | Self::MaxBudget { stats, .. }
            | Self::SchemaMissing { stats, .. }
            | Self::RunFailed { stats, .. } => Some(stats),
            _ => None,
        }
    }

    /// The error for a run outcome the CLI reported, keeping its facts; request errors become
    /// [`AgentError::InvalidRequest`].
    pub(crate) fn from_outcome(error: ClaudeArgsError) -> Self {
        match error {
            ClaudeArgsError::Api {
                status,
                error_type,
                message,
                stats,
            } => Self::Api {
                status,
                error_type,
                message,
                stats,
            },
            ClaudeArgsError::MaxTurns { message, stats } => Self::MaxTurns { message, stats },
            ClaudeArgsError::MaxBudget { message, stats } => Self::MaxBudget { message, stats },
            ClaudeArgsError::SchemaMissing { text, stats } => Self::SchemaMissing { text, stats },
            ClaudeArgsError::RunFailed {
                subtype,
                message,
                stats,
            } => Self::RunFailed {
                subtype,
                message,
                stats,
            },
            source @ (ClaudeArgsError::InvalidResult { .. }
            | ClaudeArgsError::MissingResult { .. }) => Self::InvalidResult { source },
            source => Self::InvalidRequest { source },
        }
    }
}

impl From<ClaudeArgsError> for AgentError {
    /// Request errors become [`AgentError::InvalidRequest`], run outcomes their own variants.
    fn from(error: ClaudeArgsError) -> Self {
        Self::from_outcome(error)
    }
}

impl From<PodSpecError> for AgentError {
    fn from(source: PodSpecError) -> Self {
        Self::InvalidPod { source }
    }
}

impl From<TransportError> for AgentError {
    /// Start and run timeouts become [`AgentError::StartTimeout`] / [`AgentError::RunTimeout`]
    /// (the transport's error kept as the source); a render error becomes
    /// [`AgentError::InvalidPod`]; everything else is [`AgentError::Infrastructure`].
    fn from(source: TransportError) -> Self {
        match source {
            TransportError::StartTimeout {
                ref pod, timeout, ..
            } => Self::StartTimeout {
                pod: pod.clone(),
                timeout,
                source: Box::new(source),
            },
            TransportError::RunTimeout {
                ref pod, timeout, ..
            } => Self::RunTimeout {
                pod: Some(pod.clone()),
                timeout,
                source: Some(Box::new(source)),
            },
            TransportError::Render(source) => Self::InvalidPod { source },
            source => Self::Infrastructure {
                source: Box::new(source),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn transport_timeouts_keep_their_source() {
        let error = AgentError::from(TransportError::RunTimeout {
            namespace: "ns".into(),
            pod: "p".into(),
            timeout: Duration::from_secs(3),
        });
        assert!(matches!(&error, AgentError::RunTimeout { pod: Some(pod), .. } if pod == "p"));
        assert!(error.source().is_some());
        assert!(!error.is_retryable());
        let start = AgentError::from(TransportError::StartTimeout {
            namespace: "ns".into(),
            pod: "p".into(),
            timeout: Duration::from_secs(3),
            last_state: "Pending".into(),
        });
        assert!(start.is_retryable());
    }

    #[test]
    fn api_errors_are_retryable_only_when_transient() {
        let api = |status| AgentError::Api {
            status: Some(status),
            error_type: None,
            message: String::new(),
            stats: Box::default(),
        };
        assert!(!api(401).is_retryable());
        assert!(api(429).is_retryable());
        assert!(api(529).is_retryable());
    }

    #[test]
    fn messages_read_as_sentences_without_rust_debug_text() {
        let api = |status, error_type: Option<&str>| AgentError::Api {
            status,
            error_type: error_type.map(str::to_owned),
            message: "Connection dropped".into(),
            stats: Box::default(),
        };
        let no_result = AgentError::NoResult {
            pod: Some("p".into()),
            exit: Box::new(ExitStatus::default()),
            output_tail: "tail".into(),
            source: ClaudeArgsError::EmptyPrompt,
        };
        for error in [
            api(Some(429), Some("rate_limit_error")),
            api(None, None),
            no_result,
        ] {
            let text = error.to_string();
            assert!(!text.contains("Some(") && !text.contains("None"), "{text}");
        }
        assert_eq!(
            api(Some(429), Some("rate_limit_error")).to_string(),
            "the model API refused the agent (HTTP 429, rate_limit_error): Connection dropped"
        );
        assert_eq!(
            api(None, None).to_string(),
            "the model API refused the agent: Connection dropped"
        );
    }

    #[test]
    fn run_outcomes_keep_their_stats() {
        let stats = RunStats {
            num_turns: 2,
            total_cost_usd: 0.5,
            ..RunStats::default()
        };
        let error = AgentError::from(ClaudeArgsError::MaxTurns {
            message: "limit".into(),
            stats: Box::new(stats.clone()),
        });
        assert_eq!(error.run_stats(), Some(&stats));
        assert!(error.to_string().contains("after 2 turns"));
        assert!(matches!(
            AgentError::from(ClaudeArgsError::EmptyPrompt),
            AgentError::InvalidRequest { .. }
        ));
    }
}
