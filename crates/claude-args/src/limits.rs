//! How the prompt reaches the process, and whether it can fit the model at all.
//!
//! Linux caps a single argument at 128 KiB (`MAX_ARG_STRLEN`), and the `sh -c` line is itself one
//! argument. Upstream put every prompt into argv and broke above that limit while its size check
//! allowed ~800 KB. Here a prompt only goes inline while its *quoted* form stays under a threshold
//! well below the limit; larger prompts go through stdin (`claude -p` reads it) or a mounted file,
//! and the choice is part of the typed command so a transport knows whether to pipe or mount.

use serde::{Deserialize, Serialize};

use crate::ClaudeArgsError;

/// Linux's per-argument limit (`MAX_ARG_STRLEN` = 32 pages) minus the terminating NUL.
pub const MAX_ARGUMENT_BYTES: usize = 128 * 1024 - 1;

/// Default threshold for inline prompts: half the per-argument limit, leaving room for the other
/// flags in the same `sh -c` line.
pub const DEFAULT_INLINE_PROMPT_LIMIT_BYTES: usize = 64 * 1024;

/// The highest accepted inline threshold: the rest of the `sh -c` line needs some room too.
pub const MAX_INLINE_PROMPT_LIMIT_BYTES: usize = 96 * 1024;

/// Bytes per token assumed by the prompt-size check. Tokens of English text and code average
/// three to four bytes, so a prompt over `window × 4` bytes cannot fit; the check only rejects
/// prompts that certainly fail.
pub const BYTES_PER_TOKEN_ESTIMATE: u64 = 4;

/// Default context window for the size check (tokens).
pub const DEFAULT_CONTEXT_WINDOW_TOKENS: u64 = 200_000;

/// Where a prompt goes when it is too large to be inline.
///
/// ```
/// use agentpod_claude_args::LargePromptDelivery;
///
/// let to_file = LargePromptDelivery::File { path: "/var/run/agentpod/prompt.txt".into() };
/// assert_ne!(to_file, LargePromptDelivery::Stdin);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LargePromptDelivery {
    /// The transport writes the prompt to the process's stdin and closes it.
    #[default]
    Stdin,
    /// The transport mounts the prompt at this absolute path; the `sh -c` line redirects it to
    /// stdin (`< path`).
    File {
        /// Absolute path inside the container.
        path: String,
    },
}

/// How this command's prompt travels. Decided by [`ClaudeCommand::build`](crate::ClaudeCommand::build).
///
/// ```
/// use agentpod_claude_args::{BuildOptions, ClaudeCommand, ClaudeRequest, PromptDelivery};
///
/// let small = ClaudeCommand::build(&ClaudeRequest::new("hi"), &BuildOptions::default()).unwrap();
/// assert_eq!(small.prompt_delivery(), &PromptDelivery::Inline);
///
/// let big = ClaudeCommand::build(&ClaudeRequest::new("x".repeat(100_000)), &BuildOptions::default()).unwrap();
/// assert_eq!(big.prompt_delivery(), &PromptDelivery::Stdin);
/// assert_eq!(big.stdin_prompt().map(str::len), Some(100_000));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptDelivery {
    /// The last argument, after `--` (so a prompt starting with `-` is never read as a flag).
    Inline,
    /// Piped to stdin by the transport.
    Stdin,
    /// Mounted at `path` by the transport; the shell line redirects it to stdin.
    File {
        /// Absolute path inside the container.
        path: String,
    },
}

/// Rejects a prompt that cannot fit the context window. Counts UTF-8 bytes, not characters: a
/// prompt of CJK text or emoji is three to four times longer in bytes than in `char`s.
pub(crate) fn check_prompt_size(
    prompt_bytes: usize,
    context_window_tokens: u64,
) -> Result<(), ClaudeArgsError> {
    let limit_bytes = context_window_tokens.saturating_mul(BYTES_PER_TOKEN_ESTIMATE);
    if u64::try_from(prompt_bytes).unwrap_or(u64::MAX) > limit_bytes {
        return Err(ClaudeArgsError::PromptTooLarge {
            bytes: prompt_bytes,
            limit_bytes,
            context_window_tokens,
            bytes_per_token: BYTES_PER_TOKEN_ESTIMATE,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_check_counts_bytes_at_the_boundary() {
        assert!(check_prompt_size(800_000, 200_000).is_ok());
        let err = check_prompt_size(800_001, 200_000).unwrap_err();
        assert!(matches!(
            err,
            ClaudeArgsError::PromptTooLarge {
                bytes: 800_001,
                limit_bytes: 800_000,
                ..
            }
        ));
    }

    #[test]
    fn multibyte_text_is_measured_in_bytes_not_chars() {
        // 300 000 chars of a 3-byte character: fits by char count, not by bytes.
        let prompt = "語".repeat(300_000);
        assert_eq!(prompt.chars().count(), 300_000);
        assert!(check_prompt_size(prompt.len(), 200_000).is_err());
    }

    #[test]
    fn inline_limits_leave_room_below_the_argument_limit() {
        const { assert!(DEFAULT_INLINE_PROMPT_LIMIT_BYTES <= MAX_INLINE_PROMPT_LIMIT_BYTES) };
        const { assert!(MAX_INLINE_PROMPT_LIMIT_BYTES < MAX_ARGUMENT_BYTES) };
    }
}
