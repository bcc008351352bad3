//! The container's own run time, from containerd's task events.
//!
//! `containerStatuses[].state.terminated.startedAt / finishedAt` are what the issue names, but
//! the API server serialises them with 1 s resolution, and a pod deleted right after its result
//! may never have them reported at all. containerd publishes the same two instants (task start,
//! task exit) with nanosecond timestamps: `ctr events` on the node's containerd socket, read for
//! the whole run. Calls run one at a time in the benchmark, so the one runner-image container
//! created during a call is that call's container.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

/// containerd's socket of the local cluster.
pub const CONTAINERD_SOCKET: &str = "/run/agentpod-containerd/containerd.sock";

/// One container's life as containerd reported it.
#[derive(Debug, Clone, Default)]
pub struct ContainerLife {
    /// Image the container was created from.
    pub image: String,
    /// `/containers/create`.
    pub created: Option<SystemTime>,
    /// `/tasks/start`: the process started.
    pub started: Option<SystemTime>,
    /// `/tasks/exit`: the process ended.
    pub exited: Option<SystemTime>,
}

impl ContainerLife {
    /// Task start → task exit.
    pub fn run_time(&self) -> Option<Duration> {
        self.exited?.duration_since(self.started?).ok()
    }
}

/// `ctr events` running in the background, its lines parsed into container lives.
pub struct ContainerClock {
    lives: Arc<Mutex<HashMap<String, ContainerLife>>>,
    _child: Child,
}

impl ContainerClock {
    /// Starts following containerd's events.
    pub async fn start() -> anyhow::Result<Self> {
        let mut child = Command::new("ctr")
            .args(["--address", CONTAINERD_SOCKET, "-n", "k8s.io", "events"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("could not start `ctr events` (containerd's CLI)")?;
        let stdout = child.stdout.take().context("ctr events has no stdout")?;
        let lives: Arc<Mutex<HashMap<String, ContainerLife>>> = Arc::default();
        let sink = lives.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some((id, event)) = parse_line(&line)
                    && let Ok(mut lives) = sink.lock()
                {
                    let life = lives.entry(id).or_default();
                    match event {
                        Event::Created { at, image } => {
                            life.created = Some(at);
                            life.image = image;
                        }
                        Event::Started(at) => life.started = Some(at),
                        Event::Exited(at) => life.exited = Some(at),
                    }
                }
            }
        });
        // Let `ctr` subscribe before the first call.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(ContainerClock {
            lives,
            _child: child,
        })
    }

    /// Containers of `image` created at or after `since`, oldest first.
    pub fn created_since(&self, image: &str, since: SystemTime) -> Vec<ContainerLife> {
        let Ok(lives) = self.lives.lock() else {
            return Vec::new();
        };
        let mut found: Vec<ContainerLife> = lives
            .values()
            .filter(|life| life.image == image && life.created.is_some_and(|at| at >= since))
            .cloned()
            .collect();
        found.sort_by_key(|life| life.created);
        found
    }

    /// Waits (at most `timeout`) until the first container of `image` created since `since` has
    /// exited, and returns it.
    pub async fn wait_exited(
        &self,
        image: &str,
        since: SystemTime,
        timeout: Duration,
    ) -> Option<ContainerLife> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(life) = self.created_since(image, since).into_iter().next()
                && life.exited.is_some()
            {
                return Some(life);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

enum Event {
    Created { at: SystemTime, image: String },
    Started(SystemTime),
    Exited(SystemTime),
}

/// `2026-11-30 07:05:01.123456789 +0000 UTC k8s.io /tasks/start {"container_id":"…","pid":1}`
fn parse_line(line: &str) -> Option<(String, Event)> {
    let mut words = line.splitn(7, ' ');
    let (date, time, offset, _zone, _namespace, topic, json) = (
        words.next()?,
        words.next()?,
        words.next()?,
        words.next()?,
        words.next()?,
        words.next()?,
        words.next()?,
    );
    let at = parse_time(date, time, offset)?;
    let body: serde_json::Value = serde_json::from_str(json).ok()?;
    let text = |key: &str| body.get(key)?.as_str().map(str::to_owned);
    match topic {
        "/containers/create" => Some((
            text("id")?,
            Event::Created {
                at,
                image: text("image").unwrap_or_default(),
            },
        )),
        "/tasks/start" => Some((text("container_id")?, Event::Started(at))),
        // An exec's exit carries its own id; only the container's own task counts.
        "/tasks/exit" if text("id") == text("container_id") => {
            Some((text("container_id")?, Event::Exited(at)))
        }
        _ => None,
    }
}

fn parse_time(date: &str, time: &str, offset: &str) -> Option<SystemTime> {
    // Go prints the offset as `+0000`; RFC 3339 wants `+00:00`.
    let (hours, minutes) = offset.split_at_checked(3)?;
    let stamp = format!("{date}T{time}{hours}:{minutes}");
    let parsed: jiff::Timestamp = stamp.parse().ok()?;
    Some(SystemTime::from(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ctr_event_lines() {
        let (id, event) = parse_line(r#"2026-11-30 07:05:01.123456789 +0000 UTC k8s.io /tasks/start {"container_id":"abc","pid":12}"#).unwrap();
        assert_eq!(id, "abc");
        let Event::Started(at) = event else {
            panic!("not a start")
        };
        let since = at.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(since.subsec_nanos(), 123_456_789);
        assert!(parse_line(r#"2026-11-30 07:05:01.1 +0000 UTC k8s.io /tasks/exit {"container_id":"abc","id":"exec1","pid":12}"#).is_none());
        assert!(matches!(
            parse_line(
                r#"2026-11-30 07:05:01.1 +0000 UTC k8s.io /containers/create {"id":"abc","image":"img:1","runtime":{}}"#
            ),
            Some((_, Event::Created { .. }))
        ));
    }
}
