//! The label and annotation keys every rendered object carries, and the
//! precedence of the labels a caller sets.
//!
//! The transport lists, watches and reaps *our* pods and Secrets by label, and
//! a reaper reads the expiry annotation; those keys are constants here so
//! every layer spells them the same way.
//!
//! ```
//! use agentpod_podspec::AgentPodSpec;
//! use agentpod_podspec::labels::{MANAGED_BY_LABEL, MANAGED_SELECTOR, POD_NAME_LABEL};
//! use std::time::UNIX_EPOCH;
//!
//! let rendered = AgentPodSpec::new("img:1")
//!     .name("job-1")
//!     .label(MANAGED_BY_LABEL, "someone-else") // cannot hide the pod from agentpod
//!     .secret_file("prompt", "hi")
//!     .render(UNIX_EPOCH)?;
//! let pod_labels = rendered.pod.metadata.labels.as_ref().unwrap();
//! assert_eq!(pod_labels[MANAGED_BY_LABEL], "agentpod");
//! let secret_labels = rendered.secrets[0].metadata.labels.as_ref().unwrap();
//! assert_eq!(secret_labels[POD_NAME_LABEL], "job-1");
//! // List every pod and Secret agentpod created with this selector:
//! assert!(MANAGED_SELECTOR.starts_with(MANAGED_BY_LABEL));
//! # Ok::<(), agentpod_podspec::PodSpecError>(())
//! ```

use std::collections::BTreeMap;

use crate::PodSpecError;
use crate::names::dns_subdomain_problem;

/// Label key naming the tool that manages the object (value [`MANAGED_BY_VALUE`]).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`] on every object this crate renders.
pub const MANAGED_BY_VALUE: &str = "agentpod";
/// Label key naming the object's role (value [`COMPONENT_VALUE`]).
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
/// Value of [`COMPONENT_LABEL`] on every object this crate renders.
pub const COMPONENT_VALUE: &str = "agent-runner";
/// Label selector matching every pod and Secret this crate renders:
/// `app.kubernetes.io/managed-by=agentpod,app.kubernetes.io/component=agent-runner`.
pub const MANAGED_SELECTOR: &str =
    "app.kubernetes.io/managed-by=agentpod,app.kubernetes.io/component=agent-runner";
/// Label on the inputs Secret naming the pod it belongs to.
pub const POD_NAME_LABEL: &str = "agentpod.dev/pod";
/// Annotation prefix reserved for this crate; callers cannot set keys under it.
pub const RESERVED_ANNOTATION_PREFIX: &str = "agentpod.dev/";
/// Annotation holding the instant after which a reaper may delete the object,
/// as RFC 3339 UTC with whole seconds (`2026-01-02T03:04:05Z`).
///
/// Format and parse it with [`format_expires_at`](crate::expiry::format_expires_at) and
/// [`parse_expires_at`](crate::expiry::parse_expires_at).
pub const EXPIRES_AT_ANNOTATION: &str = "agentpod.dev/expires-at";

/// Merges labels: `provider` defaults, overridden by `invocation` labels,
/// overridden by the fixed [`MANAGED_BY_LABEL`] and [`COMPONENT_LABEL`].
///
/// ```
/// use std::collections::BTreeMap;
/// use agentpod_podspec::labels::{merge_labels, MANAGED_BY_LABEL};
///
/// let provider = BTreeMap::from([("team".to_owned(), "a".to_owned())]);
/// let invocation = BTreeMap::from([
///     ("team".to_owned(), "b".to_owned()),
///     (MANAGED_BY_LABEL.to_owned(), "someone-else".to_owned()),
/// ]);
/// let merged = merge_labels(&provider, &invocation);
/// assert_eq!(merged["team"], "b");
/// assert_eq!(merged[MANAGED_BY_LABEL], "agentpod");
/// ```
pub fn merge_labels(
    provider: &BTreeMap<String, String>,
    invocation: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut merged = provider.clone();
    merged.extend(invocation.iter().map(|(k, v)| (k.clone(), v.clone())));
    merged.insert(MANAGED_BY_LABEL.to_owned(), MANAGED_BY_VALUE.to_owned());
    merged.insert(COMPONENT_LABEL.to_owned(), COMPONENT_VALUE.to_owned());
    merged
}

/// Checks a label (or annotation) key: optional DNS-subdomain prefix and `/`,
/// then a name of 1-63 alphanumerics, `-`, `_` or `.`, alphanumeric at both ends.
pub(crate) fn validate_label_key(kind: &'static str, key: &str) -> Result<(), PodSpecError> {
    let problem = match key.split_once('/') {
        Some((prefix, name)) => dns_subdomain_problem(prefix)
            .map(|reason| format!("prefix before `/` {reason}"))
            .or_else(|| qualified_name_problem(name).map(|r| format!("name after `/` {r}"))),
        None => qualified_name_problem(key),
    };
    match problem {
        None => Ok(()),
        Some(reason) => Err(PodSpecError::InvalidMetadataKey {
            kind,
            key: key.to_owned(),
            reason,
        }),
    }
}

/// Checks a label value: empty, or 1-63 alphanumerics, `-`, `_` or `.`,
/// alphanumeric at both ends.
pub(crate) fn validate_label_value(
    kind: &'static str,
    key: &str,
    value: &str,
) -> Result<(), PodSpecError> {
    if value.is_empty() {
        return Ok(());
    }
    match qualified_name_problem(value) {
        None => Ok(()),
        Some(reason) => Err(PodSpecError::InvalidLabelValue {
            kind,
            key: key.to_owned(),
            value: value.to_owned(),
            reason,
        }),
    }
}

pub(crate) fn validate_labels(
    kind: &'static str,
    labels: &BTreeMap<String, String>,
) -> Result<(), PodSpecError> {
    labels.iter().try_for_each(|(key, value)| {
        validate_label_key(kind, key)?;
        validate_label_value(kind, key, value)
    })
}

pub(crate) fn validate_annotations(
    annotations: &BTreeMap<String, String>,
) -> Result<(), PodSpecError> {
    annotations.keys().try_for_each(|key| {
        if key.starts_with(RESERVED_ANNOTATION_PREFIX) {
            return Err(PodSpecError::ReservedAnnotation {
                key: key.clone(),
                hint: "set the expiry with `.expires_after(..)`",
            });
        }
        validate_label_key("annotation", key)
    })
}

/// The Kubernetes "qualified name" rule shared by label names and values.
fn qualified_name_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if value.len() > 63 {
        return Some(format!(
            "is {} characters; shorten it to at most 63",
            value.len()
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Some(format!(
            "contains `{bad}`; use only letters, digits, `-`, `_` and `.`"
        ));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !edge_ok(value.chars().next()) || !edge_ok(value.chars().last()) {
        return Some("must start and end with a letter or digit".to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(validate_label_key("label", "a").is_ok());
        assert!(validate_label_key("label", "app.kubernetes.io/name").is_ok());
        assert!(validate_label_key("label", "A_b.C").is_ok());
        assert!(validate_label_key("label", "/name").is_err());
        assert!(validate_label_key("label", "Example.com/name").is_err());
        assert!(validate_label_key("label", "a/b/c").is_err());
        assert!(validate_label_key("label", "").is_err());
        assert!(validate_label_key("label", &"k".repeat(64)).is_err());
        assert!(validate_label_key("label", "_lead").is_err());
    }

    #[test]
    fn values() {
        assert!(validate_label_value("label", "team", "").is_ok());
        assert!(validate_label_value("label", "team", "platform_v2").is_ok());
        assert!(validate_label_value("label", "team", "has space").is_err());
        assert!(validate_label_value("label", "k", &"v".repeat(63)).is_ok());
        assert!(validate_label_value("label", "k", &"v".repeat(64)).is_err());
        assert!(validate_label_value("label", "k", "a/b").is_err());
        assert!(validate_label_value("label", "k", "trail-").is_err());
    }

    #[test]
    fn reserved_annotations_are_refused() {
        let annotations = BTreeMap::from([(EXPIRES_AT_ANNOTATION.to_owned(), "x".to_owned())]);
        let err = validate_annotations(&annotations).unwrap_err();
        assert!(err.to_string().contains("expires_after"), "{err}");
    }

    #[test]
    fn selector_matches_constants() {
        assert_eq!(
            MANAGED_SELECTOR,
            format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{COMPONENT_LABEL}={COMPONENT_VALUE}")
        );
    }
}
