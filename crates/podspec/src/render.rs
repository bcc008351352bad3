//! Validation and rendering of an [`AgentPodSpec`] into Kubernetes objects.
//!
//! Rendering is a pure function of the spec and the `now` passed in (plus OS
//! randomness only when the name is generated): every map is a `BTreeMap` and
//! every list keeps the caller's order, so fixed inputs give byte-identical
//! YAML — which is what makes snapshot tests of our output possible.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::SystemTime;

use k8s_openapi::api::core::v1::{
    Container, EnvVar as K8sEnvVar, KeyToPath, LocalObjectReference, Pod, PodSpec, Secret,
    Volume as K8sVolume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde::Serialize;

use crate::env::validate_env_name;
use crate::env::{EnvSource, EnvVar};
use crate::labels::EXPIRES_AT_ANNOTATION;
use crate::labels::{POD_NAME_LABEL, merge_labels, validate_annotations, validate_labels};
use crate::names::{validate_dns_label, validate_dns_subdomain};
use crate::redact::RedactedSecret;
use crate::secrets::{INPUTS_VOLUME, inputs_secret_name};
use crate::security::{HOME_VOLUME, TMP_VOLUME};
use crate::volumes::absolute_path;
use crate::{AgentPodSpec, PodSpecError, Volume, VolumeMount};

/// Volume names this crate renders itself; callers may mount but not define them.
const RESERVED_VOLUMES: [&str; 3] = [HOME_VOLUME, TMP_VOLUME, INPUTS_VOLUME];

/// The objects to create for one agent run: the pod and the Secrets it refers to.
///
/// The two fields are the output, plain `k8s-openapi` objects a transport may
/// still adjust (owner references, namespace); the getters read back what the
/// builder's setters of the same name chose (`AgentPodSpec::name(..)` →
/// [`RenderedPod::name`], including a generated name).
///
/// Serializes as `{pod: …, secrets: […]}`, ready for `insta::assert_yaml_snapshot!`.
/// `Debug` prints the Secrets' keys but `<redacted>` for their values.
#[derive(Clone, PartialEq, Serialize)]
pub struct RenderedPod {
    /// The pod (create it after the Secrets, or it waits for them).
    pub pod: Pod,
    /// Secrets the pod refers to (the inputs Secret when inputs were attached).
    pub secrets: Vec<Secret>,
}

impl fmt::Debug for RenderedPod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secrets: Vec<RedactedSecret<'_>> = self.secrets.iter().map(RedactedSecret).collect();
        f.debug_struct("RenderedPod")
            .field("pod", &self.pod)
            .field("secrets", &secrets)
            .finish()
    }
}

impl RenderedPod {
    /// The pod name (resolved, also when it was generated).
    pub fn name(&self) -> &str {
        self.pod.metadata.name.as_deref().unwrap_or_default()
    }

    /// The namespace of the pod and its Secrets.
    pub fn namespace(&self) -> &str {
        self.pod.metadata.namespace.as_deref().unwrap_or_default()
    }

    /// The name of the agent container (the pod's first container).
    pub fn container_name(&self) -> &str {
        self.container().map_or("", |c| c.name.as_str())
    }

    /// The container image.
    pub fn image(&self) -> &str {
        self.container()
            .and_then(|c| c.image.as_deref())
            .unwrap_or_default()
    }

    fn container(&self) -> Option<&Container> {
        self.pod.spec.as_ref()?.containers.first()
    }

    /// An owner reference to the created pod (`uid` comes from the API server's
    /// reply). Add it to each Secret so Kubernetes deletes them with the pod.
    ///
    /// ```
    /// use agentpod_podspec::AgentPodSpec;
    /// let mut r = AgentPodSpec::new("img").name("a").secret_env("TOKEN", "t")
    ///     .render(std::time::UNIX_EPOCH).unwrap();
    /// let owner = r.pod_owner_reference("0b6e2f9e-uid");
    /// for secret in &mut r.secrets {
    ///     secret.metadata.owner_references = Some(vec![owner.clone()]);
    /// }
    /// assert_eq!(owner.kind, "Pod");
    /// assert_eq!(owner.name, "a");
    /// ```
    pub fn pod_owner_reference(&self, uid: impl Into<String>) -> OwnerReference {
        OwnerReference {
            api_version: "v1".to_owned(),
            kind: "Pod".to_owned(),
            name: self.name().to_owned(),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: None,
        }
    }
}

impl AgentPodSpec {
    /// Validates everything and renders the pod and its Secrets as of `now`
    /// (used for generated names and the expiry annotation; never read from a clock).
    ///
    /// ```
    /// use agentpod_podspec::AgentPodSpec;
    /// use std::time::UNIX_EPOCH;
    ///
    /// let spec = AgentPodSpec::new("img:1").name("same");
    /// assert_eq!(spec.render(UNIX_EPOCH)?, spec.render(UNIX_EPOCH)?);
    /// assert!(AgentPodSpec::new("img:1").name("Not Valid").render(UNIX_EPOCH).is_err());
    /// # Ok::<(), agentpod_podspec::PodSpecError>(())
    /// ```
    pub fn render(&self, now: SystemTime) -> Result<RenderedPod, PodSpecError> {
        self.validate()?;
        let name = self.name.resolve(now)?;
        let mut annotations = self.annotations.clone();
        if let Some(ttl) = self.expires_after {
            annotations.insert(
                EXPIRES_AT_ANNOTATION.to_owned(),
                crate::expiry::expiry_after(now, ttl)?,
            );
        }
        let labels = merge_labels(&self.provider_labels, &self.labels);
        let secret_name = inputs_secret_name(&name);
        let (volumes, mounts) = self.all_volumes(&secret_name);
        let pod = self.pod(&name, &labels, &annotations, &secret_name, volumes, mounts)?;
        let secrets = if self.secret_inputs.is_empty() {
            Vec::new()
        } else {
            let mut secret_labels = labels;
            secret_labels.insert(POD_NAME_LABEL.to_owned(), name);
            vec![Secret {
                metadata: ObjectMeta {
                    name: Some(secret_name),
                    namespace: Some(self.namespace.clone()),
                    labels: Some(secret_labels),
                    annotations: non_empty(annotations),
                    ..ObjectMeta::default()
                },
                data: Some(self.secret_inputs.data()),
                immutable: Some(true),
                type_: Some("Opaque".to_owned()),
                ..Secret::default()
            }]
        };
        Ok(RenderedPod { pod, secrets })
    }

    fn pod(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
        secret_name: &str,
        volumes: Vec<Volume>,
        mounts: Vec<VolumeMount>,
    ) -> Result<Pod, PodSpecError> {
        let env = self.rendered_env(secret_name)?;
        let non_empty_vec = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        let container = Container {
            name: self.container_name.clone(),
            image: Some(self.image.clone()),
            image_pull_policy: Some(self.image_pull_policy.as_str().to_owned()),
            command: non_empty_vec(&self.command),
            args: non_empty_vec(&self.args),
            working_dir: self.working_dir.clone(),
            env: (!env.is_empty()).then_some(env),
            resources: self.resources.to_requirements(),
            volume_mounts: (!mounts.is_empty())
                .then(|| mounts.iter().map(VolumeMount::to_k8s).collect()),
            security_context: self.hardening.container_security_context(),
            ..Container::default()
        };
        let hardening = &self.hardening;
        let spec = PodSpec {
            containers: vec![container],
            restart_policy: Some(self.restart_policy.as_str().to_owned()),
            service_account_name: self.service_account.clone(),
            automount_service_account_token: hardening
                .disable_service_account_token
                .then_some(false),
            enable_service_links: hardening.disable_service_links.then_some(false),
            security_context: hardening.pod_security_context(),
            image_pull_secrets: (!self.image_pull_secrets.is_empty()).then(|| {
                self.image_pull_secrets
                    .iter()
                    .map(|name| LocalObjectReference { name: name.clone() })
                    .collect()
            }),
            volumes: (!volumes.is_empty())
                .then(|| volumes.iter().map(|v| self.volume_to_k8s(v)).collect()),
            node_selector: non_empty(self.node_selector.clone()),
            tolerations: (!self.tolerations.is_empty()).then(|| self.tolerations.clone()),
            affinity: self.affinity.clone(),
            runtime_class_name: self.runtime_class.clone(),
            priority_class_name: self.priority_class.clone(),
            active_deadline_seconds: self.active_deadline_seconds,
            termination_grace_period_seconds: self.termination_grace_period_seconds,
            ..PodSpec::default()
        };
        Ok(Pod {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(self.namespace.clone()),
                labels: Some(labels.clone()),
                annotations: non_empty(annotations.clone()),
                owner_references: (!self.owner_references.is_empty())
                    .then(|| self.owner_references.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(spec),
            status: None,
        })
    }

    /// Renders a volume; the inputs volume projects only the file inputs, so
    /// `secret_env` values do not also appear as files.
    fn volume_to_k8s(&self, volume: &Volume) -> K8sVolume {
        let mut rendered = volume.to_k8s();
        if volume.name() == INPUTS_VOLUME
            && let Some(secret) = rendered.secret.as_mut()
        {
            secret.items = Some(
                self.secret_inputs
                    .file_keys()
                    .map(|key| KeyToPath {
                        key: key.to_owned(),
                        path: key.to_owned(),
                        mode: None,
                    })
                    .collect(),
            );
        }
        rendered
    }

    /// The preset's writable home and tmp and the inputs Secret directory
    /// first, then the caller's volumes and mounts in the caller's order, so
    /// a caller mount inside `$HOME` is listed after the home it lives in.
    fn all_volumes(&self, secret_name: &str) -> (Vec<Volume>, Vec<VolumeMount>) {
        let mut volumes = Vec::new();
        let mut mounts = Vec::new();
        for (volume, dir) in [
            (HOME_VOLUME, &self.hardening.writable_home),
            (TMP_VOLUME, &self.hardening.writable_tmp),
        ] {
            if let Some(dir) = dir {
                volumes.push(Volume::empty_dir(volume).size_limit(dir.size_limit.clone()));
                mounts.push(VolumeMount::new(volume, dir.path.clone()));
            }
        }
        if self.secret_inputs.has_files() {
            volumes.push(
                Volume::secret(INPUTS_VOLUME, secret_name)
                    .default_mode(self.hardening.secret_file_mode()),
            );
            mounts.push(VolumeMount::new(INPUTS_VOLUME, self.inputs_dir.clone()).read_only());
        }
        volumes.extend(self.volumes.iter().cloned());
        mounts.extend(self.mounts.iter().cloned());
        (volumes, mounts)
    }

    /// Preset `HOME`, then blanked variables not set explicitly, then the
    /// caller's variables in order, then secret-carried variables.
    fn rendered_env(&self, secret_name: &str) -> Result<Vec<K8sEnvVar>, PodSpecError> {
        let mut env: Vec<(EnvVar, &'static str)> = Vec::new();
        if let Some(home) = &self.hardening.writable_home {
            let home = EnvVar::new("HOME", EnvSource::Literal(home.path.clone()));
            env.push((home, "the hardened preset sets HOME to its writable home; change `Hardening::writable_home` instead"));
        }
        let explicit: BTreeSet<&str> = self
            .env
            .iter()
            .map(EnvVar::name)
            .chain(self.secret_inputs.env_keys())
            .collect();
        for name in &self.blanked_env {
            if !explicit.contains(name.as_str()) {
                let blank = EnvVar::new(name.clone(), EnvSource::Literal(String::new()));
                env.push((blank, "blanked variable"));
            }
        }
        for var in &self.env {
            env.push((var.clone(), "remove one of the definitions"));
        }
        for key in self.secret_inputs.env_keys() {
            let var = EnvVar::new(
                key,
                EnvSource::SecretKey {
                    secret: secret_name.to_owned(),
                    key: key.to_owned(),
                },
            );
            env.push((var, "also set through `secret_env`; keep only one"));
        }
        let mut seen: BTreeMap<&str, &'static str> = BTreeMap::new();
        for (var, origin) in &env {
            if let Some(first_origin) = seen.insert(var.name(), origin) {
                let hint = if first_origin.starts_with("the hardened") {
                    first_origin
                } else {
                    origin
                };
                return Err(PodSpecError::DuplicateEnv {
                    name: var.name().to_owned(),
                    hint,
                });
            }
        }
        Ok(env.iter().map(|(var, _)| var.to_k8s()).collect())
    }

    fn validate(&self) -> Result<(), PodSpecError> {
        if self.image.trim().is_empty() {
            return Err(PodSpecError::EmptyImage);
        }
        validate_dns_label("namespace", &self.namespace)?;
        validate_dns_label("container name", &self.container_name)?;
        if let Some(dir) = &self.working_dir {
            absolute_path("working dir", dir)?;
        }
        validate_labels("label", &self.provider_labels)?;
        validate_labels("label", &self.labels)?;
        validate_annotations(&self.annotations)?;
        self.resources.validate()?;
        if let Some(account) = &self.service_account {
            validate_dns_subdomain("service account name", account)?;
        }
        for secret in &self.image_pull_secrets {
            validate_dns_subdomain("image pull secret name", secret)?;
        }
        for var in &self.env {
            var.validate()?;
        }
        for name in &self.blanked_env {
            validate_env_name(name)?;
        }
        self.validate_volumes()?;
        validate_labels("nodeSelector", &self.node_selector)?;
        if let Some(class) = &self.runtime_class {
            validate_dns_subdomain("runtimeClassName", class)?;
        }
        if let Some(class) = &self.priority_class {
            validate_dns_subdomain("priorityClassName", class)?;
        }
        self.validate_bounds()?;
        self.hardening.validate()?;
        self.secret_inputs.validate()
    }

    fn validate_volumes(&self) -> Result<(), PodSpecError> {
        let mut names = BTreeSet::new();
        for volume in &self.volumes {
            volume.validate()?;
            if RESERVED_VOLUMES.contains(&volume.name()) {
                return Err(PodSpecError::ReservedVolumeName {
                    name: volume.name().to_owned(),
                });
            }
            if !names.insert(volume.name()) {
                return Err(PodSpecError::DuplicateVolume {
                    name: volume.name().to_owned(),
                });
            }
        }
        if self.secret_inputs.has_files() {
            absolute_path("inputs dir", &self.inputs_dir)?;
        }
        // Check every mount, ours included, against the volumes that will exist.
        let (volumes, mounts) = self.all_volumes("");
        let existing: BTreeSet<&str> = volumes.iter().map(Volume::name).collect();
        let mut paths: BTreeMap<&str, &str> = BTreeMap::new();
        for mount in &mounts {
            mount.validate()?;
            if !existing.contains(mount.volume()) {
                return Err(PodSpecError::UnknownVolume {
                    volume: mount.volume().to_owned(),
                    mount_path: mount.mount_path().to_owned(),
                });
            }
            if let Some(first) = paths.insert(mount.normalized_path(), mount.volume()) {
                let preset =
                    RESERVED_VOLUMES.contains(&first) || RESERVED_VOLUMES.contains(&mount.volume());
                return Err(PodSpecError::MountPathClash {
                    path: mount.normalized_path().to_owned(),
                    first: first.to_owned(),
                    second: mount.volume().to_owned(),
                    hint: if preset {
                        " (agentpod-* mounts come from the hardened preset or secret inputs: move them via `Hardening` or `.inputs_dir(..)`)"
                    } else {
                        ""
                    },
                });
            }
        }
        Ok(())
    }

    fn validate_bounds(&self) -> Result<(), PodSpecError> {
        if let Some(seconds) = self.active_deadline_seconds
            && seconds < 1
        {
            return Err(PodSpecError::OutOfRange {
                field: "activeDeadlineSeconds",
                value: seconds,
                reason: "must be at least 1 second; leave it unset for no deadline",
            });
        }
        if let Some(seconds) = self.termination_grace_period_seconds
            && seconds < 0
        {
            return Err(PodSpecError::OutOfRange {
                field: "terminationGracePeriodSeconds",
                value: seconds,
                reason: "must be 0 or more seconds",
            });
        }
        for (index, owner) in self.owner_references.iter().enumerate() {
            for (field, value) in [
                ("apiVersion", &owner.api_version),
                ("kind", &owner.kind),
                ("name", &owner.name),
                ("uid", &owner.uid),
            ] {
                if value.trim().is_empty() {
                    return Err(PodSpecError::InvalidOwnerReference { index, field });
                }
            }
        }
        Ok(())
    }
}

fn non_empty(map: BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!map.is_empty()).then_some(map)
}
