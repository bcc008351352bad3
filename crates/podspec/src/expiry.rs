//! The time format of the expiry annotation, in one place for writer and reaper.
//!
//! [`AgentPodSpec::expires_after`](crate::AgentPodSpec::expires_after) writes
//! [`EXPIRES_AT_ANNOTATION`](crate::labels::EXPIRES_AT_ANNOTATION) on the pod
//! and its Secret; a reaper reads it back with [`parse_expires_at`], so the
//! format cannot drift between the two.
//!
//! ```
//! use agentpod_podspec::expiry::{format_expires_at, parse_expires_at};
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! let at = UNIX_EPOCH + Duration::from_millis(1_767_323_045_900);
//! let written = format_expires_at(at)?;
//! assert_eq!(written, "2026-01-02T03:04:05Z"); // whole seconds, UTC
//! assert_eq!(parse_expires_at(&written)?, at - Duration::from_millis(900));
//! assert!(parse_expires_at("tomorrow").is_err());
//! # Ok::<(), agentpod_podspec::PodSpecError>(())
//! ```

use std::time::{Duration, SystemTime};

use k8s_openapi::jiff::Timestamp;

pub use crate::error::ExpiryParseError;
use crate::{PodSpecError, Result};

/// Why a time cannot be written as an expiry timestamp.
const BEFORE_EPOCH: &str = "the time is before 1970";
const TOO_LATE: &str = "the time is beyond year 9999";

/// Formats an instant as the value of
/// [`EXPIRES_AT_ANNOTATION`](crate::labels::EXPIRES_AT_ANNOTATION): RFC 3339
/// UTC, whole seconds (sub-second parts are dropped).
pub fn format_expires_at(at: SystemTime) -> Result<String> {
    let seconds = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| out_of_range(BEFORE_EPOCH))?
        .as_secs();
    let seconds = i64::try_from(seconds).map_err(|_| out_of_range(TOO_LATE))?;
    let timestamp = Timestamp::from_second(seconds).map_err(|_| out_of_range(TOO_LATE))?;
    Ok(timestamp.to_string())
}

/// Parses an expiry annotation value written by [`format_expires_at`] (any RFC 3339
/// timestamp with an offset is accepted).
pub fn parse_expires_at(value: &str) -> Result<SystemTime> {
    let invalid = |source| PodSpecError::InvalidExpiry {
        value: value.to_owned(),
        source,
    };
    let timestamp: Timestamp = value
        .parse()
        .map_err(|err| invalid(ExpiryParseError::Syntax(err)))?;
    let seconds =
        u64::try_from(timestamp.as_second()).map_err(|_| invalid(ExpiryParseError::BeforeEpoch))?;
    Ok(SystemTime::UNIX_EPOCH
        + Duration::from_secs(seconds)
        + Duration::from_nanos(u64::from(timestamp.subsec_nanosecond().unsigned_abs())))
}

/// `now + ttl`, formatted, or a typed error when it does not fit a timestamp.
pub(crate) fn expiry_after(now: SystemTime, ttl: Duration) -> Result<String> {
    let at = now.checked_add(ttl).ok_or(out_of_range(TOO_LATE))?;
    format_expires_at(at)
}

fn out_of_range(reason: &'static str) -> PodSpecError {
    PodSpecError::TimeOutOfRange { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_formats_as_rfc3339_utc() {
        assert_eq!(
            format_expires_at(SystemTime::UNIX_EPOCH).unwrap(),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn offsets_are_normalised() {
        let parsed = parse_expires_at("1970-01-01T01:00:00+01:00").unwrap();
        assert_eq!(parsed, SystemTime::UNIX_EPOCH);
    }

    #[test]
    fn before_epoch_is_refused() {
        assert!(format_expires_at(SystemTime::UNIX_EPOCH - Duration::from_secs(1)).is_err());
        assert!(parse_expires_at("1969-12-31T23:59:59Z").is_err());
    }

    #[test]
    fn expiry_adds_ttl() {
        assert_eq!(
            expiry_after(SystemTime::UNIX_EPOCH, Duration::from_secs(3600)).unwrap(),
            "1970-01-01T01:00:00Z"
        );
    }
}
