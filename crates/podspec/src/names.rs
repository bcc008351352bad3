//! Object names: Kubernetes name syntax and unique generated pod names.
//!
//! Pod names double as host names and prefix the inputs Secret, so they must be
//! DNS-1123 *labels* (≤ 63 chars). Generated names combine the render time with
//! OS randomness: the time keeps names roughly sortable for humans, and the
//! random part (≈ 41 bits, from the OS so that two processes started in the same
//! millisecond — or forked from one PRNG state — never share a sequence) makes
//! collisions between parallel renders practically impossible.

use std::time::SystemTime;

use crate::PodSpecError;

/// Longest DNS-1123 label (pod, namespace, container and volume names).
pub(crate) const MAX_LABEL_NAME_LEN: usize = 63;

/// Longest prefix accepted by [`PodName::generated`].
///
/// The rest of the 63 characters holds `-<millis base36>-<8 random base36 chars>`.
pub const MAX_GENERATED_PREFIX_LEN: usize = 40;

const RANDOM_CHARS: usize = 8;
const RANDOM_SPACE: u128 = 36u128.pow(8);
const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// How the pod gets its name (see [`AgentPodSpec::name`](crate::AgentPodSpec::name)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodName {
    /// Exactly this name (deterministic rendering).
    Explicit(String),
    /// `prefix-<render time in millis, base36>-<random>`: unique per render.
    Generated {
        /// DNS-1123 label of at most [`MAX_GENERATED_PREFIX_LEN`] chars.
        prefix: String,
    },
}

impl PodName {
    /// A fixed name; rendering twice with the same time gives identical objects.
    pub fn explicit(name: impl Into<String>) -> Self {
        Self::Explicit(name.into())
    }

    /// A fresh unique name per render, starting with `prefix-`.
    pub fn generated(prefix: impl Into<String>) -> Self {
        Self::Generated {
            prefix: prefix.into(),
        }
    }

    /// Validates and produces the concrete name for a render at `now`.
    pub fn resolve(&self, now: SystemTime) -> Result<String, PodSpecError> {
        match self {
            Self::Explicit(name) => {
                validate_dns_label("pod name", name)?;
                Ok(name.clone())
            }
            Self::Generated { prefix } => generate_name(prefix, now),
        }
    }
}

impl Default for PodName {
    /// Generated names with the prefix `agentpod`.
    fn default() -> Self {
        Self::generated("agentpod")
    }
}

/// Generates `prefix-<millis since epoch, base36>-<8 random base36 chars>`.
///
/// The result is always a valid DNS-1123 label when the prefix is one of at most
/// [`MAX_GENERATED_PREFIX_LEN`] characters.
pub(crate) fn generate_name(prefix: &str, now: SystemTime) -> Result<String, PodSpecError> {
    validate_dns_label("name prefix", prefix)?;
    if prefix.len() > MAX_GENERATED_PREFIX_LEN {
        return Err(PodSpecError::InvalidName {
            field: "name prefix",
            value: prefix.to_owned(),
            reason: format!(
                "is {} characters; generated names need room for a timestamp and random part, so use at most {MAX_GENERATED_PREFIX_LEN}",
                prefix.len()
            ),
        });
    }
    let millis = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| PodSpecError::TimeOutOfRange {
            reason: "the render time is before 1970",
        })?
        .as_millis();
    let random = getrandom::u64().map_err(|source| PodSpecError::Randomness { source })?;
    let mut name = String::with_capacity(MAX_LABEL_NAME_LEN);
    name.push_str(prefix);
    name.push('-');
    name.push_str(&base36(millis, 1));
    name.push('-');
    // 36^8 ≈ 2^41.4; the modulo bias over a u64 is below 2^-22 and irrelevant here.
    name.push_str(&base36(u128::from(random) % RANDOM_SPACE, RANDOM_CHARS));
    Ok(name)
}

/// Base36 digits of `value` (most significant first), zero-padded to `min_len`.
fn base36(mut value: u128, min_len: usize) -> String {
    let mut digits = Vec::new();
    while value > 0 || digits.len() < min_len {
        let digit = usize::try_from(value % 36).unwrap_or_default();
        digits.push(BASE36[digit]);
        value /= 36;
    }
    digits.reverse();
    digits.into_iter().map(char::from).collect()
}

/// Checks a DNS-1123 label: 1-63 lowercase alphanumerics or `-`, alphanumeric at both ends.
pub(crate) fn validate_dns_label(field: &'static str, value: &str) -> Result<(), PodSpecError> {
    let reason = dns_label_problem(value, MAX_LABEL_NAME_LEN);
    match reason {
        None => Ok(()),
        Some(reason) => Err(PodSpecError::InvalidName {
            field,
            value: value.to_owned(),
            reason,
        }),
    }
}

/// Checks a DNS-1123 subdomain: dot-separated labels, at most 253 chars in total.
pub(crate) fn validate_dns_subdomain(field: &'static str, value: &str) -> Result<(), PodSpecError> {
    match dns_subdomain_problem(value) {
        None => Ok(()),
        Some(reason) => Err(PodSpecError::InvalidName {
            field,
            value: value.to_owned(),
            reason,
        }),
    }
}

pub(crate) fn dns_subdomain_problem(value: &str) -> Option<String> {
    if value.len() > 253 {
        return Some(format!(
            "is {} characters; a DNS-1123 subdomain has at most 253",
            value.len()
        ));
    }
    value
        .split('.')
        .find_map(|part| dns_label_problem(part, MAX_LABEL_NAME_LEN))
        .map(|reason| format!("{reason} (a DNS-1123 subdomain is dot-separated lowercase labels)"))
}

fn dns_label_problem(value: &str, max: usize) -> Option<String> {
    if value.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if value.len() > max {
        return Some(format!(
            "is {} characters; shorten it to at most {max}",
            value.len()
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Some(format!(
            "contains `{bad}`; use only lowercase letters, digits and `-`"
        ));
    }
    if value.starts_with('-') || value.ends_with('-') {
        return Some("must start and end with a lowercase letter or digit".to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn base36_pads_and_converts() {
        assert_eq!(base36(0, 1), "0");
        assert_eq!(base36(35, 1), "z");
        assert_eq!(base36(36, 1), "10");
        assert_eq!(base36(1, 3), "001");
    }

    #[test]
    fn generated_name_embeds_time_in_base36() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_000_000_000);
        let name = generate_name("p", now).unwrap();
        let parts: Vec<&str> = name.split('-').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            u128::from_str_radix(parts[1], 36).unwrap(),
            1_764_000_000_000
        );
        assert_eq!(parts[2].len(), RANDOM_CHARS);
    }

    #[test]
    fn prefix_too_long_is_rejected() {
        let prefix = "a".repeat(MAX_GENERATED_PREFIX_LEN + 1);
        let err = generate_name(&prefix, SystemTime::UNIX_EPOCH).unwrap_err();
        assert!(err.to_string().contains("at most 40"), "{err}");
    }

    #[test]
    fn time_before_epoch_is_an_error() {
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(1);
        assert!(matches!(
            generate_name("p", before),
            Err(PodSpecError::TimeOutOfRange { .. })
        ));
    }

    #[test]
    fn label_and_subdomain_checks() {
        assert!(validate_dns_label("pod name", "claude-code-1").is_ok());
        assert!(validate_dns_label("pod name", "-bad").is_err());
        assert!(validate_dns_subdomain("runtimeClassName", "gvisor.example").is_ok());
        assert!(validate_dns_subdomain("runtimeClassName", "GVisor").is_err());
    }

    #[test]
    fn label_rules() {
        assert!(dns_label_problem("a", 63).is_none());
        assert!(dns_label_problem(&"a".repeat(64), 63).is_some());
        assert!(dns_label_problem("a.b", 63).is_some());
        assert!(dns_label_problem("a-", 63).is_some());
        assert!(dns_subdomain_problem("a.b-c.d").is_none());
        assert!(dns_subdomain_problem("a..b").is_some());
    }
}
