//! The two sides, configured alike: same cluster and namespace, same runner image and `claude`,
//! same model endpoint and retry setting, one trivial call at a time.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use agentpod_podspec::{AgentPodSpec, ImagePullPolicy, Volume, VolumeMount};
use agentpod_provider::{
    Agent, AgentProvider, ClusterConnection, Credential, K8sEphemeralProvider,
    K8sEphemeralProviderBuilder, K8sPoolProvider, PoolOptions, RunOptions, StartPolicy,
};
use agentpod_testkit::cluster::{CLAUDE_RUNNER_BINARY, CLAUDE_RUNNER_IMAGE};
use anyhow::Context;
use ironflow_core::prelude as theirs;
use ironflow_core::providers::claude as theirs_k8s;

/// The API key both sides hand to the pod (the offline endpoint accepts any).
pub const BENCH_API_KEY: &str = "agentpod-bench-key-7c1d";

/// Where the cluster is, and what the pods talk to.
#[derive(Debug, Clone)]
pub struct Setup {
    /// How to reach the API server: a kubeconfig file, or inline YAML (the counting proxy).
    pub cluster: ClusterAt,
    /// Namespace of both sides' pods.
    pub namespace: String,
    /// `ANTHROPIC_BASE_URL` of the pods.
    pub base_url: String,
    /// For B5: a host directory mounted at [`STREAM_MOUNT`] and the `claude` path inside it.
    pub fake_claude: Option<PathBuf>,
}

/// How a side reaches the API server.
#[derive(Debug, Clone)]
pub enum ClusterAt {
    /// The admin kubeconfig file.
    File(PathBuf),
    /// A kubeconfig given inline (the counting proxy's).
    Inline(String),
}

/// Where the B5 stream generator's directory is mounted in the pod.
pub const STREAM_MOUNT: &str = "/bench-stream";

/// What one call gave.
#[derive(Debug, Clone)]
pub struct Call {
    /// `run` called → output returned.
    pub wall: Duration,
    /// The answer's text (checked by the caller).
    pub text: String,
    /// Requests the side reported itself (ours: `AgentOutput::api_requests`).
    pub api_requests: Option<u64>,
}

/// Our `K8sEphemeralProvider`, configured as the end-to-end tests configure it.
pub async fn ours(setup: &Setup) -> anyhow::Result<K8sEphemeralProvider> {
    let (builder, connection) = our_builder(setup);
    builder
        .connect(connection)
        .await
        .context("our provider could not connect")
}

/// Our `K8sPoolProvider` over the same pod template as [`ours`]: one warm pod, warmed up.
pub async fn our_pool(setup: &Setup) -> anyhow::Result<K8sPoolProvider> {
    let (builder, connection) = our_builder(setup);
    let pool =
        K8sPoolProvider::builder(builder, PoolOptions::default().name("bench").min(1).max(1))
            .connect(connection)
            .await
            .context("our pool could not connect")?;
    pool.warm_up().await.context("the pool did not warm up")?;
    Ok(pool)
}

/// The builder both of our providers start from, and where the cluster is.
fn our_builder(setup: &Setup) -> (K8sEphemeralProviderBuilder, ClusterConnection) {
    let mut template = AgentPodSpec::new(CLAUDE_RUNNER_IMAGE)
        .namespace(&setup.namespace)
        .image_pull_policy(ImagePullPolicy::IfNotPresent)
        .termination_grace_period_seconds(0)
        .env("CLAUDE_CODE_MAX_RETRIES", "0");
    let mut claude = CLAUDE_RUNNER_BINARY.to_owned();
    if let Some(dir) = &setup.fake_claude {
        template = template
            .volume(Volume::host_path("bench-stream", dir.to_string_lossy()))
            .mount(VolumeMount::new("bench-stream", STREAM_MOUNT).read_only());
        claude = format!("{STREAM_MOUNT}/claude");
    }
    let connection = match &setup.cluster {
        ClusterAt::File(path) => ClusterConnection::kubeconfig_file(path),
        ClusterAt::Inline(yaml) => ClusterConnection::inline_kubeconfig(yaml.clone()),
    };
    let builder = K8sEphemeralProvider::builder(template)
        .claude_path(claude)
        .api_key(Credential::Value(BENCH_API_KEY.into()))
        .base_url(&setup.base_url)
        .run_options(
            RunOptions::default()
                .start(StartPolicy::default().start_timeout(Duration::from_secs(600)))
                .run_timeout(Duration::from_secs(900)),
        );
    (builder, connection)
}

/// One trivial call through one of our providers.
pub async fn call_ours<P: AgentProvider>(provider: &P, prompt: &str) -> anyhow::Result<Call> {
    let started = Instant::now();
    let output = Agent::new(prompt).run(provider).await?;
    Ok(Call {
        wall: started.elapsed(),
        text: output.text,
        api_requests: Some(output.api_requests),
    })
}

/// ironflow-core 2.10.1's `K8sEphemeralProvider`, configured alike. It has no credential
/// option, so the key goes where its users put it: a plain env entry of the pod.
pub fn theirs(setup: &Setup) -> theirs_k8s::K8sEphemeralProvider {
    let mut provider = theirs_k8s::K8sEphemeralProvider::new(CLAUDE_RUNNER_IMAGE)
        .namespace(&setup.namespace)
        .claude_path(CLAUDE_RUNNER_BINARY)
        .image_pull_policy(theirs_k8s::ImagePullPolicy::IfNotPresent)
        .env("ANTHROPIC_API_KEY", BENCH_API_KEY)
        .env("ANTHROPIC_BASE_URL", &setup.base_url)
        .env("CLAUDE_CODE_MAX_RETRIES", "0")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .timeout(Duration::from_secs(900))
        .cluster_config(match &setup.cluster {
            ClusterAt::File(path) => {
                theirs_k8s::K8sClusterConfig::KubeconfigFile(path.to_string_lossy().into_owned())
            }
            ClusterAt::Inline(yaml) => theirs_k8s::K8sClusterConfig::KubeconfigInline(yaml.clone()),
        });
    if let Some(dir) = &setup.fake_claude {
        provider = provider
            .volume(&dir.to_string_lossy(), STREAM_MOUNT)
            .claude_path(&format!("{STREAM_MOUNT}/claude"));
    }
    provider
}

/// One trivial call through ironflow-core. `stream_json` asks for `--verbose` (stream-json),
/// the only mode in which it reads more than one JSON document.
pub async fn call_theirs(
    provider: &theirs_k8s::K8sEphemeralProvider,
    prompt: &str,
    stream_json: bool,
) -> anyhow::Result<Call> {
    let mut agent = theirs::Agent::new().prompt(prompt);
    if stream_json {
        agent = agent.verbose();
    }
    let started = Instant::now();
    let result = agent
        .run(provider)
        .await
        .map_err(|error| anyhow::anyhow!("ironflow-core: {error}"))?;
    Ok(Call {
        wall: started.elapsed(),
        text: result.text().to_owned(),
        api_requests: None,
    })
}
