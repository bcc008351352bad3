//! Secret hygiene: after the cluster phase, no credential value the tests used may appear
//! anywhere but in its Secret.
//!
//! Every credential of the cluster tests, examples and the demo contains
//! [`CREDENTIAL_MARKER`]. The API server's audit log holds each request's URI (an exec URL
//! carries its command line) and the bodies of every pod, event and config map written, so a
//! credential put into a pod spec, an env value, an argv, an event message or an exec URL shows
//! up there; the daemons' own logs are searched too, and the tracing output (debug: our crates
//! and the kube client's requests) of every cluster test. Secrets are audited without bodies.
//!
//! The scan proves it could find something: the runner-image test (`testkit`'s
//! `cluster_claude`) puts a key into a plain pod's env on purpose, without agentpod, and that
//! key must be found in the audit log.

use std::path::Path;

use agentpod_testkit::cluster::CREDENTIAL_MARKER;
use anyhow::{Context, bail};

use crate::cluster::layout::Layout;

/// The key `crates/testkit/tests/cluster_claude.rs` writes into a pod spec as a literal env
/// value: the scan's positive control.
const PLANTED_KEY: &str = "agentpod-test-key";

/// Daemon logs searched besides the audit log.
const DAEMON_LOGS: [&str; 6] = [
    "etcd",
    "containerd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
];

/// What the scan looked at.
struct Scanned {
    lines: usize,
    pod_writes: usize,
    exec_requests: usize,
    planted: usize,
    hits: Vec<String>,
}

/// Fails when a credential appears in the audit log or a daemon log, or when the audit log
/// lacks what the scan relies on.
pub fn scan(layout: &Layout) -> anyhow::Result<()> {
    let mut scanned = Scanned {
        lines: 0,
        pod_writes: 0,
        exec_requests: 0,
        planted: 0,
        hits: Vec::new(),
    };
    let audit = layout.audit_log();
    scan_file(&audit, &mut scanned, true)?;
    for daemon in DAEMON_LOGS {
        let log = layout.log_file(daemon);
        if log.exists() {
            scan_file(&log, &mut scanned, false)?;
        }
    }
    let trace = layout.tests_trace();
    let traced_lines = scanned.lines;
    if trace.exists() {
        scan_file(&trace, &mut scanned, false)?;
    }
    let traced_lines = scanned.lines - traced_lines;
    eprintln!(
        "    searched {} lines ({} pod writes and {} exec requests audited, {traced_lines} lines of the tests' tracing) for test credentials: {} found",
        scanned.lines,
        scanned.pod_writes,
        scanned.exec_requests,
        scanned.hits.len()
    );
    if traced_lines == 0 {
        bail!(
            "no tracing output of the cluster tests in {}: the scan would miss a credential logged by agentpod",
            trace.display()
        );
    }
    if scanned.pod_writes == 0 || scanned.planted == 0 {
        bail!(
            "the audit log at {} does not show the pods the suite created (pod writes: {}, the planted key: {}): the scan would miss a leak",
            audit.display(),
            scanned.pod_writes,
            scanned.planted
        );
    }
    if !scanned.hits.is_empty() {
        bail!(
            "a test credential left its Secret, in:\n  {}",
            scanned.hits.join("\n  ")
        );
    }
    Ok(())
}

fn scan_file(path: &Path, scanned: &mut Scanned, audit: bool) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    for (number, line) in text.lines().enumerate() {
        scanned.lines += 1;
        if audit {
            if line.contains(r#""resource":"pods""#) && line.contains(r#""verb":"create""#) {
                scanned.pod_writes += 1;
            }
            if line.contains("/exec?") {
                scanned.exec_requests += 1;
            }
            if line.contains(PLANTED_KEY) {
                scanned.planted += 1;
            }
        }
        if line.contains(CREDENTIAL_MARKER) {
            scanned.hits.push(format!(
                "{}:{}: {}",
                path.display(),
                number + 1,
                excerpt(line)
            ));
        }
    }
    Ok(())
}

/// The first 300 characters of a line, for the report.
fn excerpt(line: &str) -> String {
    let mut shown: String = line.chars().take(300).collect();
    if shown.len() < line.len() {
        shown.push('…');
    }
    shown
}
