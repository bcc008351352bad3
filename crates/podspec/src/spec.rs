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

/// Default name of the single container.
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
    pub fn image(&self) -> &str {
        &self.image
    }

    /// Pod name: a `&str`/`String` for a fixed name, or [`PodName::generated`]
    /// for a fresh one on every render (the default is `PodName::generated("agentpod")`).
    ///
    /// ```
    /// use agentpod_podspec::{AgentPodSpec, PodName};
    /// use std::time::UNIX_EPOCH;
    ///
    /// let template = AgentPodSpec::new("img:1").name(PodName::generated("review"));
    /// let first = template.render(UNIX_EPOCH)?;
    /// let second = template.render(UNIX_EPOCH)?;
    /// assert!(first.name().starts_with("review-"));
    /// assert_ne!(first.name(), second.name());
    /// # Ok::<(), agentpod_podspec::PodSpecError>(())
    /// ```
    #[must_use]
    pub fn name(mut self, name: impl Into<PodName>) -> Self {
        self.name = name.into();
        self
    }

    /// Namespace of the pod and its inputs Secret (default `default`).
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Name of the single container (default `claude-code`).
    #[must_use]
    pub fn container_name(mut self, name: impl Into<String>) -> Self {
        self.container_name = name.into();
        self
    }

    /// Container `command` (replaces the image entrypoint).
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
    #[must_use]
    pub fn working_dir(mut self, dir: impl Into<String>) -> Self {
        self.working_dir = Some(dir.into());
        self
    }

    /// Pod restart policy (default [`RestartPolicy::Never`]).
    #[must_use]
    pub fn restart_policy(mut self, policy: RestartPolicy) -> Self {
        self.restart_policy = policy;
        self
    }

    /// A provider-level default label; per-invocation [`label`](Self::label)s override it.
    #[must_use]
    pub fn provider_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.provider_labels.insert(key.into(), value.into());
        self
    }

    /// A per-invocation label; overrides provider defaults, never the fixed
    /// `app.kubernetes.io/managed-by` / `component` labels.
    #[must_use]
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// An annotation (keys under `agentpod.dev/` are reserved).
    #[must_use]
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Writes [`EXPIRES_AT_ANNOTATION`](crate::labels::EXPIRES_AT_ANNOTATION) = render time + `ttl`
    /// on the pod and its Secret, so a reaper can delete them if the caller vanishes.
    #[must_use]
    pub fn expires_after(mut self, ttl: Duration) -> Self {
        self.expires_after = Some(ttl);
        self
    }

    /// Requests and limits of the container.
    #[must_use]
    pub fn resources(mut self, resources: Resources) -> Self {
        self.resources = resources;
        self
    }

    /// Service account the pod runs as.
    #[must_use]
    pub fn service_account(mut self, name: impl Into<String>) -> Self {
        self.service_account = Some(name.into());
        self
    }

    /// Adds an image pull secret (an existing Secret); call once per secret.
    #[must_use]
    pub fn image_pull_secret(mut self, name: impl Into<String>) -> Self {
        self.image_pull_secrets.push(name.into());
        self
    }

    /// Image pull policy (default [`ImagePullPolicy::IfNotPresent`]).
    #[must_use]
    pub fn image_pull_policy(mut self, policy: ImagePullPolicy) -> Self {
        self.image_pull_policy = policy;
        self
    }

    /// A literal environment variable (visible in the pod spec: not for credentials,
    /// use [`secret_env`](Self::secret_env) for those).
    #[must_use]
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env
            .push(EnvVar::new(name, EnvSource::Literal(value.into())));
        self
    }

    /// Adds a prepared [`EnvVar`] (handy when a provider builds its list generically).
    #[must_use]
    pub fn env_var(mut self, var: EnvVar) -> Self {
        self.env.push(var);
        self
    }

    /// A variable read from key `key` of the existing Secret `secret`.
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

    /// Variables to set to the empty string, so that values the image or an
    /// orchestrator would otherwise pass on are cleared. Pass the names
    /// explicitly (the caller decides which, e.g. the list claude-args computes);
    /// nothing is read from the process environment. An explicit
    /// [`env`](Self::env) of the same name wins.
    ///
    /// ```
    /// use agentpod_podspec::{AgentPodSpec, Hardening};
    /// use std::time::UNIX_EPOCH;
    ///
    /// let rendered = AgentPodSpec::new("img:1")
    ///     .name("p")
    ///     .hardening(Hardening::none())
    ///     .blank_env(["PARENT_SESSION", "HTTP_PROXY"])
    ///     .env("HTTP_PROXY", "http://proxy:3128")
    ///     .render(UNIX_EPOCH)?;
    /// let env = rendered.pod.spec.unwrap().containers[0].env.clone().unwrap();
    /// let pairs: Vec<_> = env.iter().map(|e| (e.name.as_str(), e.value.as_deref().unwrap())).collect();
    /// assert_eq!(pairs, [("PARENT_SESSION", ""), ("HTTP_PROXY", "http://proxy:3128")]);
    /// # Ok::<(), agentpod_podspec::PodSpecError>(())
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
    #[must_use]
    pub fn volume(mut self, volume: Volume) -> Self {
        self.volumes.push(volume);
        self
    }

    /// Mounts a volume into the container (also the preset's `agentpod-home`,
    /// `agentpod-tmp` and the `agentpod-inputs` Secret volume).
    ///
    /// ```
    /// use agentpod_podspec::consts::INPUTS_VOLUME;
    /// use agentpod_podspec::{AgentPodSpec, Volume, VolumeMount};
    /// use std::time::UNIX_EPOCH;
    ///
    /// let rendered = AgentPodSpec::new("img:1")
    ///     .name("p")
    ///     .volume(Volume::host_path("repo", "/srv/repo"))
    ///     .mount(VolumeMount::new("repo", "/work").read_only())
    ///     // One file of the inputs Secret, at the exact path a program reads it from:
    ///     .secret_file("credentials.json", "{}")
    ///     .mount(VolumeMount::new(INPUTS_VOLUME, "/home/agent/.claude/.credentials.json")
    ///         .sub_path("credentials.json")
    ///         .read_only())
    ///     .render(UNIX_EPOCH)?;
    /// let mounts = rendered.pod.spec.unwrap().containers[0].volume_mounts.clone().unwrap();
    /// let paths: Vec<_> = mounts.iter().map(|m| m.mount_path.as_str()).collect();
    /// // The preset's home, tmp and inputs directory come first, then yours in order.
    /// assert_eq!(paths, ["/home/agent", "/tmp", "/var/run/agentpod/inputs", "/work",
    ///     "/home/agent/.claude/.credentials.json"]);
    /// # Ok::<(), agentpod_podspec::PodSpecError>(())
    /// ```
    #[must_use]
    pub fn mount(mut self, mount: VolumeMount) -> Self {
        self.mounts.push(mount);
        self
    }

    /// Security settings (default: the hardened preset, see [`Hardening`]).
    #[must_use]
    pub fn hardening(mut self, hardening: Hardening) -> Self {
        self.hardening = hardening;
        self
    }

    /// Carries `value` in the inputs Secret and exposes it as variable `name`
    /// through `secretKeyRef` (the value never appears in the pod spec).
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
    /// use agentpod_podspec::AgentPodSpec;
    /// use std::time::UNIX_EPOCH;
    ///
    /// let spec = AgentPodSpec::new("img:1").name("review").secret_file("prompt.txt", "Review the diff.");
    /// // The command reads the prompt from the file, so it never shows in the pod spec.
    /// let read_prompt = format!("claude -p \"$(cat {})\"", spec.inputs_file_path("prompt.txt"));
    /// assert_eq!(read_prompt, r#"claude -p "$(cat /var/run/agentpod/inputs/prompt.txt)""#);
    /// let rendered = spec.command(["sh", "-c", &read_prompt]).render(UNIX_EPOCH)?;
    /// assert!(!serde_json::to_string(&rendered.pod).unwrap().contains("Review the diff"));
    /// # Ok::<(), agentpod_podspec::PodSpecError>(())
    /// ```
    #[must_use]
    pub fn secret_file(mut self, key: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        self.secret_inputs
            .push(key.into(), data.into(), Exposure::File);
        self
    }

    /// Directory where [`secret_file`](Self::secret_file) inputs appear
    /// (default `/var/run/agentpod/inputs`).
    #[must_use]
    pub fn inputs_dir(mut self, dir: impl Into<String>) -> Self {
        self.inputs_dir = dir.into();
        self
    }

    /// Path inside the container of the secret file input `key`
    /// (see [`secret_file`](Self::secret_file)).
    pub fn inputs_file_path(&self, key: &str) -> String {
        format!("{}/{key}", self.inputs_dir.trim_end_matches('/'))
    }
}
