//! Fixed names and addresses of the local test cluster.
//!
//! Why constants: `cargo xtask cluster up` creates exactly these interfaces,
//! namespaces and images, and tests must agree with it without a config file.
//! The ranges were chosen to be unused on the build machines; everything the
//! cluster sends stays on loopback or inside the network namespace below.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// Environment variable holding the admin kubeconfig of a running local
/// cluster. `cargo xtask test` sets it for the cluster suite; when it is unset,
/// cluster tests skip loudly.
pub const KUBECONFIG_ENV: &str = "AGENTPOD_KUBECONFIG";

/// Network namespace in which the whole cluster (control plane, containerd,
/// kubelet and the pod bridge) runs.
pub const NODE_NETNS: &str = "agentpod-node";

/// Host-side end of the veth pair joining the host to [`NODE_NETNS`].
pub const HOST_VETH: &str = "agentpod-h";

/// Namespace-side end of the veth pair.
pub const NODE_VETH: &str = "agentpod-n";

/// Address of [`HOST_VETH`]. Pods reach the host only here, so an offline
/// model endpoint bound to it is reachable from every pod.
pub const HOST_ADDR: Ipv4Addr = Ipv4Addr::new(10, 213, 0, 1);

/// Address of [`NODE_VETH`]: the node IP, the API server and the kubelet.
pub const NODE_ADDR: Ipv4Addr = Ipv4Addr::new(10, 213, 0, 2);

/// Prefix length of the veth link (a point-to-point /30).
pub const LINK_PREFIX_LEN: u8 = 30;

/// Pod IP range handed out by the CNI bridge inside [`NODE_NETNS`].
pub const POD_CIDR: &str = "10.214.0.0/16";

/// Service IP range of the API server (virtual only: there is no kube-proxy).
pub const SERVICE_CIDR: &str = "10.215.0.0/24";

/// Port of the API server on [`NODE_ADDR`].
pub const API_PORT: u16 = 6443;

/// Name of the single node.
pub const NODE_NAME: &str = "agentpod-node";

/// Kubernetes version of the local cluster.
pub const KUBERNETES_VERSION: &str = "1.20.2";

/// Busybox image (busybox-static with its applet links), present on the node.
pub const BUSYBOX_IMAGE: &str = "agentpod.local/busybox:1";

/// Sandbox ("pause") image containerd uses for every pod.
pub const PAUSE_IMAGE: &str = "agentpod.local/pause:3.2";

/// Runner image: busybox + glibc + the real `claude` CLI at
/// [`CLAUDE_RUNNER_BINARY`], running as uid [`CLAUDE_RUNNER_UID`] with a
/// writable `HOME` at [`CLAUDE_RUNNER_HOME`].
pub const CLAUDE_RUNNER_IMAGE: &str = "agentpod.local/claude-runner:2.1.328";

/// Path of the `claude` binary inside [`CLAUDE_RUNNER_IMAGE`].
pub const CLAUDE_RUNNER_BINARY: &str = "/usr/local/bin/claude";

/// Non-root user id of [`CLAUDE_RUNNER_IMAGE`].
pub const CLAUDE_RUNNER_UID: i64 = 1000;

/// Writable home directory of the runner user.
pub const CLAUDE_RUNNER_HOME: &str = "/home/agent";

/// Where a test binds an offline model endpoint so that pods can reach it:
/// the host end of the cluster's veth pair, any free port.
///
/// ```
/// let addr = agentpod_testkit::cluster::model_endpoint_bind_addr();
/// assert_eq!(addr.port(), 0);
/// assert_eq!(addr.ip().to_string(), "10.213.0.1");
/// ```
pub fn model_endpoint_bind_addr() -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(HOST_ADDR, 0))
}

/// Part of every credential value the cluster tests, examples and the demo use. After the
/// cluster phase, `cargo xtask test` searches the API server's audit log (pod specs, events,
/// config maps, exec and attach URLs) and every daemon's log for it: a hit is a credential that
/// left its Secret.
pub const CREDENTIAL_MARKER: &str = "hygiene-c4f1";
