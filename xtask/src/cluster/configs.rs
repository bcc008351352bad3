//! Configuration files of containerd, the CNI bridge and the kubelet.
//!
//! Why these settings (each one was needed on the target machines):
//! - containerd gets its own root, state dir and socket so it never meets a
//!   system containerd, and `restrict_oom_score_adj` because the VMs lack
//!   CAP_SYS_RESOURCE (runc fails on negative scores otherwise);
//! - `sandbox_image` is our locally built pause image (no registry);
//! - pod network namespaces are mounted under containerd's state dir so
//!   `down` finds them; the CNI bridge does no masquerading: pods reach only
//!   the node namespace and the host end of the veth;
//! - the kubelet uses cgroupfs under its own cgroup root, adds no iptables
//!   chains and reports status every second (node Ready in ~11 s);
//! - the API server writes an audit log (every request's URI, the bodies of
//!   what could carry a leaked credential) that the test command scans.

use agentpod_testkit::cluster::{NODE_ADDR, PAUSE_IMAGE, POD_CIDR};

use super::host::write_atomic;
use super::layout::{CONTAINERD_RUN_DIR, Layout};

/// Cgroup (in every v1 hierarchy) under which the kubelet puts all pods.
pub const CGROUP_ROOT: &str = "agentpod";

/// Linux bridge the CNI plugin creates inside the node namespace.
pub const POD_BRIDGE: &str = "agentpod-br0";

pub fn write_all(layout: &Layout) -> anyhow::Result<()> {
    write_atomic(
        &layout.audit_policy(),
        serde_json::to_string_pretty(&audit_policy())?,
    )?;
    // A fresh cluster, a fresh audit log: the scan must see this run's requests only.
    match std::fs::remove_file(layout.audit_log()) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error.into()),
        _ => {}
    }
    write_atomic(&layout.containerd_config(), containerd_toml(layout))?;
    write_atomic(
        &layout.cni_conf_dir().join("10-agentpod.conflist"),
        serde_json::to_string_pretty(&cni_conflist(layout))?,
    )?;
    write_atomic(
        &layout.kubelet_config(),
        serde_json::to_string_pretty(&kubelet_config(layout))?,
    )?;
    Ok(())
}

fn containerd_toml(layout: &Layout) -> String {
    let root = layout.containerd_root();
    let cni_conf = layout.cni_conf_dir();
    format!(
        r#"version = 2
root = "{root}/root"
state = "{CONTAINERD_RUN_DIR}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{CONTAINERD_RUN_DIR}/containerd.sock"

[ttrpc]
  address = "{CONTAINERD_RUN_DIR}/containerd-ttrpc.sock"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni_conf}"
    max_conf_num = 1
"#,
        root = root.display(),
        cni_conf = cni_conf.display(),
    )
}

fn cni_conflist(layout: &Layout) -> serde_json::Value {
    serde_json::json!({
        "cniVersion": "0.4.0",
        "name": "agentpod",
        "plugins": [{
            "type": "bridge",
            "bridge": POD_BRIDGE,
            "isGateway": true,
            "ipMasq": false,
            "hairpinMode": true,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": POD_CIDR}]],
                "routes": [{"dst": "0.0.0.0/0"}],
                "dataDir": layout.cni_ipam_dir(),
            }
        }]
    })
}

/// The API server's audit policy. Secrets: metadata only (their values belong there and must
/// not be copied into a log). Pods, their exec/attach subresources, events and config maps:
/// request and response bodies of every change — where a credential could leak into an object
/// that is not a Secret. Everything else: metadata, which holds each request's URI (an exec
/// URL carries the command line). The node's status and lease heartbeats (every second) are
/// not recorded.
fn audit_policy() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {
                "level": "None",
                "resources": [
                    {"group": "", "resources": ["nodes", "nodes/status"]},
                    {"group": "coordination.k8s.io", "resources": ["leases"]}
                ]
            },
            {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]},
            {
                "level": "RequestResponse",
                "verbs": ["create", "update", "patch"],
                "resources": [{
                    "group": "",
                    "resources": ["pods", "pods/exec", "pods/attach", "events", "configmaps"]
                }]
            },
            {"level": "Metadata"}
        ]
    })
}

fn kubelet_config(layout: &Layout) -> serde_json::Value {
    let pki = |name: &str| layout.pki_file(name);
    serde_json::json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_ADDR.to_string(),
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "tlsCertFile": pki("kubelet-serving.crt"),
        "tlsPrivateKeyFile": pki("kubelet-serving.key"),
        "authentication": {
            "anonymous": {"enabled": false},
            "webhook": {"enabled": false},
            "x509": {"clientCAFile": pki("ca.crt")},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": format!("/{CGROUP_ROOT}"),
        "failSwapOn": false,
        "makeIPTablesUtilChains": false,
        // The transport's 50 MB log test must not race the kubelet's 10 MiB
        // rotation: on 1.20 a follower that lags a rotation loses the rotated part.
        "containerLogMaxSize": "256Mi",
        "nodeStatusUpdateFrequency": "1s",
        "nodeStatusReportFrequency": "1s",
        "syncFrequency": "10s",
        "serializeImagePulls": false,
        // The default 110 would cap the benchmarks' 200 concurrent calls (`cargo xtask
        // bench --b4-sizes 200`); the pod range (/16) has room.
        "maxPods": 250,
        "resolvConf": "/etc/resolv.conf",
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "volumeStatsAggPeriod": "0s",
    })
}
