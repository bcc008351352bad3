//! Stopping a local `claude` process with everything it started.
//!
//! The CLI runs its Bash tool's shells in sessions of their own (`setsid`), so killing the
//! CLI's process group does not reach them, and once the CLI is dead they are re-parented and
//! can no longer be told apart. So the guard first collects the CLI's descendants (by parent
//! pid, from `/proc`) while the CLI still lives, then kills the CLI's process group and each
//! descendant with SIGKILL. On systems without `/proc` only the process group is killed.

use std::collections::{BTreeMap, BTreeSet};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// Kills the process group led by the `claude` process, and its descendants, when dropped,
/// unless disarmed.
pub(crate) struct TreeGuard(Option<i32>);

impl TreeGuard {
    /// Guards the process `pid`, which leads its own process group.
    pub(crate) fn new(pid: Option<i32>) -> Self {
        Self(pid)
    }

    /// The process ended on its own: leave everything alone.
    pub(crate) fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for TreeGuard {
    fn drop(&mut self) {
        let Some(pid) = self.0.take() else {
            return;
        };
        let descendants = descendants_of(pid);
        // ESRCH (already gone) is normal here; there is nobody to report other errors to.
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        for child in descendants {
            let _ = kill(Pid::from_raw(child), Signal::SIGKILL);
        }
    }
}

/// Every live descendant of `root`, from the parent pids in `/proc/<pid>/stat`.
pub(crate) fn descendants_of(root: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(parent) = parent_of(pid) {
            children.entry(parent).or_default().push(pid);
        }
    }
    let mut found = BTreeSet::new();
    let mut queue = vec![root];
    while let Some(pid) = queue.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            if found.insert(child) {
                queue.push(child);
            }
        }
    }
    found.into_iter().collect()
}

/// The parent pid of `pid`: the fourth field of `/proc/<pid>/stat`, read after the command
/// name's closing parenthesis (the name may hold spaces and parentheses).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_this_process_as_a_descendant_of_its_parent() {
        let me = i32::try_from(std::process::id()).unwrap_or_default();
        let parent = parent_of(me);
        assert!(parent.is_some());
        let descendants = descendants_of(parent.unwrap_or_default());
        assert!(descendants.contains(&me), "{descendants:?}");
    }
}
