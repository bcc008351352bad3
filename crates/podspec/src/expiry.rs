//! The expiry annotation's time format, in one place for writer and reaper.
//!
//! Rendering takes the current time as an argument (never reads the clock), so
//! the same inputs always give the same objects; the reaper parses what we wrote
//! with [`parse_expires_at`], so the format cannot drift between the two.

use std::time::{Duration, SystemTime};

use k8s_openapi::jiff::Timestamp;

use crate::PodSpecError;

/// Formats an instant as the value of [`EXPIRES_AT_ANNOTATION`](crate::EXPIRES_AT_ANNOTATION):
/// RFC 3339 UTC, whole seconds (sub-second parts are dropped).
///
/// ```
/// use agentpod_podspec::format_expires_at;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let at = UNIX_EPOCH + Duration::from_millis(1_767_323_045_900);
/// assert_eq!(format_expires_at(at).unwrap(), "2026-01-02T03:04:05Z");
/// ```
pub fn format_expires_at(at: SystemTime) -> Result<String, PodSpecError> {
    let seconds = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|err| out_of_range(err.to_string()))?
        .as_secs();
    let seconds = i64::try_from(seconds).map_err(|err| out_of_range(err.to_string()))?;
    let timestamp = Timestamp::from_second(seconds).map_err(|err| out_of_range(err.to_string()))?;
    Ok(timestamp.to_string())
}

/// Parses an expiry annotation value written by [`format_expires_at`] (any RFC 3339
/// timestamp with an offset is accepted).
///
/// ```
/// use agentpod_podspec::{format_expires_at, parse_expires_at};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let at = UNIX_EPOCH + Duration::from_secs(1_767_323_045);
/// assert_eq!(parse_expires_at(&format_expires_at(at).unwrap()).unwrap(), at);
/// assert!(parse_expires_at("tomorrow").is_err());
/// ```
pub fn parse_expires_at(value: &str) -> Result<SystemTime, PodSpecError> {
    let invalid = |reason: String| PodSpecError::InvalidExpiry {
        value: value.to_owned(),
        reason,
    };
    let timestamp: Timestamp = value
        .parse()
        .map_err(|err: k8s_openapi::jiff::Error| invalid(err.to_string()))?;
    let seconds = u64::try_from(timestamp.as_second())
        .map_err(|_| invalid("the time is before 1970".to_owned()))?;
    Ok(SystemTime::UNIX_EPOCH
        + Duration::from_secs(seconds)
        + Duration::from_nanos(u64::from(timestamp.subsec_nanosecond().unsigned_abs())))
}

/// `now + ttl`, formatted, or a typed error when it does not fit a timestamp.
pub(crate) fn expiry_after(now: SystemTime, ttl: Duration) -> Result<String, PodSpecError> {
    let at = now
        .checked_add(ttl)
        .ok_or_else(|| out_of_range("render time plus expiry overflows".to_owned()))?;
    format_expires_at(at)
}

fn out_of_range(reason: String) -> PodSpecError {
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
