//! `K8sEphemeralProvider` against a scripted in-process API server (a tower service behind a
//! real `kube::Client`): no cluster.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentpod_podspec::AgentPodSpec;
use agentpod_provider::{Agent, Credential, K8sEphemeralProvider};
use agentpod_transport::{CleanupPolicy, RunOptions, Transport};
use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, StreamBody};
use kube::client::Body;
use serde_json::{Value, json};
use tokio::sync::Notify;

const RESULT: &str =
    r#"{"type":"result","subtype":"success","is_error":false,"result":"ok","num_turns":1}"#;

type Reply = Response<BoxBody<Bytes, std::io::Error>>;

/// A body of `lines`, then (if `hang`) never an end.
fn lines(lines: Vec<String>, hang: bool) -> Reply {
    let frames = futures::stream::iter(
        lines
            .into_iter()
            .map(|l| Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from(l + "\n")))),
    );
    let body = if hang {
        BodyExt::boxed(StreamBody::new(frames.chain(futures::stream::pending())))
    } else {
        BodyExt::boxed(StreamBody::new(frames))
    };
    Response::builder().status(200).body(body).unwrap()
}

fn json_reply(status: u16, value: &Value) -> Reply {
    let frame = Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from(value.to_string())));
    let body = BodyExt::boxed(StreamBody::new(futures::stream::iter([frame])));
    Response::builder().status(status).body(body).unwrap()
}

/// The API server: accepts the Secret and the pod, watches the pod running, follows a log
/// that carries the result (with stderr noise) and stays open. With `ends`, the watch reports
/// the pod `Succeeded` a moment after the log was first served (the kubelet's next status
/// report); without, the pod **never finishes**.
fn transport(
    seen: Arc<Mutex<Vec<String>>>,
    pod: Arc<Mutex<Option<Value>>>,
    ends: Option<Arc<Notify>>,
) -> Transport {
    let service = tower::service_fn(move |request: Request<Body>| {
        let seen = seen.clone();
        let pod = pod.clone();
        let ends = ends.clone();
        async move {
            let (parts, body) = request.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let mut body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let path = parts.uri.path().to_owned();
            let query = parts.uri.query().unwrap_or_default().to_owned();
            seen.lock()
                .unwrap()
                .push(format!("{} {path}", parts.method));
            let reply = match parts.method {
                Method::POST | Method::PATCH => {
                    if body.is_null() {
                        body = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {}});
                    }
                    body["metadata"]["uid"] = json!("uid-1");
                    body["metadata"]["resourceVersion"] = json!("10");
                    if path.ends_with("/pods") {
                        *pod.lock().unwrap() = Some(body.clone());
                    }
                    json_reply(201, &body)
                }
                Method::GET if path.ends_with("/log") => {
                    if let Some(ends) = &ends {
                        ends.notify_one();
                    }
                    lines(
                        vec![
                            "npm WARN something on stderr".to_owned(),
                            RESULT.to_owned(),
                            "a line on stderr after the result".to_owned(),
                        ],
                        query.contains("follow=true"),
                    )
                }
                Method::GET if path.ends_with("/pods") && query.contains("watch") => {
                    let created = pod.lock().unwrap().clone().unwrap_or(Value::Null);
                    let mut running = created.clone();
                    running["metadata"]["resourceVersion"] = json!("11");
                    running["status"] = json!({"phase": "Running", "containerStatuses": [{
                        "name": "claude-code", "ready": true, "restartCount": 0, "image": "i",
                        "imageID": "", "state": {"running": {}}}]});
                    let mut done = created;
                    done["metadata"]["resourceVersion"] = json!("12");
                    done["status"] = json!({"phase": "Succeeded", "containerStatuses": [{
                        "name": "claude-code", "ready": false, "restartCount": 0, "image": "i",
                        "imageID": "", "state": {"terminated": {"exitCode": 0}}}]});
                    let first = json!({"type": "MODIFIED", "object": running}).to_string();
                    let Some(ends) = ends else {
                        return Ok::<_, Infallible>(lines(vec![first], true));
                    };
                    let line = |l: String| {
                        Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from(l + "\n")))
                    };
                    let end = json!({"type": "MODIFIED", "object": done}).to_string();
                    let later = futures::stream::once(async move {
                        ends.notified().await;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        line(end)
                    });
                    let body = futures::stream::iter([line(first)])
                        .chain(later)
                        .chain(futures::stream::pending());
                    Response::builder()
                        .status(200)
                        .body(BodyExt::boxed(StreamBody::new(body)))
                        .unwrap()
                }
                Method::DELETE => json_reply(200, &json!({})),
                _ => json_reply(
                    404,
                    &json!({"kind": "Status", "code": 404, "reason": "NotFound"}),
                ),
            };
            Ok::<_, Infallible>(reply)
        }
    });
    Transport::from_client(kube::Client::new(service, "default"))
}

#[tokio::test]
async fn the_output_is_returned_at_the_result_before_the_pod_finished() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let transport = transport(seen.clone(), Arc::new(Mutex::new(None)), None);
    let provider = K8sEphemeralProvider::builder(AgentPodSpec::new("img").namespace("ns"))
        .api_key(Credential::Value("sk-test".into()))
        .run_options(
            RunOptions::default()
                .run_timeout(Duration::from_secs(20))
                .cleanup(CleanupPolicy::default().grace(Duration::ZERO)),
        )
        .build(transport.clone());

    // The pod never finishes here: waiting for its exit would end only at the run timeout.
    let output = tokio::time::timeout(Duration::from_secs(15), Agent::new("say ok").run(&provider))
        .await
        .expect("the output came only after the pod finished (or never)")
        .expect("answers");
    assert_eq!(output.text, "ok");
    assert_eq!(output.exit_code, None, "the exit was never reported");
    assert!(output.api_requests > 0);

    // Returning dropped the run: the pod and its Secret are deleted in the background.
    assert!(transport.finish_cleanups(Duration::from_secs(10)).await);
    let seen = seen.lock().unwrap().clone();
    let deletes: Vec<&String> = seen.iter().filter(|r| r.starts_with("DELETE")).collect();
    assert!(
        deletes.iter().any(|r| r.contains("/pods/")),
        "no pod delete: {seen:?}"
    );
    assert!(
        deletes.iter().any(|r| r.contains("/secrets/")),
        "no Secret delete: {seen:?}"
    );
}

#[tokio::test]
async fn a_plain_call_makes_at_most_five_api_requests_cleanup_included() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let transport = transport(
        seen.clone(),
        Arc::new(Mutex::new(None)),
        Some(Arc::new(Notify::new())),
    );
    // The default configuration: the prompt and the key in a Secret, default run options.
    let provider = K8sEphemeralProvider::builder(AgentPodSpec::new("img").namespace("ns"))
        .api_key(Credential::Value("sk-test".into()))
        .build(transport.clone());

    let output = tokio::time::timeout(Duration::from_secs(15), Agent::new("say ok").run(&provider))
        .await
        .expect("answers in time")
        .expect("answers");
    assert_eq!(output.text, "ok");
    assert!(transport.finish_cleanups(Duration::from_secs(20)).await);

    let seen = seen.lock().unwrap().clone();
    let pod = output.pod.expect("a pod");
    assert_eq!(
        seen,
        [
            "POST /api/v1/namespaces/ns/secrets".to_owned(),
            "POST /api/v1/namespaces/ns/pods".to_owned(),
            "GET /api/v1/namespaces/ns/pods".to_owned(),
            format!("GET /api/v1/namespaces/ns/pods/{pod}/log"),
            format!("DELETE /api/v1/namespaces/ns/secrets/{pod}-inputs"),
        ],
        "create Secret, create pod, one watch, one log read, one delete"
    );
    assert_eq!(output.api_requests, 4, "the output counts up to the result");
}

#[tokio::test]
async fn an_exit_code_grace_reports_the_exit_seen_after_the_result_without_more_requests() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let transport = transport(
        seen.clone(),
        Arc::new(Mutex::new(None)),
        Some(Arc::new(Notify::new())),
    );
    let provider = K8sEphemeralProvider::builder(AgentPodSpec::new("img").namespace("ns"))
        .api_key(Credential::Value("sk-test".into()))
        .exit_code_grace(Duration::from_secs(10))
        .build(transport.clone());

    let output = tokio::time::timeout(Duration::from_secs(15), Agent::new("say ok").run(&provider))
        .await
        .expect("answers in time")
        .expect("answers");
    // The watch reported the end ~100 ms after the result: within the grace.
    assert_eq!(output.exit_code, Some(0));
    assert!(output.timings.pod_run.is_some(), "{:?}", output.timings);
    assert!(transport.finish_cleanups(Duration::from_secs(20)).await);
    assert_eq!(seen.lock().unwrap().len(), 5, "{:?}", seen.lock().unwrap());
}
