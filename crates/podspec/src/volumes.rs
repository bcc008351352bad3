//! Volumes and where the agent container mounts them.
//!
//! Volumes and mounts are separate on purpose (like in Kubernetes): one volume
//! can be mounted several times with different `subPath`s. The builder checks
//! names, references and paths so clashes are reported with both culprits.

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, EmptyDirVolumeSource, HostPathVolumeSource,
    PersistentVolumeClaimVolumeSource, SecretVolumeSource, Volume as K8sVolume,
    VolumeMount as K8sVolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::PodSpecError;

/// What the kubelet checks (or creates) at a hostPath before mounting it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HostPathType {
    /// No check (Kubernetes' empty type).
    Unchecked,
    /// Create an empty directory (0755) if nothing exists.
    DirectoryOrCreate,
    /// A directory must exist (the default: a typo fails instead of mounting nothing).
    #[default]
    Directory,
    /// Create an empty file (0644) if nothing exists.
    FileOrCreate,
    /// A file must exist.
    File,
    /// A UNIX socket must exist.
    Socket,
    /// A character device must exist.
    CharDevice,
    /// A block device must exist.
    BlockDevice,
}

impl HostPathType {
    /// The Kubernetes spelling (`""` for [`HostPathType::Unchecked`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unchecked => "",
            Self::DirectoryOrCreate => "DirectoryOrCreate",
            Self::Directory => "Directory",
            Self::FileOrCreate => "FileOrCreate",
            Self::File => "File",
            Self::Socket => "Socket",
            Self::CharDevice => "CharDevice",
            Self::BlockDevice => "BlockDevice",
        }
    }
}

/// The kind of storage behind a [`Volume`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VolumeSource {
    /// A path on the node.
    HostPath {
        /// Absolute path on the node.
        path: String,
        /// Check performed before mounting.
        kind: HostPathType,
    },
    /// A scratch directory that lives as long as the pod.
    EmptyDir {
        /// Optional size limit quantity (e.g. `"1Gi"`).
        size_limit: Option<String>,
        /// Back it with RAM (`medium: Memory`, counts against the memory limit).
        in_memory: bool,
    },
    /// An existing PersistentVolumeClaim.
    PersistentVolumeClaim {
        /// Claim name.
        claim: String,
        /// Attach the claim read-only.
        read_only: bool,
    },
    /// An existing Secret, one file per key.
    Secret {
        /// Secret name.
        secret: String,
        /// File mode for the projected files (e.g. `0o440`); Kubernetes defaults to `0o644`.
        default_mode: Option<i32>,
    },
    /// An existing ConfigMap, one file per key.
    ConfigMap {
        /// ConfigMap name.
        config_map: String,
        /// File mode for the projected files; Kubernetes defaults to `0o644`.
        default_mode: Option<i32>,
    },
}

/// A named pod volume: start from a constructor per kind, then adjust it with
/// the modifiers of that kind (a modifier of another kind has no effect).
///
/// ```
/// use agentpod_podspec::{AgentPodSpec, HostPathType, Volume, VolumeMount};
/// use std::time::UNIX_EPOCH;
///
/// let rendered = AgentPodSpec::new("img:1")
///     .name("p")
///     .volume(Volume::host_path("sock", "/run/x.sock").host_path_type(HostPathType::Socket))
///     .volume(Volume::empty_dir("shm").size_limit("256Mi").in_memory())
///     .volume(Volume::persistent_volume_claim("cache", "cargo-registry").read_only_claim())
///     .volume(Volume::secret("ca", "corporate-ca").default_mode(0o444))
///     .volume(Volume::config_map("settings", "claude-settings"))
///     .mount(VolumeMount::new("shm", "/dev/shm"))
///     .render(UNIX_EPOCH)?;
/// let volumes = rendered.pod.spec.unwrap().volumes.unwrap();
/// let shm = volumes.iter().find(|v| v.name == "shm").unwrap();
/// assert_eq!(shm.empty_dir.as_ref().unwrap().medium.as_deref(), Some("Memory"));
/// let sock = volumes.iter().find(|v| v.name == "sock").unwrap();
/// assert_eq!(sock.host_path.as_ref().unwrap().type_.as_deref(), Some("Socket"));
/// # Ok::<(), agentpod_podspec::PodSpecError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    name: String,
    source: VolumeSource,
}

impl Volume {
    /// A hostPath volume of type [`HostPathType::Directory`].
    pub fn host_path(name: impl Into<String>, path: impl Into<String>) -> Self {
        Self::new(
            name,
            VolumeSource::HostPath {
                path: path.into(),
                kind: HostPathType::default(),
            },
        )
    }

    /// An emptyDir volume without size limit on disk.
    pub fn empty_dir(name: impl Into<String>) -> Self {
        Self::new(
            name,
            VolumeSource::EmptyDir {
                size_limit: None,
                in_memory: false,
            },
        )
    }

    /// A volume backed by the PersistentVolumeClaim `claim`.
    pub fn persistent_volume_claim(name: impl Into<String>, claim: impl Into<String>) -> Self {
        Self::new(
            name,
            VolumeSource::PersistentVolumeClaim {
                claim: claim.into(),
                read_only: false,
            },
        )
    }

    /// A volume projecting the existing Secret `secret`.
    pub fn secret(name: impl Into<String>, secret: impl Into<String>) -> Self {
        Self::new(
            name,
            VolumeSource::Secret {
                secret: secret.into(),
                default_mode: None,
            },
        )
    }

    /// A volume projecting the existing ConfigMap `config_map`.
    pub fn config_map(name: impl Into<String>, config_map: impl Into<String>) -> Self {
        Self::new(
            name,
            VolumeSource::ConfigMap {
                config_map: config_map.into(),
                default_mode: None,
            },
        )
    }

    /// A volume from any [`VolumeSource`].
    pub fn new(name: impl Into<String>, source: VolumeSource) -> Self {
        Self {
            name: name.into(),
            source,
        }
    }

    /// Sets the hostPath check; no effect on other kinds.
    #[must_use]
    pub fn host_path_type(mut self, new_kind: HostPathType) -> Self {
        if let VolumeSource::HostPath { kind, .. } = &mut self.source {
            *kind = new_kind;
        }
        self
    }

    /// Sets an emptyDir size limit (e.g. `"1Gi"`); no effect on other kinds.
    #[must_use]
    pub fn size_limit(mut self, quantity: impl Into<String>) -> Self {
        if let VolumeSource::EmptyDir { size_limit, .. } = &mut self.source {
            *size_limit = Some(quantity.into());
        }
        self
    }

    /// Backs an emptyDir with memory (tmpfs); no effect on other kinds.
    #[must_use]
    pub fn in_memory(mut self) -> Self {
        if let VolumeSource::EmptyDir { in_memory, .. } = &mut self.source {
            *in_memory = true;
        }
        self
    }

    /// Attaches a PVC read-only; no effect on other kinds.
    #[must_use]
    pub fn read_only_claim(mut self) -> Self {
        if let VolumeSource::PersistentVolumeClaim { read_only, .. } = &mut self.source {
            *read_only = true;
        }
        self
    }

    /// File mode of Secret/ConfigMap files (e.g. `0o440`); no effect on other kinds.
    #[must_use]
    pub fn default_mode(mut self, mode: i32) -> Self {
        match &mut self.source {
            VolumeSource::Secret { default_mode, .. }
            | VolumeSource::ConfigMap { default_mode, .. } => *default_mode = Some(mode),
            _ => {}
        }
        self
    }

    /// The volume name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The storage behind the volume.
    pub fn source(&self) -> &VolumeSource {
        &self.source
    }

    pub(crate) fn validate(&self) -> Result<(), PodSpecError> {
        crate::names::validate_dns_label("volume name", &self.name)?;
        match &self.source {
            VolumeSource::HostPath { path, .. } => absolute_path("hostPath path", path),
            VolumeSource::EmptyDir { size_limit, .. } => size_limit.as_ref().map_or(Ok(()), |q| {
                crate::resources::parse_quantity(&format!("emptyDir `{}` size limit", self.name), q)
                    .map(drop)
            }),
            VolumeSource::PersistentVolumeClaim { claim, .. } => {
                crate::names::validate_dns_subdomain("PersistentVolumeClaim name", claim)
            }
            VolumeSource::Secret {
                secret: name,
                default_mode,
            }
            | VolumeSource::ConfigMap {
                config_map: name,
                default_mode,
            } => {
                crate::names::validate_dns_subdomain("Secret/ConfigMap name of a volume", name)?;
                match default_mode {
                    Some(mode) if !(0..=0o777).contains(mode) => Err(PodSpecError::OutOfRange {
                        field: "volume defaultMode",
                        value: i64::from(*mode),
                        reason: "file modes go from 0 to 0o777 (511); pass an octal literal such as 0o440",
                    }),
                    _ => Ok(()),
                }
            }
        }
    }

    pub(crate) fn to_k8s(&self) -> K8sVolume {
        let mut volume = K8sVolume {
            name: self.name.clone(),
            ..K8sVolume::default()
        };
        match &self.source {
            VolumeSource::HostPath { path, kind } => {
                volume.host_path = Some(HostPathVolumeSource {
                    path: path.clone(),
                    type_: Some(kind.as_str().to_owned()).filter(|t| !t.is_empty()),
                });
            }
            VolumeSource::EmptyDir {
                size_limit,
                in_memory,
            } => {
                volume.empty_dir = Some(EmptyDirVolumeSource {
                    medium: in_memory.then(|| "Memory".to_owned()),
                    size_limit: size_limit.clone().map(Quantity),
                });
            }
            VolumeSource::PersistentVolumeClaim { claim, read_only } => {
                volume.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim.clone(),
                    read_only: read_only.then_some(true),
                });
            }
            VolumeSource::Secret {
                secret,
                default_mode,
            } => {
                volume.secret = Some(SecretVolumeSource {
                    secret_name: Some(secret.clone()),
                    default_mode: *default_mode,
                    ..SecretVolumeSource::default()
                });
            }
            VolumeSource::ConfigMap {
                config_map,
                default_mode,
            } => {
                volume.config_map = Some(ConfigMapVolumeSource {
                    name: config_map.clone(),
                    default_mode: *default_mode,
                    ..ConfigMapVolumeSource::default()
                });
            }
        }
        volume
    }
}

/// Where and how the agent container mounts a [`Volume`]
/// (see [`AgentPodSpec::mount`](crate::AgentPodSpec::mount)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    volume: String,
    mount_path: String,
    read_only: bool,
    sub_path: Option<String>,
}

impl VolumeMount {
    /// Mounts volume `volume` read-write at the absolute `mount_path`.
    pub fn new(volume: impl Into<String>, mount_path: impl Into<String>) -> Self {
        Self {
            volume: volume.into(),
            mount_path: mount_path.into(),
            read_only: false,
            sub_path: None,
        }
    }

    /// Makes the mount read-only.
    #[must_use]
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// Mounts only the relative `sub_path` inside the volume.
    #[must_use]
    pub fn sub_path(mut self, sub_path: impl Into<String>) -> Self {
        self.sub_path = Some(sub_path.into());
        self
    }

    /// The mounted volume's name.
    pub fn volume(&self) -> &str {
        &self.volume
    }

    /// The path inside the container.
    pub fn mount_path(&self) -> &str {
        &self.mount_path
    }

    /// Whether the mount is read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub(crate) fn validate(&self) -> Result<(), PodSpecError> {
        absolute_path("mount path", &self.mount_path)?;
        if let Some(sub_path) = &self.sub_path {
            relative_path("subPath", sub_path)?;
        }
        Ok(())
    }

    /// The mount path without trailing slashes, used to detect clashes.
    pub(crate) fn normalized_path(&self) -> &str {
        normalized(&self.mount_path)
    }

    pub(crate) fn to_k8s(&self) -> K8sVolumeMount {
        K8sVolumeMount {
            name: self.volume.clone(),
            mount_path: self.mount_path.clone(),
            read_only: self.read_only.then_some(true),
            sub_path: self.sub_path.clone(),
            ..K8sVolumeMount::default()
        }
    }
}

pub(crate) fn normalized(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() { "/" } else { trimmed }
}

/// An absolute path without `..` components (Kubernetes refuses those in mounts).
pub(crate) fn absolute_path(field: &'static str, path: &str) -> Result<(), PodSpecError> {
    let reason = if !path.starts_with('/') {
        Some("must be an absolute path starting with `/`")
    } else if path.split('/').any(|part| part == "..") {
        Some("must not contain `..`; write the resolved path")
    } else {
        None
    };
    path_verdict(field, path, reason)
}

fn relative_path(field: &'static str, path: &str) -> Result<(), PodSpecError> {
    let reason = if path.is_empty() {
        Some("must not be empty; leave it unset to mount the whole volume")
    } else if path.starts_with('/') {
        Some("must be relative to the volume root, without a leading `/`")
    } else if path.split('/').any(|part| part == "..") {
        Some("must not contain `..`")
    } else {
        None
    };
    path_verdict(field, path, reason)
}

/// `Ok` without a `reason`, else the `InvalidPath` error naming `field` and `path`.
fn path_verdict(field: &'static str, path: &str, reason: Option<&str>) -> Result<(), PodSpecError> {
    reason.map_or(Ok(()), |reason| {
        Err(PodSpecError::InvalidPath {
            field,
            value: path.to_owned(),
            reason: reason.to_owned(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert!(absolute_path("p", "/a/b").is_ok());
        assert!(absolute_path("p", "a/b").is_err());
        assert!(absolute_path("p", "/a/../b").is_err());
        assert!(relative_path("p", "a/b").is_ok());
        assert!(relative_path("p", "/a").is_err());
        assert!(relative_path("p", "../a").is_err());
        assert_eq!(normalized("/tmp/"), "/tmp");
        assert_eq!(normalized("/"), "/");
    }

    #[test]
    fn modifiers_only_touch_their_kind() {
        let v = Volume::config_map("c", "cm").size_limit("1Gi").in_memory();
        assert_eq!(v, Volume::config_map("c", "cm"));
    }

    #[test]
    fn volume_validation() {
        assert!(Volume::empty_dir("ok").size_limit("1Gi").validate().is_ok());
        assert!(
            Volume::empty_dir("bad")
                .size_limit("1 GB")
                .validate()
                .is_err()
        );
        assert!(Volume::host_path("h", "relative").validate().is_err());
        assert!(
            Volume::secret("s", "x")
                .default_mode(0o1000)
                .validate()
                .is_err()
        );
        assert!(Volume::empty_dir("Upper").validate().is_err());
    }
}
