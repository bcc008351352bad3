//! How the prompt and the documents reach the process.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a prompt goes when it does not go inline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LargePromptDelivery {
    /// The caller writes the prompt to the process's stdin and closes it.
    #[default]
    Stdin,
    /// The caller puts the prompt in a file at this absolute path; the `sh -c` line redirects it
    /// to stdin (`< path`).
    File {
        /// Absolute path, as the process sees it.
        path: String,
    },
}

/// How this command's prompt travels. Decided by [`ClaudeCommand::build`](crate::ClaudeCommand::build).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptDelivery {
    /// The last argument, after `--` (so a prompt starting with `-` is never read as a flag).
    Inline,
    /// Written to stdin by the caller.
    Stdin,
    /// In a file at `path` (listed in [`ClaudeCommand::input_files`](crate::ClaudeCommand::input_files));
    /// the shell line redirects it to stdin.
    File {
        /// Absolute path, as the process sees it.
        path: String,
    },
}

/// What an [`InputFile`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum InputKind {
    /// The prompt ([`PromptDelivery::File`]).
    Prompt,
    /// The system prompt (`--system-prompt-file`), moved out of argv for its size.
    SystemPrompt,
    /// The appended system prompt (`--append-system-prompt-file`), moved out of argv for its size.
    AppendSystemPrompt,
    /// An inline MCP configuration (`--mcp-config`).
    McpConfig,
    /// Inline settings (`--settings`).
    Settings,
    /// Inline agent definitions (`--agents`).
    Agents,
}

/// A file the process must find at `path` before it starts, with the exact contents.
///
/// Treat the contents like a credential: MCP configurations, settings and agent definitions
/// commonly carry tokens. Deliver them out of band (a secret store's file delivery, a file
/// written before the process starts), never in a command line, a workload spec, a URL or a log
/// line. `Debug` prints the contents as
/// `<redacted>`.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct InputFile {
    /// Absolute path, as the process sees it.
    pub path: String,
    /// What the file is for.
    pub kind: InputKind,
    /// The exact bytes to put there (UTF-8 text).
    pub contents: String,
}

impl InputFile {
    /// The file name part of [`path`](Self::path) (a valid key for most secret stores).
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

impl fmt::Debug for InputFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InputFile")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field(
                "contents",
                &format_args!("<redacted {} bytes>", self.contents.len()),
            )
            .finish()
    }
}
