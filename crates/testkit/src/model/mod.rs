//! Offline, scripted Anthropic Messages API endpoint for tests with the real `claude` CLI.
//!
//! Why: agentpod must be proven against the real CLI, but tests may not reach
//! the internet or a real model. The CLI honours `ANTHROPIC_BASE_URL`, so this
//! endpoint speaks just the part of the Messages API the CLI 2.1.328 uses
//! (`HEAD /api/hello`, `POST /v1/messages?beta=true` streaming and not,
//! `POST /v1/messages/count_tokens`) and answers from a [`Script`]. Every
//! request is recorded so a test can assert what the CLI really sent — the
//! prompt, the offered tools, the `tool_result` of a tool it executed.
//!
//! ```no_run
//! use agentpod_testkit::model::{Matcher, ModelEndpoint, Rule, Script};
//!
//! # async fn demo() -> Result<(), agentpod_testkit::model::ModelEndpointError> {
//! let script = Script::new()
//!     .rule(Rule::new(Matcher::prompt_contains("echo").without_tool_result())
//!         .tool_use("Bash", serde_json::json!({"command": "echo hi"})))
//!     .rule(Rule::new(Matcher::any().with_tool_result_containing("hi")).text("it said hi"));
//! let endpoint = ModelEndpoint::start_local(script).await?;
//! // run: ANTHROPIC_BASE_URL=<endpoint.base_url()> claude -p "echo something" --allowedTools Bash
//! let sent = endpoint.messages_requests();
//! # Ok(()) }
//! ```

mod claude_cli;
mod error;
mod matcher;
mod reply;
mod request;
mod response;
mod script;
mod server;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use claude_cli::{CLAUDE_CLI_VERSION, ClaudeCli};
pub use error::ModelEndpointError;
pub use matcher::Matcher;
pub use reply::{Block, HttpError, Reply, StreamError, ToolUse};
pub use request::{RecordedRequest, ToolResult};
pub use script::{Rule, Script};

use server::EndpointState;

/// How long [`ModelEndpoint::shutdown`] lets in-flight responses finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running scripted endpoint. Stops on [`shutdown`](Self::shutdown) or when dropped.
///
/// ```
/// use agentpod_testkit::model::{ModelEndpoint, Script};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), agentpod_testkit::model::ModelEndpointError> {
/// let endpoint = ModelEndpoint::start(Script::new(), "127.0.0.1:0".parse().unwrap()).await?;
/// assert!(endpoint.base_url().starts_with("http://127.0.0.1:"));
/// assert!(endpoint.requests().is_empty());
/// endpoint.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ModelEndpoint {
    local_addr: SocketAddr,
    state: Arc<EndpointState>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl ModelEndpoint {
    /// Binds `bind_addr` (port 0 picks a free port) and serves `script` in a background task.
    ///
    /// Bind inside the network a pod can reach (e.g. the harness namespace
    /// address) when the CLI runs in a pod; `127.0.0.1:0` for local runs.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use agentpod_testkit::model::{ModelEndpoint, Script};
    /// let endpoint = ModelEndpoint::start(Script::new(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    /// assert_ne!(endpoint.local_addr().port(), 0);
    /// # }
    /// ```
    pub async fn start(script: Script, bind_addr: SocketAddr) -> Result<Self, ModelEndpointError> {
        let listener = tokio::net::TcpListener::bind(bind_addr)
            .await
            .map_err(|source| ModelEndpointError::Bind {
                addr: bind_addr,
                source,
            })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ModelEndpointError::Bind {
                addr: bind_addr,
                source,
            })?;
        let state = Arc::new(EndpointState::new(script));
        let (stop, stopped) = oneshot::channel::<()>();
        let app = server::router(Arc::clone(&state));
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    // Either an explicit stop or the handle being dropped ends serving.
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(%local_addr, "model endpoint listening");
        Ok(Self {
            local_addr,
            state,
            stop: Some(stop),
            server: Some(server),
        })
    }

    /// [`start`](Self::start) on `127.0.0.1` with a free port.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let endpoint = agentpod_testkit::model::ModelEndpoint::start_local(Default::default()).await.unwrap();
    /// assert!(endpoint.local_addr().ip().is_loopback());
    /// # }
    /// ```
    pub async fn start_local(script: Script) -> Result<Self, ModelEndpointError> {
        Self::start(script, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// The address actually bound.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let endpoint = agentpod_testkit::model::ModelEndpoint::start_local(Default::default()).await.unwrap();
    /// println!("listening on {}", endpoint.local_addr());
    /// # }
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://ADDR:PORT`, the value for `ANTHROPIC_BASE_URL`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let endpoint = agentpod_testkit::model::ModelEndpoint::start_local(Default::default()).await.unwrap();
    /// assert_eq!(endpoint.base_url(), format!("http://{}", endpoint.local_addr()));
    /// # }
    /// ```
    pub fn base_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Every request received so far, in arrival order.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let endpoint = agentpod_testkit::model::ModelEndpoint::start_local(Default::default()).await.unwrap();
    /// assert!(endpoint.requests().is_empty());
    /// # }
    /// ```
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// Only the `POST /v1/messages` requests (model turns).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let endpoint = agentpod_testkit::model::ModelEndpoint::start_local(Default::default()).await.unwrap();
    /// assert!(endpoint.messages_requests().is_empty());
    /// # }
    /// ```
    pub fn messages_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(RecordedRequest::is_messages)
            .collect()
    }

    /// Forgets the recorded requests (rule `times` budgets are kept).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let endpoint = agentpod_testkit::model::ModelEndpoint::start_local(Default::default()).await.unwrap();
    /// endpoint.clear_requests();
    /// # }
    /// ```
    pub fn clear_requests(&self) {
        self.state.clear_requests();
    }

    /// Stops accepting, lets in-flight responses finish for up to 5 s, then aborts them.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let endpoint = agentpod_testkit::model::ModelEndpoint::start_local(Default::default()).await.unwrap();
    /// endpoint.shutdown().await.unwrap();
    /// # }
    /// ```
    pub async fn shutdown(mut self) -> Result<(), ModelEndpointError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(mut server) = self.server.take() else {
            return Ok(());
        };
        let outcome = match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
            Ok(joined) => joined,
            Err(_elapsed) => {
                server.abort();
                return Ok(());
            }
        };
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(io)) => Err(ModelEndpointError::Serve {
                addr: self.local_addr,
                reason: io.to_string(),
            }),
            Err(join) => Err(ModelEndpointError::Serve {
                addr: self.local_addr,
                reason: join.to_string(),
            }),
        }
    }
}

impl Drop for ModelEndpoint {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
