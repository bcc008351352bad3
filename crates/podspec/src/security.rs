//! The hardened preset: on by default, each piece switchable off.
//!
//! An agent executes tools chosen by a model, so its pod should hold as little
//! power as possible: no root, no new privileges, no capabilities, the runtime's
//! default seccomp filter, no API token, and a read-only root filesystem. Because
//! the CLI needs somewhere to write, the preset adds size-limited emptyDir
//! volumes for `$HOME` and `/tmp`. Images that cannot live with a piece (e.g. one
//! that must run as root) turn just that piece off instead of the whole preset.

use k8s_openapi::api::core::v1::{
    Capabilities, PodSecurityContext, SeccompProfile, SecurityContext,
};

use crate::PodSpecError;
use crate::volumes::absolute_path;

/// Default user and group id of the agent process under the preset.
pub const DEFAULT_UID: i64 = 1000;
/// Default home directory (a writable emptyDir under the preset).
pub const DEFAULT_HOME: &str = "/home/agent";
/// Name of the preset's writable home volume.
pub const HOME_VOLUME: &str = "agentpod-home";
/// Name of the preset's writable `/tmp` volume.
pub const TMP_VOLUME: &str = "agentpod-tmp";

/// A writable, size-limited emptyDir mounted at `path`.
///
/// ```
/// use agentpod_podspec::WritableDir;
/// let tmp = WritableDir::new("/tmp", "256Mi");
/// assert_eq!(tmp.path, "/tmp");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritableDir {
    /// Absolute mount path.
    pub path: String,
    /// emptyDir size limit quantity (e.g. `"1Gi"`); the kubelet evicts the pod beyond it.
    pub size_limit: String,
}

impl WritableDir {
    /// A writable directory at `path` limited to `size_limit`.
    ///
    /// ```
    /// use agentpod_podspec::WritableDir;
    /// assert_eq!(WritableDir::new("/home/agent", "1Gi").size_limit, "1Gi");
    /// ```
    pub fn new(path: impl Into<String>, size_limit: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            size_limit: size_limit.into(),
        }
    }
}

/// Security settings of the agent pod. `Hardening::default()` is the hardened preset.
///
/// Switch single pieces off with struct-update syntax:
///
/// ```
/// use agentpod_podspec::{AgentPodSpec, Hardening};
///
/// let hardening = Hardening {
///     read_only_root_filesystem: false, // the image writes outside $HOME and /tmp
///     writable_tmp: None,
///     ..Hardening::default()
/// };
/// let spec = AgentPodSpec::new("img:1").name("demo").hardening(hardening);
/// # let _ = spec;
/// ```
///
/// or start from nothing with [`Hardening::none`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hardening {
    /// Pod `runAsNonRoot: true` (the kubelet refuses to start a root process).
    pub run_as_non_root: bool,
    /// Pod `runAsUser` (default [`DEFAULT_UID`]).
    pub run_as_user: Option<i64>,
    /// Pod `runAsGroup` (default [`DEFAULT_UID`]).
    pub run_as_group: Option<i64>,
    /// Pod `fsGroup`: volumes become group-owned by it (default [`DEFAULT_UID`]).
    pub fs_group: Option<i64>,
    /// Container `allowPrivilegeEscalation: false` (no setuid gains).
    pub deny_privilege_escalation: bool,
    /// Container `capabilities.drop: [ALL]`.
    pub drop_all_capabilities: bool,
    /// Pod `seccompProfile.type: RuntimeDefault`.
    pub seccomp_runtime_default: bool,
    /// Pod `automountServiceAccountToken: false` (no Kubernetes API token in the pod).
    pub disable_service_account_token: bool,
    /// Pod `enableServiceLinks: false` (no `*_SERVICE_HOST` variables from the namespace).
    pub disable_service_links: bool,
    /// Container `readOnlyRootFilesystem: true`.
    pub read_only_root_filesystem: bool,
    /// Writable home (emptyDir, `$HOME` points at it). Default `/home/agent`, 1Gi.
    pub writable_home: Option<WritableDir>,
    /// Writable `/tmp` (emptyDir). Default `/tmp`, 512Mi.
    pub writable_tmp: Option<WritableDir>,
}

impl Default for Hardening {
    /// The hardened preset: every protection on.
    fn default() -> Self {
        Self {
            run_as_non_root: true,
            run_as_user: Some(DEFAULT_UID),
            run_as_group: Some(DEFAULT_UID),
            fs_group: Some(DEFAULT_UID),
            deny_privilege_escalation: true,
            drop_all_capabilities: true,
            seccomp_runtime_default: true,
            disable_service_account_token: true,
            disable_service_links: true,
            read_only_root_filesystem: true,
            writable_home: Some(WritableDir::new(DEFAULT_HOME, "1Gi")),
            writable_tmp: Some(WritableDir::new("/tmp", "512Mi")),
        }
    }
}

impl Hardening {
    /// No protection at all: the pod runs the way the image says (Kubernetes defaults).
    ///
    /// ```
    /// use agentpod_podspec::Hardening;
    /// let open = Hardening::none();
    /// assert!(!open.run_as_non_root && open.writable_home.is_none());
    /// ```
    pub fn none() -> Self {
        Self {
            run_as_non_root: false,
            run_as_user: None,
            run_as_group: None,
            fs_group: None,
            deny_privilege_escalation: false,
            drop_all_capabilities: false,
            seccomp_runtime_default: false,
            disable_service_account_token: false,
            disable_service_links: false,
            read_only_root_filesystem: false,
            writable_home: None,
            writable_tmp: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), PodSpecError> {
        for (field, id) in [
            ("runAsUser", self.run_as_user),
            ("runAsGroup", self.run_as_group),
            ("fsGroup", self.fs_group),
        ] {
            if let Some(id) = id
                && !(0..=i64::from(i32::MAX)).contains(&id)
            {
                return Err(PodSpecError::OutOfRange {
                    field,
                    value: id,
                    reason: "ids go from 0 to 2147483647",
                });
            }
        }
        if self.run_as_non_root && self.run_as_user == Some(0) {
            return Err(PodSpecError::OutOfRange {
                field: "runAsUser",
                value: 0,
                reason: "uid 0 is root, which contradicts run_as_non_root; pick another uid or set run_as_non_root = false",
            });
        }
        for (field, dir) in [
            ("writable home path", &self.writable_home),
            ("writable tmp path", &self.writable_tmp),
        ] {
            if let Some(dir) = dir {
                absolute_path(field, &dir.path)?;
                crate::parse_quantity(field, &dir.size_limit)?;
            }
        }
        Ok(())
    }

    pub(crate) fn pod_security_context(&self) -> Option<PodSecurityContext> {
        let context = PodSecurityContext {
            run_as_non_root: self.run_as_non_root.then_some(true),
            run_as_user: self.run_as_user,
            run_as_group: self.run_as_group,
            fs_group: self.fs_group,
            seccomp_profile: self.seccomp_runtime_default.then(|| SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                localhost_profile: None,
            }),
            ..PodSecurityContext::default()
        };
        (context != PodSecurityContext::default()).then_some(context)
    }

    pub(crate) fn container_security_context(&self) -> Option<SecurityContext> {
        let context = SecurityContext {
            allow_privilege_escalation: self.deny_privilege_escalation.then_some(false),
            capabilities: self.drop_all_capabilities.then(|| Capabilities {
                add: None,
                drop: Some(vec!["ALL".to_owned()]),
            }),
            read_only_root_filesystem: self.read_only_root_filesystem.then_some(true),
            ..SecurityContext::default()
        };
        (context != SecurityContext::default()).then_some(context)
    }

    /// File mode for Secret files we mount: group-readable via `fsGroup` when set,
    /// world-readable otherwise so a non-root image user can still read them.
    pub(crate) fn secret_file_mode(&self) -> i32 {
        if self.fs_group.is_some() {
            0o440
        } else {
            0o444
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_renders_no_security_contexts() {
        let none = Hardening::none();
        assert!(none.pod_security_context().is_none());
        assert!(none.container_security_context().is_none());
        assert_eq!(none.secret_file_mode(), 0o444);
    }

    #[test]
    fn preset_renders_every_piece() {
        let preset = Hardening::default();
        let pod = preset.pod_security_context().unwrap();
        assert_eq!(pod.run_as_non_root, Some(true));
        assert_eq!(pod.fs_group, Some(DEFAULT_UID));
        assert_eq!(pod.seccomp_profile.unwrap().type_, "RuntimeDefault");
        let container = preset.container_security_context().unwrap();
        assert_eq!(container.allow_privilege_escalation, Some(false));
        assert_eq!(container.read_only_root_filesystem, Some(true));
        assert_eq!(container.capabilities.unwrap().drop.unwrap(), ["ALL"]);
    }

    #[test]
    fn root_with_non_root_is_refused() {
        let root = Hardening {
            run_as_user: Some(0),
            ..Hardening::default()
        };
        assert!(root.validate().is_err());
        let root_allowed = Hardening {
            run_as_non_root: false,
            ..root
        };
        assert!(root_allowed.validate().is_ok());
        let negative = Hardening {
            fs_group: Some(-1),
            ..Hardening::default()
        };
        assert!(negative.validate().is_err());
    }

    #[test]
    fn writable_dirs_are_checked() {
        for tmp in [
            WritableDir::new("tmp", "1Gi"),
            WritableDir::new("/tmp", "lots"),
        ] {
            let h = Hardening {
                writable_tmp: Some(tmp),
                ..Hardening::default()
            };
            assert!(h.validate().is_err());
        }
    }
}
