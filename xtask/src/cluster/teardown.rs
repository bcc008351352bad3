//! `down`, and the check that nothing of ours survives it.
//!
//! Order matters: the kubelet goes first (it would restart containers), then
//! every process in our cgroup tree (the containers), then the containerd
//! shims of our socket, then the remaining daemons; only then can mounts,
//! cgroups and the network namespace go.

use std::path::{Path, PathBuf};
use std::time::Duration;

use agentpod_testkit::cluster::{HOST_VETH, NODE_NETNS};
use nix::mount::{MntFlags, umount2};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::configs::CGROUP_ROOT;
use super::daemons::{self, terminate};
use super::layout::{CONTAINERD_RUN_DIR, FIXED_HOST_PATHS, Layout};
use super::{network, sysctl};

/// Stops and removes everything `up` created. Keeps going past errors and
/// reports them all at the end, so one stuck piece never hides the rest.
pub fn down(layout: &Layout) -> anyhow::Result<()> {
    let mut problems: Vec<String> = Vec::new();
    let mut note = |result: anyhow::Result<()>| {
        if let Err(error) = result {
            problems.push(format!("{error:#}"));
        }
    };
    let all = daemons::all(layout);
    if let Some(kubelet) = all.iter().find(|d| d.name == "kubelet") {
        note(kubelet.stop(layout, Duration::from_secs(10)));
    }
    kill_cgroup_processes();
    for pid in processes_matching(|cmdline| {
        cmdline.contains("containerd-shim") && cmdline.contains(CONTAINERD_RUN_DIR)
    }) {
        note(terminate(
            pid,
            Path::new(&argv0(pid)),
            Duration::from_secs(5),
        ));
    }
    for daemon in all.iter().rev() {
        note(daemon.stop(layout, Duration::from_secs(10)));
    }
    // Daemons whose PID file was lost (e.g. a crash during `up`).
    for pid in our_processes(layout) {
        note(terminate(
            pid,
            Path::new(&argv0(pid)),
            Duration::from_secs(5),
        ));
    }
    note(unmount_all(layout));
    note(remove_cgroups());
    note(network::remove());
    note(remove_created_paths(layout));
    note(sysctl::restore(layout));
    note(clear_state(layout));
    if problems.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("cluster down left problems:\n  {}", problems.join("\n  "))
    }
}

/// Everything of ours that still exists; empty after a clean `down`.
pub fn leftovers(layout: &Layout) -> Vec<String> {
    let mut found = Vec::new();
    for pid in our_processes(layout) {
        found.push(format!("process {pid}: {}", cmdline(pid)));
    }
    for pid in
        processes_matching(|c| c.contains("containerd-shim") && c.contains(CONTAINERD_RUN_DIR))
    {
        found.push(format!("containerd shim {pid}: {}", cmdline(pid)));
    }
    for mount in our_mounts(layout) {
        found.push(format!("mount {}", mount.display()));
    }
    if Path::new("/sys/class/net").join(HOST_VETH).exists() {
        found.push(format!("interface {HOST_VETH}"));
    }
    if network::exists() {
        found.push(format!("network namespace {NODE_NETNS}"));
    }
    for cgroup in our_cgroups() {
        found.push(format!("cgroup {}", cgroup.display()));
    }
    if let Ok(rules) = super::host::run("iptables-save", std::iter::empty::<&str>()) {
        for rule in rules
            .lines()
            .filter(|l| l.contains("KUBE-") || l.contains("CNI-") || l.contains("agentpod"))
        {
            found.push(format!("iptables: {rule}"));
        }
    }
    let created = std::fs::read_to_string(layout.created_paths()).unwrap_or_default();
    for path in created.lines().map(Path::new).filter(|p| p.exists()) {
        found.push(format!("path {}", path.display()));
    }
    if layout.saved_sysctls().exists() {
        found.push("host sysctls not restored".into());
    }
    if let Ok(entries) = std::fs::read_dir(&layout.state) {
        for entry in entries.flatten().filter(|e| e.file_name() != "logs") {
            found.push(format!("state {}", entry.path().display()));
        }
    }
    found
}

/// Records which fixed host paths do not exist yet, so `down` removes only those.
pub fn record_created_paths(layout: &Layout) -> anyhow::Result<()> {
    let file = layout.created_paths();
    let mut listed = std::fs::read_to_string(&file).unwrap_or_default();
    for path in FIXED_HOST_PATHS {
        if !Path::new(path).exists() && !listed.lines().any(|l| l == path) {
            listed.push_str(path);
            listed.push('\n');
        }
    }
    if !listed.lines().any(|l| l == CONTAINERD_RUN_DIR) {
        listed.push_str(CONTAINERD_RUN_DIR);
        listed.push('\n');
    }
    super::host::write_atomic(&file, listed)
}

fn remove_created_paths(layout: &Layout) -> anyhow::Result<()> {
    let Ok(listed) = std::fs::read_to_string(layout.created_paths()) else {
        return Ok(());
    };
    for path in listed.lines().filter(|l| !l.is_empty()).map(Path::new) {
        if path.exists() {
            std::fs::remove_dir_all(path)
                .map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// Removes the state dir except the daemon logs.
fn clear_state(layout: &Layout) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(&layout.state) else {
        return Ok(());
    };
    for entry in entries.flatten().filter(|e| e.file_name() != "logs") {
        let path = entry.path();
        let removed = if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Mount points under our prefixes, deepest first, from /proc/self/mountinfo.
fn our_mounts(layout: &Layout) -> Vec<PathBuf> {
    let prefixes = layout.mount_prefixes();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut mounts: Vec<PathBuf> = info
        .lines()
        .filter_map(|line| line.split_whitespace().nth(4))
        .map(|point| PathBuf::from(point.replace("\\040", " ")))
        .filter(|point| prefixes.iter().any(|prefix| point.starts_with(prefix)))
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
    mounts.dedup();
    mounts
}

fn unmount_all(layout: &Layout) -> anyhow::Result<()> {
    for _ in 0..5 {
        let mounts = our_mounts(layout);
        if mounts.is_empty() {
            return Ok(());
        }
        for mount in mounts {
            let _ = umount2(&mount, MntFlags::MNT_DETACH);
        }
    }
    let left = our_mounts(layout);
    if left.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("mounts remain: {left:?}")
    }
}

/// Our cgroup in every v1 hierarchy (`/sys/fs/cgroup/<controller>/agentpod`).
fn our_cgroups() -> Vec<PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .map(|dir| {
            dir.flatten()
                .map(|e| e.path().join(CGROUP_ROOT))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// Creates our cgroup in every v1 hierarchy (the kubelet requires its cgroup
/// root to exist); cpuset needs its cpus/mems copied from the parent.
pub fn create_cgroups() -> anyhow::Result<()> {
    for entry in std::fs::read_dir("/sys/fs/cgroup")?.flatten() {
        let hierarchy = entry.path();
        if entry.file_name() == "unified" || !hierarchy.join("cgroup.procs").exists() {
            continue;
        }
        let ours = hierarchy.join(CGROUP_ROOT);
        std::fs::create_dir_all(&ours)?;
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(value) = std::fs::read_to_string(hierarchy.join(file)) {
                std::fs::write(ours.join(file), value.trim())?;
            }
        }
    }
    Ok(())
}

/// All cgroup directories below `root`, deepest first.
fn cgroup_tree(root: &Path) -> Vec<PathBuf> {
    let mut all = vec![root.to_path_buf()];
    let mut index = 0;
    while index < all.len() {
        if let Ok(children) = std::fs::read_dir(&all[index]) {
            all.extend(children.flatten().map(|c| c.path()).filter(|p| p.is_dir()));
        }
        index += 1;
    }
    all.reverse();
    all
}

fn kill_cgroup_processes() {
    for root in our_cgroups() {
        for cgroup in cgroup_tree(&root) {
            let procs = std::fs::read_to_string(cgroup.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

fn remove_cgroups() -> anyhow::Result<()> {
    for root in our_cgroups() {
        for cgroup in cgroup_tree(&root) {
            // A cgroup whose last process just died may be busy for a moment.
            let mut tries = 0;
            while let Err(error) = std::fs::remove_dir(&cgroup) {
                tries += 1;
                if tries > 50 {
                    anyhow::bail!("cannot remove cgroup {}: {error}", cgroup.display());
                }
                kill_cgroup_processes();
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    Ok(())
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            String::from_utf8_lossy(&bytes)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

fn argv0(pid: u32) -> String {
    cmdline(pid)
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn processes_matching(predicate: impl Fn(&str) -> bool) -> Vec<u32> {
    let own = std::process::id();
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| *pid != own)
                .filter(|pid| {
                    let stat =
                        std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                    let state = stat
                        .rsplit_once(')')
                        .and_then(|(_, r)| r.split_whitespace().next());
                    state.is_some_and(|s| s != "Z") && predicate(&cmdline(*pid))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Our daemons (by program name) whose command line names our state dir or
/// our containerd dir: only `up` starts such processes. By name, not path,
/// so daemons started from another cache dir are found too.
fn our_processes(layout: &Layout) -> Vec<u32> {
    let state = format!("{}/", layout.state.to_string_lossy());
    processes_matching(|cmdline| {
        let program = cmdline.split(' ').next().unwrap_or_default();
        let name = Path::new(program)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let ours = matches!(
            name,
            "kube-apiserver"
                | "kube-controller-manager"
                | "kube-scheduler"
                | "kubelet"
                | "etcd"
                | "containerd"
                | "nsenter"
        );
        ours && (cmdline.contains(&state) || cmdline.contains(CONTAINERD_RUN_DIR))
    })
}
