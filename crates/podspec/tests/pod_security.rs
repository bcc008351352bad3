//! The hardened preset meets the "restricted" Pod Security Standard.
//!
//! Kubernetes 1.20 (our local cluster) has no Pod Security admission to check
//! this for us, so the rules are written out here from the Kubernetes
//! documentation page "Pod Security Standards" (restricted profile, which
//! includes every baseline control). Every snapshot case is checked: the ones
//! built on the hardened preset must pass, and the ones that switch it off or
//! add hostPath volumes must be reported with exactly the controls they break,
//! which shows the checker can fail. A second test breaks each control on its
//! own in an otherwise compliant pod.

// Helpers outside `#[test]` functions unwrap too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod cases;

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    AppArmorProfile, Capabilities, ContainerPort, Pod, PodSecurityContext, PodSpec, SELinuxOptions,
    SeccompProfile, SecurityContext, Sysctl, Volume, WindowsSecurityContextOptions,
};

// Control names, as the standard titles them.
const HOST_PROCESS: &str = "HostProcess";
const HOST_NAMESPACES: &str = "Host Namespaces";
const PRIVILEGED: &str = "Privileged Containers";
const CAPABILITIES_BASELINE: &str = "Capabilities (baseline)";
const HOST_PATH: &str = "HostPath Volumes";
const HOST_PORTS: &str = "Host Ports";
const APPARMOR: &str = "AppArmor";
const SELINUX: &str = "SELinux";
const PROC_MOUNT: &str = "/proc Mount Type";
const SECCOMP_BASELINE: &str = "Seccomp (baseline)";
const SYSCTLS: &str = "Sysctls";
const VOLUME_TYPES: &str = "Volume Types";
const PRIVILEGE_ESCALATION: &str = "Privilege Escalation";
const NON_ROOT: &str = "Running as Non-root";
const NON_ROOT_USER: &str = "Running as Non-root user";
const SECCOMP_RESTRICTED: &str = "Seccomp (restricted)";
const CAPABILITIES_RESTRICTED: &str = "Capabilities (restricted)";

/// Capabilities the baseline profile lets a container add.
const BASELINE_CAPABILITIES: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];
/// Sysctls the baseline profile allows.
const SAFE_SYSCTLS: [&str; 10] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
/// The only volume sources the restricted profile allows.
const ALLOWED_VOLUME_TYPES: [&str; 8] = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];
const SELINUX_TYPES: [&str; 5] = [
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// One container of any kind: its security context and ports.
struct ContainerView<'a> {
    security: Option<&'a SecurityContext>,
    ports: Option<&'a Vec<ContainerPort>>,
}

fn containers(spec: &PodSpec) -> Vec<ContainerView<'_>> {
    let regular = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .map(|c| ContainerView {
            security: c.security_context.as_ref(),
            ports: c.ports.as_ref(),
        });
    let ephemeral = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .map(|c| ContainerView {
            security: c.security_context.as_ref(),
            ports: c.ports.as_ref(),
        });
    regular.chain(ephemeral).collect()
}

fn seccomp_allowed(profile: Option<&SeccompProfile>) -> bool {
    profile.is_none_or(|p| matches!(p.type_.as_str(), "RuntimeDefault" | "Localhost"))
}

fn apparmor_allowed(profile: Option<&AppArmorProfile>) -> bool {
    profile.is_none_or(|p| matches!(p.type_.as_str(), "RuntimeDefault" | "Localhost"))
}

fn selinux_allowed(options: Option<&SELinuxOptions>) -> bool {
    options.is_none_or(|o| {
        SELINUX_TYPES.contains(&o.type_.as_deref().unwrap_or_default())
            && o.user.as_deref().unwrap_or_default().is_empty()
            && o.role.as_deref().unwrap_or_default().is_empty()
    })
}

/// The controls of the restricted profile (baseline included) that `pod` breaks.
fn restricted_violations(pod: &Pod) -> BTreeSet<&'static str> {
    let mut broken = BTreeSet::new();
    let Some(spec) = pod.spec.as_ref() else {
        return broken;
    };
    let default_pod_security = PodSecurityContext::default();
    let pod_security = spec
        .security_context
        .as_ref()
        .unwrap_or(&default_pod_security);
    let views = containers(spec);
    let container_security = || views.iter().filter_map(|v| v.security);
    let mut flag = |control, violated: bool| {
        if violated {
            broken.insert(control);
        }
    };

    // Baseline.
    let host_process =
        |w: Option<&WindowsSecurityContextOptions>| w.and_then(|w| w.host_process) == Some(true);
    flag(
        HOST_PROCESS,
        host_process(pod_security.windows_options.as_ref())
            || container_security().any(|s| host_process(s.windows_options.as_ref())),
    );
    flag(
        HOST_NAMESPACES,
        [spec.host_network, spec.host_pid, spec.host_ipc].contains(&Some(true)),
    );
    flag(
        PRIVILEGED,
        container_security().any(|s| s.privileged == Some(true)),
    );
    let added = |s: &SecurityContext| -> Vec<String> {
        s.capabilities
            .as_ref()
            .and_then(|c| c.add.clone())
            .unwrap_or_default()
    };
    flag(
        CAPABILITIES_BASELINE,
        container_security().any(|s| {
            added(s)
                .iter()
                .any(|c| !BASELINE_CAPABILITIES.contains(&c.as_str()))
        }),
    );
    let volumes: &[Volume] = spec.volumes.as_deref().unwrap_or_default();
    flag(HOST_PATH, volumes.iter().any(|v| v.host_path.is_some()));
    flag(
        HOST_PORTS,
        views
            .iter()
            .flat_map(|v| v.ports.into_iter().flatten())
            .any(|p| p.host_port.is_some_and(|port| port != 0)),
    );
    let annotations = pod.metadata.annotations.clone().unwrap_or_default();
    flag(
        APPARMOR,
        !apparmor_allowed(pod_security.app_armor_profile.as_ref())
            || container_security().any(|s| !apparmor_allowed(s.app_armor_profile.as_ref()))
            || annotations.iter().any(|(key, value)| {
                key.starts_with("container.apparmor.security.beta.kubernetes.io/")
                    && value != "runtime/default"
                    && !value.starts_with("localhost/")
            }),
    );
    flag(
        SELINUX,
        !selinux_allowed(pod_security.se_linux_options.as_ref())
            || container_security().any(|s| !selinux_allowed(s.se_linux_options.as_ref())),
    );
    flag(
        PROC_MOUNT,
        container_security().any(|s| s.proc_mount.as_deref().is_some_and(|m| m != "Default")),
    );
    flag(
        SECCOMP_BASELINE,
        !seccomp_allowed(pod_security.seccomp_profile.as_ref())
            || container_security().any(|s| !seccomp_allowed(s.seccomp_profile.as_ref())),
    );
    flag(
        SYSCTLS,
        pod_security
            .sysctls
            .iter()
            .flatten()
            .any(|s: &Sysctl| !SAFE_SYSCTLS.contains(&s.name.as_str())),
    );

    // Restricted.
    flag(
        VOLUME_TYPES,
        volumes.iter().any(|volume| {
            let json = serde_json::to_value(volume).unwrap();
            json.as_object()
                .unwrap()
                .keys()
                .any(|kind| kind != "name" && !ALLOWED_VOLUME_TYPES.contains(&kind.as_str()))
        }),
    );
    flag(
        PRIVILEGE_ESCALATION,
        views
            .iter()
            .any(|v| v.security.and_then(|s| s.allow_privilege_escalation) != Some(false)),
    );
    let pod_non_root = pod_security.run_as_non_root == Some(true);
    flag(
        NON_ROOT,
        pod_security.run_as_non_root == Some(false)
            || views
                .iter()
                .any(|v| match v.security.and_then(|s| s.run_as_non_root) {
                    Some(value) => !value,
                    None => !pod_non_root,
                }),
    );
    flag(
        NON_ROOT_USER,
        pod_security.run_as_user == Some(0)
            || container_security().any(|s| s.run_as_user == Some(0)),
    );
    let pod_seccomp = pod_security.seccomp_profile.is_some();
    flag(
        SECCOMP_RESTRICTED,
        views.iter().any(
            |v| match v.security.and_then(|s| s.seccomp_profile.as_ref()) {
                Some(profile) => !seccomp_allowed(Some(profile)),
                None => !pod_seccomp,
            },
        ) || !seccomp_allowed(pod_security.seccomp_profile.as_ref()),
    );
    flag(
        CAPABILITIES_RESTRICTED,
        views.iter().any(|v| {
            let capabilities = v.security.and_then(|s| s.capabilities.as_ref());
            let drops_all = capabilities
                .and_then(|c| c.drop.as_ref())
                .is_some_and(|d| d.iter().any(|c| c == "ALL"));
            let adds_only_bind = capabilities
                .and_then(|c| c.add.as_ref())
                .is_none_or(|a| a.iter().all(|c| c == "NET_BIND_SERVICE"));
            !(drops_all && adds_only_bind)
        }),
    );
    broken
}

/// What each snapshot case is expected to break; a new case must be added here.
fn expected_violations(case: &str) -> BTreeSet<&'static str> {
    let controls: &[&'static str] = match case {
        // The hardened preset, whole or with pieces the standard does not
        // cover (read-only root, writable dirs, other uids) switched off.
        "minimal" | "hardened" | "hardened_partly_off" | "scheduling" | "secret_inputs" => &[],
        // The preset is on, but hostPath volumes are added.
        "every_volume_kind" => &[HOST_PATH, VOLUME_TYPES],
        // `Hardening::none()` plus hostPath volumes.
        "unhardened_with_host_paths" => &[
            HOST_PATH,
            VOLUME_TYPES,
            PRIVILEGE_ESCALATION,
            NON_ROOT,
            SECCOMP_RESTRICTED,
            CAPABILITIES_RESTRICTED,
        ],
        other => panic!("case `{other}` is new: list what it breaks in expected_violations"),
    };
    controls.iter().copied().collect()
}

#[test]
fn hardened_cases_meet_the_restricted_standard_and_the_others_are_caught() {
    for case in cases::all() {
        let rendered = case.spec.render(cases::render_time()).unwrap();
        assert_eq!(
            restricted_violations(&rendered.pod),
            expected_violations(case.name),
            "case `{}`",
            case.name
        );
    }
}

/// A compliant pod (the minimal case) with one change applied.
fn broken_by(change: impl FnOnce(&mut PodSpec, &mut SecurityContext)) -> Pod {
    let mut pod = cases::minimal()
        .spec
        .render(cases::render_time())
        .unwrap()
        .pod;
    assert!(restricted_violations(&pod).is_empty());
    let spec = pod.spec.as_mut().unwrap();
    let mut container = spec.containers[0].security_context.take().unwrap();
    change(spec, &mut container);
    spec.containers[0].security_context = Some(container);
    pod
}

fn pod_security(spec: &mut PodSpec) -> &mut PodSecurityContext {
    spec.security_context.as_mut().unwrap()
}

#[test]
fn each_control_reports_its_own_violation() {
    type Change = Box<dyn FnOnce(&mut PodSpec, &mut SecurityContext)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            HOST_PROCESS,
            Box::new(|_, c| {
                c.windows_options = Some(WindowsSecurityContextOptions {
                    host_process: Some(true),
                    ..Default::default()
                });
            }),
        ),
        (HOST_NAMESPACES, Box::new(|s, _| s.host_pid = Some(true))),
        (
            HOST_NAMESPACES,
            Box::new(|s, _| s.host_network = Some(true)),
        ),
        (HOST_NAMESPACES, Box::new(|s, _| s.host_ipc = Some(true))),
        (PRIVILEGED, Box::new(|_, c| c.privileged = Some(true))),
        (
            CAPABILITIES_BASELINE,
            Box::new(|_, c| {
                c.capabilities = Some(Capabilities {
                    add: Some(vec!["SYS_ADMIN".into()]),
                    drop: Some(vec!["ALL".into()]),
                });
            }),
        ),
        (
            CAPABILITIES_RESTRICTED,
            Box::new(|_, c| {
                c.capabilities = Some(Capabilities {
                    add: Some(vec!["CHOWN".into()]),
                    drop: Some(vec!["ALL".into()]),
                });
            }),
        ),
        (
            CAPABILITIES_RESTRICTED,
            Box::new(|_, c| c.capabilities = None),
        ),
        (
            HOST_PATH,
            Box::new(|s, _| {
                s.volumes.as_mut().unwrap().push(Volume {
                    name: "host".into(),
                    host_path: Some(Default::default()),
                    ..Default::default()
                });
            }),
        ),
        (
            HOST_PORTS,
            Box::new(|s, _| {
                s.containers[0].ports = Some(vec![ContainerPort {
                    container_port: 80,
                    host_port: Some(8080),
                    ..Default::default()
                }]);
            }),
        ),
        (
            APPARMOR,
            Box::new(|_, c| {
                c.app_armor_profile = Some(AppArmorProfile {
                    type_: "Unconfined".into(),
                    ..Default::default()
                });
            }),
        ),
        (
            SELINUX,
            Box::new(|_, c| {
                c.se_linux_options = Some(SELinuxOptions {
                    type_: Some("spc_t".into()),
                    ..Default::default()
                });
            }),
        ),
        (
            SELINUX,
            Box::new(|s, _| {
                pod_security(s).se_linux_options = Some(SELinuxOptions {
                    user: Some("system_u".into()),
                    ..Default::default()
                });
            }),
        ),
        (
            PROC_MOUNT,
            Box::new(|_, c| c.proc_mount = Some("Unmasked".into())),
        ),
        (
            SECCOMP_BASELINE,
            Box::new(|_, c| {
                c.seccomp_profile = Some(SeccompProfile {
                    type_: "Unconfined".into(),
                    ..Default::default()
                });
            }),
        ),
        (
            SECCOMP_RESTRICTED,
            Box::new(|s, _| pod_security(s).seccomp_profile = None),
        ),
        (
            SYSCTLS,
            Box::new(|s, _| {
                pod_security(s).sysctls = Some(vec![Sysctl {
                    name: "kernel.msgmax".into(),
                    value: "65536".into(),
                }]);
            }),
        ),
        (
            VOLUME_TYPES,
            Box::new(|s, _| {
                s.volumes.as_mut().unwrap().push(Volume {
                    name: "nfs".into(),
                    nfs: Some(Default::default()),
                    ..Default::default()
                });
            }),
        ),
        (
            PRIVILEGE_ESCALATION,
            Box::new(|_, c| c.allow_privilege_escalation = None),
        ),
        (
            NON_ROOT,
            Box::new(|s, _| pod_security(s).run_as_non_root = None),
        ),
        (NON_ROOT, Box::new(|_, c| c.run_as_non_root = Some(false))),
        (NON_ROOT_USER, Box::new(|_, c| c.run_as_user = Some(0))),
    ];
    for (control, change) in cases {
        let violations = restricted_violations(&broken_by(change));
        assert!(
            violations.contains(control),
            "`{control}` not reported; got {violations:?}"
        );
    }
    // The annotation form of AppArmor, which 1.20 still uses.
    let mut pod = broken_by(|_, _| {});
    pod.metadata.annotations = Some(
        [(
            "container.apparmor.security.beta.kubernetes.io/claude-code".to_owned(),
            "unconfined".to_owned(),
        )]
        .into(),
    );
    assert_eq!(restricted_violations(&pod), BTreeSet::from([APPARMOR]));
}
