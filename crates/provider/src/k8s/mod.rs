//! `K8sEphemeralProvider`: one pod per call.

mod drive;
mod pod;

pub(crate) use pod::{NONESSENTIAL_TRAFFIC_VAR, refuse_sessions};

/// A builder holding `settings` (the pool provider's ephemeral fallback).
pub(crate) fn builder_from_settings(settings: Settings) -> K8sEphemeralProviderBuilder {
    K8sEphemeralProviderBuilder { settings }
}

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use agentpod_podspec::{AgentPodSpec, RenderedPod};
use agentpod_transport::{ClusterConnection, RunOptions, Transport};
use async_trait::async_trait;

use crate::{AgentProvider, AgentRequest, AgentRun, Result};

/// Where a credential comes from. `Debug` never prints a value.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credential {
    /// The value itself; it is put into the run's inputs Secret, never into the Pod object.
    Value(String),
    /// A key of a Secret that already exists in the run's namespace (referenced by
    /// `secretKeyRef`; the value never passes through this process).
    FromSecret {
        /// Secret name.
        secret: String,
        /// Key in the Secret.
        key: String,
    },
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(_) => f.write_str("Value(<redacted>)"),
            Self::FromSecret { secret, key } => f
                .debug_struct("FromSecret")
                .field("secret", secret)
                .field("key", key)
                .finish(),
        }
    }
}

/// Everything a provider needs besides the transport.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) template: AgentPodSpec,
    pub(crate) name_prefix: String,
    pub(crate) claude_path: String,
    pub(crate) api_key: Option<Credential>,
    pub(crate) oauth_token: Option<Credential>,
    pub(crate) oauth_credentials: Option<Credential>,
    pub(crate) base_url: Option<String>,
    pub(crate) context_window_tokens: Option<u64>,
    pub(crate) run_options: RunOptions,
    pub(crate) exit_code_grace: Duration,
}

impl Settings {
    /// The transport's options for one run: the provider's, with the request's own timeouts.
    fn run_options_for(&self, request: &AgentRequest) -> RunOptions {
        let mut options = self.run_options.clone();
        if let Some(timeout) = request.start_timeout() {
            let start = options.start.clone().start_timeout(timeout);
            options = options.start(start);
        }
        if let Some(timeout) = request.run_timeout() {
            options = options.run_timeout(timeout);
        }
        options
    }

    /// The objects a run of `request` creates at `now`, as the transport will create them.
    fn render(&self, request: &AgentRequest, now: SystemTime) -> Result<RenderedPod> {
        let rendered = pod::plan(self, request, now)?.rendered;
        Ok(self.run_options_for(request).preview(rendered, now)?)
    }
}

/// Runs each agent in a pod of its own, created for the call and deleted after it.
///
/// One [`Transport`] (one Kubernetes client) is built once per provider and shared by clones,
/// so clone the provider freely. The pod comes from a template ([`AgentPodSpec`]: image,
/// namespace, resources, volumes, scheduling, service account, pull policy and secrets, the
/// hardened preset which is on by default); the provider adds a generated name, the command,
/// the request's labels and the Secrets that carry the prompt and the credentials — **the
/// prompt and every credential stay out of the Pod object**. The pod also gets
/// `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`.
///
/// Requests that resume a session (`resume`, `continue_conversation`, `session_id`) are
/// refused with [`AgentError::Unsupported`](crate::AgentError::Unsupported): the transcript dies
/// with the pod.
///
/// ```no_run
/// use agentpod_provider::{Agent, ClusterConnection, K8sEphemeralProvider};
/// use agentpod_podspec::{AgentPodSpec, ResourceKind, Resources};
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let template = AgentPodSpec::new("registry.example/claude-runner:2.1.328")
///     .namespace("agents")
///     .resources(Resources::default().limit(ResourceKind::Memory, "2Gi"));
/// let provider = K8sEphemeralProvider::builder(template)
///     .api_key_from_secret("anthropic", "api-key")
///     .connect(ClusterConnection::default())
///     .await?;
/// let output = Agent::new("What does this repository do?").run(&provider).await?;
/// println!("{} (pod {:?}, {} API requests)", output.text, output.pod, output.api_requests);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct K8sEphemeralProvider {
    settings: Arc<Settings>,
    transport: Transport,
}

impl K8sEphemeralProvider {
    /// A builder for pods made from `template` (an image name works too).
    pub fn builder(template: impl Into<PodTemplate>) -> K8sEphemeralProviderBuilder {
        K8sEphemeralProviderBuilder {
            settings: Settings {
                template: template.into().0,
                name_prefix: "agent".to_owned(),
                claude_path: "claude".to_owned(),
                api_key: None,
                oauth_token: None,
                oauth_credentials: None,
                base_url: None,
                context_window_tokens: Some(
                    agentpod_claude_args::limits::DEFAULT_CONTEXT_WINDOW_TOKENS,
                ),
                run_options: RunOptions::default(),
                exit_code_grace: Duration::ZERO,
            },
        }
    }

    /// The shared transport (its request counter, its pending cleanups).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The Pod and Secrets a run of `request` would create at `now`; see
    /// [`K8sEphemeralProviderBuilder::render`].
    pub fn render(&self, request: &AgentRequest, now: SystemTime) -> Result<RenderedPod> {
        self.settings.render(request, now)
    }
}

/// The pod template of a [`K8sEphemeralProvider`]: an [`AgentPodSpec`], or an image name.
#[derive(Debug, Clone)]
pub struct PodTemplate(AgentPodSpec);

impl From<AgentPodSpec> for PodTemplate {
    fn from(spec: AgentPodSpec) -> Self {
        Self(spec)
    }
}

impl From<&str> for PodTemplate {
    fn from(image: &str) -> Self {
        Self(AgentPodSpec::new(image))
    }
}

impl From<String> for PodTemplate {
    fn from(image: String) -> Self {
        Self(AgentPodSpec::new(image))
    }
}

/// Builds a [`K8sEphemeralProvider`]. Defaults: pod names `agent-<random>`, `claude` from the
/// image's `PATH`, no credentials (the image's own), the CLI's endpoint, a 200 000-token
/// context window for the prompt-size check, and the transport's default [`RunOptions`]
/// (start timeout 120 s, run timeout 300 s).
#[derive(Debug, Clone)]
#[must_use]
pub struct K8sEphemeralProviderBuilder {
    settings: Settings,
}

impl K8sEphemeralProviderBuilder {
    /// Prefix of the generated pod names.
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.settings.name_prefix = prefix.into();
        self
    }

    /// The `claude` binary in the image: a name on `PATH` or an absolute path.
    pub fn claude_path(mut self, path: impl Into<String>) -> Self {
        self.settings.claude_path = path.into();
        self
    }

    /// `ANTHROPIC_API_KEY` for every run.
    pub fn api_key(mut self, key: Credential) -> Self {
        self.settings.api_key = Some(key);
        self
    }

    /// `ANTHROPIC_API_KEY` from a key of an existing Secret in the run's namespace.
    pub fn api_key_from_secret(self, secret: impl Into<String>, key: impl Into<String>) -> Self {
        self.api_key(Credential::FromSecret {
            secret: secret.into(),
            key: key.into(),
        })
    }

    /// `CLAUDE_CODE_OAUTH_TOKEN` for every run.
    pub fn oauth_token(mut self, token: Credential) -> Self {
        self.settings.oauth_token = Some(token);
        self
    }

    /// An OAuth credentials JSON (`{"claudeAiOauth": …}`), copied to a writable
    /// `$HOME/.claude/.credentials.json` before the CLI starts (the CLI rewrites it when it
    /// refreshes tokens). A [`Credential::FromSecret`] is mounted from that Secret.
    pub fn oauth_credentials(mut self, json: Credential) -> Self {
        self.settings.oauth_credentials = Some(json);
        self
    }

    /// `ANTHROPIC_BASE_URL`: the model API the CLI talks to (a plain value, not a secret).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.settings.base_url = Some(url.into());
        self
    }

    /// Context window (tokens) for the prompt-size check; `None` skips the check.
    pub fn context_window_tokens(mut self, tokens: Option<u64>) -> Self {
        self.settings.context_window_tokens = tokens;
        self
    }

    /// How each run is driven: start and run timeouts, fail-fast graces, cleanup. An agent's
    /// own [`start_timeout`](crate::Agent::start_timeout) and
    /// [`run_timeout`](crate::Agent::run_timeout) override the two timeouts.
    pub fn run_options(mut self, options: RunOptions) -> Self {
        self.settings.run_options = options;
        self
    }

    /// The Pod and Secrets a run of `request` would create at `now`, without a cluster: the
    /// same rendering [`start`](AgentProvider::start) sends, stamped as the transport stamps
    /// it ([`RunOptions::preview`]: expiry annotation, `activeDeadlineSeconds`, a placeholder
    /// run token), with a fresh generated name each call. Secret values are in the returned
    /// objects; redact them before showing them. Only the owner references are missing: the
    /// pod and any further Secrets are owned by the first Secret, whose UID exists only once
    /// it is created.
    ///
    /// ```
    /// use agentpod_provider::{Agent, Credential, K8sEphemeralProvider};
    ///
    /// let builder = K8sEphemeralProvider::builder("registry.example/claude-runner:2.1.328")
    ///     .api_key(Credential::Value("sk-example".into()));
    /// let request = Agent::new("Say hello").request()?;
    /// let rendered = builder.render(&request, std::time::SystemTime::now())?;
    /// assert_eq!(rendered.secrets.len(), 1); // the prompt and the key travel in a Secret
    /// # Ok::<(), agentpod_provider::AgentError>(())
    /// ```
    pub fn render(&self, request: &AgentRequest, now: SystemTime) -> Result<RenderedPod> {
        self.settings.render(request, now)
    }

    /// How long a run that produced its result may wait for the cluster to report the
    /// container's exit, so that [`AgentOutput::exit_code`](crate::AgentOutput::exit_code) is
    /// set. Waiting costs no API request (the run's watch is open), but wall time: the kubelet
    /// reports an exit on its 1 s status relist. Default zero: the output comes at the result,
    /// with the exit code only if the cluster had already reported it.
    pub fn exit_code_grace(mut self, grace: Duration) -> Self {
        self.settings.exit_code_grace = grace;
        self
    }

    /// The options collected so far (the pool provider builds its pods and runs from them).
    pub(crate) fn into_settings(self) -> Settings {
        self.settings
    }

    /// Builds the provider on an existing transport (shared with other users of it).
    pub fn build(self, transport: Transport) -> K8sEphemeralProvider {
        K8sEphemeralProvider {
            settings: Arc::new(self.settings),
            transport,
        }
    }

    /// Connects to the cluster and builds the provider (one client for all its clones).
    pub async fn connect(self, connection: ClusterConnection) -> Result<K8sEphemeralProvider> {
        let transport = connection.connect().await?;
        Ok(self.build(transport))
    }
}

#[async_trait]
impl AgentProvider for K8sEphemeralProvider {
    async fn start(&self, request: &AgentRequest) -> Result<AgentRun> {
        let started = Instant::now();
        let plan = pod::plan(&self.settings, request, SystemTime::now())?;
        let options = self.settings.run_options_for(request);
        let handle = self.transport.start(plan.rendered, options).await?;
        Ok(drive::spawn(
            handle,
            plan.command,
            started,
            self.settings.exit_code_grace,
        ))
    }
}

#[cfg(test)]
mod tests;
