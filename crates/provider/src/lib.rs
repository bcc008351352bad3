//! Run a Claude Code agent with one call and get a typed result.
//!
//! This crate glues agentpod's layers together: [`Agent`] describes a run (prompt, model, tools,
//! limits, structured output), an [`AgentProvider`] runs it somewhere and returns an
//! [`AgentOutput`] or a typed [`AgentError`]. [`K8sEphemeralProvider`] runs each agent in a
//! pod of its own on a Kubernetes cluster, [`LocalProvider`] as a local `claude` process.
//!
//! Every step the glue takes stays usable on its own: the command and its parsing are
//! `agentpod-claude-args`' [`ClaudeRequest`](agentpod_claude_args::ClaudeRequest) →
//! [`ClaudeCommand`](agentpod_claude_args::ClaudeCommand), the pod is `agentpod-podspec`'s
//! [`AgentPodSpec`](agentpod_podspec::AgentPodSpec), and the pod's lifecycle is
//! `agentpod-transport`'s [`Transport`]. Write your own provider by implementing
//! [`AgentProvider::start`] (see `docs/provider.md`).
//!
//! ```no_run
//! use agentpod_provider::{Agent, AgentError, ClusterConnection, K8sEphemeralProvider};
//!
//! # async fn f() -> Result<(), AgentError> {
//! let provider = K8sEphemeralProvider::builder("registry.example/claude-runner:2.1.328")
//!     .api_key_from_secret("anthropic", "api-key")
//!     .connect(ClusterConnection::default())
//!     .await?;
//! match Agent::new("Summarise README.md").max_turns(3).run(&provider).await {
//!     Ok(output) => println!("{} (${:.4}, {} turns)", output.text, output.cost_usd, output.turns),
//!     Err(error) if error.is_retryable() => eprintln!("try again later: {error}"),
//!     Err(error) => return Err(error),
//! }
//! # Ok(()) }
//! ```
//!
//! Testing without a cluster: [`RecordingProvider`] records any provider's runs into a JSON
//! lines fixture file, [`ReplayProvider`] serves them again (a request not recorded is
//! [`AgentError::ReplayMiss`], never a call).
//!
//! Feature `mock`: `MockAgentProvider`, a `mockall` mock of the trait for tests of code that
//! takes a provider.

mod agent;
mod error;
mod k8s;
mod local;
mod local_kill;
mod output;
mod pool;
mod provider;
mod replay;
mod run;

pub use agent::{Agent, AgentRequest};
pub use error::{AgentError, Result};
pub use k8s::{Credential, K8sEphemeralProvider, K8sEphemeralProviderBuilder, PodTemplate};
pub use local::{LocalProvider, LocalProviderBuilder};
pub use output::{AgentOutput, AgentTimings};
pub use pool::{
    DRAIN_ANNOTATION, DrainReport, K8sPoolProvider, K8sPoolProviderBuilder, LAST_USED_ANNOTATION,
    POOL_LABEL, PoolOptions, PoolPod, PoolStatus, USES_ANNOTATION, drain_pool, pool_status,
};
pub use provider::AgentProvider;
#[cfg(feature = "mock")]
pub use provider::MockAgentProvider;
pub use replay::{RecordingProvider, ReplayProvider};
pub use run::{AgentEvent, AgentEvents, AgentRun, EVENT_BUFFER, EventSender};

/// Re-exported so callers name the same types the builder takes.
pub use agentpod_claude_args::{Effort, JsonOrPath, PermissionMode, ToolSet};
/// Re-exported: the connection a [`K8sEphemeralProvider`] is built from.
pub use agentpod_transport::{ClusterConnection, RunOptions, StartPolicy, Transport};
/// Re-exported for implementors: `#[async_trait]` on `impl AgentProvider for …`.
pub use async_trait::async_trait;
