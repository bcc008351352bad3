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
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WritableDir {
    /// Absolute mount path.
    pub path: String,
    /// emptyDir size limit quantity (e.g. `"1Gi"`); the kubelet evicts the pod beyond it.
    pub size_limit: String,
}

impl WritableDir {
    /// A writable directory at `path` limited to `size_limit`.
    pub fn new(path: impl Into<String>, size_limit: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            size_limit: size_limit.into(),
        }
    }

    /// Sets [`path`](Self::path).
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Sets [`size_limit`](Self::size_limit).
    #[must_use]
    pub fn size_limit(mut self, size_limit: impl Into<String>) -> Self {
        self.size_limit = size_limit.into();
        self
    }
}

/// Security settings of the agent pod. `Hardening::default()` is the hardened
/// preset, [`Hardening::none`] switches everything off.
///
/// Each field has a setter of the same name, so an image that cannot live with
/// one piece turns off just that piece:
///
/// ```
/// use agentpod_podspec::{AgentPodSpec, Hardening, WritableDir};
/// use std::time::UNIX_EPOCH;
///
/// let hardening = Hardening::default()
///     .read_only_root_filesystem(false) // the image writes under /opt at run time
///     .writable_tmp(None)
///     .run_as_user(10_001) // the image's own user
///     .writable_home(WritableDir::new("/home/runner", "256Mi"));
/// let rendered = AgentPodSpec::new("img:1").name("demo").hardening(hardening).render(UNIX_EPOCH)?;
///
/// let pod = rendered.pod.spec.as_ref().unwrap();
/// let container = pod.containers[0].security_context.as_ref().unwrap();
/// assert_eq!(container.read_only_root_filesystem, None);
/// assert_eq!(container.allow_privilege_escalation, Some(false)); // still on
/// assert_eq!(pod.security_context.as_ref().unwrap().run_as_user, Some(10_001));
/// # Ok::<(), agentpod_podspec::PodSpecError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Hardening {
    /// Pod `runAsNonRoot: true` (the kubelet refuses to start a root process).
    pub run_as_non_root: bool,
    /// Pod `runAsUser`.
    pub run_as_user: Option<i64>,
    /// Pod `runAsGroup`.
    pub run_as_group: Option<i64>,
    /// Pod `fsGroup`: volumes become group-owned by it.
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
    /// Writable home (emptyDir, `$HOME` points at it).
    pub writable_home: Option<WritableDir>,
    /// Writable `/tmp` (emptyDir).
    pub writable_tmp: Option<WritableDir>,
}

impl Default for Hardening {
    /// The hardened preset: every protection on. `run_as_non_root`,
    /// `deny_privilege_escalation`, `drop_all_capabilities`,
    /// `seccomp_runtime_default`, `disable_service_account_token`,
    /// `disable_service_links` and `read_only_root_filesystem` are `true`;
    /// `run_as_user`, `run_as_group` and `fs_group` are [`DEFAULT_UID`] (1000);
    /// `writable_home` is [`DEFAULT_HOME`] (`/home/agent`) limited to 1Gi and
    /// `writable_tmp` is `/tmp` limited to 512Mi.
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

/// One `#[must_use]` consuming setter per field, named like the field.
macro_rules! setters {
    ($($(#[$doc:meta])* $field:ident: $ty:ty;)*) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $field(mut self, value: $ty) -> Self {
                self.$field = value.into();
                self
            }
        )*
    };
}

impl Hardening {
    /// No protection at all: the pod runs the way the image says (Kubernetes
    /// defaults), with no security contexts and no preset volumes.
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

    setters! {
        /// Sets [`run_as_non_root`](Self::run_as_non_root).
        run_as_non_root: bool;
        /// Sets [`run_as_user`](Self::run_as_user) (a uid, or `None`).
        run_as_user: impl Into<Option<i64>>;
        /// Sets [`run_as_group`](Self::run_as_group) (a gid, or `None`).
        run_as_group: impl Into<Option<i64>>;
        /// Sets [`fs_group`](Self::fs_group) (a gid, or `None`).
        fs_group: impl Into<Option<i64>>;
        /// Sets [`deny_privilege_escalation`](Self::deny_privilege_escalation).
        deny_privilege_escalation: bool;
        /// Sets [`drop_all_capabilities`](Self::drop_all_capabilities).
        drop_all_capabilities: bool;
        /// Sets [`seccomp_runtime_default`](Self::seccomp_runtime_default).
        seccomp_runtime_default: bool;
        /// Sets [`disable_service_account_token`](Self::disable_service_account_token).
        disable_service_account_token: bool;
        /// Sets [`disable_service_links`](Self::disable_service_links).
        disable_service_links: bool;
        /// Sets [`read_only_root_filesystem`](Self::read_only_root_filesystem).
        read_only_root_filesystem: bool;
        /// Sets [`writable_home`](Self::writable_home) (a [`WritableDir`], or `None`).
        writable_home: impl Into<Option<WritableDir>>;
        /// Sets [`writable_tmp`](Self::writable_tmp) (a [`WritableDir`], or `None`).
        writable_tmp: impl Into<Option<WritableDir>>;
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
                crate::resources::parse_quantity(field, &dir.size_limit)?;
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
