//! Where the cluster keeps its files.
//!
//! Why two roots: big, reusable build artefacts (Kubernetes binaries, image
//! tarballs, the Go build cache) live in the cache dir and survive `down`; the
//! running cluster's state (PKI, etcd data, kubelet and containerd dirs, PID
//! files) lives in the state dir and is wiped by `down`, except the daemon logs.

use std::path::{Path, PathBuf};

use agentpod_testkit::cluster::KUBERNETES_VERSION;

/// Overrides the cache root (default `~/.cache/agentpod`).
pub const CACHE_DIR_ENV: &str = "AGENTPOD_CACHE_DIR";
/// Overrides the state root (default `/var/lib/agentpod-cluster`).
pub const STATE_DIR_ENV: &str = "AGENTPOD_CLUSTER_DIR";

/// containerd's runtime dir: its socket, shims' state and pod netns mounts.
/// Fixed because kubelet, `ctr` and the leftover check must all agree on it.
pub const CONTAINERD_RUN_DIR: &str = "/run/agentpod-containerd";

/// All paths of one cluster installation.
#[derive(Debug, Clone)]
pub struct Layout {
    pub cache: PathBuf,
    pub state: PathBuf,
}

impl Layout {
    pub fn from_env() -> Layout {
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
        let cache = std::env::var_os(CACHE_DIR_ENV)
            .map_or_else(|| home.join(".cache/agentpod"), PathBuf::from);
        let state = std::env::var_os(STATE_DIR_ENV)
            .map_or_else(|| PathBuf::from("/var/lib/agentpod-cluster"), PathBuf::from);
        Layout { cache, state }
    }

    /// Cached Kubernetes build, keyed by version.
    pub fn k8s_dir(&self) -> PathBuf {
        self.cache.join(format!("k8s-v{KUBERNETES_VERSION}"))
    }
    /// The four Kubernetes binaries plus the static `pause`.
    pub fn k8s_bin(&self) -> PathBuf {
        self.k8s_dir().join("bin")
    }
    pub fn k8s_binary(&self, name: &str) -> PathBuf {
        self.k8s_bin().join(name)
    }
    /// Go's build cache, kept so a rebuild takes seconds, not minutes.
    pub fn go_cache(&self) -> PathBuf {
        self.cache.join("go-build")
    }
    /// Private apt configuration used to fetch the source package.
    pub fn apt_dir(&self) -> PathBuf {
        self.cache.join("apt-src")
    }
    /// Image tarballs, named by the hash of their inputs.
    pub fn images_dir(&self) -> PathBuf {
        self.cache.join("images")
    }

    pub fn pki(&self) -> PathBuf {
        self.state.join("pki")
    }
    pub fn pki_file(&self, name: &str) -> PathBuf {
        self.pki().join(name)
    }
    pub fn kubeconfig(&self, user: &str) -> PathBuf {
        self.state.join(format!("{user}.kubeconfig"))
    }
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.kubeconfig("admin")
    }
    pub fn etcd_data(&self) -> PathBuf {
        self.state.join("etcd")
    }
    pub fn containerd_root(&self) -> PathBuf {
        self.state.join("containerd")
    }
    pub fn containerd_config(&self) -> PathBuf {
        self.state.join("containerd.toml")
    }
    pub fn containerd_socket() -> PathBuf {
        Path::new(CONTAINERD_RUN_DIR).join("containerd.sock")
    }
    pub fn kubelet_root(&self) -> PathBuf {
        self.state.join("kubelet")
    }
    pub fn kubelet_config(&self) -> PathBuf {
        self.state.join("kubelet.yaml")
    }
    pub fn cni_conf_dir(&self) -> PathBuf {
        self.state.join("cni/net.d")
    }
    pub fn cni_ipam_dir(&self) -> PathBuf {
        self.state.join("cni/ipam")
    }
    pub fn pids(&self) -> PathBuf {
        self.state.join("pids")
    }
    pub fn pid_file(&self, daemon: &str) -> PathBuf {
        self.pids().join(format!("{daemon}.pid"))
    }
    /// Daemon logs survive `down` for post-mortems; `up` truncates them.
    pub fn logs(&self) -> PathBuf {
        self.state.join("logs")
    }
    pub fn log_file(&self, daemon: &str) -> PathBuf {
        self.logs().join(format!("{daemon}.log"))
    }
    /// The tracing output of the cluster suite's tests (`cargo xtask test`), for the
    /// secret-hygiene scan.
    pub fn tests_trace(&self) -> PathBuf {
        self.logs().join("tests-tracing.log")
    }
    /// What the API server records of each request (see `configs::audit_policy`).
    pub fn audit_policy(&self) -> PathBuf {
        self.state.join("audit-policy.json")
    }
    /// The API server's audit log: every request's URI, and the bodies of pods, events and
    /// config maps, for the secret-hygiene scan (`crate::hygiene`).
    pub fn audit_log(&self) -> PathBuf {
        self.logs().join("kube-apiserver-audit.log")
    }
    /// Host sysctl values from before the kubelet first ran; outlives `down`
    /// until they are restored.
    pub fn saved_sysctls(&self) -> PathBuf {
        self.state.join("sysctls.saved")
    }
    /// Fixed host paths (kubelet, CNI) that did not exist before the first
    /// `up`. Kept with the logs across `down`, so the leftover check knows
    /// which of them are ours.
    pub fn created_paths(&self) -> PathBuf {
        self.logs().join("created-host-paths")
    }
    /// Prefixes under which every mount of ours lives.
    pub fn mount_prefixes(&self) -> Vec<PathBuf> {
        let mut prefixes = vec![self.state.clone(), PathBuf::from(CONTAINERD_RUN_DIR)];
        prefixes.extend(FIXED_HOST_PATHS.iter().map(PathBuf::from));
        prefixes
    }
}

/// Host paths the kubelet and CNI use whatever their configuration says.
pub const FIXED_HOST_PATHS: [&str; 5] = [
    "/var/lib/kubelet",
    "/var/log/pods",
    "/var/log/containers",
    "/var/lib/cni",
    "/run/containerd",
];
