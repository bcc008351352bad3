//! The pool as this process sees it: checking a pod out (claim), giving it back (release or
//! retire), growing on demand, and the keeper that replaces, shrinks and recycles.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use agentpod_transport::{
    ClaimState, ListedWorker, RetryPolicy, Transport, TransportError, WorkerClaim,
};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::task::{AbortOnDropHandle, TaskTracker};

use super::PoolOptions;
use super::members::{USES_ANNOTATION, age};
use super::members::{Use, bookkeeping, last_used, render_member, selector, use_of, uses};
use crate::k8s::Settings;
use crate::{AgentError, Result};

/// How often a waiter looks again for pods freed by other processes (releases in this
/// process wake it at once).
const POLL: Duration = Duration::from_millis(200);

/// The shared state of one pool in this process.
pub(crate) struct Pool {
    pub(crate) transport: Transport,
    /// The template's settings (pods are made from them; credentials are per provider clone).
    pub(crate) settings: Arc<Settings>,
    pub(crate) options: PoolOptions,
    pub(crate) namespace: String,
    selector: String,
    /// This process's label in claim ids.
    holder: String,
    released: Notify,
    waiters: Arc<Semaphore>,
    /// Held while deciding to create a pod and creating it: one creation at a time in this
    /// process, decided on a fresh list (so a keeper round and a checkout never both create
    /// the pod the pool lacks).
    growth: tokio::sync::Mutex<()>,
    /// Releases and deletions running after their run returned.
    pub(crate) background: TaskTracker,
    keeper: Mutex<Option<AbortOnDropHandle<()>>>,
    pub(crate) retry: RetryPolicy,
    spread: AtomicU64,
    /// Pods of this process on their way back.
    returning: Mutex<Returning>,
}

/// Releases of this process running in the background (a run returns its output before its
/// pod is given back), and how many checkouts wait for one of them instead of growing the
/// pool. Each release is counted on by one checkout at most: under steady load, when some
/// release is always running, the other checkouts still grow the pool.
#[derive(Debug, Default)]
struct Returning {
    releases: usize,
    counted_on: usize,
}

/// A checkout counting on one of this process's releases; stops counting when dropped.
struct CountingOnARelease<'a>(&'a Pool);

impl Drop for CountingOnARelease<'_> {
    fn drop(&mut self) {
        let mut returning = self.0.returning();
        returning.counted_on = returning.counted_on.saturating_sub(1);
    }
}

/// A release running in the background; no longer counted when dropped.
struct ReleaseRunning(Arc<Pool>);

impl Drop for ReleaseRunning {
    fn drop(&mut self) {
        let mut returning = self.0.returning();
        returning.releases = returning.releases.saturating_sub(1);
    }
}

/// A pod checked out for one run.
pub(crate) struct Checkout {
    pub(crate) claim: WorkerClaim,
    pub(crate) pod: String,
    /// Worn out after this run: delete instead of releasing.
    pub(crate) retire: bool,
    /// API requests the checkout took (lists, claims, creates are not counted exactly: a
    /// creation counts as one).
    pub(crate) api_requests: u64,
}

impl Pool {
    pub(crate) fn new(
        transport: Transport,
        settings: Arc<Settings>,
        options: PoolOptions,
        namespace: String,
        holder: String,
    ) -> Self {
        Self {
            transport,
            selector: selector(&options.name),
            waiters: Arc::new(Semaphore::new(options.max_waiters)),
            retry: options.start.retry.clone(),
            settings,
            options,
            namespace,
            holder,
            released: Notify::new(),
            growth: tokio::sync::Mutex::new(()),
            background: TaskTracker::new(),
            keeper: Mutex::new(None),
            spread: AtomicU64::new(0),
            returning: Mutex::new(Returning::default()),
        }
    }

    fn returning(&self) -> std::sync::MutexGuard<'_, Returning> {
        // The counters stay meaningful whatever a panicking holder left behind.
        self.returning
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts on one of this process's running releases not yet counted on, if there is one.
    fn count_on_a_release(&self) -> Option<CountingOnARelease<'_>> {
        let mut returning = self.returning();
        if returning.counted_on >= returning.releases {
            return None;
        }
        returning.counted_on += 1;
        Some(CountingOnARelease(self))
    }

    fn exhausted(&self, waited: Duration, reason: String) -> AgentError {
        AgentError::PoolExhausted {
            pool: self.options.name.clone(),
            waited,
            reason,
        }
    }

    /// The pool's pods, one list request.
    pub(crate) async fn list(&self) -> Result<Vec<ListedWorker>> {
        Ok(self
            .transport
            .list_workers(&self.namespace, &self.selector, &self.retry)
            .await?)
    }

    /// Claims a free pod, growing the pool when all are busy and it is below `max`, waiting
    /// (at most `timeout`) when it is at `max`.
    pub(crate) async fn checkout(self: &Arc<Self>, timeout: Duration) -> Result<Checkout> {
        let started = Instant::now();
        let deadline = started.checked_add(timeout).unwrap_or_else(far_future);
        let Ok(_slot) = Arc::clone(&self.waiters).try_acquire_owned() else {
            return Err(self.exhausted(
                Duration::ZERO,
                format!("wait queue full ({} waiting)", self.options.max_waiters),
            ));
        };
        let mut requests = 0;
        loop {
            let notified = self.released.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let members = self.list().await?;
            requests += 1;
            let now = SystemTime::now();
            let mut live = 0;
            let mut free = Vec::new();
            for member in members {
                match use_of(&member, &self.options, now) {
                    Use::Free => {
                        live += 1;
                        free.push(member);
                    }
                    Use::Busy | Use::Coming => live += 1,
                    Use::Retire => self.retire_in_background(member),
                    Use::Broken => self.delete_in_background(member),
                    Use::Gone => {}
                }
            }
            if !free.is_empty() {
                // Processes and callers start at different pods, so they rarely collide.
                let offset = self.spread.fetch_add(1, Ordering::Relaxed) as usize % free.len();
                free.rotate_left(offset);
            }
            for member in free {
                let mut extra = bookkeeping(&self.options, now);
                let used = uses(&member.pod) + 1;
                extra.insert(USES_ANNOTATION.to_owned(), used.to_string());
                requests += 1;
                let claimed = member
                    .worker
                    .try_claim(&member.pod, &self.holder, self.options.claim_ttl, &extra)
                    .await?;
                if let Some(claim) = claimed {
                    tracing::debug!(pool = %self.options.name, pod = %member.worker.name(),
                        claim = %claim.id(), "pod checked out");
                    return Ok(Checkout {
                        pod: member.worker.name().to_owned(),
                        retire: used >= self.options.max_uses
                            || age(&member.pod, now) >= self.options.max_age,
                        claim,
                        api_requests: requests,
                    });
                }
            }
            // A pod of this process on its way back is worth waiting for: cheaper than
            // starting one (its release wakes this loop).
            let counting = (live < self.options.max)
                .then(|| self.count_on_a_release())
                .flatten();
            if live < self.options.max && counting.is_none() {
                requests += 1;
                // Another creation of this process (a keeper round) may hold the growth
                // lock for a whole start timeout: wait for it at most until the deadline.
                let grown =
                    tokio::time::timeout_at(deadline, self.grow_below(self.options.max, true))
                        .await;
                if let Ok(grown) = grown
                    && grown?
                {
                    continue;
                }
            }
            if Instant::now() >= deadline {
                return Err(self.exhausted(started.elapsed(), format!("all {live} pods busy")));
            }
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep(POLL) => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
            drop(counting);
        }
    }

    /// Under the growth lock, on a fresh list: creates one pod (and waits until it is Ready)
    /// when fewer than `below` pods are live. With `free_will_do`, a free pod found meanwhile
    /// is reason enough not to create one. `true` when the caller should look again (a pod
    /// was created, or a free one appeared).
    async fn grow_below(&self, below: usize, free_will_do: bool) -> Result<bool> {
        let _growing = self.growth.lock().await;
        let now = SystemTime::now();
        let mut live = 0;
        for member in self.list().await? {
            match use_of(&member, &self.options, now) {
                Use::Free if free_will_do => return Ok(true),
                Use::Free | Use::Busy | Use::Coming => live += 1,
                Use::Retire | Use::Broken | Use::Gone => {}
            }
        }
        if live >= below {
            return Ok(false);
        }
        self.grow().await?;
        Ok(true)
    }

    /// Creates one pod and waits until it is Ready (the caller holds the growth lock).
    async fn grow(&self) -> Result<()> {
        let rendered = render_member(&self.settings, &self.options, SystemTime::now())?;
        tracing::info!(pool = %self.options.name, pod = %rendered.name(), "growing the pool");
        self.transport
            .ensure_worker(&rendered, self.options.start.clone())
            .await?;
        Ok(())
    }

    /// Gives a pod back: released for the next run, or deleted when worn out or unhealthy;
    /// then wakes the checkouts waiting for a pod.
    pub(crate) async fn finish(&self, checkout: Checkout, healthy: bool) {
        self.give_back(checkout, healthy).await;
        self.released.notify_waiters();
    }

    async fn give_back(&self, checkout: Checkout, healthy: bool) {
        let pod = checkout.pod.clone();
        let outcome = if checkout.retire || !healthy {
            tracing::info!(pool = %self.options.name, %pod, healthy, "retiring a pod");
            checkout.claim.delete_worker().await.map(|()| true)
        } else {
            let extra = bookkeeping(&self.options, SystemTime::now());
            checkout.claim.release(&extra).await
        };
        match outcome {
            Ok(true) => {}
            Ok(false) => tracing::warn!(pool = %self.options.name, %pod,
                "the claim had been lost before the release (it expired and was taken over)"),
            Err(error) => tracing::warn!(pool = %self.options.name, %pod, %error,
                "could not release the pod; its claim expires by itself"),
        }
    }

    /// Hands the checkout back from a task of its own (after a run returned its output, and
    /// on drop paths). Until it is back, one checkout of this process waits for it rather
    /// than growing the pool.
    pub(crate) fn finish_in_background(self: &Arc<Self>, checkout: Checkout, healthy: bool) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            self.returning().releases += 1;
            let running = ReleaseRunning(Arc::clone(self));
            let task = self.background.track_future(async move {
                let pool = Arc::clone(&running.0);
                pool.give_back(checkout, healthy).await;
                drop(running);
                pool.released.notify_waiters();
            });
            runtime.spawn(task);
        }
    }

    fn delete_in_background(&self, member: ListedWorker) {
        let name = self.options.name.clone();
        self.background.spawn(async move {
            tracing::info!(pool = %name, pod = %member.worker.name(), health = %member.health,
                "deleting a dead or broken pod");
            if let Err(error) = member.worker.delete().await {
                tracing::warn!(pool = %name, %error, "could not delete a broken pod");
            }
        });
    }

    /// Claims a free pod that is due for retirement and deletes it.
    fn retire_in_background(&self, member: ListedWorker) {
        let holder = self.holder.clone();
        let ttl = self.options.claim_ttl;
        let name = self.options.name.clone();
        self.background.spawn(async move {
            let claimed = member
                .worker
                .try_claim(&member.pod, &holder, ttl, &Default::default())
                .await;
            if let Ok(Some(claim)) = claimed {
                tracing::info!(pool = %name, pod = %member.worker.name(), "retiring a pod");
                if let Err(error) = claim.delete_worker().await {
                    tracing::warn!(pool = %name, %error, "could not delete a retired pod");
                }
            }
        });
    }

    /// Starts the keeper unless it runs (it holds only a weak reference: it ends with the
    /// last provider clone).
    pub(crate) fn ensure_keeper(self: &Arc<Self>) {
        let mut keeper = match self.keeper.lock() {
            Ok(keeper) => keeper,
            Err(poisoned) => poisoned.into_inner(),
        };
        if keeper.is_some() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(self);
        let interval = self.options.keeper_interval.max(Duration::from_millis(100));
        *keeper = Some(AbortOnDropHandle::new(runtime.spawn(keep(weak, interval))));
    }

    /// Stops the keeper.
    pub(crate) fn stop_keeper(&self) {
        let mut keeper = match self.keeper.lock() {
            Ok(keeper) => keeper,
            Err(poisoned) => poisoned.into_inner(),
        };
        keeper.take();
    }

    /// One keeper round: dead pods deleted, worn-out and surplus idle pods retired, idle pods'
    /// expiry refreshed, the pool grown to `min`.
    pub(crate) async fn tick(&self) -> Result<()> {
        let members = self.list().await?;
        let now = SystemTime::now();
        let mut live: usize = 0;
        let mut idle = Vec::new();
        for member in members {
            match use_of(&member, &self.options, now) {
                Use::Free => {
                    live += 1;
                    idle.push(member);
                }
                Use::Busy | Use::Coming => live += 1,
                Use::Retire => self.retire_in_background(member),
                Use::Broken => self.delete_in_background(member),
                Use::Gone => {}
            }
        }
        // Shrink: the longest-idle pods beyond `min` that nobody used for a while.
        idle.sort_by_key(|m| last_used(&m.pod));
        let mut surplus = live.saturating_sub(self.options.min);
        let mut kept = Vec::new();
        for member in idle {
            let idle_for = last_used(&member.pod)
                .and_then(|t| now.duration_since(t).ok())
                .unwrap_or_default();
            if surplus > 0 && idle_for >= self.options.idle_shrink_after {
                surplus -= 1;
                live -= 1;
                self.retire_in_background(member);
            } else {
                kept.push(member);
            }
        }
        // Keep idle pods' expiry ahead (claimed pods are refreshed by their holders).
        for member in kept {
            let due = member
                .pod
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(agentpod_podspec::labels::EXPIRES_AT_ANNOTATION))
                .and_then(|v| agentpod_podspec::expiry::parse_expires_at(v).ok())
                .is_none_or(|expiry| {
                    expiry.duration_since(now).unwrap_or_default() < self.options.lease / 2
                });
            if due && ClaimState::of(&member.pod).is_claimable(now) {
                let mut extra = bookkeeping(&self.options, now);
                if let Some(last) = last_used(&member.pod)
                    .and_then(|t| agentpod_podspec::expiry::format_expires_at(t).ok())
                {
                    extra.insert(super::members::LAST_USED_ANNOTATION.to_owned(), last);
                }
                member.worker.annotate(&extra).await?;
            }
        }
        if live < self.options.min {
            self.grow_below(self.options.min, false).await?;
        }
        Ok(())
    }
}

/// The keeper loop.
async fn keep(pool: Weak<Pool>, interval: Duration) {
    loop {
        {
            let Some(pool) = pool.upgrade() else { return };
            if let Err(error) = pool.tick().await {
                tracing::warn!(pool = %pool.options.name, %error, "pool keeper round failed");
            }
        }
        tokio::time::sleep(interval).await;
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

/// The error of a claim lost in the middle of a run.
pub(crate) fn claim_lost(namespace: &str, pod: &str) -> AgentError {
    AgentError::from(TransportError::Exec {
        namespace: namespace.to_owned(),
        pod: pod.to_owned(),
        reason: "the pool claim on this pod was lost during the run (it expired and another \
                 process took the pod over); the run was stopped"
            .to_owned(),
        source: None,
    })
}
