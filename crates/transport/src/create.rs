//! Creating a run's Secrets and pod, in an order that never races.
//!
//! The Secrets come first, the pod after them: a pod created before its
//! Secret would sit in `CreateContainerConfigError` or a volume-mount retry
//! loop (minutes of kubelet backoff). Who owns whom then depends on the kind
//! of pod ([`Ownership`]):
//!
//! - an ephemeral run: the first Secret (the *anchor*) owns everything else.
//!   Its UID is known from its create reply, so the further Secrets (a large
//!   prompt is split over several) and the pod are created with an owner
//!   reference to it — no extra request. Deleting the anchor (one request)
//!   lets the cluster's garbage collector delete the pod and the other
//!   Secrets, also when we are gone. Between the anchor's create and the
//!   pod's the drop guard and the expiry annotation cover the Secrets;
//!   afterwards the pod's `activeDeadlineSeconds` and expiry too.
//! - a worker: the pod owns its Secrets (a patch per Secret after the pod
//!   exists, since the pod's UID only exists after its create), because the
//!   worker is meant to outlive its creator and [`Worker::delete`] deletes
//!   the pod.
//!
//! Every object carries this run's random token. A create retried after a
//! lost reply may answer `409 AlreadyExists` for the object the first attempt
//! made: the token tells "ours, adopt it" from "someone else's name".
//!
//! [`Worker::delete`]: crate::Worker::delete

use std::time::SystemTime;

use agentpod_podspec::RenderedPod;
use agentpod_podspec::expiry::{format_expires_at, parse_expires_at};
use agentpod_podspec::labels::EXPIRES_AT_ANNOTATION;
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource};

use crate::cleanup::CleanupGuard;
use crate::error::status_code;
use crate::retry::{RetryPolicy, retry};
use crate::{RUN_TOKEN_ANNOTATION, TransportError};

/// Why creating failed.
#[derive(Debug)]
pub(crate) enum CreateFailure {
    /// The name is taken by an object that is not ours.
    Conflict { kind: &'static str, name: String },
    /// Anything else.
    Failed(TransportError),
}

/// A fresh random token (128 bits, hex).
pub(crate) fn new_token() -> Result<String, TransportError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|source| TransportError::Randomness { source })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Server-side bounds stamped onto a rendered pod before it is created.
pub(crate) struct Bounds {
    /// `activeDeadlineSeconds`: the kubelet kills the pod after this.
    pub(crate) active_deadline_seconds: i64,
    /// Expiry annotation for the reaper (kept if the caller set one).
    pub(crate) expires_at: SystemTime,
}

/// Adds the token, the expiry annotation and the active deadline.
/// A caller's own, shorter deadline is kept; a caller's own expiry is kept
/// only when it is not earlier than the run's bound (an earlier one would let
/// the reaper kill a live run), and replaced otherwise.
pub(crate) fn stamp(
    rendered: &mut RenderedPod,
    token: &str,
    bounds: Option<&Bounds>,
) -> Result<(), TransportError> {
    let expiry = bounds
        .map(|b| format_expires_at(b.expires_at))
        .transpose()?;
    let metas = std::iter::once(&mut rendered.pod.metadata)
        .chain(rendered.secrets.iter_mut().map(|s| &mut s.metadata));
    for meta in metas {
        let annotations = meta.annotations.get_or_insert_with(Default::default);
        annotations.insert(RUN_TOKEN_ANNOTATION.to_owned(), token.to_owned());
        if let (Some(expiry), Some(bounds)) = (&expiry, bounds) {
            let own = annotations
                .get(EXPIRES_AT_ANNOTATION)
                .and_then(|value| parse_expires_at(value).ok());
            if own.is_none_or(|own| own < bounds.expires_at) {
                annotations.insert(EXPIRES_AT_ANNOTATION.to_owned(), expiry.clone());
            }
        }
    }
    if let (Some(bounds), Some(spec)) = (bounds, rendered.pod.spec.as_mut()) {
        let deadline = spec
            .active_deadline_seconds
            .map_or(bounds.active_deadline_seconds, |own| {
                own.min(bounds.active_deadline_seconds)
            });
        spec.active_deadline_seconds = Some(deadline);
    }
    Ok(())
}

/// Who owns whom among the objects [`create_all`] creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ownership {
    /// The first Secret owns the pod and the other Secrets (ephemeral runs):
    /// deleting it deletes everything, and no patch is needed.
    FirstSecret,
    /// The pod owns each Secret (workers), patched in after the pod exists.
    Pod,
}

/// Creates the Secrets and the pod with the owner references `ownership`
/// asks for; records each UID in `guard` as soon as it is known (and, for
/// [`Ownership::FirstSecret`], that the first Secret owns the rest).
/// Returns the created pod.
pub(crate) async fn create_all(
    client: &kube::Client,
    rendered: &RenderedPod,
    token: &str,
    policy: &RetryPolicy,
    guard: &mut CleanupGuard,
    ownership: Ownership,
) -> Result<Pod, CreateFailure> {
    let namespace = rendered.namespace();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut created_secrets = Vec::new();
    let mut anchor: Option<OwnerReference> = None;
    for (index, secret) in rendered.secrets.iter().enumerate() {
        let created = match &anchor {
            Some(owner) => {
                let owned = with_owner(secret, |s| &mut s.metadata, owner);
                create_ours(&secrets, &owned, token, policy, "secret").await?
            }
            None => create_ours(&secrets, secret, token, policy, "secret").await?,
        };
        record_uid(guard, Some(index), &created);
        if index == 0 && ownership == Ownership::FirstSecret {
            anchor = created.metadata.uid.clone().map(|uid| OwnerReference {
                api_version: "v1".to_owned(),
                kind: "Secret".to_owned(),
                name: created.metadata.name.clone().unwrap_or_default(),
                uid,
                // Neither a controller (a Secret controls nothing) nor blocking
                // (that needs rights on the owner's finalizers).
                controller: None,
                block_owner_deletion: None,
            });
            if let (Some(target), Some(_)) = (guard.target_mut(), &anchor) {
                target.anchored = true;
            }
        }
        created_secrets.push(created);
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pod = match &anchor {
        Some(owner) => {
            let owned = with_owner(&rendered.pod, |p| &mut p.metadata, owner);
            create_ours(&pods, &owned, token, policy, "pod").await?
        }
        None => create_ours(&pods, &rendered.pod, token, policy, "pod").await?,
    };
    record_uid(guard, None, &pod);
    if ownership == Ownership::Pod {
        own_by_pod(&secrets, rendered, &pod, &created_secrets, policy).await;
    }
    Ok(crate::watch::lean(pod))
}

/// A copy of `object` with `owner` added to its owner references.
fn with_owner<K: Clone>(
    object: &K,
    meta: impl Fn(&mut K) -> &mut ObjectMeta,
    owner: &OwnerReference,
) -> K {
    let mut owned = object.clone();
    meta(&mut owned)
        .owner_references
        .get_or_insert_with(Vec::new)
        .push(owner.clone());
    owned
}

/// Patches an owner reference to `pod` into each created Secret.
async fn own_by_pod(
    secrets: &Api<Secret>,
    rendered: &RenderedPod,
    pod: &Pod,
    created_secrets: &[Secret],
    policy: &RetryPolicy,
) {
    let Some(uid) = pod.metadata.uid.clone() else {
        return;
    };
    let namespace = rendered.namespace();
    let owner = rendered.pod_owner_reference(uid);
    let body = serde_json::json!({"metadata": {"ownerReferences": [owner]}});
    let patch = Patch::Merge(&body);
    for secret in created_secrets {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let params = PatchParams::default();
        let patched = retry(policy, "patch secret owner", || {
            secrets.patch(&name, &params, &patch)
        })
        .await;
        if let Err(failed) = patched {
            // Not fatal: the guard deletes the Secret explicitly, the reaper
            // after its expiry. Only the garbage-collector path is lost.
            tracing::warn!(%namespace, secret = %name, error = %failed.error,
                "could not make the Secret owned by its pod");
        }
    }
}

fn record_uid<K: Resource>(guard: &mut CleanupGuard, secret_index: Option<usize>, object: &K) {
    let Some(target) = guard.target_mut() else {
        return;
    };
    let owned = match secret_index {
        Some(index) => target.secrets.get_mut(index),
        None => Some(&mut target.pod),
    };
    if let Some(owned) = owned {
        owned.uid.clone_from(&object.meta().uid);
    }
}

/// Creates `object`, adopting an existing one only if it carries our token.
async fn create_ours<K>(
    api: &Api<K>,
    object: &K,
    token: &str,
    policy: &RetryPolicy,
    kind: &'static str,
) -> Result<K, CreateFailure>
where
    K: Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let namespace = object.meta().namespace.clone().unwrap_or_default();
    let params = PostParams::default();
    match retry(policy, "create", || api.create(&params, object)).await {
        Ok(created) => Ok(created),
        Err(failed) if status_code(&failed.error) == Some(409) => {
            match retry(policy, "get", || api.get_opt(&name)).await {
                Ok(Some(existing)) if carries_token(&existing, token) => {
                    tracing::debug!(%namespace, %name, kind, "adopting our own object from a retried create");
                    Ok(existing)
                }
                Ok(_) => Err(CreateFailure::Conflict { kind, name }),
                Err(failed) => Err(CreateFailure::Failed(
                    failed.into_error("get", kind, &namespace, &name),
                )),
            }
        }
        Err(failed) => Err(CreateFailure::Failed(
            failed.into_error("create", kind, &namespace, &name),
        )),
    }
}

fn carries_token<K: Resource>(object: &K, token: &str) -> bool {
    object
        .meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(RUN_TOKEN_ANNOTATION))
        .is_some_and(|t| t == token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentpod_podspec::AgentPodSpec;
    use std::time::{Duration, UNIX_EPOCH};

    fn rendered(deadline: Option<i64>) -> RenderedPod {
        let mut spec = AgentPodSpec::new("img").name("p").secret_env("K", "v");
        if let Some(d) = deadline {
            spec = spec.active_deadline_seconds(d);
        }
        spec.render(UNIX_EPOCH).unwrap()
    }

    #[test]
    fn stamps_token_expiry_and_deadline_on_pod_and_secrets() {
        let mut r = rendered(None);
        let bounds = Bounds {
            active_deadline_seconds: 420,
            expires_at: UNIX_EPOCH + Duration::from_secs(3600),
        };
        stamp(&mut r, "tok", Some(&bounds)).unwrap();
        assert_eq!(
            r.pod.spec.as_ref().unwrap().active_deadline_seconds,
            Some(420)
        );
        for meta in std::iter::once(&r.pod.metadata).chain(r.secrets.iter().map(|s| &s.metadata)) {
            let a = meta.annotations.as_ref().unwrap();
            assert_eq!(a[RUN_TOKEN_ANNOTATION], "tok");
            assert_eq!(
                parse_expires_at(&a[EXPIRES_AT_ANNOTATION]).unwrap(),
                UNIX_EPOCH + Duration::from_secs(3600)
            );
        }
    }

    #[test]
    fn keeps_a_shorter_caller_deadline() {
        let mut r = rendered(Some(30));
        let bounds = Bounds {
            active_deadline_seconds: 420,
            expires_at: UNIX_EPOCH,
        };
        stamp(&mut r, "tok", Some(&bounds)).unwrap();
        assert_eq!(
            r.pod.spec.as_ref().unwrap().active_deadline_seconds,
            Some(30)
        );
    }

    #[test]
    fn a_caller_expiry_earlier_than_the_run_bound_is_raised_to_it() {
        // The caller's own expiry (an hour) is shorter than the run can take.
        let mut r = AgentPodSpec::new("img")
            .name("p")
            .secret_env("K", "v")
            .expires_after(Duration::from_secs(3600))
            .render(UNIX_EPOCH)
            .unwrap();
        let bounds = Bounds {
            active_deadline_seconds: 420,
            expires_at: UNIX_EPOCH + Duration::from_secs(7200),
        };
        stamp(&mut r, "tok", Some(&bounds)).unwrap();
        for meta in std::iter::once(&r.pod.metadata).chain(r.secrets.iter().map(|s| &s.metadata)) {
            let a = meta.annotations.as_ref().unwrap();
            assert_eq!(
                parse_expires_at(&a[EXPIRES_AT_ANNOTATION]).unwrap(),
                UNIX_EPOCH + Duration::from_secs(7200),
                "the reaper must not kill a live run"
            );
        }
        // A later caller expiry is kept.
        let mut later = AgentPodSpec::new("img")
            .name("p")
            .expires_after(Duration::from_secs(9000))
            .render(UNIX_EPOCH)
            .unwrap();
        stamp(&mut later, "tok", Some(&bounds)).unwrap();
        let a = later.pod.metadata.annotations.as_ref().unwrap();
        assert_eq!(
            parse_expires_at(&a[EXPIRES_AT_ANNOTATION]).unwrap(),
            UNIX_EPOCH + Duration::from_secs(9000)
        );
    }

    #[test]
    fn tokens_are_random_hex() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
