//! Telling our worker objects from foreign ones, and left-behind Secrets
//! from those of a creator still at work — from the objects alone.

use std::time::SystemTime;

use agentpod_podspec::expiry::parse_expires_at;
use agentpod_podspec::labels::{
    EXPIRES_AT_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE, POD_NAME_LABEL,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::HALF_CREATED_TTL;
use crate::RUN_TOKEN_ANNOTATION;

/// What is known about a worker Secret that blocks our create.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Leftover {
    /// Not ours: never touched.
    Foreign,
    /// Left behind; deleting it is safe. Why, for the log.
    Stale(String),
    /// A creator may still be creating the pod.
    InFlight,
}

/// Whether an object carries agentpod's managed-by label.
pub(super) fn is_ours(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .is_some_and(|v| v == MANAGED_BY_VALUE)
}

pub(super) fn token_of(meta: &ObjectMeta) -> Option<&str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(RUN_TOKEN_ANNOTATION))
        .map(String::as_str)
}

/// Whether `meta` has an owner reference to the pod with `uid`.
pub(crate) fn owned_by_uid(meta: &ObjectMeta, uid: &str) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|owner| owner.kind == "Pod" && owner.uid == uid)
}

/// Classifies a Secret that holds a worker Secret's name while the worker
/// pod `worker` does not exist.
pub(super) fn leftover(meta: &ObjectMeta, worker: &str, now: SystemTime) -> Leftover {
    let for_this_worker = meta
        .labels
        .as_ref()
        .and_then(|l| l.get(POD_NAME_LABEL))
        .is_some_and(|pod| pod == worker);
    if !is_ours(meta) || !for_this_worker {
        return Leftover::Foreign;
    }
    if meta
        .owner_references
        .iter()
        .flatten()
        .any(|owner| owner.kind == "Pod")
    {
        return Leftover::Stale("its pod is gone".to_owned());
    }
    let expiry = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(EXPIRES_AT_ANNOTATION))
        .and_then(|value| parse_expires_at(value).ok());
    let created = meta
        .creation_timestamp
        .as_ref()
        .map(|t| SystemTime::from(t.0) + HALF_CREATED_TTL);
    match expiry.or(created) {
        Some(until) if until > now => Leftover::InFlight,
        Some(_) => Leftover::Stale("its creator did not create the pod in time".to_owned()),
        None => Leftover::Stale("it has no pod and no creation time".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentpod_podspec::expiry::format_expires_at;
    use agentpod_podspec::labels::COMPONENT_LABEL;
    use std::time::Duration;

    fn meta(json: serde_json::Value) -> ObjectMeta {
        serde_json::from_value(json).unwrap()
    }

    fn labels(pod: &str) -> serde_json::Value {
        serde_json::json!({MANAGED_BY_LABEL: MANAGED_BY_VALUE, COMPONENT_LABEL: "agent-runner",
            POD_NAME_LABEL: pod})
    }

    #[test]
    fn leftover_secrets_are_told_apart() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let later = format_expires_at(now + Duration::from_secs(30)).unwrap();
        let earlier = format_expires_at(now - Duration::from_secs(30)).unwrap();
        let foreign = meta(serde_json::json!({"labels": {"team": "x"}}));
        assert_eq!(leftover(&foreign, "w", now), Leftover::Foreign);
        let other_worker = meta(serde_json::json!({"labels": labels("v")}));
        assert_eq!(leftover(&other_worker, "w", now), Leftover::Foreign);
        let in_flight = meta(serde_json::json!({"labels": labels("w"),
            "annotations": {EXPIRES_AT_ANNOTATION: later}}));
        assert_eq!(leftover(&in_flight, "w", now), Leftover::InFlight);
        let expired = meta(serde_json::json!({"labels": labels("w"),
            "annotations": {EXPIRES_AT_ANNOTATION: earlier}}));
        assert!(matches!(leftover(&expired, "w", now), Leftover::Stale(_)));
        let orphaned = meta(serde_json::json!({"labels": labels("w"),
            "annotations": {EXPIRES_AT_ANNOTATION: later},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "w", "uid": "u"}]}));
        assert!(matches!(leftover(&orphaned, "w", now), Leftover::Stale(_)));
        let old_without_expiry = meta(serde_json::json!({"labels": labels("w"),
            "creationTimestamp": "2020-01-01T00:00:00Z"}));
        assert!(matches!(
            leftover(&old_without_expiry, "w", now),
            Leftover::Stale(_)
        ));
    }

    #[test]
    fn ownership_by_uid() {
        let owned = meta(serde_json::json!({"ownerReferences": [
            {"apiVersion": "v1", "kind": "Pod", "name": "w", "uid": "u1"}]}));
        assert!(owned_by_uid(&owned, "u1"));
        assert!(!owned_by_uid(&owned, "u2"));
    }
}
