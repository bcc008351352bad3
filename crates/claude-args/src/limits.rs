//! The sizes the command is built against.
//!
//! Linux caps each single argument at 128 KiB (`MAX_ARG_STRLEN`), and the `sh -c` line is itself
//! one argument. Argv words are checked one by one against that limit; the shell line as a
//! whole. When the shell line would not fit, what can move out of it moves (the prompt to stdin
//! or a file, system prompts to input files); only what cannot be delivered either way is
//! refused.

use crate::{ClaudeArgsError, Result};

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

/// Rejects a prompt that cannot fit the context window. Counts UTF-8 bytes, not characters: a
/// prompt of CJK text or emoji is three to four times longer in bytes than in `char`s.
pub(crate) fn check_prompt_size(prompt_bytes: usize, context_window_tokens: u64) -> Result<()> {
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
