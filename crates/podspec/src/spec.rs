//! [`AgentPodSpec`]: the typed description of one agent pod.
//!
//! Setters only record; all checks run in [`AgentPodSpec::render`], so a
//! provider can keep a partly filled spec as a template, clone it per
//! invocation and add the per-run pieces (labels, inputs) before rendering.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Affinity, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::env::{EnvSource, EnvVar};
use crate::secrets::{DEFAULT_INPUTS_DIR, Exposure, SecretInputs};
use crate::{Hardening, ImagePullPolicy, PodName, Resources, RestartPolicy, Volume, VolumeMount};

/// Default name of the single container (the seeds' name, kept for familiarity).
pub const DEFAULT_CONTAINER_NAME: &str = "claude-code";
/// Default namespace.
pub const DEFAULT_NAMESPACE: &str = "default";

impl From<&str> for PodName {
    fn from(name: &str) -> Self {
        Self::explicit(name)
    }
}

impl From<String> for PodName {
    fn from(name: String) -> Self {
        Self::Explicit(name)
    }
}

/// Everything about one agent pod; render it with [`AgentPodSpec::render`].
///
/// ```
/// use agentpod_podspec::{AgentPodSpec, ResourceKind, Resources};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let rendered = AgentPodSpec::new("registry.example/claude:2.1")
///     .name("review-42")
///     .namespace("agents")
///     .command(["claude", "-p", "--output-format", "json"])
///     .label("team", "platform")
///     .resources(Resources::default().limit(ResourceKind::Memory, "2Gi"))
///     .secret_env("ANTHROPIC_API_KEY", "sk-test")
///     .expires_after(Duration::from_secs(3600))
///     .render(UNIX_EPOCH + Duration::from_secs(1_767_225_600))?;
///
/// assert_eq!(rendered.name(), "review-42");
/// assert_eq!(rendered.secrets[0].metadata.name.as_deref(), Some("review-42-inputs"));
/// # Ok::<(), agentpod_podspec::PodSpecError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AgentPodSpec {
    pub(crate) image: String,
    pub(crate) name: PodName,
    pub(crate) namespace: String,
    pub(crate) container_name: String,
    pub(crate) command: Vec<String>,
    pub(crate) args: Vec<String>,
    pub(crate) working_dir: Option<String>,
    pub(crate) restart_policy: RestartPolicy,
    pub(crate) provider_labels: BTreeMap<String, String>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) expires_after: Option<Duration>,
    pub(crate) resources: Resources,
    pub(crate) service_account: Option<String>,
    pub(crate) image_pull_secrets: Vec<String>,
    pub(crate) image_pull_policy: ImagePullPolicy,
    pub(crate) env: Vec<EnvVar>,
    pub(crate) blanked_env: Vec<String>,
    pub(crate) volumes: Vec<Volume>,
    pub(crate) mounts: Vec<VolumeMount>,
    pub(crate) node_selector: BTreeMap<String, String>,
    pub(crate) tolerations: Vec<Toleration>,
    pub(crate) affinity: Option<Affinity>,
    pub(crate) runtime_class: Option<String>,
    pub(crate) priority_class: Option<String>,
    pub(crate) active_deadline_seconds: Option<i64>,
    pub(crate) termination_grace_period_seconds: Option<i64>,
    pub(crate) owner_references: Vec<OwnerReference>,
    pub(crate) hardening: Hardening,
    pub(crate) secret_inputs: SecretInputs,
    pub(crate) inputs_dir: String,
}

impl AgentPodSpec {
    /// A spec for `image` with defaults: generated name `agentpod-…`, namespace
    /// `default`, container `claude-code`, restart `Never`, pull `IfNotPresent`,
    /// hardened preset on.
    ///
    /// ```
    /// use agentpod_podspec::AgentPodSpec;
    /// let spec = AgentPodSpec::new("img:1");
    /// assert_eq!(spec.image(), "img:1");
    /// ```
    pub fn new(image: impl Into<String>) -> Self {
        Self {
            image: image.into(),
            name: PodName::default(),
            namespace: DEFAULT_NAMESPACE.to_owned(),
            container_name: DEFAULT_CONTAINER_NAME.to_owned(),
            command: Vec::new(),
            args: Vec::new(),
            working_dir: None,
            restart_policy: RestartPolicy::default(),
            provider_labels: BTreeMap::new(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            expires_after: None,
            resources: Resources::default(),
            service_account: None,
            image_pull_secrets: Vec::new(),
            image_pull_policy: ImagePullPolicy::default(),
            env: Vec::new(),
            blanked_env: Vec::new(),
            volumes: Vec::new(),
            mounts: Vec::new(),
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            affinity: None,
            runtime_class: None,
            priority_class: None,
            active_deadline_seconds: None,
            termination_grace_period_seconds: None,
            owner_references: Vec::new(),
            hardening: Hardening::default(),
            secret_inputs: SecretInputs::default(),
            inputs_dir: DEFAULT_INPUTS_DIR.to_owned(),
        }
    }

    /// The container image.
    ///
    /// ```
    /// assert_eq!(agentpod_podspec::AgentPodSpec::new("a:b").image(), "a:b");
    /// ```
    pub fn image(&self) -> &str {
        &self.image
    }

    /// Pod name: a `&str`/`String` for a fixed name, or [`PodName::generated`].
    ///
    /// ```
    /// use agentpod_podspec::{AgentPodSpec, PodName};
    /// let fixed = AgentPodSpec::new("img").name("job-7");
    /// let fresh = AgentPodSpec::new("img").name(PodName::generated("review"));
    /// # let _ = (fixed, fresh);
    /// ```
    #[must_use]
    pub fn name(mut self, name: impl Into<PodName>) -> Self {
        self.name = name.into();
        self
    }

    /// Namespace of the pod and its inputs Secret (default `default`).
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").namespace("agents");
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Name of the single container (default `claude-code`).
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").container_name("reviewer");
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn container_name(mut self, name: impl Into<String>) -> Self {
        self.container_name = name.into();
        self
    }

    /// Container `command` (replaces the image entrypoint).
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").command(["sh", "-c", "claude -p hi"]);
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn command<I, S>(mut self, command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.command = command.into_iter().map(Into::into).collect();
        self
    }

    /// Container `args` (passed to the command or entrypoint).
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").args(["-p", "--output-format", "json"]);
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Absolute working directory of the container.
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").working_dir("/work");
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn working_dir(mut self, dir: impl Into<String>) -> Self {
        self.working_dir = Some(dir.into());
        self
    }

    /// Pod restart policy (default [`RestartPolicy::Never`]).
    ///
    /// ```
    /// use agentpod_podspec::{AgentPodSpec, RestartPolicy};
    /// let spec = AgentPodSpec::new("img").restart_policy(RestartPolicy::OnFailure);
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn restart_policy(mut self, policy: RestartPolicy) -> Self {
        self.restart_policy = policy;
        self
    }

    /// A provider-level default label; per-invocation [`label`](Self::label)s override it.
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").provider_label("egress", "restricted");
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn provider_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.provider_labels.insert(key.into(), value.into());
        self
    }

    /// A per-invocation label; overrides provider defaults, never the fixed
    /// `app.kubernetes.io/managed-by` / `component` labels.
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").label("run", "nightly-7");
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// An annotation (keys under `agentpod.dev/` are reserved).
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").annotation("example.com/ticket", "OPS-1");
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Writes [`EXPIRES_AT_ANNOTATION`](crate::EXPIRES_AT_ANNOTATION) = render time + `ttl`
    /// on the pod and its Secret, so a reaper can delete them if the caller vanishes.
    ///
    /// ```
    /// use std::time::Duration;
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").expires_after(Duration::from_secs(900));
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn expires_after(mut self, ttl: Duration) -> Self {
        self.expires_after = Some(ttl);
        self
    }

    /// Requests and limits of the container.
    ///
    /// ```
    /// use agentpod_podspec::{AgentPodSpec, ResourceKind, Resources};
    /// let spec = AgentPodSpec::new("img")
    ///     .resources(Resources::default().limit(ResourceKind::Cpu, "2"));
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn resources(mut self, resources: Resources) -> Self {
        self.resources = resources;
        self
    }

    /// Service account the pod runs as.
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").service_account("agent-runner");
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn service_account(mut self, name: impl Into<String>) -> Self {
        self.service_account = Some(name.into());
        self
    }

    /// Adds an image pull secret (an existing Secret); call once per secret.
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img")
    ///     .image_pull_secret("registry-a")
    ///     .image_pull_secret("registry-b");
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn image_pull_secret(mut self, name: impl Into<String>) -> Self {
        self.image_pull_secrets.push(name.into());
        self
    }

    /// Image pull policy (default [`ImagePullPolicy::IfNotPresent`]).
    ///
    /// ```
    /// use agentpod_podspec::{AgentPodSpec, ImagePullPolicy};
    /// let spec = AgentPodSpec::new("img").image_pull_policy(ImagePullPolicy::Never);
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn image_pull_policy(mut self, policy: ImagePullPolicy) -> Self {
        self.image_pull_policy = policy;
        self
    }

    /// A literal environment variable (visible in the pod spec: not for credentials,
    /// use [`secret_env`](Self::secret_env) for those).
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").env("ANTHROPIC_BASE_URL", "http://127.0.0.1:8080");
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env
            .push(EnvVar::new(name, EnvSource::Literal(value.into())));
        self
    }

    /// Adds a prepared [`EnvVar`] (handy when a provider builds its list generically).
    ///
    /// ```
    /// use agentpod_podspec::{AgentPodSpec, EnvSource, EnvVar};
    /// let var = EnvVar::new("NO_COLOR", EnvSource::Literal("1".into()));
    /// let spec = AgentPodSpec::new("img").env_var(var);
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn env_var(mut self, var: EnvVar) -> Self {
        self.env.push(var);
        self
    }

    /// A variable read from key `key` of the existing Secret `secret`.
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img")
    ///     .env_from_secret("ANTHROPIC_API_KEY", "anthropic", "api-key");
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn env_from_secret(
        mut self,
        name: impl Into<String>,
        secret: impl Into<String>,
        key: impl Into<String>,
    ) -> Self {
        let source = EnvSource::SecretKey {
            secret: secret.into(),
            key: key.into(),
        };
        self.env.push(EnvVar::new(name, source));
        self
    }

    /// A variable read from key `key` of the existing ConfigMap `config_map`.
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img")
    ///     .env_from_config_map("CLAUDE_MODEL", "agent-settings", "model");
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn env_from_config_map(
        mut self,
        name: impl Into<String>,
        config_map: impl Into<String>,
        key: impl Into<String>,
    ) -> Self {
        let source = EnvSource::ConfigMapKey {
            config_map: config_map.into(),
            key: key.into(),
        };
        self.env.push(EnvVar::new(name, source));
        self
    }

    /// Variables to set to the empty string (e.g. the orchestrator's `CLAUDE*`
    /// names). Pass the names explicitly; nothing is read from the process
    /// environment. An explicit [`env`](Self::env) of the same name wins.
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img")
    ///     .blank_env(["CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT"]);
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn blank_env<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for name in names {
            let name = name.into();
            if !self.blanked_env.contains(&name) {
                self.blanked_env.push(name);
            }
        }
        self
    }

    /// Adds a pod volume; mount it with [`mount`](Self::mount).
    ///
    /// ```
    /// use agentpod_podspec::{AgentPodSpec, Volume, VolumeMount};
    /// let spec = AgentPodSpec::new("img")
    ///     .volume(Volume::host_path("repo", "/srv/repo"))
    ///     .mount(VolumeMount::new("repo", "/work").read_only());
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn volume(mut self, volume: Volume) -> Self {
        self.volumes.push(volume);
        self
    }

    /// Mounts a volume into the container (also the preset's `agentpod-home`,
    /// `agentpod-tmp` and the `agentpod-inputs` Secret volume).
    ///
    /// ```
    /// use agentpod_podspec::{AgentPodSpec, Volume, VolumeMount};
    /// let spec = AgentPodSpec::new("img")
    ///     .volume(Volume::config_map("settings", "claude-settings"))
    ///     .mount(VolumeMount::new("settings", "/etc/claude-code/managed-settings.json")
    ///         .sub_path("managed-settings.json")
    ///         .read_only());
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn mount(mut self, mount: VolumeMount) -> Self {
        self.mounts.push(mount);
        self
    }

    /// Security settings (default: the hardened preset, see [`Hardening`]).
    ///
    /// ```
    /// use agentpod_podspec::{AgentPodSpec, Hardening};
    /// let spec = AgentPodSpec::new("img").hardening(Hardening::none());
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn hardening(mut self, hardening: Hardening) -> Self {
        self.hardening = hardening;
        self
    }

    /// Carries `value` in the inputs Secret and exposes it as variable `name`
    /// through `secretKeyRef` (the value never appears in the pod spec).
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").secret_env("ANTHROPIC_API_KEY", "sk-…");
    /// # let _ = spec;
    /// ```
    #[must_use]
    pub fn secret_env(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.secret_inputs
            .push(name.into(), value.into(), Exposure::Env);
        self
    }

    /// Carries `data` in the inputs Secret and exposes it read-only as file
    /// `<inputs dir>/<key>` (see [`inputs_file_path`](Self::inputs_file_path)).
    /// Use it for prompts, OAuth credentials JSON and other large or secret inputs.
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img")
    ///     .secret_file("prompt.txt", "Review the diff in /work.");
    /// assert_eq!(spec.inputs_file_path("prompt.txt"), "/var/run/agentpod/inputs/prompt.txt");
    /// ```
    #[must_use]
    pub fn secret_file(mut self, key: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        self.secret_inputs
            .push(key.into(), data.into(), Exposure::File);
        self
    }

    /// Directory where [`secret_file`](Self::secret_file) inputs appear
    /// (default `/var/run/agentpod/inputs`).
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img").inputs_dir("/inputs");
    /// assert_eq!(spec.inputs_file_path("p"), "/inputs/p");
    /// ```
    #[must_use]
    pub fn inputs_dir(mut self, dir: impl Into<String>) -> Self {
        self.inputs_dir = dir.into();
        self
    }

    /// Path inside the container of the secret file input `key`.
    ///
    /// ```
    /// let spec = agentpod_podspec::AgentPodSpec::new("img");
    /// assert_eq!(spec.inputs_file_path("creds.json"), "/var/run/agentpod/inputs/creds.json");
    /// ```
    pub fn inputs_file_path(&self, key: &str) -> String {
        format!("{}/{key}", self.inputs_dir.trim_end_matches('/'))
    }
}
