//! `cargo xtask cluster up | down | status | env`: a real single-node
//! Kubernetes 1.20 on this machine, built from Debian packages only.
//!
//! Why here: tests must run against a real API server, kubelet and container
//! runtime, and a fresh machine (or CI) must get one from one command. See
//! docs/testing.md for the layout, the network and how tests use it.

mod configs;
mod daemons;
mod host;
mod images;
mod kubernetes;
pub mod layout;
pub mod lock;
mod network;
mod pki;
mod sysctl;
mod teardown;

use std::time::{Duration, Instant};

use agentpod_testkit::cluster::{KUBECONFIG_ENV, NODE_NAME};
use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::{Node, ServiceAccount};
use kube::Api;

use daemons::Daemon;
use layout::Layout;

pub use host::ensure_packages;

/// How long the daemons get to bring the node to Ready.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Installs and builds what is missing, then starts a fresh cluster (cleaning
/// up whatever an earlier run left behind first).
pub fn up(layout: &Layout) -> anyhow::Result<()> {
    let started = Instant::now();
    host::ensure_packages()?;
    kubernetes::ensure_binaries(layout)?;
    let tarballs = images::ensure_tarballs(layout)?;
    eprintln!(
        "==> prerequisites ready ({} s)",
        started.elapsed().as_secs()
    );

    let starting = Instant::now();
    teardown::down(layout).context("cleaning up an earlier cluster failed")?;
    let left = teardown::leftovers(layout);
    if !left.is_empty() {
        bail!(
            "cannot start cleanly, still present after cleanup:\n  {}",
            left.join("\n  ")
        );
    }
    for dir in [
        layout.pids(),
        layout.logs(),
        layout.etcd_data(),
        layout.kubelet_root(),
        layout.containerd_root(),
    ] {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    teardown::record_created_paths(layout)?;
    sysctl::save(layout)?;
    pki::generate(layout)?;
    configs::write_all(layout)?;
    teardown::create_cgroups()?;
    network::create()?;

    let all = daemons::all(layout);
    let (early, late): (Vec<&Daemon>, Vec<&Daemon>) = all.iter().partition(|d| d.name != "kubelet");
    for daemon in &early {
        daemon.start(layout)?;
    }
    wait_for_file(&Layout::containerd_socket(), &all, layout)?;
    // Importing (mostly unpacking the 200 MB runner image) takes seconds; it
    // overlaps with the kubelet's start-up, which needs no image yet.
    let import = std::thread::spawn(move || {
        let importing = Instant::now();
        images::import(&Layout::containerd_socket(), &tarballs)
            .map(|()| (tarballs.len(), importing.elapsed()))
    });
    for daemon in &late {
        daemon.start(layout)?;
    }
    eprintln!("==> daemons started, waiting for node {NODE_NAME} to be Ready");
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(wait_until_ready(layout, &all))?;
    let (count, took) = import
        .join()
        .map_err(|_| anyhow::anyhow!("the image import thread panicked"))??;
    eprintln!(
        "    imported {count} images into containerd in {:.1} s",
        took.as_secs_f64()
    );
    eprintln!(
        "==> cluster up: node Ready in {ready:.1} s (total {total:.1} s)\n    export {KUBECONFIG_ENV}={kubeconfig}\n    export KUBECONFIG={kubeconfig}",
        ready = starting.elapsed().as_secs_f64(),
        total = started.elapsed().as_secs_f64(),
        kubeconfig = layout.admin_kubeconfig().display(),
    );
    Ok(())
}

/// Stops the cluster and removes everything it created.
pub fn down(layout: &Layout) -> anyhow::Result<()> {
    teardown::down(layout)?;
    let left = teardown::leftovers(layout);
    if !left.is_empty() {
        bail!("after down, still present:\n  {}", left.join("\n  "));
    }
    eprintln!("==> cluster down; nothing of ours is left");
    Ok(())
}

/// Prints each daemon's state; with `leftovers`, lists what of ours exists
/// and fails when anything does (meant to run after `down`).
pub fn status(layout: &Layout, leftovers: bool) -> anyhow::Result<()> {
    if leftovers {
        let left = teardown::leftovers(layout);
        if left.is_empty() {
            println!(
                "no leftovers: no process, mount, interface, netns, cgroup, iptables rule or path of ours"
            );
            return Ok(());
        }
        for item in &left {
            println!("leftover: {item}");
        }
        bail!("{} leftovers of the local cluster", left.len());
    }
    let mut down = 0;
    for daemon in daemons::all(layout) {
        match daemon.running_pid(layout) {
            Some(pid) => println!("{:<24} running (pid {pid})", daemon.name),
            None => {
                down += 1;
                println!(
                    "{:<24} not running (log: {})",
                    daemon.name,
                    layout.log_file(daemon.name).display()
                );
            }
        }
    }
    if down == 0 {
        println!("kubeconfig: {}", layout.admin_kubeconfig().display());
    }
    Ok(())
}

/// Whether a cluster is running: every daemon alive and the admin kubeconfig written.
pub fn is_up(layout: &Layout) -> bool {
    layout.admin_kubeconfig().is_file()
        && daemons::all(layout)
            .iter()
            .all(|daemon| daemon.running_pid(layout).is_some())
}

/// Prints the shell exports that point kubectl and cluster tests at the cluster.
pub fn env(layout: &Layout) -> anyhow::Result<()> {
    let kubeconfig = layout.admin_kubeconfig();
    if !kubeconfig.is_file() {
        bail!(
            "no cluster: {} does not exist; run `cargo xtask cluster up`",
            kubeconfig.display()
        );
    }
    println!("export KUBECONFIG={}", kubeconfig.display());
    println!("export {KUBECONFIG_ENV}={}", kubeconfig.display());
    Ok(())
}

/// Fails with the log of the first daemon that died.
fn check_alive(layout: &Layout, all: &[Daemon]) -> anyhow::Result<()> {
    for daemon in all {
        if layout.pid_file(daemon.name).exists() && daemon.running_pid(layout).is_none() {
            return Err(daemon.failure(layout, "exited during start-up"));
        }
    }
    Ok(())
}

fn wait_for_file(path: &std::path::Path, all: &[Daemon], layout: &Layout) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        check_alive(layout, all)?;
        if Instant::now() > deadline {
            bail!("{} did not appear within 30 s", path.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Waits for node Ready and the `default` service account's token, checking
/// that every daemon stays alive; a timeout names the daemon to look at.
async fn wait_until_ready(layout: &Layout, all: &[Daemon]) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut client = None;
    let mut stage = "kube-apiserver";
    loop {
        check_alive(layout, all)?;
        if Instant::now() > deadline {
            let daemon = all.iter().find(|d| d.name == stage).unwrap_or(&all[0]);
            return Err(daemon.failure(
                layout,
                &format!("not ready within {} s", READY_TIMEOUT.as_secs()),
            ));
        }
        if client.is_none() {
            client = agentpod_testkit::cluster::Cluster::connect(&layout.admin_kubeconfig())
                .await
                .ok()
                .map(|c| c.client());
        }
        if let Some(client) = &client {
            stage = "kubelet";
            let nodes: Api<Node> = Api::all(client.clone());
            let ready = nodes
                .get_opt(NODE_NAME)
                .await
                .ok()
                .flatten()
                .is_some_and(|node| {
                    node.status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
                });
            if ready {
                stage = "kube-controller-manager";
                let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
                let token = accounts
                    .get_opt("default")
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|a| a.secrets.is_some_and(|s| !s.is_empty()));
                if token {
                    return Ok(());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
