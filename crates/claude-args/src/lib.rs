//! The Claude Code CLI protocol, without I/O.
//!
//! This crate turns an agent request into the exact command that runs `claude -p`
//! non-interactively, states what the process needs besides its arguments (credentials,
//! variables to blank, files to find) without ever holding a secret's value, and turns what the
//! CLI prints back into typed results. It is pure (no async runtime, no network, no knowledge of
//! where the process runs) so that every transport shares one tested implementation of the
//! protocol, and so that the protocol can be tested against the real CLI directly.
//!
//! Flag names follow `claude --help` of the pinned CLI version, 2.1.328; the crate's acceptance
//! test runs the real binary with every generated argv.
//!
//! ```
//! use agentpod_claude_args::{
//!     BuildOptions, ClaudeCommand, ClaudeRequest, CredentialSource, Credentials, EnvValue,
//! };
//!
//! // What to do…
//! let request = ClaudeRequest::new("Summarise README.md").max_turns(4);
//! // …and how the process gets it: the API key comes from the caller's secret store.
//! let options = BuildOptions::default()
//!     .credentials(Credentials::default().api_key(CredentialSource::Environment))
//!     .orchestrator_env_names(["CLAUDECODE", "PATH"]);
//! let command = ClaudeCommand::build(&request, &options)?;
//! assert_eq!(
//!     command.argv(),
//!     ["claude", "-p", "--output-format=json", "--max-turns=4", "--", "Summarise README.md"]
//! );
//! assert_eq!(command.env()[0].value, EnvValue::Blank); // CLAUDECODE, inherited from a parent agent
//! assert_eq!(command.env()[1].name, "ANTHROPIC_API_KEY");
//!
//! // Run it somewhere, then read what it printed.
//! let stdout = r#"{"type":"result","subtype":"success","is_error":false,"result":"A Rust library.","num_turns":1}"#;
//! let output = command.parse_output(stdout)?;
//! assert_eq!(output.text, "A Rust library.");
//! # Ok::<(), agentpod_claude_args::ClaudeArgsError>(())
//! ```

mod command;
mod credentials;
mod delivery;
pub mod env;
mod error;
pub mod limits;
pub mod output;
mod permission;
mod request;
mod setters;

pub use command::{BuildOptions, ClaudeCommand};
pub use credentials::{CredentialSource, Credentials, EnvValue, EnvVar, SetupStep};
pub use delivery::{InputFile, InputKind, LargePromptDelivery, PromptDelivery};
pub use error::{ClaudeArgsError, Result};
pub use output::{
    ClaudeOutput, PermissionDenial, RunStats, StreamEvent, StreamParser, TokenUsage, parse_output,
};
pub use permission::{Effort, PermissionMode};
pub use request::{ClaudeRequest, InputFormat, JsonOrPath, OutputFormat, SettingSource, ToolSet};
