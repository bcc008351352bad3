//! The pool's pods as the API server holds them: reading them, their bookkeeping
//! annotations, and creating a new one. No state here lives only in this process, so any
//! number of processes can share a pool.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use agentpod_podspec::expiry::{format_expires_at, parse_expires_at};
use agentpod_podspec::labels::{EXPIRES_AT_ANNOTATION, MANAGED_SELECTOR};
use agentpod_podspec::{PodName, RestartPolicy};
use agentpod_transport::{CLAIM_ANNOTATION, ClaimState, ListedWorker, WorkerHealth};
use k8s_openapi::api::core::v1::Pod;

use super::PoolOptions;
use crate::k8s::Settings;
use crate::{AgentError, Result};

/// Label naming the pool a pod belongs to.
pub const POOL_LABEL: &str = "agentpod.dev/pool";
/// Annotation counting the runs a pod took (set in each claim's patch).
pub const USES_ANNOTATION: &str = "agentpod.dev/pool-uses";
/// Annotation with the time of a pod's last claim or release.
pub const LAST_USED_ANNOTATION: &str = "agentpod.dev/pool-last-used";
/// Annotation marking a pod that takes no new runs (set by `drain`).
pub const DRAIN_ANNOTATION: &str = "agentpod.dev/pool-drain";

/// The main process of a pool pod: a shell that sleeps (and reaps the orphans a killed run
/// leaves behind, being pid 1), and ends at once on SIGTERM.
const KEEP_ALIVE: &str = "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done";

/// The label selector of pool `name`'s pods.
pub(crate) fn selector(name: &str) -> String {
    format!("{POOL_LABEL}={name},{MANAGED_SELECTOR}")
}

fn annotation<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// Runs a pod took so far.
pub(crate) fn uses(pod: &Pod) -> u64 {
    annotation(pod, USES_ANNOTATION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// How old the pod is.
pub(crate) fn age(pod: &Pod, now: SystemTime) -> Duration {
    pod.metadata
        .creation_timestamp
        .as_ref()
        .map(|t| SystemTime::from(t.0))
        .and_then(|created| now.duration_since(created).ok())
        .unwrap_or_default()
}

/// When the pod was last claimed or released (its creation if never).
pub(crate) fn last_used(pod: &Pod) -> Option<SystemTime> {
    annotation(pod, LAST_USED_ANNOTATION)
        .and_then(|v| parse_expires_at(v).ok())
        .or_else(|| {
            pod.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| SystemTime::from(t.0))
        })
}

/// Whether `drain` marked the pod.
pub(crate) fn draining(pod: &Pod) -> bool {
    annotation(pod, DRAIN_ANNOTATION) == Some("true")
}

/// Whether the pod is due for retirement.
pub(crate) fn worn_out(pod: &Pod, options: &PoolOptions, now: SystemTime) -> bool {
    uses(pod) >= options.max_uses || age(pod, now) >= options.max_age
}

/// The annotations every claim, renewal and release sets: last use and the reaper's expiry.
pub(crate) fn bookkeeping(options: &PoolOptions, now: SystemTime) -> BTreeMap<String, String> {
    let mut set = BTreeMap::new();
    if let Ok(stamp) = format_expires_at(now) {
        set.insert(LAST_USED_ANNOTATION.to_owned(), stamp);
    }
    if let Ok(expiry) =
        format_expires_at(now + options.lease.min(Duration::from_secs(3_153_600_000)))
    {
        set.insert(EXPIRES_AT_ANNOTATION.to_owned(), expiry);
    }
    set
}

/// What a listed pod is good for right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    /// Ready, not claimed, not draining, not worn out: claim it.
    Free,
    /// Ready and unclaimed but due for retirement: claim it to delete it.
    Retire,
    /// Claimed by someone (or draining with a claim).
    Busy,
    /// Starting or not Ready yet: it will be usable soon.
    Coming,
    /// Dead or broken: delete it.
    Broken,
    /// Terminating, gone, or drained: ignore.
    Gone,
}

/// Classifies a listed pod.
pub(crate) fn use_of(listed: &ListedWorker, options: &PoolOptions, now: SystemTime) -> Use {
    use_of_pod(&listed.pod, &listed.health, options, now)
}

fn use_of_pod(pod: &Pod, health: &WorkerHealth, options: &PoolOptions, now: SystemTime) -> Use {
    let claimable = ClaimState::of(pod).is_claimable(now);
    match health {
        WorkerHealth::Dead { .. } | WorkerHealth::Broken { .. } => Use::Broken,
        WorkerHealth::Terminating | WorkerHealth::Gone => Use::Gone,
        // Still not Ready after the start timeout (stuck pulling, a sandbox that cannot be
        // created, a readiness probe that never passes): replace it.
        WorkerHealth::Starting { .. } | WorkerHealth::NotReady { .. }
            if age(pod, now) > options.start.start_timeout =>
        {
            Use::Broken
        }
        WorkerHealth::Starting { .. } | WorkerHealth::NotReady { .. } => Use::Coming,
        WorkerHealth::Ready if !claimable => Use::Busy,
        WorkerHealth::Ready if draining(pod) => Use::Retire,
        WorkerHealth::Ready if worn_out(pod, options, now) => Use::Retire,
        WorkerHealth::Ready => Use::Free,
        _ => Use::Gone,
    }
}

/// The rendered pod of a new pool member: the template, a generated name, the pool label,
/// a long-running shell, restart always, and the reaper's expiry.
pub(crate) fn render_member(
    settings: &Settings,
    options: &PoolOptions,
    now: SystemTime,
) -> Result<agentpod_podspec::RenderedPod> {
    let name = PodName::generated(format!("pool-{}", options.name))
        .resolve(now)
        .map_err(AgentError::from)?;
    let spec = settings
        .template
        .clone()
        .name(PodName::explicit(name))
        .label(POOL_LABEL, options.name.clone())
        .restart_policy(RestartPolicy::Always)
        .command(["sh", "-c", KEEP_ALIVE]);
    let mut rendered = spec.render(now).map_err(AgentError::from)?;
    let annotations = rendered
        .pod
        .metadata
        .annotations
        .get_or_insert_with(Default::default);
    annotations.extend(bookkeeping(options, now));
    annotations.insert(USES_ANNOTATION.to_owned(), "0".to_owned());
    // Free from the start, so that the first claim tests the claim itself and not the
    // resourceVersion (which every bookkeeping patch changes).
    annotations.insert(CLAIM_ANNOTATION.to_owned(), "free new".to_owned());
    Ok(rendered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(annotations: serde_json::Value, health: WorkerHealth) -> (Pod, WorkerHealth) {
        let pod = serde_json::from_value(serde_json::json!({"metadata": {
            "name": "p", "uid": "u", "annotations": annotations,
            "creationTimestamp": "2026-01-01T00:00:00Z"}}))
        .unwrap();
        (pod, health)
    }

    #[test]
    fn uses_age_and_wear() {
        let now = jiff_now("2026-01-01T00:10:00Z");
        let (pod, _) = listed(
            serde_json::json!({USES_ANNOTATION: "7"}),
            WorkerHealth::Ready,
        );
        assert_eq!(uses(&pod), 7);
        assert_eq!(age(&pod, now), Duration::from_secs(600));
        let options = PoolOptions::default().max_uses(7);
        assert!(worn_out(&pod, &options, now));
        let options = PoolOptions::default().max_uses(8);
        assert!(!worn_out(&pod, &options, now));
        let options = options.max_age(Duration::from_secs(300));
        assert!(worn_out(&pod, &options, now));
    }

    #[test]
    fn what_a_listed_pod_is_good_for() {
        let now = jiff_now("2026-01-01T00:10:00Z");
        let options = PoolOptions::default().start(
            agentpod_transport::StartPolicy::default().start_timeout(Duration::from_secs(300)),
        );
        let later = format_expires_at(now + Duration::from_secs(30)).unwrap();
        let (free, ready) = listed(serde_json::json!({}), WorkerHealth::Ready);
        assert_eq!(use_of_pod(&free, &ready, &options, now), Use::Free);
        let (held, _) = listed(
            serde_json::json!({CLAIM_ANNOTATION: format!("held h/1 {later}")}),
            WorkerHealth::Ready,
        );
        assert_eq!(use_of_pod(&held, &ready, &options, now), Use::Busy);
        let (drained, _) = listed(
            serde_json::json!({DRAIN_ANNOTATION: "true"}),
            WorkerHealth::Ready,
        );
        assert_eq!(use_of_pod(&drained, &ready, &options, now), Use::Retire);
        // Created 10 minutes ago and still starting, with a 5 minute start timeout: replaced.
        let starting = WorkerHealth::Starting {
            state: "ContainerCreating".into(),
        };
        assert_eq!(use_of_pod(&free, &starting, &options, now), Use::Broken);
        let patient = options.clone().start(
            agentpod_transport::StartPolicy::default().start_timeout(Duration::from_secs(900)),
        );
        assert_eq!(use_of_pod(&free, &starting, &patient, now), Use::Coming);
    }

    fn jiff_now(text: &str) -> SystemTime {
        parse_expires_at(text).unwrap()
    }

    #[test]
    fn members_render_with_label_command_and_expiry() {
        let settings = crate::K8sEphemeralProvider::builder("img").into_settings();
        let options = PoolOptions::default().name("rev");
        let rendered = render_member(&settings, &options, SystemTime::now()).unwrap();
        let labels = rendered.pod.metadata.labels.clone().unwrap();
        assert_eq!(labels.get(POOL_LABEL).map(String::as_str), Some("rev"));
        assert!(
            rendered
                .pod
                .metadata
                .name
                .as_deref()
                .unwrap()
                .starts_with("pool-rev-")
        );
        let annotations = rendered.pod.metadata.annotations.clone().unwrap();
        assert!(annotations.contains_key(EXPIRES_AT_ANNOTATION));
        // Free from the start: the first claim tests the claim, not the resourceVersion.
        assert_eq!(
            annotations.get(CLAIM_ANNOTATION).map(String::as_str),
            Some("free new")
        );
        let container = &rendered.pod.spec.as_ref().unwrap().containers[0];
        assert_eq!(container.command.as_ref().unwrap()[2], KEEP_ALIVE);
        // No credential of any kind in the pod.
        let json = serde_json::to_string(&rendered.pod).unwrap();
        assert!(!json.contains("ANTHROPIC"), "{json}");
    }
}
