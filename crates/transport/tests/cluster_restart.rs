//! Watch and log resumption: the API server is restarted while a run is in
//! flight (and finishes while the server is down); the result still arrives,
//! with the exit code and the complete log. Alone in its binary because it
//! takes the API server away from everyone for a few seconds.
//!
//! Runs with `cargo xtask test`; skips loudly under plain `cargo test`.
//!
//! The restart reuses the daemon's recorded PID file and command line (see
//! `xtask/src/cluster/daemons.rs`) and records the new PID there, so
//! `cargo xtask cluster down` still stops it.

#![allow(clippy::expect_used, clippy::print_stderr, reason = "test code")]

mod support;

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agentpod_testkit::cluster::NODE_NETNS;
use agentpod_transport::{RunEvent, RunOptions, StartPolicy};
use futures::StreamExt;

/// How long the API server stays down (the pod finishes meanwhile).
const DOWNTIME: Duration = Duration::from_secs(8);

fn state_dir(kubeconfig: &Path) -> PathBuf {
    kubeconfig
        .parent()
        .expect("kubeconfig lives in the state dir")
        .to_path_buf()
}

fn apiserver_pid(state: &Path) -> u32 {
    std::fs::read_to_string(state.join("pids/kube-apiserver.pid"))
        .expect("apiserver pid file")
        .trim()
        .parse()
        .expect("pid")
}

/// Kills the API server; returns its PID and command line.
fn kill_apiserver(state: &Path) -> (u32, Vec<String>) {
    let pid = apiserver_pid(state);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
    let argv: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect();
    assert!(argv[0].ends_with("kube-apiserver"), "{argv:?}");
    // SIGKILL: a crash, not a drain. A SIGTERM'd API server waits up to 60 s
    // for open watches, and a crash is the harder case for resumption anyway.
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    (pid, argv)
}

/// Waits until `pid` has exited.
fn wait_stopped(pid: u32) {
    let started = Instant::now();
    while is_alive(pid) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "apiserver did not stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Alive and not a zombie (under `cargo xtask test` the daemon's parent is
/// still running and reaps it only later).
fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
        state != Some(Some('Z'))
    })
}

/// Starts the API server again when dropped, so that a failing test never
/// leaves the cluster without one.
struct Restart {
    state: PathBuf,
    argv: Vec<String>,
    done: bool,
}

impl Restart {
    fn now(&mut self) {
        if !self.done {
            self.done = true;
            if let Err(error) = start_apiserver(&self.state, &self.argv) {
                eprintln!("could not restart the API server: {error}");
            }
        }
    }
}

impl Drop for Restart {
    fn drop(&mut self) {
        self.now();
    }
}

/// Closes every inherited descriptor above stderr, then runs the arguments
/// (bash: dash cannot name descriptors above 9, and its failing `exec` would
/// end the shell before the API server starts). The test runs under `flock`
/// on the cluster lock, whose descriptor is inherited (not close-on-exec): an
/// API server started without this holds the cluster lock as long as it lives.
const CLOSE_INHERITED_FDS: &str = r#"for fd in /proc/self/fd/*; do n=${fd##*/}; if [ "$n" -gt 2 ] 2>/dev/null; then eval "exec $n>&-"; fi; done; exec "$@""#;

/// Starts the API server again exactly as `cargo xtask cluster up` did.
#[allow(
    clippy::zombie_processes,
    reason = "the API server must outlive this test; `cluster down` stops it by its PID file"
)]
fn start_apiserver(state: &Path, argv: &[String]) -> std::io::Result<()> {
    let log = std::fs::OpenOptions::new()
        .append(true)
        .open(state.join("logs/kube-apiserver.log"))?;
    let child = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{NODE_NETNS}"))
        .arg("--")
        .args(["bash", "-c", CLOSE_INHERITED_FDS, "bash"])
        .args(argv)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()?;
    std::fs::write(
        state.join("pids/kube-apiserver.pid"),
        child.id().to_string(),
    )
}

#[tokio::test]
async fn cluster_result_survives_an_api_server_restart() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let state = state_dir(setup.cluster.kubeconfig());
    let spec = setup
        .busybox("restart", "echo before; sleep 3; echo survived; exit 4")
        .secret_env("TOKEN", "x");
    let mut run = setup
        .transport
        .start(
            spec,
            RunOptions::default()
                .start(StartPolicy::default().start_timeout(Duration::from_secs(60)))
                .run_timeout(Duration::from_secs(120)),
        )
        .await
        .expect("start");
    let mut events = run.take_events().expect("events");
    while let Some(event) = events.next().await {
        if event == RunEvent::Running {
            break;
        }
    }
    let (pid, argv) = kill_apiserver(&state);
    let mut restart = Restart {
        state: state.clone(),
        argv,
        done: false,
    };
    tokio::task::spawn_blocking(move || wait_stopped(pid))
        .await
        .expect("apiserver stopped");
    let down_at = Instant::now();
    tokio::time::sleep(DOWNTIME).await;
    restart.now();
    eprintln!("API server was down for {:?}", down_at.elapsed());

    let (outcome, output) =
        tokio::time::timeout(Duration::from_secs(120), run.wait_with_output(1 << 20))
            .await
            .expect("the result arrives after the restart")
            .expect("run");
    eprintln!(
        "result after restart: {}; {:?}; {} API requests; {} resyncs; {:?} since the server went down",
        outcome.exit,
        outcome.logs,
        outcome.api_requests,
        outcome.watch_resyncs,
        down_at.elapsed()
    );
    assert_eq!(outcome.exit.code, Some(4));
    assert_eq!(String::from_utf8_lossy(&output), "before\nsurvived\n");
    assert!(outcome.logs.expect("summary").complete);
    setup.wait_no_leftovers(Duration::from_secs(20)).await;
}
