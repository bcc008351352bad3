//! Taking a daemon of the local cluster away on purpose, and bringing it back.
//!
//! Why: the fault suite proves that a run survives (or fails with a typed error, leaving
//! nothing behind) when the API server crashes or the kubelet dies mid-run. The daemon is
//! killed with SIGKILL (a crash, not a drain) and started again exactly as
//! `cargo xtask cluster up` started it — same command line, same network namespace, same log
//! file — with its new PID recorded in the PID file, so `cargo xtask cluster down` still stops
//! it. An [`Outage`] restarts its daemon when dropped, so a failing test never leaves the
//! cluster without one.
//!
//! Only for tests that hold the whole cluster: others lose the daemon for the outage.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::NODE_NETNS;

/// A daemon a test may take down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemon {
    /// `kube-apiserver`: every client loses the cluster for the outage.
    ApiServer,
    /// `kubelet`: the node stops running, reporting and deleting pods.
    Kubelet,
}

impl Daemon {
    /// The daemon's name: its PID file and log file stem.
    pub fn name(self) -> &'static str {
        match self {
            Self::ApiServer => "kube-apiserver",
            Self::Kubelet => "kubelet",
        }
    }
}

/// A daemon killed by a test; started again by [`Outage::end`] or on drop.
#[derive(Debug)]
pub struct Outage {
    daemon: Daemon,
    state: PathBuf,
    argv: Vec<String>,
    ended: bool,
    started: Instant,
}

impl Outage {
    /// Kills `daemon` of the cluster whose admin kubeconfig is `kubeconfig` (it lives in the
    /// cluster's state directory) with SIGKILL, and waits until it is gone. Blocks.
    pub fn begin(kubeconfig: &Path, daemon: Daemon) -> std::io::Result<Outage> {
        let state = kubeconfig
            .parent()
            .ok_or_else(|| std::io::Error::other("the kubeconfig has no parent directory"))?
            .to_path_buf();
        let pid_file = state.join("pids").join(format!("{}.pid", daemon.name()));
        let pid: u32 = std::fs::read_to_string(&pid_file)?
            .trim()
            .parse()
            .map_err(std::io::Error::other)?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))?;
        let argv: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|part| !part.is_empty())
            .map(|part| String::from_utf8_lossy(part).into_owned())
            .collect();
        if !argv
            .first()
            .is_some_and(|program| program.ends_with(daemon.name()))
        {
            return Err(std::io::Error::other(format!(
                "pid {pid} from {} runs {argv:?}, not {}",
                pid_file.display(),
                daemon.name()
            )));
        }
        let status = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()?;
        if !status.success() {
            return Err(std::io::Error::other(format!("kill -KILL {pid}: {status}")));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while is_alive(pid) {
            if Instant::now() > deadline {
                return Err(std::io::Error::other(format!(
                    "{} (pid {pid}) survived SIGKILL for 30 s",
                    daemon.name()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Outage {
            daemon,
            state,
            argv,
            ended: false,
            started: Instant::now(),
        })
    }

    /// Starts the daemon again (once); returns how long it was down.
    pub fn end(&mut self) -> std::io::Result<Duration> {
        let down = self.started.elapsed();
        if self.ended {
            return Ok(down);
        }
        self.ended = true;
        let log = std::fs::OpenOptions::new().append(true).open(
            self.state
                .join("logs")
                .join(format!("{}.log", self.daemon.name())),
        )?;
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{NODE_NETNS}"))
            .arg("--")
            .args(["bash", "-c", CLOSE_INHERITED_FDS, "bash"])
            .args(&self.argv)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()?;
        std::fs::write(
            self.state
                .join("pids")
                .join(format!("{}.pid", self.daemon.name())),
            child.id().to_string(),
        )?;
        // The daemon must outlive the test; `cluster down` stops it by its PID file. Reap it
        // if it exits while this process lives, so nobody sees a zombie as alive.
        std::thread::spawn(move || {
            let mut child = child;
            child.wait()
        });
        Ok(down)
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if let Err(error) = self.end() {
            tracing::error!(daemon = self.daemon.name(), %error, "could not restart the daemon");
        }
    }
}

/// Closes every inherited descriptor above stderr, then runs the arguments (bash: dash cannot
/// name descriptors above 9). Cluster tests run under `flock` on the cluster lock, whose
/// descriptor is inherited: a daemon started without this would hold the lock while it lives.
const CLOSE_INHERITED_FDS: &str = r#"for fd in /proc/self/fd/*; do n=${fd##*/}; if [ "$n" -gt 2 ] 2>/dev/null; then eval "exec $n>&-"; fi; done; exec "$@""#;

/// Alive and not a zombie.
fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        state != Some('Z') && state != Some('X')
    })
}
