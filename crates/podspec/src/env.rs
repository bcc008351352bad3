//! Container environment variables.
//!
//! The rendered spec must not depend on the environment of the process that
//! renders it, so "blank these variables" is an explicit list from the caller
//! rather than a scan of `std::env`. Entries keep the caller's order because
//! Kubernetes expands `$(VAR)` references only to variables defined earlier.

use k8s_openapi::api::core::v1::{
    ConfigMapKeySelector, EnvVar as K8sEnvVar, EnvVarSource, SecretKeySelector,
};

use crate::PodSpecError;

/// Where an environment variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvSource {
    /// A literal value (visible to anyone who can read the pod: not for credentials).
    Literal(String),
    /// The value of `key` in an existing Secret named `secret`.
    SecretKey {
        /// Secret name.
        secret: String,
        /// Key inside the Secret.
        key: String,
    },
    /// The value of `key` in an existing ConfigMap named `config_map`.
    ConfigMapKey {
        /// ConfigMap name.
        config_map: String,
        /// Key inside the ConfigMap.
        key: String,
    },
}

/// One environment variable of the agent container, for callers that build
/// their list generically (the builder's `env*` setters make these too).
///
/// ```
/// use agentpod_podspec::{AgentPodSpec, EnvSource, EnvVar};
/// use std::time::UNIX_EPOCH;
///
/// let wanted = [
///     EnvVar::new("RUST_LOG", EnvSource::Literal("info".into())),
///     EnvVar::new("GITHUB_TOKEN", EnvSource::SecretKey { secret: "bot".into(), key: "token".into() }),
/// ];
/// let spec = wanted.into_iter().fold(AgentPodSpec::new("img:1").name("p"), AgentPodSpec::env_var);
/// let rendered = spec.render(UNIX_EPOCH)?;
/// let env = rendered.pod.spec.unwrap().containers[0].env.clone().unwrap();
/// let token = env.iter().find(|e| e.name == "GITHUB_TOKEN").unwrap();
/// assert!(token.value.is_none()); // only a secretKeyRef, never the value
/// # Ok::<(), agentpod_podspec::PodSpecError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    name: String,
    source: EnvSource,
}

impl EnvVar {
    /// A variable named `name` taking its value from `source`.
    pub fn new(name: impl Into<String>, source: EnvSource) -> Self {
        Self {
            name: name.into(),
            source,
        }
    }

    /// The variable name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the value comes from.
    pub fn source(&self) -> &EnvSource {
        &self.source
    }

    pub(crate) fn validate(&self) -> Result<(), PodSpecError> {
        validate_env_name(&self.name)?;
        match &self.source {
            EnvSource::Literal(_) => Ok(()),
            EnvSource::SecretKey { secret, key } => {
                crate::names::validate_dns_subdomain("Secret name in env reference", secret)?;
                crate::secrets::validate_secret_key(key)
            }
            EnvSource::ConfigMapKey { config_map, key } => {
                crate::names::validate_dns_subdomain(
                    "ConfigMap name in env reference",
                    config_map,
                )?;
                crate::secrets::validate_secret_key(key)
            }
        }
    }

    pub(crate) fn to_k8s(&self) -> K8sEnvVar {
        let (value, value_from) = match &self.source {
            EnvSource::Literal(value) => (Some(value.clone()), None),
            EnvSource::SecretKey { secret, key } => (
                None,
                Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: secret.clone(),
                        key: key.clone(),
                        optional: None,
                    }),
                    ..EnvVarSource::default()
                }),
            ),
            EnvSource::ConfigMapKey { config_map, key } => (
                None,
                Some(EnvVarSource {
                    config_map_key_ref: Some(ConfigMapKeySelector {
                        name: config_map.clone(),
                        key: key.clone(),
                        optional: None,
                    }),
                    ..EnvVarSource::default()
                }),
            ),
        };
        K8sEnvVar {
            name: self.name.clone(),
            value,
            value_from,
        }
    }
}

/// Checks an environment variable name the way Kubernetes does:
/// letters, digits, `_`, `-`, `.`, not starting with a digit.
pub(crate) fn validate_env_name(name: &str) -> Result<(), PodSpecError> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    let valid = name
        .chars()
        .next()
        .is_some_and(|first| !first.is_ascii_digit())
        && name.chars().all(valid_char);
    if valid {
        Ok(())
    } else {
        Err(PodSpecError::InvalidEnvName {
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        assert!(validate_env_name("XDG_CONFIG_HOME").is_ok());
        assert!(validate_env_name("a.b-c").is_ok());
        assert!(validate_env_name("1BAD").is_err());
        assert!(validate_env_name("").is_err());
        assert!(validate_env_name("NOT OK").is_err());
    }

    #[test]
    fn secret_reference_renders_value_from() {
        let var = EnvVar::new(
            "TOKEN",
            EnvSource::SecretKey {
                secret: "creds".into(),
                key: "token".into(),
            },
        );
        let rendered = var.to_k8s();
        assert!(rendered.value.is_none());
        let selector = rendered.value_from.unwrap().secret_key_ref.unwrap();
        assert_eq!(
            (selector.name.as_str(), selector.key.as_str()),
            ("creds", "token")
        );
    }

    #[test]
    fn invalid_references_are_refused() {
        let bad_secret = EnvVar::new(
            "A",
            EnvSource::SecretKey {
                secret: "Not_A_Name".into(),
                key: "k".into(),
            },
        );
        assert!(bad_secret.validate().is_err());
        let bad_key = EnvVar::new(
            "A",
            EnvSource::ConfigMapKey {
                config_map: "cm".into(),
                key: "no/slash".into(),
            },
        );
        assert!(bad_key.validate().is_err());
    }
}
