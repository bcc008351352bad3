//! A readable account of a pod for failing tests.
//!
//! Why: "timed out" alone says nothing. A failing cluster test prints the
//! pod's phase, each container's state, the pod's events (image pulls,
//! scheduling, kills) and the tail of every container's log.

use std::fmt::Write as _;

use k8s_openapi::api::core::v1::{ContainerState, Event, Pod};
use kube::api::{ListParams, LogParams};
use kube::{Api, Client};

/// Log lines per container in a report.
const LOG_TAIL_LINES: i64 = 40;

/// Describes pod `pod` in `namespace`: status, container states, events and
/// log tails. Never fails: what cannot be read is described instead.
///
/// ```no_run
/// # async fn t(client: kube::Client) {
/// let report = agentpod_testkit::cluster::pod_report(&client, "t-x-1", "runner").await;
/// assert!(report.contains("pod t-x-1/runner"));
/// # }
/// ```
pub async fn pod_report(client: &Client, namespace: &str, pod: &str) -> String {
    let mut report = format!("--- pod {namespace}/{pod} ---\n");
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let containers = match pods.get_opt(pod).await {
        Ok(Some(found)) => describe_status(&mut report, &found),
        Ok(None) => {
            report.push_str("pod not found\n");
            Vec::new()
        }
        Err(error) => {
            let _ = writeln!(report, "pod unreadable: {error}");
            Vec::new()
        }
    };
    describe_events(&mut report, client, namespace, pod).await;
    for container in containers {
        let params = LogParams {
            container: Some(container.clone()),
            tail_lines: Some(LOG_TAIL_LINES),
            ..LogParams::default()
        };
        match pods.logs(pod, &params).await {
            Ok(log) => {
                let _ = writeln!(report, "log of container {container}:\n{log}");
            }
            Err(error) => {
                let _ = writeln!(report, "log of container {container} unreadable: {error}");
            }
        }
    }
    report
}

/// Appends phase and container states; returns the container names.
fn describe_status(report: &mut String, pod: &Pod) -> Vec<String> {
    let status = pod.status.clone().unwrap_or_default();
    let _ = writeln!(
        report,
        "phase: {} reason: {} message: {}",
        status.phase.as_deref().unwrap_or("-"),
        status.reason.as_deref().unwrap_or("-"),
        status.message.as_deref().unwrap_or("-"),
    );
    let all_statuses = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    for container in all_statuses {
        let _ = writeln!(
            report,
            "container {}: ready={} restarts={} state: {} last: {}",
            container.name,
            container.ready,
            container.restart_count,
            describe_state(container.state.as_ref()),
            describe_state(container.last_state.as_ref()),
        );
    }
    pod.spec
        .iter()
        .flat_map(|spec| {
            spec.init_containers
                .iter()
                .flatten()
                .chain(&spec.containers)
        })
        .map(|container| container.name.clone())
        .collect()
}

fn describe_state(state: Option<&ContainerState>) -> String {
    let Some(state) = state else {
        return "-".into();
    };
    if let Some(waiting) = &state.waiting {
        return format!(
            "waiting ({}: {})",
            waiting.reason.as_deref().unwrap_or("-"),
            waiting.message.as_deref().unwrap_or("-")
        );
    }
    if let Some(terminated) = &state.terminated {
        return format!(
            "terminated (exit {}, {}: {})",
            terminated.exit_code,
            terminated.reason.as_deref().unwrap_or("-"),
            terminated.message.as_deref().unwrap_or("-")
        );
    }
    if state.running.is_some() {
        return "running".into();
    }
    "-".into()
}

async fn describe_events(report: &mut String, client: &Client, namespace: &str, pod: &str) {
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().fields(&format!("involvedObject.name={pod}"));
    match events.list(&params).await {
        Ok(list) => {
            report.push_str("events:\n");
            for event in list.items {
                let _ = writeln!(
                    report,
                    "  {} {} (x{}): {}",
                    event.type_.as_deref().unwrap_or("-"),
                    event.reason.as_deref().unwrap_or("-"),
                    event.count.unwrap_or(1),
                    event.message.as_deref().unwrap_or("-"),
                );
            }
        }
        Err(error) => {
            let _ = writeln!(report, "events unreadable: {error}");
        }
    }
}
