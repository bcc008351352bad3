//! The Claude Code CLI protocol, without I/O.
//!
//! This crate turns an agent request into the exact command that runs `claude -p`
//! non-interactively, wires credentials without ever holding a secret's value, and turns what
//! the CLI prints back into typed results. It is pure (no async runtime, no Kubernetes, no
//! network) so that every transport (a pod, an exec session, a local process) shares one tested
//! implementation of the protocol, and so that the protocol can be tested against the real CLI
//! without a cluster.
//!
//! Flag names follow `claude --help` of the pinned CLI version, 2.1.328; the crate's acceptance
//! test runs the real binary with every generated argv.
//!
//! ```
//! use agentpod_claude_args::{BuildOptions, ClaudeCommand, ClaudeRequest, Credentials, SecretRef};
//!
//! let request = ClaudeRequest { max_turns: Some(4), ..ClaudeRequest::new("Summarise README.md") };
//! let options = BuildOptions {
//!     credentials: Credentials {
//!         api_key: Some(SecretRef::SecretKey { secret: "claude".into(), key: "api-key".into() }),
//!         ..Credentials::default()
//!     },
//!     orchestrator_env_names: vec!["CLAUDECODE".into(), "PATH".into()],
//!     ..BuildOptions::default()
//! };
//! let command = ClaudeCommand::build(&request, &options)?;
//! assert_eq!(command.argv()[..3], ["claude", "-p", "--output-format=json"]);
//! assert_eq!(command.env().len(), 2); // CLAUDECODE blanked, ANTHROPIC_API_KEY from the Secret
//!
//! let stdout = r#"{"type":"result","subtype":"success","is_error":false,"result":"A Rust library.","num_turns":1}"#;
//! let output = command.parse_output(stdout)?;
//! assert_eq!(output.text, "A Rust library.");
//! # Ok::<(), agentpod_claude_args::ClaudeArgsError>(())
//! ```

mod command;
mod credentials;
mod error;
mod output;
mod permission;
mod prompt;
mod request;

pub use command::{BuildOptions, ClaudeCommand};
pub use credentials::{
    API_KEY_VAR, BASE_URL_VAR, CREDENTIALS_FILE_IN_HOME, Credentials, EnvValue, EnvVar,
    OAUTH_TOKEN_VAR, SecretRef, SetupStep, blanked_env_names,
};
pub use error::ClaudeArgsError;
pub use output::{
    ClaudeOutput, DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_LINE_BYTES, PermissionDenial, RunStats,
    StreamEvent, StreamParser, TokenUsage, extract_json_from_text, parse_output,
};
pub use permission::{Effort, PermissionMode};
pub use prompt::{
    BYTES_PER_TOKEN_ESTIMATE, DEFAULT_CONTEXT_WINDOW_TOKENS, DEFAULT_INLINE_PROMPT_LIMIT_BYTES,
    LargePromptDelivery, MAX_ARGUMENT_BYTES, MAX_INLINE_PROMPT_LIMIT_BYTES, PromptDelivery,
};
pub use request::{ClaudeRequest, JsonOrPath, OutputFormat};
