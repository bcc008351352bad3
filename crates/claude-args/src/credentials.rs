//! Credentials as *needs*, and the environment the `claude` process gets.
//!
//! A secret value never passes through this crate. The caller says where each credential will
//! be ([`CredentialSource`]): in the process's environment, put there by the caller from its own
//! secret store, or in a file the process finds at a path. The built command then states what
//! the process needs in the same neutral words: variables to set to a credential, to a plain
//! value or to blank ([`EnvVar`]), and setup steps the shell line performs ([`SetupStep`]). How
//! those needs are met (a variable backed by a secret store, a file written before the process
//! starts, a local process's own environment) is the caller's business.

use serde::{Deserialize, Serialize};

use crate::env::{API_KEY_VAR, BASE_URL_VAR, OAUTH_TOKEN_VAR};
use crate::setters::setters;

/// Where a credential will be when the process starts. The value itself is never held here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialSource {
    /// The caller sets the credential's variable in the process's environment from its own
    /// secret store; the command lists it as [`EnvValue::Credential`].
    Environment,
    /// A file the process finds at this absolute path; the shell line reads it into the
    /// credential's variable (a [`SetupStep::ExportFromFile`]).
    File {
        /// Absolute path, as the process sees it.
        path: String,
    },
}

/// How the `claude` process authenticates and which endpoint it talks to.
///
/// `Default`: no credentials and the CLI's own endpoint (every field unset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Credentials {
    /// Absolute path of an OAuth credentials JSON file (`{"claudeAiOauth": …}`) the process
    /// finds. The CLI refreshes tokens and rewrites this file, and such files are often
    /// read-only, so the shell line copies it to a writable
    /// `$HOME/.claude/.credentials.json` first.
    pub oauth_credentials_file: Option<String>,
    /// The long-lived OAuth token the process must see as `CLAUDE_CODE_OAUTH_TOKEN`.
    pub oauth_token: Option<CredentialSource>,
    /// The API key the process must see as `ANTHROPIC_API_KEY`.
    pub api_key: Option<CredentialSource>,
    /// `ANTHROPIC_BASE_URL`. An address, not a secret, so it is passed as a plain value.
    pub base_url: Option<String>,
}

impl Credentials {
    setters! {
        text oauth_credentials_file: Option<String>;
        some oauth_token: CredentialSource;
        some api_key: CredentialSource;
        text base_url: Option<String>;
    }
}

/// One environment variable the `claude` process must see.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EnvVar {
    /// Variable name.
    pub name: String,
    /// What it must hold.
    pub value: EnvValue,
}

/// What an [`EnvVar`] must hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EnvValue {
    /// Set, to the empty string: an inherited `CLAUDE*` variable (see
    /// [`env::blanked_env_names`](crate::env::blanked_env_names)).
    Blank,
    /// A plain, non-secret value.
    Plain(String),
    /// The credential named by the variable, supplied by the caller from its secret store
    /// ([`CredentialSource::Environment`]).
    Credential,
}

/// A step the `sh -c` line performs before `exec`ing `claude`. Argv users (exec APIs, local
/// spawning) must perform these themselves or run the shell line instead.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SetupStep {
    /// Copy an OAuth credentials file to `$HOME/.claude/.credentials.json` (mode 600).
    CopyOAuthCredentials {
        /// The file the process finds.
        from: String,
    },
    /// Read a file into an exported variable.
    ExportFromFile {
        /// Variable name.
        name: String,
        /// The file the process finds.
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
            value: EnvValue::Plain(url.clone()),
        });
    }
    for (name, source) in [
        (API_KEY_VAR, &credentials.api_key),
        (OAUTH_TOKEN_VAR, &credentials.oauth_token),
    ] {
        let Some(source) = source else { continue };
        set_names.push(name);
        match source {
            CredentialSource::Environment => set_env.push(EnvVar {
                name: name.to_owned(),
                value: EnvValue::Credential,
            }),
            CredentialSource::File { path } => setup.push(SetupStep::ExportFromFile {
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
            value: EnvValue::Blank,
        })
        .collect();
    env.extend(set_env);
    (env, setup)
}

/// The file paths in these credentials, with the field they come from (for validation).
pub(crate) fn file_paths(credentials: &Credentials) -> Vec<(&'static str, &str)> {
    let mut paths = Vec::new();
    if let Some(path) = &credentials.oauth_credentials_file {
        paths.push(("oauth_credentials_file", path.as_str()));
    }
    for (field, source) in [
        ("api_key", &credentials.api_key),
        ("oauth_token", &credentials.oauth_token),
    ] {
        if let Some(CredentialSource::File { path }) = source {
            paths.push((field, path.as_str()));
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::blanked_env_names;

    #[test]
    fn environment_credentials_become_needs_and_files_become_setup_steps() {
        let credentials = Credentials::default()
            .oauth_credentials_file("/run/creds/credentials.json")
            .oauth_token(CredentialSource::File {
                path: "/run/creds/token".into(),
            })
            .api_key(CredentialSource::Environment)
            .base_url("http://127.0.0.1:9");
        let blanked = blanked_env_names(["CLAUDECODE", OAUTH_TOKEN_VAR]);
        let (env, setup) = wire_credentials(&credentials, &blanked);
        assert_eq!(
            env,
            [
                EnvVar {
                    name: "CLAUDECODE".into(),
                    value: EnvValue::Blank
                },
                EnvVar {
                    name: BASE_URL_VAR.into(),
                    value: EnvValue::Plain("http://127.0.0.1:9".into())
                },
                EnvVar {
                    name: API_KEY_VAR.into(),
                    value: EnvValue::Credential
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
        assert_eq!(file_paths(&credentials).len(), 2);
    }
}
