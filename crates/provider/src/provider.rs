//! The trait every provider implements.

use async_trait::async_trait;

use crate::{AgentOutput, AgentRequest, AgentRun, Result};

/// Somewhere an agent can run: a pod per call, a local process, a recording…
///
/// One method is required, [`start`](Self::start); everything else is provided. The trait is
/// object safe, so a program can pick a provider at run time and hold it as
/// `Arc<dyn AgentProvider>` or pass `&dyn AgentProvider`.
///
/// ```
/// use std::sync::Arc;
/// use agentpod_provider::{
///     async_trait, Agent, AgentOutput, AgentProvider, AgentRequest, AgentRun, Result,
/// };
///
/// /// Answers every prompt with its length, without running anything.
/// struct Echo;
///
/// #[async_trait]
/// impl AgentProvider for Echo {
///     async fn start(&self, request: &AgentRequest) -> Result<AgentRun> {
///         let line = serde_json::json!({
///             "type": "result", "subtype": "success", "is_error": false,
///             "result": request.claude().prompt.len().to_string(),
///         });
///         let claude = agentpod_claude_args::parse_output(&line.to_string(), false)?;
///         Ok(AgentRun::new(None, |_events| async move { Ok(AgentOutput::from_claude(claude)) }))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let provider: Arc<dyn AgentProvider> = Arc::new(Echo);
/// let output = Agent::new("four").run(provider.as_ref()).await?;
/// assert_eq!(output.text, "4");
/// # Ok::<(), agentpod_provider::AgentError>(()) }).unwrap();
/// ```
///
/// Interactive sessions (input sent to a running agent) will come as further provided methods;
/// providers that implement `start` keep compiling.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait AgentProvider: Send + Sync {
    /// Starts a run and returns it once it is under way (for a pod provider: once the pod
    /// exists). Invalid requests fail here, before anything is sent anywhere.
    async fn start(&self, request: &AgentRequest) -> Result<AgentRun>;

    /// Runs to the end and returns the output (events discarded).
    async fn run(&self, request: &AgentRequest) -> Result<AgentOutput> {
        self.start(request).await?.output().await
    }
}

/// A reference to a provider is a provider (e.g. `RecordingProvider<&LocalProvider>`).
#[async_trait]
impl<P: AgentProvider + ?Sized> AgentProvider for &P {
    async fn start(&self, request: &AgentRequest) -> Result<AgentRun> {
        (**self).start(request).await
    }

    async fn run(&self, request: &AgentRequest) -> Result<AgentOutput> {
        (**self).run(request).await
    }
}

/// A shared provider is a provider (e.g. `RecordingProvider<Arc<dyn AgentProvider>>`).
#[async_trait]
impl<P: AgentProvider + ?Sized> AgentProvider for std::sync::Arc<P> {
    async fn start(&self, request: &AgentRequest) -> Result<AgentRun> {
        (**self).start(request).await
    }

    async fn run(&self, request: &AgentRequest) -> Result<AgentOutput> {
        (**self).run(request).await
    }
}
