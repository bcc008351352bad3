//! What a pool looks like, and draining it: for `agentpod pool status|drain NAME`, and for a
//! provider's own shutdown. Both work from the cluster's objects alone, so any process (a CLI
//! with no provider configuration) can call them.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use agentpod_transport::{ClaimState, RetryPolicy, Transport, WorkerHealth};
use tokio::time::Instant;

use super::members::{DRAIN_ANNOTATION, age, draining, last_used, selector, uses};
use crate::Result;

/// One pod of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolPod {
    /// Pod name.
    pub name: String,
    /// Its health as listed.
    pub health: WorkerHealth,
    /// The holder of a live claim (the process label in the claim id), `None` when idle.
    pub claimed_by: Option<String>,
    /// Runs it took.
    pub uses: u64,
    /// Time since it was created.
    pub age: Duration,
    /// Time since its last claim or release.
    pub idle_for: Option<Duration>,
    /// Marked by a drain: takes no new runs.
    pub draining: bool,
}

/// A pool's pods as the cluster holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStatus {
    /// The pool's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its pods (terminating ones included, with their health saying so).
    pub pods: Vec<PoolPod>,
}

impl PoolStatus {
    /// Pods that are not terminating or gone.
    pub fn size(&self) -> usize {
        self.pods
            .iter()
            .filter(|p| !matches!(p.health, WorkerHealth::Terminating | WorkerHealth::Gone))
            .count()
    }

    /// Pods held by a live claim.
    pub fn busy(&self) -> usize {
        self.pods.iter().filter(|p| p.claimed_by.is_some()).count()
    }

    /// Ready pods nobody holds.
    pub fn idle(&self) -> usize {
        self.pods
            .iter()
            .filter(|p| p.claimed_by.is_none() && p.health.is_ready() && !p.draining)
            .count()
    }
}

impl std::fmt::Display for PoolStatus {
    /// A table for humans: one line per pod.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "pool {} in {}: {} pods, {} busy, {} idle",
            self.name,
            self.namespace,
            self.size(),
            self.busy(),
            self.idle()
        )?;
        for pod in &self.pods {
            writeln!(
                f,
                "  {}  {}  {}  uses {}  age {}s{}",
                pod.name,
                pod.health,
                pod.claimed_by
                    .as_deref()
                    .map_or_else(|| "idle".to_owned(), |h| format!("held by {h}")),
                pod.uses,
                pod.age.as_secs(),
                if pod.draining { "  draining" } else { "" }
            )?;
        }
        Ok(())
    }
}

/// Reads pool `name` in `namespace`: one list request.
///
/// ```no_run
/// # async fn f(transport: agentpod_provider::Transport) -> agentpod_provider::Result<()> {
/// let status = agentpod_provider::pool_status(&transport, "agents", "reviewers").await?;
/// println!("{status}"); // pool reviewers in agents: 3 pods, 1 busy, 2 idle …
/// # Ok(()) }
/// ```
pub async fn pool_status(transport: &Transport, namespace: &str, name: &str) -> Result<PoolStatus> {
    let listed = transport
        .list_workers(namespace, &selector(name), &RetryPolicy::default())
        .await?;
    let now = SystemTime::now();
    let mut pods: Vec<PoolPod> = listed
        .iter()
        .map(|member| {
            let claim = ClaimState::of(&member.pod);
            PoolPod {
                name: member.worker.name().to_owned(),
                health: member.health.clone(),
                claimed_by: (!claim.is_claimable(now))
                    .then(|| claim.holder().map(str::to_owned))
                    .flatten(),
                uses: uses(&member.pod),
                age: age(&member.pod, now),
                idle_for: last_used(&member.pod).and_then(|t| now.duration_since(t).ok()),
                draining: draining(&member.pod),
            }
        })
        .collect();
    pods.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(PoolStatus {
        name: name.to_owned(),
        namespace: namespace.to_owned(),
        pods,
    })
}

/// What a drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DrainReport {
    /// Pods deleted.
    pub deleted: Vec<String>,
    /// Pods still held by a run when the wait ended (they take no new runs and are deleted
    /// by the keeper of their holder, or by the next drain).
    pub still_busy: Vec<String>,
}

/// Drains pool `name`: marks every pod so that no new run takes it, deletes the idle ones at
/// once and the busy ones as their runs end (waiting at most `wait`). Pods held by a claim
/// whose holder died are deleted once the claim expired. Other processes using the pool
/// create new pods on their next run.
///
/// ```no_run
/// # async fn f(transport: agentpod_provider::Transport) -> agentpod_provider::Result<()> {
/// use std::time::Duration;
/// let report = agentpod_provider::drain_pool(&transport, "agents", "reviewers", Duration::from_secs(60)).await?;
/// println!("deleted {:?}, still busy {:?}", report.deleted, report.still_busy);
/// # Ok(()) }
/// ```
pub async fn drain_pool(
    transport: &Transport,
    namespace: &str,
    name: &str,
    wait: Duration,
) -> Result<DrainReport> {
    let deadline = Instant::now().checked_add(wait);
    let retry = RetryPolicy::default();
    let mark = BTreeMap::from([(DRAIN_ANNOTATION.to_owned(), "true".to_owned())]);
    let mut report = DrainReport::default();
    loop {
        let listed = transport
            .list_workers(namespace, &selector(name), &retry)
            .await?;
        let now = SystemTime::now();
        report.still_busy.clear();
        for member in listed {
            if matches!(
                member.health,
                WorkerHealth::Terminating | WorkerHealth::Gone
            ) {
                continue;
            }
            if !draining(&member.pod) {
                member.worker.annotate(&mark).await?;
            }
            let claim = ClaimState::of(&member.pod);
            if !claim.is_claimable(now) {
                report.still_busy.push(member.worker.name().to_owned());
                continue;
            }
            let claimed = member
                .worker
                .try_claim(
                    &member.pod,
                    "drain",
                    Duration::from_secs(60),
                    &BTreeMap::new(),
                )
                .await?;
            match claimed {
                Some(claim) => {
                    claim.delete_worker().await?;
                    report.deleted.push(member.worker.name().to_owned());
                }
                // Claimed meanwhile: look again next round.
                None => report.still_busy.push(member.worker.name().to_owned()),
            }
        }
        if report.still_busy.is_empty() || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(report);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, health: WorkerHealth, claimed_by: Option<&str>, draining: bool) -> PoolPod {
        PoolPod {
            name: name.to_owned(),
            health,
            claimed_by: claimed_by.map(str::to_owned),
            uses: 3,
            age: Duration::from_secs(90),
            idle_for: None,
            draining,
        }
    }

    #[test]
    fn size_busy_and_idle_are_counted_from_the_pods() {
        let status = PoolStatus {
            name: "rev".into(),
            namespace: "ns".into(),
            pods: vec![
                pod("a", WorkerHealth::Ready, Some("host-1-x"), false),
                pod("b", WorkerHealth::Ready, None, false),
                pod("c", WorkerHealth::Ready, None, true),
                pod("d", WorkerHealth::Terminating, None, false),
                pod(
                    "e",
                    WorkerHealth::Starting {
                        state: "ContainerCreating".into(),
                    },
                    None,
                    false,
                ),
            ],
        };
        assert_eq!((status.size(), status.busy(), status.idle()), (4, 1, 1));
        let text = status.to_string();
        assert!(
            text.starts_with("pool rev in ns: 4 pods, 1 busy, 1 idle\n"),
            "{text}"
        );
        assert!(
            text.contains("  a  running and Ready  held by host-1-x  uses 3  age 90s\n"),
            "{text}"
        );
        assert!(
            text.contains("  c  running and Ready  idle  uses 3  age 90s  draining\n"),
            "{text}"
        );
    }
}
