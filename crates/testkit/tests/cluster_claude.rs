//! The real `claude` CLI, inside a pod of the runner image, against the
//! offline model endpoint: a plain turn, a `--json-schema` turn answered with
//! the `StructuredOutput` tool, and a turn whose Bash tool call really runs in
//! the pod. The endpoint listens on the host end of the cluster's veth pair;
//! its recorded requests prove the traffic came from the pod.
//!
//! Runs with `cargo xtask test`; skips loudly under plain `cargo test`.

#![allow(
    clippy::expect_used,
    reason = "a failed setup step should fail the test"
)]

use std::time::Duration;

use agentpod_testkit::cluster::{
    CLAUDE_RUNNER_BINARY, CLAUDE_RUNNER_IMAGE, Cluster, TestNamespace,
};
use agentpod_testkit::model::{Matcher, ModelEndpoint, Rule, Script};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{LogParams, PostParams};
use serde_json::{Value, json};

mod support;

const WAIT: Duration = Duration::from_secs(90);

/// The cluster, a fresh namespace and an endpoint serving `script` on the
/// cluster's host address; `None` (skipped) without a cluster.
async fn setup(script: Script) -> Option<(Cluster, TestNamespace, ModelEndpoint)> {
    let cluster = Cluster::for_test().await?;
    let ns = cluster.namespace().await;
    let endpoint = cluster
        .start_model_endpoint(script)
        .await
        .expect("endpoint starts");
    Some((cluster, ns, endpoint))
}

/// Runs `claude <args>` in a runner pod wired to `endpoint`; returns the
/// parsed `result` object the CLI printed. Fails with the pod's report when
/// the pod does not succeed.
async fn claude_in_pod(ns: &TestNamespace, endpoint: &ModelEndpoint, args: &[&str]) -> Value {
    let mut command = vec![CLAUDE_RUNNER_BINARY];
    command.extend_from_slice(args);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "claude"},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "containers": [{
                "name": "claude",
                "image": CLAUDE_RUNNER_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "command": command,
                "env": [
                    {"name": "ANTHROPIC_BASE_URL", "value": endpoint.base_url()},
                    {"name": "ANTHROPIC_API_KEY", "value": "agentpod-test-key"},
                    {"name": "CLAUDE_CODE_MAX_RETRIES", "value": "0"},
                    {"name": "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "value": "1"},
                ],
                "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false},
            }],
        },
    }))
    .expect("valid pod JSON");
    let pods: Api<Pod> = ns.api();
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("pod created");
    let done = ns
        .wait_for_pod("claude", "phase Succeeded or Failed", WAIT, |p| {
            matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            )
        })
        .await;
    if done.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Succeeded") {
        ns.fail_with_pod_report("claude", "claude exited non-zero in the pod")
            .await;
    }
    let log = pods
        .logs("claude", &LogParams::default())
        .await
        .expect("log readable");
    let last = support::last_line(&log).unwrap_or_default();
    match serde_json::from_str::<Value>(last) {
        Ok(result) => result,
        Err(error) => {
            ns.fail_with_pod_report("claude", &format!("result is not JSON ({error})"))
                .await
        }
    }
}

#[tokio::test]
async fn cluster_claude_in_pod_answers_from_the_offline_endpoint() {
    let script = Script::new().rule(Rule::new(Matcher::prompt_contains("what is 2+2")).text("4"));
    let Some((_cluster, ns, endpoint)) = setup(script).await else {
        return;
    };

    let result = claude_in_pod(&ns, &endpoint, &support::json_args("what is 2+2", &[])).await;

    assert_eq!(result["type"], "result");
    assert_eq!(result["subtype"], "success");
    assert_eq!(result["is_error"], false);
    assert_eq!(result["result"], "4");
    let sent = endpoint.messages_requests();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].prompt().as_deref(), Some("what is 2+2"));
}

#[tokio::test]
async fn cluster_claude_in_pod_returns_structured_output() {
    let script = Script::new().rule(
        Rule::new(Matcher::any().with_tool_offered("StructuredOutput"))
            .tool_use("StructuredOutput", json!({"answer": 4, "unit": "apples"})),
    );
    let Some((_cluster, ns, endpoint)) = setup(script).await else {
        return;
    };
    let schema = r#"{"type":"object","properties":{"answer":{"type":"integer"},"unit":{"type":"string"}},"required":["answer","unit"]}"#;

    let result = claude_in_pod(
        &ns,
        &endpoint,
        &support::json_args("count the apples", &["--json-schema", schema]),
    )
    .await;

    assert_eq!(result["is_error"], false, "{result}");
    assert_eq!(
        result["structured_output"],
        json!({"answer": 4, "unit": "apples"})
    );
    assert!(
        endpoint.messages_requests()[0]
            .tool_names()
            .iter()
            .any(|t| t == "StructuredOutput")
    );
}

#[tokio::test]
async fn cluster_claude_in_pod_runs_a_bash_tool_call() {
    // The pod's shell must compute the value and report the pod's uid: an
    // echo of our own input could not produce it.
    let script = Script::new()
        .rule(
            Rule::new(Matcher::prompt_contains("run the check").without_tool_result()).tool_use(
                "Bash",
                json!({"command": "echo result-$((6 * 7)) uid-$(id -u)", "description": "compute"}),
            ),
        )
        .rule(
            Rule::new(Matcher::any().with_tool_result_containing("result-42"))
                .text("the check printed 42"),
        );
    let Some((_cluster, ns, endpoint)) = setup(script).await else {
        return;
    };

    let result = claude_in_pod(
        &ns,
        &endpoint,
        &support::json_args("run the check", &["--allowedTools", "Bash"]),
    )
    .await;

    let sent = endpoint.messages_requests();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    let tool_results = sent[1].tool_results();
    assert_eq!(tool_results.len(), 1, "{tool_results:#?}");
    assert_eq!(
        tool_results[0].content.trim(),
        "result-42 uid-1000",
        "{tool_results:#?}"
    );
    assert_eq!(result["is_error"], false, "{result}");
    assert_eq!(result["result"], "the check printed 42");
    assert!(!tool_results[0].is_error);
}
