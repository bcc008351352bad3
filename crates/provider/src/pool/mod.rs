//! `K8sPoolProvider`: warm pods shared by many runs, one run per pod at a time, across
//! processes. See `docs/pool.md`.

mod drive;
mod members;
mod options;
mod script;
mod state;
mod status;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use agentpod_transport::{ClusterConnection, Transport, TransportError};
use async_trait::async_trait;
use tokio_util::task::AbortOnDropHandle;

pub use members::{DRAIN_ANNOTATION, LAST_USED_ANNOTATION, POOL_LABEL, USES_ANNOTATION};
pub use options::PoolOptions;
pub use status::{DrainReport, PoolPod, PoolStatus, drain_pool, pool_status};

use crate::k8s::{Credential, Settings};
use crate::{
    AgentError, AgentProvider, AgentRequest, AgentRun, K8sEphemeralProvider,
    K8sEphemeralProviderBuilder, Result,
};
use script::RunCredentials;
use state::Pool;

/// Runs each agent as one `claude` exec in a warm pod of a pool, claimed for the run and
/// emptied after it.
///
/// - **Pods** come from the same template and options as [`K8sEphemeralProvider`]'s (build
///   the pool from a [`K8sEphemeralProviderBuilder`]); the pool keeps `min` of them warm,
///   grows on demand up to `max`, retires a pod after `max_uses` runs or `max_age`, deletes
///   idle surplus pods, and replaces dead ones ([`PoolOptions`]).
/// - **One run per pod, across processes**: a run claims its pod with a compare-and-swap on
///   the API server (an annotation with a JSON Patch `test`); a claim whose holder died
///   expires. Processes sharing a pool name and namespace share its pods safely.
/// - **Isolation**: every run gets a fresh `$HOME` and working directory; before it starts,
///   every process of earlier runs is killed and the scratch dir (`/tmp`) and the pod's
///   `$HOME` are emptied (again after it ends).
/// - **Credentials per run**: the pods carry none; each run's credentials go over the exec's
///   stdin to its own process only. [`with_api_key`](Self::with_api_key) gives a provider
///   with other credentials on the same pods.
/// - The output is parsed by the same stream-json parser as the other providers, with the
///   same events (`Running`, the stream's events, `Result`).
///
/// ```no_run
/// use agentpod_provider::{Agent, ClusterConnection, Credential, K8sEphemeralProvider, K8sPoolProvider, PoolOptions};
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let pods = K8sEphemeralProvider::builder("registry.example/claude-runner:2.1.328");
/// let pool = K8sPoolProvider::builder(pods, PoolOptions::default().name("reviewers").min(1).max(3))
///     .connect(ClusterConnection::default())
///     .await?;
/// let alice = pool.with_api_key(Credential::Value("sk-ant-alice".into()))?;
/// let output = Agent::new("What does this repository do?").run(&alice).await?;
/// println!("{} (pod {:?})", output.text, output.pod);
/// pool.shutdown(std::time::Duration::from_secs(30)).await?; // deletes the pool's pods
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct K8sPoolProvider {
    pool: Arc<Pool>,
    /// This clone's settings: the pool's, with its own credentials.
    settings: Arc<Settings>,
    credentials: Arc<RunCredentials>,
}

impl std::fmt::Debug for K8sPoolProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("K8sPoolProvider")
            .field("pool", &self.pool.options.name)
            .field("namespace", &self.pool.namespace)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// Builds a [`K8sPoolProvider`] from the pod options of a [`K8sEphemeralProviderBuilder`]
/// (template, `claude` path, credentials, base URL, context window, run timeout) and
/// [`PoolOptions`].
#[derive(Debug, Clone)]
#[must_use]
pub struct K8sPoolProviderBuilder {
    settings: Settings,
    options: PoolOptions,
}

impl K8sPoolProvider {
    /// A builder for a pool of pods made like `pods` would make them.
    pub fn builder(
        pods: K8sEphemeralProviderBuilder,
        options: PoolOptions,
    ) -> K8sPoolProviderBuilder {
        K8sPoolProviderBuilder {
            settings: pods.into_settings(),
            options,
        }
    }

    /// The shared transport.
    pub fn transport(&self) -> &Transport {
        &self.pool.transport
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.pool.options.name
    }

    /// The pool's namespace.
    pub fn namespace(&self) -> &str {
        &self.pool.namespace
    }

    /// A provider on the same pods (and claims, keeper, transport) whose runs authenticate
    /// with `key` (`ANTHROPIC_API_KEY`), sent over exec stdin to each run's own process.
    pub fn with_api_key(&self, key: Credential) -> Result<Self> {
        let mut settings = (*self.settings).clone();
        settings.api_key = Some(key);
        self.with_settings(settings)
    }

    /// Like [`with_api_key`](Self::with_api_key), for `CLAUDE_CODE_OAUTH_TOKEN`.
    pub fn with_oauth_token(&self, token: Credential) -> Result<Self> {
        let mut settings = (*self.settings).clone();
        settings.oauth_token = Some(token);
        self.with_settings(settings)
    }

    fn with_settings(&self, settings: Settings) -> Result<Self> {
        let credentials = RunCredentials::from_settings(&settings)?;
        Ok(Self {
            pool: Arc::clone(&self.pool),
            settings: Arc::new(settings),
            credentials: Arc::new(credentials),
        })
    }

    /// Creates pods until the pool has `min` Ready ones and starts the keeper; waits at most
    /// the pool's start timeout (`PoolOptions::start`), then [`AgentError::StartTimeout`]
    /// naming a pod that is not Ready and why (e.g. `Unschedulable: …`). Optional: runs
    /// create pods on demand.
    pub async fn warm_up(&self) -> Result<()> {
        self.pool.ensure_keeper();
        let timeout = self.pool.options.start.start_timeout;
        let deadline = tokio::time::Instant::now().checked_add(timeout);
        loop {
            self.pool.tick().await?;
            let members = self.pool.list().await?;
            let ready = members.iter().filter(|m| m.health.is_ready()).count();
            if ready >= self.pool.options.min {
                return Ok(());
            }
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                let waiting = members.iter().find(|m| !m.health.is_ready());
                let (pod, state) = waiting.map_or_else(
                    || ("<none>".to_owned(), "no pod was created".to_owned()),
                    |m| (m.worker.name().to_owned(), m.health.to_string()),
                );
                return Err(AgentError::StartTimeout {
                    pod: pod.clone(),
                    timeout,
                    source: Box::new(TransportError::StartTimeout {
                        namespace: self.pool.namespace.clone(),
                        pod,
                        timeout,
                        last_state: state,
                    }),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The pool's pods: size, busy and idle, each pod's uses and age (one list request).
    pub async fn status(&self) -> Result<PoolStatus> {
        pool_status(
            &self.pool.transport,
            &self.pool.namespace,
            &self.pool.options.name,
        )
        .await
    }

    /// Stops the keeper, waits (at most `timeout`) for this process's runs to hand their pods
    /// back, then drains the pool: its pods are deleted (busy ones as their runs end, within
    /// what is left of `timeout`).
    pub async fn shutdown(&self, timeout: Duration) -> Result<DrainReport> {
        let started = Instant::now();
        self.pool.stop_keeper();
        self.pool.background.close();
        let _ = tokio::time::timeout(timeout, self.pool.background.wait()).await;
        self.pool.background.reopen();
        let left = timeout.saturating_sub(started.elapsed());
        drain_pool(
            &self.pool.transport,
            &self.pool.namespace,
            &self.pool.options.name,
            left,
        )
        .await
    }

    /// The ephemeral provider used as the fallback: the same pods' options and this clone's
    /// credentials (which then travel in the pod's Secret, as `K8sEphemeralProvider` does).
    fn fallback(&self) -> K8sEphemeralProvider {
        crate::k8s::builder_from_settings((*self.settings).clone())
            .build(self.pool.transport.clone())
    }
}

impl K8sPoolProviderBuilder {
    /// Replaces the pool options.
    pub fn options(mut self, options: PoolOptions) -> Self {
        self.options = options;
        self
    }

    /// Builds the provider on an existing transport. Checks the options (a valid pool name,
    /// `1 <= max`, `min <= max`) and the credentials (values only: a credential from a
    /// Secret cannot reach a warm pod).
    pub fn build(self, transport: Transport) -> Result<K8sPoolProvider> {
        let invalid = |reason: &'static str| AgentError::Unsupported {
            provider: "K8sPoolProvider",
            option: "pool options",
            reason,
        };
        if self.options.max == 0 {
            return Err(invalid("max must be at least 1"));
        }
        if self.options.min > self.options.max {
            return Err(invalid("min must not exceed max"));
        }
        if self.options.max_waiters == 0 {
            return Err(invalid("max_waiters must be at least 1"));
        }
        if self.options.claim_ttl < Duration::from_secs(2) {
            return Err(invalid(
                "claim_ttl must be at least 2 s (claims are renewed every third of it)",
            ));
        }
        let credentials = RunCredentials::from_settings(&self.settings)?;
        // Rendering a member checks the template and the pool name (a label value) now.
        let member = members::render_member(&self.settings, &self.options, SystemTime::now())?;
        let namespace = member.namespace().to_owned();
        let holder = holder_label()?;
        let settings = Arc::new(self.settings);
        let pool = Pool::new(
            transport,
            Arc::clone(&settings),
            self.options,
            namespace,
            holder,
        );
        Ok(K8sPoolProvider {
            pool: Arc::new(pool),
            settings,
            credentials: Arc::new(credentials),
        })
    }

    /// Connects to the cluster and builds the provider.
    pub async fn connect(self, connection: ClusterConnection) -> Result<K8sPoolProvider> {
        let transport = connection.connect().await?;
        self.build(transport)
    }
}

/// This provider instance's label in claim ids: host, process, a random part.
fn holder_label() -> Result<String> {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .unwrap_or_else(|| "host".to_owned());
    Ok(format!("{host}-{}-{}", std::process::id(), random_id()?))
}

/// A short random id (`[a-z0-9]`): the random part of a generated pod name, from the OS
/// randomness podspec already uses.
fn random_id() -> Result<String> {
    let name = agentpod_podspec::PodName::generated("x")
        .resolve(SystemTime::now())
        .map_err(AgentError::from)?;
    Ok(name.rsplit('-').next().unwrap_or(&name).to_owned())
}

#[async_trait]
impl AgentProvider for K8sPoolProvider {
    async fn start(&self, request: &AgentRequest) -> Result<AgentRun> {
        let started = Instant::now();
        let run_id = random_id()?;
        let plan = script::plan(
            &self.settings,
            &self.credentials,
            &self.pool.options.scratch_dir,
            &run_id,
            request,
        )?;
        self.pool.ensure_keeper();
        let queue_timeout = request
            .start_timeout()
            .unwrap_or(self.pool.options.queue_timeout);
        let run_timeout = request
            .run_timeout()
            .unwrap_or(self.settings.run_options.run_timeout);
        let checkout = match self.pool.checkout(queue_timeout).await {
            Ok(checkout) => checkout,
            Err(AgentError::PoolExhausted { .. }) if self.pool.options.fallback_ephemeral => {
                tracing::info!(pool = %self.pool.options.name,
                    "no pool pod became free in time; running in an ephemeral pod");
                // The request's start timeout was the wait for a pool pod, spent now; the
                // ephemeral pod gets the provider's own start timeout.
                let mut agent = crate::Agent::from_claude_request(request.claude().clone());
                for (key, value) in request.labels() {
                    agent = agent.label(key.clone(), value.clone());
                }
                if let Some(timeout) = request.run_timeout() {
                    agent = agent.run_timeout(timeout);
                }
                return self.fallback().start(&agent.request()?).await;
            }
            Err(error) => return Err(error),
        };
        let pod = checkout.pod.clone();
        let namespace = self.pool.namespace.clone();
        let pool = Arc::clone(&self.pool);
        Ok(AgentRun::new(Some(pod.clone()), move |events| {
            let context = drive::RunContext {
                plan,
                events,
                started,
                run_timeout,
                queue_timeout,
            };
            let task = AbortOnDropHandle::new(tokio::spawn(drive::drive(pool, checkout, context)));
            async move {
                match task.await {
                    Ok(result) => result,
                    Err(source) => Err(AgentError::from(TransportError::TaskFailed {
                        namespace,
                        pod,
                        source,
                    })),
                }
            }
        }))
    }
}
