//! One user of the local cluster at a time.
//!
//! Why: the cluster's names (network namespace, veth, state dir, containerd
//! socket) are fixed per machine, so two `cargo xtask test` runs, or a test
//! run and someone's `cluster down`, would tear each other's cluster apart.
//! `up`, `down` and the whole cluster phase of `cargo xtask test` hold an
//! exclusive `flock`; a second one waits and says so. The lock file is opened
//! close-on-exec, so the daemons never inherit it.

use std::fs::{File, OpenOptions};
use std::path::Path;

use anyhow::Context;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Lock file; /run/lock is the conventional place and is emptied at boot.
const LOCK_FILE: &str = "/run/lock/agentpod-cluster.lock";

/// Held while it lives.
pub struct ClusterLock {
    _lock: Flock<File>,
}

/// Takes the lock, waiting (with a message) while another run holds it.
pub fn acquire() -> anyhow::Result<ClusterLock> {
    acquire_at(Path::new(LOCK_FILE))
}

fn acquire_at(path: &Path) -> anyhow::Result<ClusterLock> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((file, Errno::EWOULDBLOCK)) => {
            eprintln!(
                "==> waiting: another cargo xtask run is using the local cluster ({})",
                path.display()
            );
            Flock::lock(file, FlockArg::LockExclusive)
                .map_err(|(_, errno)| anyhow::anyhow!("cannot lock {}: {errno}", path.display()))?
        }
        Err((_, errno)) => anyhow::bail!("cannot lock {}: {errno}", path.display()),
    };
    Ok(ClusterLock { _lock: lock })
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::acquire_at;

    #[test]
    fn a_second_holder_waits_until_the_first_releases() {
        let path = std::env::temp_dir().join(format!("xtask-lock-test-{}", std::process::id()));
        let first = acquire_at(&path).unwrap();
        let (sender, receiver) = mpsc::channel();
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || {
                let second = acquire_at(&path).unwrap();
                sender.send(()).unwrap();
                drop(second);
            })
        };
        assert!(
            receiver.recv_timeout(Duration::from_millis(300)).is_err(),
            "the lock was held twice"
        );
        drop(first);
        receiver
            .recv_timeout(Duration::from_secs(5))
            .expect("the second holder got the lock");
        waiter.join().unwrap();
        std::fs::remove_file(&path).unwrap();
    }
}
