//! Cluster connection settings and the shared [`Transport`].
//!
//! Why one client: a `kube::Client` owns a connection pool, TLS state and
//! credentials. Building one per call (what the upstream provider did) costs a
//! TLS handshake and a kubeconfig parse every run and defeats HTTP/2 and
//! keep-alive reuse. A [`Transport`] is built once and cloned: clones share the
//! client, the request counter and the tracker of background cleanups.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio_util::task::TaskTracker;

use crate::TransportError;
use crate::bound::{REQUEST_TIMEOUT, bounded_client};
use crate::error::BoxError;
use crate::metrics::{CountingLayer, RequestCounter};
use crate::worker::WorkerLocks;

/// Where the cluster credentials come from.
///
/// ```
/// use agentpod_transport::ClusterConnection;
/// let file = ClusterConnection::kubeconfig_file("/etc/agentpod/kubeconfig").context("prod");
/// assert_eq!(file.describe(), "kubeconfig file /etc/agentpod/kubeconfig (context prod)");
/// assert_eq!(ClusterConnection::default().describe(), "the default kubeconfig ($KUBECONFIG, ~/.kube/config) or in-cluster service account");
/// ```
#[derive(Clone, Default)]
pub struct ClusterConnection {
    source: Source,
    context: Option<String>,
    request_timeout: Option<Duration>,
}

#[derive(Clone, Default)]
enum Source {
    /// `$KUBECONFIG` / `~/.kube/config`, else the in-cluster service account.
    #[default]
    Default,
    /// A kubeconfig file.
    File(PathBuf),
    /// Kubeconfig YAML held in memory (never logged).
    Inline(String),
}

impl std::fmt::Debug for ClusterConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Inline YAML may hold credentials: only describe it.
        f.write_str(&self.describe())
    }
}

impl ClusterConnection {
    /// Reads the kubeconfig file at `path`.
    pub fn kubeconfig_file(path: impl Into<PathBuf>) -> Self {
        Self {
            source: Source::File(path.into()),
            ..Self::default()
        }
    }

    /// Uses kubeconfig YAML held in memory (e.g. from a secret store).
    ///
    /// ```
    /// let c = agentpod_transport::ClusterConnection::inline_kubeconfig("apiVersion: v1\nkind: Config\n");
    /// assert_eq!(c.describe(), "inline kubeconfig");
    /// ```
    pub fn inline_kubeconfig(yaml: impl Into<String>) -> Self {
        Self {
            source: Source::Inline(yaml.into()),
            ..Self::default()
        }
    }

    /// Bounds every API request (default 30 s): the response must start
    /// within it, and an ordinary response body may not stall longer. Watches,
    /// log follows and exec sessions have their own bounds (see
    /// `docs/transport.md`). A request that hits it counts as a transient
    /// failure and is retried by the [`RetryPolicy`](crate::RetryPolicy).
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Selects a context instead of the kubeconfig's current one.
    #[must_use]
    pub fn context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    /// Human description of the settings, used in errors (never contains secrets).
    pub fn describe(&self) -> String {
        let base = match &self.source {
            Source::Default => {
                "the default kubeconfig ($KUBECONFIG, ~/.kube/config) or in-cluster service account"
                    .to_owned()
            }
            Source::File(path) => format!("kubeconfig file {}", path.display()),
            Source::Inline(_) => "inline kubeconfig".to_owned(),
        };
        match &self.context {
            Some(context) => format!("{base} (context {context})"),
            None => base,
        }
    }

    async fn config(&self) -> Result<kube::Config, TransportError> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let failed = |source: BoxError| TransportError::Connection {
            source_name: self.describe(),
            source,
        };
        match &self.source {
            Source::Default if self.context.is_none() => kube::Config::infer()
                .await
                .map_err(|error| failed(Box::new(error))),
            Source::Default => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|error| failed(Box::new(error))),
            Source::File(path) => {
                let parsed = Kubeconfig::read_from(path).map_err(|e| failed(Box::new(e)))?;
                kube::Config::from_custom_kubeconfig(parsed, &options)
                    .await
                    .map_err(|e| failed(Box::new(e)))
            }
            Source::Inline(yaml) => {
                // Parser errors quote the input; the input may hold tokens, so
                // only the first line of the message is kept (not the error).
                let parsed = Kubeconfig::from_yaml(yaml).map_err(|e| {
                    let text = e.to_string();
                    failed(text.lines().next().unwrap_or_default().into())
                })?;
                kube::Config::from_custom_kubeconfig(parsed, &options)
                    .await
                    .map_err(|e| failed(Box::new(e)))
            }
        }
    }

    /// Builds the shared [`Transport`]. Reads and validates the settings but
    /// sends no request; the first API call reveals an unreachable server.
    ///
    /// One transport per process, cloned into every task (same client, same
    /// connection pool, one count of requests):
    ///
    /// ```no_run
    /// # async fn f() -> agentpod_transport::Result<()> {
    /// use agentpod_transport::{ClusterConnection, Reaper};
    /// use std::time::Duration;
    /// let transport = ClusterConnection::kubeconfig_file("/etc/agentpod/kubeconfig")
    ///     .request_timeout(Duration::from_secs(10))
    ///     .connect()
    ///     .await?;
    /// let _reaper = Reaper::new(transport.clone()).spawn_periodic(Duration::from_secs(300));
    /// println!("{} requests so far", transport.total_requests());
    /// # Ok(()) }
    /// ```
    pub async fn connect(&self) -> Result<Transport, TransportError> {
        let mut config = self.config().await?;
        // Our own retries (see `retry.rs`) decide what is transient and count
        // every attempt; a second, hidden retry layer would do neither.
        config.default_retry = false;
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        let counter = RequestCounter::default();
        let builder = kube::client::ClientBuilder::try_from(config).map_err(|error| {
            TransportError::Connection {
                source_name: self.describe(),
                source: Box::new(error),
            }
        })?;
        let client = builder
            .with_layer(&CountingLayer::new(counter.clone()))
            .build();
        let timeout = self.request_timeout.unwrap_or(REQUEST_TIMEOUT);
        Ok(Transport::assemble(client, counter, timeout))
    }
}

/// How long establishing a TCP/TLS connection to the API server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The shared handle to a cluster: one `kube::Client`, cheap to clone.
///
/// ```no_run
/// # async fn f(client: kube::Client) {
/// let transport = agentpod_transport::Transport::from_client(client);
/// assert_eq!(transport.total_requests(), 0);
/// # }
/// ```
#[derive(Clone)]
pub struct Transport {
    client: kube::Client,
    requests: RequestCounter,
    cleanups: TaskTracker,
    workers: WorkerLocks,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("requests", &self.requests.get())
            .field("pending_cleanups", &self.cleanups.len())
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// Wraps an existing client (e.g. one a test harness built). Requests are
    /// then counted per run only, not in [`total_requests`](Self::total_requests).
    /// Every request through it is bounded by the default request timeout
    /// (see [`ClusterConnection::request_timeout`]).
    pub fn from_client(client: kube::Client) -> Self {
        Self::assemble(client, RequestCounter::default(), REQUEST_TIMEOUT)
    }

    fn assemble(client: kube::Client, requests: RequestCounter, timeout: Duration) -> Self {
        Self {
            client: bounded_client(client, timeout),
            requests,
            cleanups: TaskTracker::new(),
            workers: WorkerLocks::default(),
        }
    }

    /// The shared client (a cheap clone).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// Requests sent through the shared client since it was built (only for
    /// transports made by [`ClusterConnection::connect`]).
    pub fn total_requests(&self) -> u64 {
        self.requests.get()
    }

    /// Runs and cleanups whose objects may still exist: live runs, runs being
    /// torn down, and deletions started by drop guards that have not finished.
    pub fn pending_cleanups(&self) -> usize {
        self.cleanups.len()
    }

    /// Waits until every run and cleanup counted by
    /// [`pending_cleanups`](Self::pending_cleanups) is done, at most `timeout`.
    /// Returns `true` when none is left. Call it before a program exits (after
    /// dropping or finishing its runs): tasks still running when the tokio
    /// runtime shuts down are cancelled, and the reaper is the backstop for those.
    ///
    /// ```no_run
    /// # async fn f(transport: agentpod_transport::Transport) {
    /// if !transport.finish_cleanups(std::time::Duration::from_secs(30)).await {
    ///     eprintln!("{} cleanups left to the reaper", transport.pending_cleanups());
    /// }
    /// # }
    /// ```
    pub async fn finish_cleanups(&self, timeout: Duration) -> bool {
        self.cleanups.close();
        let finished = tokio::time::timeout(timeout, self.cleanups.wait())
            .await
            .is_ok();
        self.cleanups.reopen();
        finished
    }

    pub(crate) fn tracker(&self) -> &TaskTracker {
        &self.cleanups
    }

    pub(crate) fn worker_locks(&self) -> &WorkerLocks {
        &self.workers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_kubeconfig_file_names_the_file() {
        let error = ClusterConnection::kubeconfig_file("/nonexistent/agentpod/kubeconfig")
            .connect()
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("kubeconfig file /nonexistent/agentpod/kubeconfig"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn broken_inline_yaml_is_a_connection_error_without_the_yaml() {
        let secret_looking =
            "apiVersion: v1\nkind: Config\nusers: [ {name: u, user: {token: sk-secret-token}";
        let error = ClusterConnection::inline_kubeconfig(secret_looking)
            .connect()
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("inline kubeconfig"), "{error}");
        assert!(!error.contains("sk-secret-token"), "{error}");
    }

    #[tokio::test]
    async fn unknown_context_is_named() {
        let yaml = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: known\n  context: {cluster: c, user: u}\ncurrent-context: known\n";
        let error = ClusterConnection::inline_kubeconfig(yaml)
            .context("missing")
            .connect()
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("context missing"), "{error}");
        let ok = ClusterConnection::inline_kubeconfig(yaml).connect().await;
        assert!(ok.is_ok(), "{ok:?}");
    }
}
