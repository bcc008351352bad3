//! Credentials as *references*, and the environment the `claude` process gets.
//!
//! Upstream wrote the OAuth JSON into the pod's command line with `printf`, so every secret was
//! readable in the pod spec, in `kubectl describe` and in audit logs. Here a secret is only ever
//! named: either a Kubernetes Secret key that the transport turns into an `env.valueFrom`, or a
//! file the transport mounts, which the `sh -c` line reads at run time. The secret's value never
//! passes through this crate, so it cannot end up in argv or in the shell line.
//!
//! The list of variables to blank is computed from an explicit input (the orchestrator's
//! variable names) rather than from this process's environment, so the output is deterministic.

use serde::{Deserialize, Serialize};

/// The variable that carries a long-lived OAuth token.
pub const OAUTH_TOKEN_VAR: &str = "CLAUDE_CODE_OAUTH_TOKEN";
/// The variable that carries an API key.
pub const API_KEY_VAR: &str = "ANTHROPIC_API_KEY";
/// The variable that points the CLI at another Messages API endpoint.
pub const BASE_URL_VAR: &str = "ANTHROPIC_BASE_URL";
/// Where the CLI looks for OAuth credentials, relative to `$HOME`.
pub const CREDENTIALS_FILE_IN_HOME: &str = ".claude/.credentials.json";

/// Where a secret value comes from at run time. The value itself is never held here.
///
/// ```
/// use agentpod_claude_args::SecretRef;
///
/// let from_secret = SecretRef::SecretKey { secret: "claude".into(), key: "api-key".into() };
/// let from_file = SecretRef::MountedFile { path: "/var/run/secrets/claude/token".into() };
/// assert_ne!(from_secret, from_file);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretRef {
    /// A key of a Kubernetes Secret; the transport sets the variable with `env.valueFrom`.
    SecretKey {
        /// Secret name.
        secret: String,
        /// Key inside the Secret.
        key: String,
    },
    /// A file the transport mounts (absolute path); the `sh -c` line reads it into the variable.
    MountedFile {
        /// Absolute path inside the container.
        path: String,
    },
}

/// How the `claude` process authenticates and which endpoint it talks to.
///
/// ```
/// use agentpod_claude_args::{Credentials, SecretRef};
///
/// let credentials = Credentials {
///     api_key: Some(SecretRef::SecretKey { secret: "claude".into(), key: "api-key".into() }),
///     base_url: Some("http://127.0.0.1:8080".into()),
///     ..Credentials::default()
/// };
/// assert!(credentials.oauth_credentials_file.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Credentials {
    /// Absolute path of a mounted OAuth credentials JSON (`{"claudeAiOauth": …}`). The CLI
    /// refreshes tokens and rewrites this file, and Secret mounts are read-only, so the shell
    /// line copies it to a writable `$HOME/.claude/.credentials.json` first.
    pub oauth_credentials_file: Option<String>,
    /// `CLAUDE_CODE_OAUTH_TOKEN`.
    pub oauth_token: Option<SecretRef>,
    /// `ANTHROPIC_API_KEY`.
    pub api_key: Option<SecretRef>,
    /// `ANTHROPIC_BASE_URL`. An address, not a secret, so it is passed as a plain value.
    pub base_url: Option<String>,
}

/// One environment variable the transport must set for the `claude` process.
///
/// ```
/// use agentpod_claude_args::{EnvValue, EnvVar};
///
/// let blank = EnvVar { name: "CLAUDECODE".into(), value: EnvValue::Literal(String::new()) };
/// assert!(blank.is_blank());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EnvVar {
    /// Variable name.
    pub name: String,
    /// Where its value comes from.
    pub value: EnvValue,
}

impl EnvVar {
    /// True for a variable set to the empty string (a blanked orchestrator variable).
    pub fn is_blank(&self) -> bool {
        matches!(&self.value, EnvValue::Literal(value) if value.is_empty())
    }
}

/// The value of an [`EnvVar`].
///
/// ```
/// use agentpod_claude_args::EnvValue;
///
/// let from_secret = EnvValue::FromSecret { secret: "claude".into(), key: "api-key".into() };
/// assert_ne!(from_secret, EnvValue::Literal(String::new()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvValue {
    /// A plain, non-secret value (may be empty: a blanked variable).
    Literal(String),
    /// A Kubernetes Secret key (`env.valueFrom.secretKeyRef`).
    FromSecret {
        /// Secret name.
        secret: String,
        /// Key inside the Secret.
        key: String,
    },
}

/// The names to blank in the child: every name starting with `CLAUDE`, sorted and deduplicated.
///
/// Claude Code marks its own child processes with `CLAUDE*` variables (`CLAUDECODE`,
/// `CLAUDE_CODE_ENTRYPOINT`, …). An agent started from inside another one would inherit them and
/// behave like a sub-agent, so they are set to empty. Pass the orchestrator's variable names
/// (e.g. from `std::env::vars_os()`); nothing is read from the environment here.
///
/// ```
/// use agentpod_claude_args::blanked_env_names;
///
/// let names = blanked_env_names(["PATH", "CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT", "CLAUDECODE", "MY_CLAUDE"]);
/// assert_eq!(names, ["CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT"]);
/// ```
pub fn blanked_env_names<I, S>(orchestrator_env_names: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut names: Vec<String> = orchestrator_env_names
        .into_iter()
        .filter(|name| name.as_ref().starts_with("CLAUDE"))
        .map(|name| name.as_ref().to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A step the `sh -c` line performs before `exec`ing `claude`. Argv users (exec APIs, local
/// spawning) must perform these themselves or run the shell line instead.
///
/// ```
/// use agentpod_claude_args::SetupStep;
///
/// let step = SetupStep::CopyOAuthCredentials { from: "/var/run/claude/credentials.json".into() };
/// assert!(matches!(step, SetupStep::CopyOAuthCredentials { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetupStep {
    /// Copy a mounted OAuth credentials file to `$HOME/.claude/.credentials.json` (mode 600).
    CopyOAuthCredentials {
        /// The mounted file.
        from: String,
    },
    /// Read a mounted file into an exported variable.
    ExportFromFile {
        /// Variable name.
        name: String,
        /// The mounted file.
        path: String,
    },
}

/// Environment entries and setup steps for these credentials, given the names to blank.
///
/// Blanked names come first; a name that the credentials set is not blanked, so the real value is
/// never shadowed by an empty one.
pub(crate) fn wire_credentials(
    credentials: &Credentials,
    blanked: &[String],
) -> (Vec<EnvVar>, Vec<SetupStep>) {
    let mut set_env = Vec::new();
    let mut setup = Vec::new();
    let mut set_names: Vec<&str> = Vec::new();

    if let Some(path) = &credentials.oauth_credentials_file {
        setup.push(SetupStep::CopyOAuthCredentials { from: path.clone() });
    }
    if let Some(url) = &credentials.base_url {
        set_names.push(BASE_URL_VAR);
        set_env.push(EnvVar {
            name: BASE_URL_VAR.to_owned(),
            value: EnvValue::Literal(url.clone()),
        });
    }
    for (name, reference) in [
        (API_KEY_VAR, &credentials.api_key),
        (OAUTH_TOKEN_VAR, &credentials.oauth_token),
    ] {
        let Some(reference) = reference else { continue };
        set_names.push(name);
        match reference {
            SecretRef::SecretKey { secret, key } => set_env.push(EnvVar {
                name: name.to_owned(),
                value: EnvValue::FromSecret {
                    secret: secret.clone(),
                    key: key.clone(),
                },
            }),
            SecretRef::MountedFile { path } => setup.push(SetupStep::ExportFromFile {
                name: name.to_owned(),
                path: path.clone(),
            }),
        }
    }

    let mut env: Vec<EnvVar> = blanked
        .iter()
        .filter(|name| !set_names.contains(&name.as_str()))
        .map(|name| EnvVar {
            name: name.clone(),
            value: EnvValue::Literal(String::new()),
        })
        .collect();
    env.extend(set_env);
    (env, setup)
}

/// The mounted paths in these credentials, with the field they come from (for validation).
pub(crate) fn mounted_paths(credentials: &Credentials) -> Vec<(&'static str, &str)> {
    let mut paths = Vec::new();
    if let Some(path) = &credentials.oauth_credentials_file {
        paths.push(("oauth_credentials_file", path.as_str()));
    }
    for (field, reference) in [
        ("api_key", &credentials.api_key),
        ("oauth_token", &credentials.oauth_token),
    ] {
        if let Some(SecretRef::MountedFile { path }) = reference {
            paths.push((field, path.as_str()));
        }
    }
    paths
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

    #[test]
    fn secret_key_refs_become_value_from_entries_and_files_become_setup_steps() {
        let credentials = Credentials {
            oauth_credentials_file: Some("/run/creds/credentials.json".into()),
            oauth_token: Some(SecretRef::MountedFile {
                path: "/run/creds/token".into(),
            }),
            api_key: Some(SecretRef::SecretKey {
                secret: "claude".into(),
                key: "api-key".into(),
            }),
            base_url: Some("http://127.0.0.1:9".into()),
        };
        let blanked = blanked_env_names(["CLAUDECODE", OAUTH_TOKEN_VAR]);
        let (env, setup) = wire_credentials(&credentials, &blanked);
        assert_eq!(
            env,
            [
                EnvVar {
                    name: "CLAUDECODE".into(),
                    value: EnvValue::Literal(String::new())
                },
                EnvVar {
                    name: BASE_URL_VAR.into(),
                    value: EnvValue::Literal("http://127.0.0.1:9".into())
                },
                EnvVar {
                    name: API_KEY_VAR.into(),
                    value: EnvValue::FromSecret {
                        secret: "claude".into(),
                        key: "api-key".into()
                    }
                },
            ]
        );
        assert_eq!(
            setup,
            [
                SetupStep::CopyOAuthCredentials {
                    from: "/run/creds/credentials.json".into()
                },
                SetupStep::ExportFromFile {
                    name: OAUTH_TOKEN_VAR.into(),
                    path: "/run/creds/token".into()
                },
            ]
        );
        assert_eq!(mounted_paths(&credentials).len(), 2);
    }
}
