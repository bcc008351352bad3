//! Realistic agent pod configurations, shared by the tests that render them.
//!
//! `tests/snapshots.rs` renders every case and compares it with the committed
//! YAML; `tests/pod_security.rs` checks the cases against the "restricted" Pod
//! Security Standard; the cluster test `crates/testkit/tests/cluster_podspec.rs`
//! includes this file (`#[path]`) and sends every object to a real API server
//! (server-side dry run), so each snapshot is also proven acceptable to
//! Kubernetes. Some cases refer to cluster objects that admission checks on
//! create; [`Case::requires`] lists them so a test can create them first.

#![allow(
    dead_code,
    reason = "each including test crate uses a different part of the fixtures"
)]

use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use agentpod_podspec::consts::{DEFAULT_HOME, INPUTS_VOLUME};
use agentpod_podspec::{
    AgentPodSpec, Hardening, HostPathType, ImagePullPolicy, ResourceKind, Resources, RestartPolicy,
    Volume, VolumeMount, WritableDir,
};

/// The fixed render time of every case: 2026-01-01T00:00:00Z.
pub fn render_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

/// The image every case uses (the node need not have it: dry runs never pull).
pub const IMAGE: &str = "agentpod.local/claude-runner:2.1.328";

/// A cluster object that must exist before a case's pod passes admission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// A namespace.
    Namespace(&'static str),
    /// A ServiceAccount `name` in `namespace`.
    ServiceAccount {
        /// Namespace of the account.
        namespace: &'static str,
        /// Account name.
        name: &'static str,
    },
    /// A cluster-scoped PriorityClass.
    PriorityClass(&'static str),
    /// A cluster-scoped RuntimeClass with the given handler.
    RuntimeClass {
        /// RuntimeClass name.
        name: &'static str,
        /// CRI handler name.
        handler: &'static str,
    },
}

/// One configuration.
#[derive(Debug, Clone)]
pub struct Case {
    /// Snapshot name; the pod is named the same with `-` for `_`.
    pub name: &'static str,
    /// The spec; render it with [`render_time`].
    pub spec: AgentPodSpec,
    /// Objects to create before the pod (server-side dry run included).
    pub requires: Vec<Requirement>,
}

/// All cases, in a stable order.
pub fn all() -> Vec<Case> {
    vec![
        minimal(),
        unhardened_with_host_paths(),
        hardened(),
        hardened_partly_off(),
        every_volume_kind(),
        scheduling(),
        secret_inputs(),
    ]
}

fn case(name: &'static str, spec: AgentPodSpec, requires: Vec<Requirement>) -> Case {
    let spec = spec.name(name.replace('_', "-"));
    Case {
        name,
        spec,
        requires,
    }
}

/// Only an image: defaults plus the hardened preset.
pub fn minimal() -> Case {
    case("minimal", AgentPodSpec::new(IMAGE), Vec::new())
}

/// No hardening at all (`Hardening::none()`), a node checkout and cache as
/// hostPath volumes `vol-N` of type Directory, a few inherited variables
/// blanked (the names a caller such as claude-args passes in), limits only, a
/// service account and two pull secrets: an image that must run as root.
pub fn unhardened_with_host_paths() -> Case {
    let spec = AgentPodSpec::new(IMAGE)
        .namespace("ci")
        .hardening(Hardening::none())
        .command([
            "sh",
            "-c",
            "claude -p 'Summarise the repository' --output-format json --model sonnet",
        ])
        .service_account("claude-runner")
        .image_pull_secret("gitlab-registry")
        .image_pull_secret("dockerhub")
        .image_pull_policy(ImagePullPolicy::IfNotPresent)
        .provider_label("network-profile", "restricted")
        .blank_env([
            "CLAUDECODE",
            "CLAUDE_CODE_ENTRYPOINT",
            "CLAUDE_CODE_SSE_PORT",
        ])
        .env("RUST_LOG", "info")
        .resources(
            Resources::default()
                .limit(ResourceKind::Cpu, "500m")
                .limit(ResourceKind::Memory, "512Mi"),
        )
        .volume(Volume::host_path("vol-0", "/srv/checkout"))
        .mount(VolumeMount::new("vol-0", "/workspace"))
        .volume(Volume::host_path("vol-1", "/srv/cache"))
        .mount(VolumeMount::new("vol-1", "/cache"));
    case(
        "unhardened_with_host_paths",
        spec,
        vec![
            Requirement::Namespace("ci"),
            Requirement::ServiceAccount {
                namespace: "ci",
                name: "claude-runner",
            },
        ],
    )
}

/// The preset with everything a production run sets: requests and limits,
/// bounds, expiry, working dir, labels and annotations.
pub fn hardened() -> Case {
    let spec = AgentPodSpec::new(IMAGE)
        .namespace("agents")
        .command(["claude"])
        .args([
            "-p",
            "Review the change",
            "--output-format",
            "stream-json",
            "--verbose",
        ])
        .working_dir("/workspace")
        .provider_label("team", "platform")
        .label("team", "reviewers")
        .label("run", "nightly-7")
        .annotation("example.com/ticket", "OPS-1234")
        .resources(
            Resources::default()
                .request(ResourceKind::Cpu, "250m")
                .request(ResourceKind::Memory, "512Mi")
                .request(ResourceKind::EphemeralStorage, "1Gi")
                .limit(ResourceKind::Cpu, "2")
                .limit(ResourceKind::Memory, "2Gi")
                .limit(ResourceKind::EphemeralStorage, "4Gi"),
        )
        .active_deadline_seconds(1800)
        .termination_grace_period_seconds(10)
        .expires_after(Duration::from_secs(2 * 3600))
        .volume(Volume::empty_dir("workspace").size_limit("2Gi"))
        .mount(VolumeMount::new("workspace", "/workspace"));
    case("hardened", spec, vec![Requirement::Namespace("agents")])
}

/// The preset with single pieces switched off or changed, for images that
/// need a writable root or another uid.
pub fn hardened_partly_off() -> Case {
    let hardening = Hardening::default()
        .read_only_root_filesystem(false)
        .writable_tmp(None)
        .run_as_user(10_001)
        .run_as_group(10_001)
        .fs_group(10_001)
        .writable_home(WritableDir::new("/home/runner", "256Mi"));
    let spec = AgentPodSpec::new(IMAGE)
        .namespace("agents")
        .hardening(hardening)
        .restart_policy(RestartPolicy::OnFailure);
    case(
        "hardened_partly_off",
        spec,
        vec![Requirement::Namespace("agents")],
    )
}

/// hostPath, emptyDir (disk and memory), PVC, Secret and ConfigMap volumes,
/// mounted read-only, read-write and by subPath.
pub fn every_volume_kind() -> Case {
    let spec = AgentPodSpec::new(IMAGE)
        .namespace("agents")
        .volume(Volume::host_path("checkout", "/srv/checkout"))
        .mount(VolumeMount::new("checkout", "/workspace"))
        .volume(
            Volume::host_path("model-socket", "/run/agentpod/model-endpoint.sock")
                .host_path_type(HostPathType::Socket),
        )
        .mount(VolumeMount::new("model-socket", "/run/model-endpoint.sock").read_only())
        .volume(
            Volume::host_path("scratch-host", "/var/tmp/agentpod")
                .host_path_type(HostPathType::DirectoryOrCreate),
        )
        .mount(VolumeMount::new("scratch-host", "/scratch"))
        .volume(Volume::empty_dir("build").size_limit("4Gi"))
        .mount(VolumeMount::new("build", "/workspace/target"))
        .volume(Volume::empty_dir("shm").size_limit("256Mi").in_memory())
        .mount(VolumeMount::new("shm", "/dev/shm"))
        .volume(Volume::persistent_volume_claim("cargo-cache", "cargo-registry").read_only_claim())
        .mount(VolumeMount::new("cargo-cache", "/cache/cargo").read_only())
        .volume(Volume::secret("ca", "corporate-ca").default_mode(0o444))
        .mount(
            VolumeMount::new("ca", "/etc/ssl/certs/corporate-ca.pem")
                .sub_path("ca.pem")
                .read_only(),
        )
        .volume(Volume::config_map("settings", "claude-managed-settings"))
        .mount(
            VolumeMount::new("settings", "/etc/claude-code/managed-settings.json")
                .sub_path("managed-settings.json")
                .read_only(),
        );
    case(
        "every_volume_kind",
        spec,
        vec![Requirement::Namespace("agents")],
    )
}

/// nodeSelector, tolerations, affinity, sandbox runtime class, priority class,
/// bounds and an owner reference to the orchestrating pod.
pub fn scheduling() -> Case {
    let affinity = Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: Some(vec![NodeSelectorRequirement {
                        key: "kubernetes.io/arch".to_owned(),
                        operator: "In".to_owned(),
                        values: Some(vec!["amd64".to_owned(), "arm64".to_owned()]),
                    }]),
                    ..NodeSelectorTerm::default()
                }],
            }),
            ..NodeAffinity::default()
        }),
        ..Affinity::default()
    };
    let spec = AgentPodSpec::new(IMAGE)
        .namespace("agents")
        .node_selector("kubernetes.io/os", "linux")
        .node_selector("agentpod.dev/pool", "agents")
        .toleration(Toleration {
            key: Some("dedicated".to_owned()),
            operator: Some("Equal".to_owned()),
            value: Some("agents".to_owned()),
            effect: Some("NoSchedule".to_owned()),
            ..Toleration::default()
        })
        .toleration(Toleration {
            key: Some("node.kubernetes.io/not-ready".to_owned()),
            operator: Some("Exists".to_owned()),
            effect: Some("NoExecute".to_owned()),
            toleration_seconds: Some(30),
            ..Toleration::default()
        })
        .affinity(affinity)
        .runtime_class("agentpod-sandbox")
        .priority_class("agentpod-batch")
        .active_deadline_seconds(600)
        .termination_grace_period_seconds(0)
        .owner_reference(OwnerReference {
            api_version: "v1".to_owned(),
            kind: "Pod".to_owned(),
            name: "orchestrator-0".to_owned(),
            uid: "5f0c7a8e-2b1d-4c3e-9f4a-1b2c3d4e5f60".to_owned(),
            controller: Some(true),
            block_owner_deletion: None,
        });
    case(
        "scheduling",
        spec,
        vec![
            Requirement::Namespace("agents"),
            Requirement::RuntimeClass {
                name: "agentpod-sandbox",
                handler: "runc",
            },
            Requirement::PriorityClass("agentpod-batch"),
        ],
    )
}

/// Credentials and a large prompt carried in the inputs Secret: an API key by
/// `secretKeyRef`, prompt and OAuth JSON as files, the OAuth file also mounted
/// where the CLI looks for it; plus references to existing Secret/ConfigMap keys.
pub fn secret_inputs() -> Case {
    let spec = AgentPodSpec::new(IMAGE)
        .namespace("agents")
        .command([
            "sh",
            "-c",
            "exec claude -p \"$(cat /var/run/agentpod/inputs/prompt.txt)\" --output-format json",
        ])
        .secret_env("ANTHROPIC_API_KEY", "sk-ant-api03-example-not-a-real-key")
        .secret_file("prompt.txt", "Refactor the parser.\n".repeat(4))
        .secret_file(
            "credentials.json",
            r#"{"claudeAiOauth":{"accessToken":"sk-ant-oat01-example","refreshToken":"sk-ant-ort01-example","expiresAt":1767229200000}}"#,
        )
        .mount(
            VolumeMount::new(INPUTS_VOLUME, format!("{DEFAULT_HOME}/.claude/.credentials.json"))
                .sub_path("credentials.json")
                .read_only(),
        )
        .env_from_secret("GITHUB_TOKEN", "github-bot", "token")
        .env_from_config_map("ANTHROPIC_MODEL", "agent-settings", "model")
        .env("ANTHROPIC_BASE_URL", "http://127.0.0.1:8080")
        .blank_env(["CLAUDECODE", "ANTHROPIC_BASE_URL"])
        .expires_after(Duration::from_secs(900));
    case(
        "secret_inputs",
        spec,
        vec![Requirement::Namespace("agents")],
    )
}
