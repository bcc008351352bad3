//! The cluster's network: one namespace joined to the host by a veth pair.
//!
//! Why: the kubelet refuses a loopback node IP and the machine's own interface
//! address is off limits, so the node gets a namespace of its own. The host
//! end (`HOST_ADDR`) is where tests bind servers pods must reach; the node end
//! (`NODE_ADDR`) carries the API server and kubelet. The namespace has no
//! default route, so nothing in it (pods included) can send a byte anywhere
//! but the node, its pods and the host end of the veth.

use agentpod_testkit::cluster::{
    HOST_ADDR, HOST_VETH, LINK_PREFIX_LEN, NODE_ADDR, NODE_NETNS, NODE_VETH, POD_CIDR,
};

use super::host::run;

/// `nsenter` arguments that run a program inside the node namespace while
/// keeping the host's mount namespace (kubelet and containerd must see each
/// other's mounts, which `ip netns exec` would hide).
pub fn nsenter_prefix() -> Vec<String> {
    vec![format!("--net=/run/netns/{NODE_NETNS}"), "--".into()]
}

pub fn exists() -> bool {
    std::path::Path::new("/run/netns").join(NODE_NETNS).exists()
}

pub fn create() -> anyhow::Result<()> {
    let host_cidr = format!("{HOST_ADDR}/{LINK_PREFIX_LEN}");
    let node_cidr = format!("{NODE_ADDR}/{LINK_PREFIX_LEN}");
    run("ip", ["netns", "add", NODE_NETNS])?;
    run(
        "ip",
        [
            "link", "add", HOST_VETH, "type", "veth", "peer", "name", NODE_VETH, "netns",
            NODE_NETNS,
        ],
    )?;
    run("ip", ["addr", "add", &host_cidr, "dev", HOST_VETH])?;
    run("ip", ["link", "set", HOST_VETH, "up"])?;
    run("ip", ["-n", NODE_NETNS, "link", "set", "lo", "up"])?;
    run(
        "ip",
        [
            "-n", NODE_NETNS, "addr", "add", &node_cidr, "dev", NODE_VETH,
        ],
    )?;
    run("ip", ["-n", NODE_NETNS, "link", "set", NODE_VETH, "up"])?;
    // Replies from the host to pods (e.g. the model endpoint) go back through the node.
    run(
        "ip",
        [
            "route",
            "add",
            POD_CIDR,
            "via",
            &NODE_ADDR.to_string(),
            "dev",
            HOST_VETH,
        ],
    )?;
    // The node forwards between the pod bridge and the veth.
    let mut forward = vec!["nsenter".to_string()];
    forward.extend(nsenter_prefix());
    forward.extend([
        "sysctl".into(),
        "-q".into(),
        "-w".into(),
        "net.ipv4.ip_forward=1".into(),
    ]);
    run(&forward[0], &forward[1..])?;
    Ok(())
}

/// Deletes the namespace (taking the veth pair, the pod bridge and the route with it).
pub fn remove() -> anyhow::Result<()> {
    if exists() {
        run("ip", ["netns", "delete", NODE_NETNS])?;
    }
    // The kernel removes the veth pair shortly after its namespace; one whose
    // namespace vanished oddly may survive on the host side.
    let host_end = std::path::Path::new("/sys/class/net").join(HOST_VETH);
    for _ in 0..40 {
        if !host_end.exists() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    run("ip", ["link", "delete", HOST_VETH]).map(|_| ())
}
