//! The crate's single error type.
//!
//! Two families share one enum so that callers match in one place: *request* errors (the command
//! could not be built; nothing ran) and *run* errors (the CLI ran and reported a failure). Run
//! errors keep the partial [`RunStats`] because a failed run still costs money and tokens, and a
//! workflow engine must be able to account for it.

use crate::output::RunStats;

/// The crate's result type.
pub type Result<T, E = ClaudeArgsError> = std::result::Result<T, E>;

/// Everything that can go wrong while building a command or reading the CLI's output.
///
/// ```
/// use agentpod_claude_args::{ClaudeArgsError, parse_output};
///
/// // A failed run still reports what it cost.
/// let line = r#"{"type":"result","subtype":"error_max_turns","is_error":true,"total_cost_usd":0.25,"num_turns":3}"#;
/// match parse_output(line, false) {
///     Err(err @ ClaudeArgsError::MaxTurns { .. }) => {
///         assert_eq!(err.run_stats().map(|stats| stats.total_cost_usd), Some(0.25));
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClaudeArgsError {
    // ----- request errors: nothing was run -----
    /// The prompt is empty or only whitespace (as the CLI counts it: the ECMAScript `trim` set,
    /// U+FEFF included); `claude -p` refuses to run without input.
    #[error("the prompt is empty or only whitespace: `claude -p` needs a prompt with text")]
    EmptyPrompt,

    /// A value that must be non-empty is empty (a model name, a tool name, a path…).
    #[error("{field} is empty: give it a value or leave the option unset")]
    EmptyValue {
        /// The request or option field.
        field: &'static str,
    },

    /// A value contains a NUL byte, which no argument, environment variable or shell word can carry.
    #[error(
        "{field} contains a NUL byte, which no process argument or shell word can carry: remove it"
    )]
    NulByte {
        /// The request or option field.
        field: &'static str,
    },

    /// `bypassPermissions` was requested (by flag, settings or an agent definition) without the
    /// explicit opt-in on the request.
    #[error(
        "{field} asks for permission mode bypassPermissions, which needs an explicit opt-in: set \
         `allow_bypass_permissions(true)` on the request, and only for sandboxes without network access"
    )]
    BypassPermissionsNotAllowed {
        /// The request field that asks for it (`permission_mode`, `settings` or `agents`).
        field: &'static str,
    },

    /// A value is not one the CLI accepts for this field.
    #[error("{field} value {value:?} is invalid: expected {expected}")]
    InvalidValue {
        /// The request field.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// What the field accepts.
        expected: &'static str,
    },

    /// The `claude` binary is a bare name starting with `-`, which a shell's `exec` reads as an
    /// option.
    #[error(
        "claude_path {path:?} starts with '-' and has no '/': a shell's exec would read it as an \
         option; give an absolute path or one with a directory, such as ./{path}"
    )]
    ProgramLooksLikeOption {
        /// The rejected path.
        path: String,
    },

    /// A permission mode string is not one the CLI knows.
    #[error(
        "unknown permission mode {value:?}: expected one of default, acceptEdits, plan, auto, dontAsk, bypassPermissions"
    )]
    UnknownPermissionMode {
        /// The rejected input.
        value: String,
    },

    /// An effort string is not one the CLI knows.
    #[error("unknown effort {value:?}: expected one of low, medium, high, xhigh, max")]
    UnknownEffort {
        /// The rejected input.
        value: String,
    },

    /// An output format string is not one this crate can parse.
    #[error("unknown output format {value:?}: expected json or stream-json")]
    UnknownOutputFormat {
        /// The rejected input.
        value: String,
    },

    /// `max_turns` is zero.
    #[error("max_turns is 0: the CLI needs at least one turn")]
    ZeroMaxTurns,

    /// `max_budget_usd` is not a finite amount above zero.
    #[error("max_budget_usd is {value}: the CLI needs a finite amount greater than 0")]
    InvalidMaxBudget {
        /// The rejected amount.
        value: f64,
    },

    /// A session id is not a UUID.
    #[error(
        "session_id {value:?} is not a UUID (8-4-4-4-12 hex digits): the CLI rejects anything else"
    )]
    InvalidSessionId {
        /// The rejected input.
        value: String,
    },

    /// `fork_session` was set without `resume`.
    #[error("fork_session is set but resume is not: there is no session to fork")]
    ForkWithoutResume,

    /// `session_id` was combined with `resume` without `fork_session`.
    #[error(
        "session_id together with resume needs fork_session = true: the CLI only gives a new id to a forked session"
    )]
    SessionIdWithoutFork,

    /// Two options that say the same thing in different ways were both set.
    #[error("{first} and {second} are both set: keep one of them")]
    ConflictingOptions {
        /// The first field.
        first: &'static str,
        /// The second field.
        second: &'static str,
    },

    /// An inline JSON value (MCP config, settings, agents, JSON schema) is not a JSON object.
    #[error("{field} must be a JSON object (or a file path), got {kind}")]
    NotAJsonObject {
        /// The request field.
        field: &'static str,
        /// What was given instead (`array`, `string`, …).
        kind: &'static str,
    },

    /// A path the process must find (a credential file, the prompt file, the inputs directory)
    /// is not absolute.
    #[error("{field} path {path:?} is not absolute: give the absolute path the process sees")]
    RelativePath {
        /// The option field.
        field: &'static str,
        /// The rejected path.
        path: String,
    },

    /// The prompt cannot fit the model's context window.
    #[error(
        "the prompt is {bytes} bytes, more than the {limit_bytes} bytes a {context_window_tokens}-token \
         context window holds at the estimated {bytes_per_token} bytes per token: shorten the prompt, \
         or raise `context_window_tokens` in the build options for a model with a larger window"
    )]
    PromptTooLarge {
        /// UTF-8 bytes of prompt + system prompt + appended system prompt.
        bytes: usize,
        /// The estimated byte capacity of the context window.
        limit_bytes: u64,
        /// The configured context window.
        context_window_tokens: u64,
        /// The estimate used.
        bytes_per_token: u64,
    },

    /// One argument (or the whole `sh -c` line) is over the Linux per-argument limit, and
    /// nothing that could move out of it is left.
    #[error(
        "{what} is {bytes} bytes, over the Linux per-argument limit of {limit} bytes: \
         shorten it (prompts, system prompts and inline JSON already travel as stdin or files)"
    )]
    ArgumentTooLong {
        /// The flag or `the sh -c line`.
        what: String,
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },

    /// The configured inline prompt limit is not below the per-argument limit.
    #[error(
        "inline_prompt_limit_bytes is {requested}, but it must stay at or below {max} so that the quoted prompt \
         and the rest of the `sh -c` line fit into one argument"
    )]
    InlineLimitTooLarge {
        /// The configured limit.
        requested: usize,
        /// The highest accepted limit.
        max: usize,
    },

    // ----- run errors: the CLI ran (or tried to) -----
    /// The output holds no `result` document; the CLI died before finishing.
    #[error(
        "the CLI output holds no result document ({json_lines} JSON lines, {other_lines} other lines read): \
         the process probably failed before finishing, check its exit code and stderr"
    )]
    MissingResult {
        /// JSON lines seen.
        json_lines: usize,
        /// Non-JSON lines seen (stderr noise, truncated lines).
        other_lines: usize,
    },

    /// A `result` document has fields of unexpected types.
    #[error("the CLI result document does not have the expected shape: {source}")]
    InvalidResult {
        /// What serde reported.
        #[source]
        source: serde_json::Error,
    },

    /// The API answered with an error (HTTP status and error type when the CLI reports them),
    /// including "not logged in".
    #[error("API error{}: {message}", api_facts(*status, error_type.as_deref()))]
    Api {
        /// HTTP status, when the CLI reports one.
        status: Option<u16>,
        /// The API's error type (`authentication_error`, `overloaded_error`, …), when reported.
        error_type: Option<String>,
        /// The CLI's message.
        message: String,
        /// What the run had used until it failed.
        stats: Box<RunStats>,
    },

    /// The run stopped at the `max_turns` limit.
    #[error("the run stopped at the max_turns limit after {} turns: {message}; raise max_turns or narrow the task", stats.num_turns)]
    MaxTurns {
        /// The CLI's message.
        message: String,
        /// What the run had used until it stopped.
        stats: Box<RunStats>,
    },

    /// The run stopped at the `max_budget_usd` limit.
    #[error("the run stopped at the max_budget_usd limit after spending ${}: {message}", stats.total_cost_usd)]
    MaxBudget {
        /// The CLI's message.
        message: String,
        /// What the run had used until it stopped.
        stats: Box<RunStats>,
    },

    /// A JSON schema was requested but the result holds no structured output.
    #[error(
        "a JSON schema was requested but the result holds no structured output (the model answered in text: {text:?})"
    )]
    SchemaMissing {
        /// The plain result text the model gave instead.
        text: String,
        /// What the run used.
        stats: Box<RunStats>,
    },

    /// Any other failure the CLI reported (`is_error: true` or a non-success subtype).
    #[error("the CLI reported a failure ({subtype}): {message}")]
    RunFailed {
        /// The result's `subtype`.
        subtype: String,
        /// The CLI's message.
        message: String,
        /// What the run had used until it failed.
        stats: Box<RunStats>,
    },
}

impl ClaudeArgsError {
    /// The partial usage of a run that failed, if the error comes from a run.
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
}

/// ` (HTTP 529, overloaded_error)`, or as much of it as is known.
fn api_facts(status: Option<u16>, error_type: Option<&str>) -> String {
    match (status, error_type) {
        (Some(status), Some(kind)) => format!(" (HTTP {status}, {kind})"),
        (Some(status), None) => format!(" (HTTP {status})"),
        (None, Some(kind)) => format!(" ({kind})"),
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_error_reads_as_a_sentence_without_rust_debug_text() {
        let api = |status, error_type: Option<&str>| ClaudeArgsError::Api {
            status,
            error_type: error_type.map(str::to_owned),
            message: "Overloaded".into(),
            stats: Box::default(),
        };
        assert_eq!(
            api(Some(529), Some("overloaded_error")).to_string(),
            "API error (HTTP 529, overloaded_error): Overloaded"
        );
        assert_eq!(api(None, None).to_string(), "API error: Overloaded");
    }
}
