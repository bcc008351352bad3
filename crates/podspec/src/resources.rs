//! CPU, memory and ephemeral-storage requests and limits.
//!
//! Quantities are checked against the Kubernetes quantity grammar here (no
//! crate offers that without pulling in a client) and requests are compared to
//! limits, so `"1 Gi"` or a request above its limit fails at build time.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::PodSpecError;

/// A container resource this builder can request and limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    /// CPU, e.g. `"500m"` or `"2"`.
    Cpu,
    /// Memory, e.g. `"512Mi"` or `"2Gi"`.
    Memory,
    /// Node-local scratch space, e.g. `"1Gi"`.
    EphemeralStorage,
}

impl ResourceKind {
    /// The Kubernetes resource name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::EphemeralStorage => "ephemeral-storage",
        }
    }
}

/// Requests and limits of the agent container.
///
/// ```
/// use agentpod_podspec::{ResourceKind, Resources};
///
/// let resources = Resources::default()
///     .request(ResourceKind::Cpu, "250m")
///     .limit(ResourceKind::Cpu, "1")
///     .limit(ResourceKind::Memory, "2Gi");
/// assert!(resources.validate().is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    requests: BTreeMap<ResourceKind, String>,
    limits: BTreeMap<ResourceKind, String>,
}

impl Resources {
    /// Sets the request for `kind` (replacing an earlier one).
    #[must_use]
    pub fn request(mut self, kind: ResourceKind, quantity: impl Into<String>) -> Self {
        self.requests.insert(kind, quantity.into());
        self
    }

    /// Sets the limit for `kind` (replacing an earlier one).
    #[must_use]
    pub fn limit(mut self, kind: ResourceKind, quantity: impl Into<String>) -> Self {
        self.limits.insert(kind, quantity.into());
        self
    }

    /// Whether neither requests nor limits are set.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.limits.is_empty()
    }

    /// Checks every quantity's syntax and that no request exceeds its limit.
    pub fn validate(&self) -> Result<(), PodSpecError> {
        for (kind, request) in &self.requests {
            let requested = parse_quantity(&format!("{} request", kind.as_str()), request)?;
            if let Some(limit) = self.limits.get(kind) {
                let limited = parse_quantity(&format!("{} limit", kind.as_str()), limit)?;
                if requested > limited {
                    return Err(PodSpecError::RequestExceedsLimit {
                        resource: kind.as_str(),
                        request: request.clone(),
                        limit: limit.clone(),
                    });
                }
            }
        }
        for (kind, limit) in &self.limits {
            parse_quantity(&format!("{} limit", kind.as_str()), limit)?;
        }
        Ok(())
    }

    pub(crate) fn to_requirements(&self) -> Option<ResourceRequirements> {
        if self.is_empty() {
            return None;
        }
        let to_map = |map: &BTreeMap<ResourceKind, String>| {
            (!map.is_empty()).then(|| {
                map.iter()
                    .map(|(kind, q)| (kind.as_str().to_owned(), Quantity(q.clone())))
                    .collect()
            })
        };
        Some(ResourceRequirements {
            requests: to_map(&self.requests),
            limits: to_map(&self.limits),
            ..ResourceRequirements::default()
        })
    }
}

/// Parses a Kubernetes quantity (`128974848`, `129e6`, `129M`, `123Mi`, `500m`…)
/// into its value, refusing negative numbers (resources cannot be negative).
///
/// `field` only names the value in the error.
pub(crate) fn parse_quantity(field: &str, value: &str) -> Result<f64, PodSpecError> {
    let invalid = |reason: &str| PodSpecError::InvalidQuantity {
        field: field.to_owned(),
        value: value.to_owned(),
        reason: format!(
            "{reason}; write a number with an optional suffix (m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or e<exponent>), e.g. `500m` or `1Gi`"
        ),
    };
    let unsigned = value.strip_prefix('+').unwrap_or(value);
    if unsigned.starts_with('-') {
        return Err(invalid("resource quantities cannot be negative"));
    }
    let number_len = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(number_len);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(invalid("it does not start with a number"));
    }
    let mantissa: f64 = number
        .parse()
        .map_err(|_| invalid("the number part is malformed"))?;
    let (base, power) = suffix_scale(suffix).ok_or_else(|| invalid("unknown suffix"))?;
    // Divide for negative powers: `100u` must equal `0.0001` exactly, which
    // multiplying by an inexact 1e-6 does not give.
    Ok(if power >= 0 {
        mantissa * base.powi(power)
    } else {
        mantissa / base.powi(-power)
    })
}

/// The suffix as `base^power`.
fn suffix_scale(suffix: &str) -> Option<(f64, i32)> {
    let binary = |power: i32| Some((1024.0, power));
    let decimal = |power: i32| Some((10.0, power));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(1),
        "Mi" => binary(2),
        "Gi" => binary(3),
        "Ti" => binary(4),
        "Pi" => binary(5),
        "Ei" => binary(6),
        _ => {
            let exponent = suffix.strip_prefix(['e', 'E'])?;
            let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let power: i32 = exponent.parse().ok()?;
            decimal(power)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kubernetes_examples() {
        for (text, value) in [
            ("128974848", 128_974_848.0),
            ("129e6", 129e6),
            ("129M", 129e6),
            ("123Mi", 123.0 * 1024.0 * 1024.0),
            ("0.5", 0.5),
            (".5", 0.5),
            ("5.", 5.0),
            ("+1", 1.0),
            ("1E-3", 0.001),
            ("100u", 0.0001),
            ("0", 0.0),
        ] {
            assert_eq!(parse_quantity("q", text).unwrap(), value, "{text}");
        }
    }

    #[test]
    fn refuses_malformed() {
        for text in [
            "", "-1", "1 Gi", "1GB", "1gi", "Gi", ".", "1..2", "1e", "1e+", "1Mi5", "abc", "1.2.3",
        ] {
            assert!(parse_quantity("q", text).is_err(), "{text} should fail");
        }
    }

    #[test]
    fn requests_compare_across_suffixes() {
        let ok = Resources::default()
            .request(ResourceKind::Cpu, "500m")
            .limit(ResourceKind::Cpu, "0.5");
        assert!(ok.validate().is_ok());
        let too_much = Resources::default()
            .request(ResourceKind::Memory, "1025Mi")
            .limit(ResourceKind::Memory, "1Gi");
        assert!(matches!(
            too_much.validate(),
            Err(PodSpecError::RequestExceedsLimit {
                resource: "memory",
                ..
            })
        ));
    }

    #[test]
    fn renders_only_present_sections() {
        let r = Resources::default().limit(ResourceKind::Cpu, "1");
        let req = r.to_requirements().unwrap();
        assert!(req.requests.is_none());
        assert_eq!(req.limits.unwrap()["cpu"], Quantity("1".into()));
        assert!(Resources::default().to_requirements().is_none());
    }
}
