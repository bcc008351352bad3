//! Credentials and large inputs carried in a per-pod Secret.
//!
//! Anything sensitive (API keys, OAuth JSON) or large (prompts beyond the
//! kernel's per-argument limit) must not appear in the pod spec or command,
//! where `kubectl get pod -o yaml` and audit logs would show it. The builder
//! puts such inputs into one Secret named `<pod>-inputs` and refers to
//! them by `secretKeyRef` or through a read-only Secret volume. The transport
//! creates that Secret with the pod and, once the pod has a UID, makes the pod
//! its owner (see [`RenderedPod::pod_owner_reference`](crate::RenderedPod::pod_owner_reference))
//! so Kubernetes deletes both together.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;

use crate::PodSpecError;
use crate::redact::Redacted;

/// Name of the volume that projects the inputs Secret.
pub const INPUTS_VOLUME: &str = "agentpod-inputs";
/// Default directory where file inputs appear (`<dir>/<key>`).
pub const DEFAULT_INPUTS_DIR: &str = "/var/run/agentpod/inputs";
/// Kubernetes' size limit for one Secret's data.
pub const MAX_SECRET_BYTES: usize = 1024 * 1024;

/// Name of the inputs Secret of pod `pod_name`: `<pod_name>-inputs`.
pub(crate) fn inputs_secret_name(pod_name: &str) -> String {
    format!("{pod_name}-inputs")
}

/// How the container sees one secret input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exposure {
    /// As environment variable with the key's name.
    Env,
    /// As file `<inputs dir>/<key>`.
    File,
}

/// One entry of the inputs Secret; `Debug` shows the key, never the data.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SecretInput {
    pub(crate) key: String,
    pub(crate) data: Vec<u8>,
    pub(crate) exposure: Exposure,
}

impl std::fmt::Debug for SecretInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretInput")
            .field("key", &self.key)
            .field("data", &Redacted)
            .field("exposure", &self.exposure)
            .finish()
    }
}

/// All secret inputs of one pod, in the order they were added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SecretInputs {
    pub(crate) entries: Vec<SecretInput>,
}

impl SecretInputs {
    pub(crate) fn push(&mut self, key: String, data: Vec<u8>, exposure: Exposure) {
        self.entries.push(SecretInput {
            key,
            data,
            exposure,
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn has_files(&self) -> bool {
        self.entries.iter().any(|e| e.exposure == Exposure::File)
    }

    /// Keys of file inputs, sorted (the order of the inputs volume's `items`).
    pub(crate) fn file_keys(&self) -> impl Iterator<Item = &str> {
        let keys: std::collections::BTreeSet<&str> = self
            .entries
            .iter()
            .filter(|e| e.exposure == Exposure::File)
            .map(|e| e.key.as_str())
            .collect();
        keys.into_iter()
    }

    pub(crate) fn env_keys(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(|e| e.exposure == Exposure::Env)
            .map(|e| e.key.as_str())
    }

    pub(crate) fn validate(&self) -> Result<(), PodSpecError> {
        let mut seen = std::collections::BTreeSet::new();
        let mut size = 0usize;
        for entry in &self.entries {
            match entry.exposure {
                Exposure::Env => crate::env::validate_env_name(&entry.key)?,
                Exposure::File => validate_secret_key(&entry.key)?,
            }
            if !seen.insert(entry.key.as_str()) {
                return Err(PodSpecError::DuplicateSecretKey {
                    key: entry.key.clone(),
                });
            }
            size += entry.key.len() + entry.data.len();
        }
        if size > MAX_SECRET_BYTES {
            return Err(PodSpecError::SecretTooLarge {
                size,
                limit: MAX_SECRET_BYTES,
            });
        }
        Ok(())
    }

    /// Secret `data`, sorted by key (a `BTreeMap`) so rendering is deterministic.
    pub(crate) fn data(&self) -> BTreeMap<String, ByteString> {
        self.entries
            .iter()
            .map(|e| (e.key.clone(), ByteString(e.data.clone())))
            .collect()
    }
}

/// Checks a Secret/ConfigMap key: 1-253 of letters, digits, `-`, `_`, `.`; not `.` or `..`.
pub(crate) fn validate_secret_key(key: &str) -> Result<(), PodSpecError> {
    let valid = !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(PodSpecError::InvalidSecretKey {
            key: key.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys() {
        assert!(validate_secret_key("credentials.json").is_ok());
        assert!(validate_secret_key("a/b").is_err());
        assert!(validate_secret_key("..").is_err());
        assert!(validate_secret_key(&"k".repeat(254)).is_err());
        assert_eq!(inputs_secret_name("job-1"), "job-1-inputs");
    }

    #[test]
    fn duplicate_keys_are_refused_across_exposures() {
        let mut inputs = SecretInputs::default();
        inputs.push("API_KEY".into(), b"a".to_vec(), Exposure::Env);
        inputs.push("API_KEY".into(), b"b".to_vec(), Exposure::File);
        assert!(matches!(
            inputs.validate(),
            Err(PodSpecError::DuplicateSecretKey { .. })
        ));
    }

    #[test]
    fn size_limit_counts_keys_and_data() {
        let mut inputs = SecretInputs::default();
        inputs.push("big".into(), vec![0; MAX_SECRET_BYTES - 3], Exposure::File);
        assert!(inputs.validate().is_ok());
        inputs.push("x".into(), Vec::new(), Exposure::File);
        assert!(matches!(
            inputs.validate(),
            Err(PodSpecError::SecretTooLarge { .. })
        ));
    }

    #[test]
    fn data_is_sorted_by_key() {
        let mut inputs = SecretInputs::default();
        inputs.push("zeta".into(), b"1".to_vec(), Exposure::File);
        inputs.push("ALPHA".into(), b"2".to_vec(), Exposure::Env);
        let keys: Vec<_> = inputs.data().into_keys().collect();
        assert_eq!(keys, ["ALPHA", "zeta"]);
    }
}
