//! How a warm pool is sized, recycled and shared.

use std::time::Duration;

use agentpod_transport::StartPolicy;

/// Size, recycling, claims and waiting of a [`K8sPoolProvider`](crate::K8sPoolProvider).
///
/// Plain data: public fields, one setter per field named like it.
///
/// ```
/// use agentpod_provider::PoolOptions;
/// use std::time::Duration;
/// let options = PoolOptions::default()
///     .name("reviewers")
///     .min(1)
///     .max(3)
///     .max_uses(50)
///     .queue_timeout(Duration::from_secs(30))
///     .fallback_ephemeral(true);
/// assert_eq!((options.min, options.max), (1, 3));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PoolOptions {
    /// The pool's name: the value of the pods' `agentpod.dev/pool` label. Every process that
    /// uses a pool of this name in the namespace shares its pods (a valid label value).
    pub name: String,
    /// Pods kept warm even when idle.
    pub min: usize,
    /// Most pods this process grows the pool to (see `docs/pool.md` for several processes).
    pub max: usize,
    /// A pod is retired after this many runs.
    pub max_uses: u64,
    /// A pod is retired once this old (at its next release, or by the keeper when idle).
    pub max_age: Duration,
    /// Pods beyond `min` that nobody used for this long are deleted.
    pub idle_shrink_after: Duration,
    /// A claim lasts this long unless renewed (the holder renews it every third of it while
    /// the run goes on); a holder that died loses its pod after at most this.
    pub claim_ttl: Duration,
    /// Longest wait for a free pod when all are busy and the pool is at `max`; then
    /// [`AgentError::PoolExhausted`](crate::AgentError::PoolExhausted), or an ephemeral pod
    /// with `fallback_ephemeral`.
    pub queue_timeout: Duration,
    /// Most callers of this process waiting for a pod at once; more fail at once with
    /// `PoolExhausted`.
    pub max_waiters: usize,
    /// Run in a pod of its own (as `K8sEphemeralProvider` does) when no pod became free in
    /// time, instead of failing.
    pub fallback_ephemeral: bool,
    /// The pods' writable scratch directory: runs get their `$HOME` and working directory
    /// under it, and it is emptied before and after every run. The hardened preset's `/tmp`
    /// (an emptyDir) by default.
    pub scratch_dir: String,
    /// How often the keeper checks the pool (replaces dead pods, keeps `min`, shrinks,
    /// recycles, refreshes the pods' expiry).
    pub keeper_interval: Duration,
    /// The pods' expiry (`agentpod.dev/expires-at`) is kept this far ahead while a process
    /// uses the pool; when every user crashed, the [`Reaper`](agentpod_transport::Reaper)
    /// deletes the pods after it.
    pub lease: Duration,
    /// Start timeout and fail-fast graces of new pods.
    pub start: StartPolicy,
}

impl Default for PoolOptions {
    /// Name `default`, 1 to 4 pods, a pod retired after 100 runs or 1 h, idle pods beyond the
    /// minimum deleted after 5 min, 60 s claims, a 60 s queue timeout for at most 64 waiters, no
    /// ephemeral fallback, scratch dir `/tmp`, the keeper every 2 s, a 10 min lease, and the
    /// transport's default start policy (120 s start timeout).
    fn default() -> Self {
        Self {
            name: "default".to_owned(),
            min: 1,
            max: 4,
            max_uses: 100,
            max_age: Duration::from_secs(3600),
            idle_shrink_after: Duration::from_secs(300),
            claim_ttl: Duration::from_secs(60),
            queue_timeout: Duration::from_secs(60),
            max_waiters: 64,
            fallback_ephemeral: false,
            scratch_dir: "/tmp".to_owned(),
            keeper_interval: Duration::from_secs(2),
            lease: Duration::from_secs(600),
            start: StartPolicy::default(),
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $field:ident: $ty:ty;)*) => {
        impl PoolOptions {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $field(mut self, value: $ty) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

impl PoolOptions {
    /// Sets [`name`](Self::name).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets [`scratch_dir`](Self::scratch_dir).
    #[must_use]
    pub fn scratch_dir(mut self, dir: impl Into<String>) -> Self {
        self.scratch_dir = dir.into();
        self
    }
}

setters! {
    /// Sets [`min`](Self::min).
    min: usize;
    /// Sets [`max`](Self::max).
    max: usize;
    /// Sets [`max_uses`](Self::max_uses).
    max_uses: u64;
    /// Sets [`max_age`](Self::max_age).
    max_age: Duration;
    /// Sets [`idle_shrink_after`](Self::idle_shrink_after).
    idle_shrink_after: Duration;
    /// Sets [`claim_ttl`](Self::claim_ttl).
    claim_ttl: Duration;
    /// Sets [`queue_timeout`](Self::queue_timeout).
    queue_timeout: Duration;
    /// Sets [`max_waiters`](Self::max_waiters).
    max_waiters: usize;
    /// Sets [`fallback_ephemeral`](Self::fallback_ephemeral).
    fallback_ephemeral: bool;
    /// Sets [`keeper_interval`](Self::keeper_interval).
    keeper_interval: Duration;
    /// Sets [`lease`](Self::lease).
    lease: Duration;
    /// Sets [`start`](Self::start).
    start: StartPolicy;
}
