//! Claiming a worker pod for one user at a time, across processes.
//!
//! A claim is an annotation on the pod ([`CLAIM_ANNOTATION`]) holding
//! `held <claim id> <expiry>`; a free pod has no such annotation or
//! `free <last claim id>`. Every change is one JSON Patch whose first
//! operation is a `test` of the value the caller saw, so the API server
//! applies it only if nobody changed the claim meanwhile (compare-and-swap;
//! the server re-applies a patch to the current object on its own update
//! conflicts, so the `test` always sees the stored value). Claim ids are
//! random per claim, so a pod released and claimed again between a caller's
//! read and its patch never looks unchanged (no ABA).
//!
//! A claim has an expiry: a holder that died stops renewing it, and once it
//! passed anyone may take the pod over. Expiry is compared with the local
//! clock, so the clocks of the processes sharing pods must roughly agree
//! (well within the claim's time to live).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use agentpod_podspec::expiry::{format_expires_at, parse_expires_at};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{Patch, PatchParams};

use super::Worker;
use crate::TransportError;
use crate::create::new_token;
use crate::retry::retry;

/// The annotation that holds a worker pod's claim.
pub const CLAIM_ANNOTATION: &str = "agentpod.dev/claim";

/// A pod's claim, as read from its annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimState {
    /// Nobody holds the pod.
    Free,
    /// Claim `id` holds the pod until `expires_at` (it may have passed:
    /// see [`is_claimable`](Self::is_claimable)).
    Held {
        /// The claim's id: the holder's label, a slash, a random token.
        id: String,
        /// When the claim lapses unless renewed.
        expires_at: SystemTime,
    },
}

impl ClaimState {
    /// Reads the claim of `pod` (anything unreadable counts as free: only
    /// a well-formed `held` value protects a pod).
    pub fn of(pod: &Pod) -> Self {
        pod.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(CLAIM_ANNOTATION))
            .map_or(Self::Free, |value| Self::parse(value))
    }

    fn parse(value: &str) -> Self {
        let mut words = value.split(' ');
        match (words.next(), words.next(), words.next(), words.next()) {
            (Some("held"), Some(id), Some(expiry), None) => match parse_expires_at(expiry) {
                Ok(expires_at) => Self::Held {
                    id: id.to_owned(),
                    expires_at,
                },
                Err(_) => Self::Free,
            },
            _ => Self::Free,
        }
    }

    /// True when the pod may be claimed at `now`: free, or its claim expired.
    pub fn is_claimable(&self, now: SystemTime) -> bool {
        match self {
            Self::Free => true,
            Self::Held { expires_at, .. } => *expires_at <= now,
        }
    }

    /// The holder's label of a claim (the id without its random part).
    pub fn holder(&self) -> Option<&str> {
        match self {
            Self::Free => None,
            Self::Held { id, .. } => Some(id.rsplit_once('/').map_or(id.as_str(), |(h, _)| h)),
        }
    }
}

/// A worker pod held by this process: renew it while using the pod, release
/// it (or delete the pod) when done. Dropping it without either leaves the
/// claim to expire.
#[derive(Debug)]
pub struct WorkerClaim {
    worker: Worker,
    id: String,
    /// The annotation value currently stored (ours).
    value: String,
    ttl: Duration,
}

/// JSON Pointer of an annotation (`/` in a key is written `~1`).
fn annotation_path(key: &str) -> String {
    format!(
        "/metadata/annotations/{}",
        key.replace('~', "~0").replace('/', "~1")
    )
}

/// The operations that set `key` to `value` given what `seen` holds.
fn set_ops(seen: &Pod, key: &str, value: &str) -> serde_json::Value {
    if seen.metadata.annotations.is_none() {
        serde_json::json!({"op": "add", "path": "/metadata/annotations",
            "value": {key: value}})
    } else {
        serde_json::json!({"op": "add", "path": annotation_path(key), "value": value})
    }
}

/// The compare-and-swap patch: test the claim (or, when `seen` has none, the
/// resourceVersion), then set the claim and `extra` annotations.
pub(crate) fn claim_patch(
    seen: &Pod,
    new_value: &str,
    extra: &BTreeMap<String, String>,
) -> serde_json::Value {
    let current = seen
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CLAIM_ANNOTATION));
    let test = match current {
        Some(value) => serde_json::json!({"op": "test",
            "path": annotation_path(CLAIM_ANNOTATION), "value": value}),
        None => serde_json::json!({"op": "test", "path": "/metadata/resourceVersion",
            "value": seen.metadata.resource_version.clone().unwrap_or_default()}),
    };
    let mut ops = vec![test, set_ops(seen, CLAIM_ANNOTATION, new_value)];
    // After a whole-map add the map exists, so per-key adds work in any case.
    for (key, value) in extra {
        ops.push(serde_json::json!({"op": "add", "path": annotation_path(key), "value": value}));
    }
    serde_json::Value::Array(ops)
}

/// Whether a failed patch means "the test did not hold" (someone else
/// changed the claim): 422 from a failed JSON Patch `test`, 409 from a
/// conflict. Kubernetes 1.20 answers a failed `test` with a bare
/// `422 Invalid` ("the server rejected our request due to an error in our
/// request") that does not name the test, so every 422 counts: our patches
/// are otherwise well-formed by construction (unit-tested below).
pub(crate) fn lost_race(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(response) => matches!(response.code, 409 | 422),
        _ => false,
    }
}

/// Sends `patch` to `worker`'s pod: `Ok(Some(pod))` applied, `Ok(None)` the
/// test failed (or the pod is gone).
async fn cas(worker: &Worker, patch: serde_json::Value) -> Result<Option<Pod>, TransportError> {
    let pods: Api<Pod> = Api::namespaced(worker.transport.client(), &worker.namespace);
    let patch: Patch<()> = match serde_json::from_value::<json_patch::Patch>(patch) {
        Ok(patch) => Patch::Json(patch),
        Err(error) => {
            return Err(TransportError::InvalidPod {
                reason: format!(
                    "the claim patch for {}/{} is not a JSON Patch: {error}",
                    worker.namespace, worker.name
                ),
            });
        }
    };
    let params = PatchParams::default();
    let result = retry(&worker.retry, "patch worker claim", || {
        pods.patch(&worker.name, &params, &patch)
    })
    .await;
    match result {
        Ok(pod) if pod.metadata.uid.as_deref() == Some(worker.uid.as_str()) => Ok(Some(pod)),
        Ok(_) => Ok(None),
        Err(failed) if lost_race(&failed.error) => Ok(None),
        Err(failed) if matches!(&failed.error, kube::Error::Api(r) if r.code == 404) => Ok(None),
        Err(failed) => Err(failed.into_error("patch", "pod", &worker.namespace, &worker.name)),
    }
}

fn held_value(id: &str, ttl: Duration) -> Result<String, TransportError> {
    let until = SystemTime::now()
        .checked_add(ttl)
        .unwrap_or_else(|| SystemTime::now() + Duration::from_secs(100 * 365 * 24 * 3600));
    Ok(format!("held {id} {}", format_expires_at(until)?))
}

impl Worker {
    /// Claims this worker for `ttl` if `seen` (a recent read of its pod)
    /// shows it claimable and nobody changed the claim since; `extra`
    /// annotations are set in the same atomic patch (e.g. a use counter).
    /// `Ok(None)` when someone else got it first, or the pod is held or gone.
    ///
    /// `holder` names the claimant in the claim id (`<holder>/<random>`); it
    /// must not contain spaces.
    pub async fn try_claim(
        &self,
        seen: &Pod,
        holder: &str,
        ttl: Duration,
        extra: &BTreeMap<String, String>,
    ) -> Result<Option<WorkerClaim>, TransportError> {
        if seen.metadata.uid.as_deref() != Some(self.uid.as_str())
            || !ClaimState::of(seen).is_claimable(SystemTime::now())
        {
            return Ok(None);
        }
        let holder = holder.replace(' ', "_");
        let id = format!("{holder}/{}", &new_token()?[..12]);
        let value = held_value(&id, ttl)?;
        let claimed = cas(self, claim_patch(seen, &value, extra)).await?;
        Ok(claimed.map(|_| WorkerClaim {
            worker: self.clone(),
            id,
            value,
            ttl,
        }))
    }
}

impl WorkerClaim {
    /// The claimed worker.
    pub fn worker(&self) -> &Worker {
        &self.worker
    }

    /// This claim's id (`<holder>/<random>`).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn seen(&self) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.annotations = Some(BTreeMap::from([(
            CLAIM_ANNOTATION.to_owned(),
            self.value.clone(),
        )]));
        pod
    }

    /// Extends the claim by its time to live (and sets `extra` annotations).
    /// `Ok(false)` when the claim was lost (taken over after it expired, or
    /// the pod is gone): stop using the pod.
    pub async fn renew(
        &mut self,
        extra: &BTreeMap<String, String>,
    ) -> Result<bool, TransportError> {
        let value = held_value(&self.id, self.ttl)?;
        let patch = claim_patch(&self.seen(), &value, extra);
        if cas(&self.worker, patch).await?.is_some() {
            self.value = value;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Frees the pod for the next user (and sets `extra` annotations, e.g.
    /// the time of last use). `Ok(false)` when the claim had been lost.
    pub async fn release(self, extra: &BTreeMap<String, String>) -> Result<bool, TransportError> {
        let patch = claim_patch(&self.seen(), &format!("free {}", self.id), extra);
        Ok(cas(&self.worker, patch).await?.is_some())
    }

    /// Deletes the held pod (by UID, with the Secrets it owns) instead of
    /// releasing it: the way to retire a pod no one else may be using.
    pub async fn delete_worker(self) -> Result<(), TransportError> {
        self.worker.delete().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(annotations: Option<serde_json::Value>) -> Pod {
        let mut meta = serde_json::json!({"name": "w", "uid": "u", "resourceVersion": "7"});
        if let (Some(a), Some(meta)) = (annotations, meta.as_object_mut()) {
            meta.insert("annotations".into(), a);
        }
        serde_json::from_value(serde_json::json!({"metadata": meta})).unwrap()
    }

    #[test]
    fn claim_states_are_read_and_expire() {
        let now = SystemTime::now();
        let later = format_expires_at(now + Duration::from_secs(30)).unwrap();
        let earlier = format_expires_at(now - Duration::from_secs(30)).unwrap();
        assert_eq!(ClaimState::of(&pod(None)), ClaimState::Free);
        let free = pod(Some(serde_json::json!({CLAIM_ANNOTATION: "free a/1"})));
        assert!(ClaimState::of(&free).is_claimable(now));
        let held = pod(Some(
            serde_json::json!({CLAIM_ANNOTATION: format!("held p1/abc {later}")}),
        ));
        let state = ClaimState::of(&held);
        assert!(!state.is_claimable(now));
        assert_eq!(state.holder(), Some("p1"));
        let lapsed = pod(Some(
            serde_json::json!({CLAIM_ANNOTATION: format!("held p1/abc {earlier}")}),
        ));
        assert!(ClaimState::of(&lapsed).is_claimable(now));
        let garbage = pod(Some(serde_json::json!({CLAIM_ANNOTATION: "held x"})));
        assert!(ClaimState::of(&garbage).is_claimable(now));
    }

    #[test]
    fn the_patch_tests_what_was_seen_before_it_writes() {
        let extra = BTreeMap::from([("agentpod.dev/uses".to_owned(), "3".to_owned())]);
        let seen = pod(Some(
            serde_json::json!({CLAIM_ANNOTATION: "free a/1", "x": "y"}),
        ));
        let patch = claim_patch(&seen, "held b/2 T", &extra);
        assert_eq!(
            patch,
            serde_json::json!([
                {"op": "test", "path": "/metadata/annotations/agentpod.dev~1claim", "value": "free a/1"},
                {"op": "add", "path": "/metadata/annotations/agentpod.dev~1claim", "value": "held b/2 T"},
                {"op": "add", "path": "/metadata/annotations/agentpod.dev~1uses", "value": "3"},
            ])
        );
        // Never claimed: the resourceVersion is the precondition.
        let fresh = pod(Some(serde_json::json!({"x": "y"})));
        let patch = claim_patch(&fresh, "held b/2 T", &BTreeMap::new());
        assert_eq!(
            patch[0],
            serde_json::json!({"op": "test", "path": "/metadata/resourceVersion", "value": "7"})
        );
        // No annotations at all: the map is added whole.
        let bare = pod(None);
        let patch = claim_patch(&bare, "held b/2 T", &BTreeMap::new());
        assert_eq!(
            patch[1],
            serde_json::json!({"op": "add", "path": "/metadata/annotations",
                "value": {CLAIM_ANNOTATION: "held b/2 T"}})
        );
    }

    #[test]
    fn failed_tests_and_conflicts_are_lost_races() {
        let api = |code: u16, message: &str| {
            kube::Error::Api(Box::new(kube::core::Status {
                code,
                ..kube::core::Status::failure(message, "Invalid")
            }))
        };
        assert!(lost_race(&api(
            422,
            "testing value /metadata/annotations/x failed: test failed"
        )));
        // What Kubernetes 1.20 answers to a failed `test` (seen on the local cluster).
        assert!(lost_race(&api(
            422,
            "the server rejected our request due to an error in our request"
        )));
        assert!(lost_race(&api(409, "the object has been modified")));
        assert!(!lost_race(&api(403, "forbidden")));
        assert!(!lost_race(&api(404, "not found")));
    }
}
