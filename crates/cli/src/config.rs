//! The config file, the lowest layer of the precedence flags > `AGENTPOD_*` > config file.
//!
//! clap already resolves the first two layers (each option names its `AGENTPOD_*` variable),
//! so an option that is still `None` after parsing was given neither way; `ConfigFile::apply_*`
//! fills those from the file. Labels and variables merge: the file's come first and a flag of
//! the same name wins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::args::{self, AgentArgs, ClusterArgs, PodArgs, ProviderKind};
use crate::failure::Failure;

/// `~/.config/agentpod/config.toml` (or `$XDG_CONFIG_HOME/agentpod/config.toml`).
///
/// ```toml
/// provider = "ephemeral"
/// image = "registry.example/claude-runner:2.1.328"
/// namespace = "agents"
/// kubeconfig = "/etc/agentpod/kubeconfig"
/// run-timeout = "10m"
///
/// [labels]
/// team = "infra"
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    provider: Option<ProviderKind>,
    image: Option<String>,
    namespace: Option<String>,
    claude_path: Option<String>,
    base_url: Option<String>,
    api_key_secret: Option<String>,
    model: Option<String>,
    start_timeout: Option<String>,
    run_timeout: Option<String>,
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Where it was read from (for error messages).
    #[serde(skip)]
    path: Option<PathBuf>,
}

/// The default config file path, if a home directory is known.
fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|dir| !dir.is_empty())
                .map(|home| PathBuf::from(home).join(".config"))
        })?;
    Some(base.join("agentpod").join("config.toml"))
}

impl ConfigFile {
    /// Reads `explicit` (which must exist), else the default file when it exists.
    pub fn load(explicit: Option<&Path>) -> Result<ConfigFile, Failure> {
        let (path, required) = match explicit {
            Some(path) => (path.to_path_buf(), true),
            None => match default_path() {
                Some(path) => (path, false),
                None => return Ok(ConfigFile::default()),
            },
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if !required && error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ConfigFile::default());
            }
            Err(error) => {
                return Err(Failure::Usage(format!(
                    "cannot read the config file {}: {error}",
                    path.display()
                )));
            }
        };
        let mut config: ConfigFile = toml::from_str(&text).map_err(|error| {
            let what = error.message();
            let place = error
                .span()
                .map(|span| {
                    let line = text[..span.start.min(text.len())].lines().count().max(1);
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            Failure::Usage(format!(
                "invalid config file {}{place}: {what}",
                path.display()
            ))
        })?;
        config.path = Some(path);
        Ok(config)
    }

    fn invalid(&self, key: &str, error: String) -> Failure {
        let path = self
            .path
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Failure::Usage(format!(
            "invalid `{key}` in the config file {path}: {error}"
        ))
    }

    /// The provider from the file, unless the flag or the environment named one.
    pub fn provider(&self, given: Option<ProviderKind>) -> ProviderKind {
        given.or(self.provider).unwrap_or(ProviderKind::Ephemeral)
    }

    /// Fills the options given neither as flags nor in the environment.
    pub fn apply_pod(&self, pod: &mut PodArgs) -> Result<(), Failure> {
        fill(&mut pod.image, &self.image);
        fill(&mut pod.namespace, &self.namespace);
        fill(&mut pod.claude_path, &self.claude_path);
        fill(&mut pod.base_url, &self.base_url);
        if pod.api_key_secret.is_none()
            && let Some(text) = &self.api_key_secret
        {
            pod.api_key_secret =
                Some(args::parse_secret_ref(text).map_err(|e| self.invalid("api-key-secret", e))?);
        }
        if pod.start_timeout.is_none()
            && let Some(text) = &self.start_timeout
        {
            pod.start_timeout =
                Some(args::parse_duration(text).map_err(|e| self.invalid("start-timeout", e))?);
        }
        if pod.run_timeout.is_none()
            && let Some(text) = &self.run_timeout
        {
            pod.run_timeout =
                Some(args::parse_duration(text).map_err(|e| self.invalid("run-timeout", e))?);
        }
        pod.label = merge(&self.labels, &pod.label);
        pod.env = merge(&self.env, &pod.env);
        Ok(())
    }

    /// Fills the agent options given neither as flags nor in the environment.
    pub fn apply_agent(&self, agent: &mut AgentArgs) {
        fill(&mut agent.model, &self.model);
    }

    /// Fills the cluster options given neither as flags nor in the environment.
    pub fn apply_cluster(&self, cluster: &mut ClusterArgs) {
        fill(&mut cluster.kubeconfig, &self.kubeconfig);
        fill(&mut cluster.context, &self.context);
    }

    /// The namespace for `reap`.
    pub fn apply_namespace(&self, namespace: &mut Option<String>) {
        fill(namespace, &self.namespace);
    }
}

fn fill<T: Clone>(value: &mut Option<T>, fallback: &Option<T>) {
    if value.is_none() {
        value.clone_from(fallback);
    }
}

/// The file's pairs, then the flags'; a flag replaces the file's value of the same key.
fn merge(file: &BTreeMap<String, String>, flags: &[(String, String)]) -> Vec<(String, String)> {
    let mut merged: Vec<(String, String)> = file
        .iter()
        .filter(|(key, _)| !flags.iter().any(|(flag, _)| flag == *key))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    merged.extend(flags.iter().cloned());
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_fills_only_what_is_missing_and_flags_win_on_labels() {
        let config: ConfigFile = toml::from_str(
            "image = \"file-image\"\nnamespace = \"file-ns\"\nrun-timeout = \"10m\"\n[labels]\nteam = \"file\"\nkeep = \"yes\"\n",
        )
        .unwrap_or_default();
        let mut pod = PodArgs {
            namespace: Some("flag-ns".into()),
            label: vec![("team".into(), "flag".into())],
            ..PodArgs::default()
        };
        assert!(config.apply_pod(&mut pod).is_ok());
        assert_eq!(pod.image.as_deref(), Some("file-image"));
        assert_eq!(pod.namespace.as_deref(), Some("flag-ns"));
        assert_eq!(pod.run_timeout, Some(std::time::Duration::from_secs(600)));
        assert_eq!(
            pod.label,
            vec![
                ("keep".to_owned(), "yes".to_owned()),
                ("team".to_owned(), "flag".to_owned())
            ]
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "imgae = \"x\"\n").unwrap_or_else(|e| panic!("{e}"));
        let Err(Failure::Usage(message)) = ConfigFile::load(Some(&path)) else {
            panic!("an unknown key was accepted");
        };
        assert!(message.contains("imgae"), "{message}");
        std::fs::write(&path, "run-timeout = \"soon\"\n").unwrap_or_else(|e| panic!("{e}"));
        let config = ConfigFile::load(Some(&path)).unwrap_or_default();
        let Err(Failure::Usage(message)) = config.apply_pod(&mut PodArgs::default()) else {
            panic!("a bad duration was accepted");
        };
        assert!(message.contains("run-timeout"), "{message}");
        let missing = dir.path().join("missing.toml");
        assert!(matches!(
            ConfigFile::load(Some(&missing)),
            Err(Failure::Usage(_))
        ));
    }
}
