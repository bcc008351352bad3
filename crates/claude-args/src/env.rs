//! The variable names the CLI reads, and the one list of inherited variables to blank.
//!
//! Claude Code marks its own child processes with `CLAUDE*` variables (`CLAUDECODE`,
//! `CLAUDE_CODE_ENTRYPOINT`, …). An agent started from inside another one would inherit them and
//! behave like a sub-agent, so every inherited `CLAUDE*` variable is set to empty. This module is
//! the one owner of that rule; [`ClaudeCommand::env`](crate::ClaudeCommand::env) applies it.
//!
//! ```
//! use agentpod_claude_args::env::blanked_env_names;
//!
//! // Pass the orchestrator's own variable names; nothing is read from the environment here.
//! let inherited = ["PATH", "CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT", "CLAUDECODE", "MY_CLAUDE"];
//! assert_eq!(blanked_env_names(inherited), ["CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT"]);
//! ```

/// The variable that carries a long-lived OAuth token.
pub const OAUTH_TOKEN_VAR: &str = "CLAUDE_CODE_OAUTH_TOKEN";
/// The variable that carries an API key.
pub const API_KEY_VAR: &str = "ANTHROPIC_API_KEY";
/// The variable that points the CLI at another Messages API endpoint.
pub const BASE_URL_VAR: &str = "ANTHROPIC_BASE_URL";
/// Where the CLI looks for OAuth credentials, relative to `$HOME`.
pub const CREDENTIALS_FILE_IN_HOME: &str = ".claude/.credentials.json";
/// The prefix of the variables the CLI marks its child processes with.
pub const BLANKED_PREFIX: &str = "CLAUDE";

/// Whether an inherited variable of this name must be blanked in the child.
pub fn is_blanked(name: &str) -> bool {
    name.starts_with(BLANKED_PREFIX)
}

/// The names to blank in the child: every name starting with `CLAUDE`, sorted and deduplicated.
pub fn blanked_env_names<I, S>(inherited_names: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut names: Vec<String> = inherited_names
        .into_iter()
        .filter(|name| is_blanked(name.as_ref()))
        .map(|name| name.as_ref().to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanking_keeps_only_claude_prefixed_names_sorted() {
        let names = blanked_env_names(vec![
            "CLAUDE_Z".to_owned(),
            "HOME".to_owned(),
            "CLAUDE_A".to_owned(),
            "claude_lower".to_owned(),
            "ANTHROPIC_API_KEY".to_owned(),
        ]);
        assert_eq!(names, ["CLAUDE_A", "CLAUDE_Z"]);
        assert!(blanked_env_names(Vec::<String>::new()).is_empty());
    }
}
