//! How many API requests a run makes, counted exactly against a scripted API
//! server: a plain run with one Secret makes at most five (create Secret,
//! create pod, one watch, one log read, one delete), because the first Secret
//! owns the pod and the other Secrets (no owner patch) and deleting it lets
//! the garbage collector delete the rest.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

mod mock;

use std::sync::Arc;
use std::time::Duration;

use agentpod_podspec::{AgentPodSpec, RenderedPod};
use agentpod_transport::{CleanupPolicy, RunEvent};
use bytes::Bytes;
use futures::StreamExt;
use http::{Method, StatusCode};
use k8s_openapi::ByteString;
use serde_json::{Value, json};

use mock::*;

/// A pod `p` in `ns` with one Secret (`p-inputs`).
fn with_secret() -> RenderedPod {
    AgentPodSpec::new("img")
        .name("p")
        .namespace("ns")
        .command(["true"])
        .secret_env("TOKEN", "sk-test-credential")
        .render(std::time::SystemTime::now())
        .unwrap()
}

/// Accepts a POSTed Secret or pod: Secrets get the UID `uid-<name>`, the pod
/// `uid-1` (and is stored for the watch).
fn accept(fake: &Fake, seen: &Seen) -> Reply {
    if seen.path.ends_with("/pods") {
        return accept_pod(fake, seen);
    }
    let mut secret = seen.body.clone();
    let name = secret["metadata"]["name"].as_str().unwrap_or_default();
    secret["metadata"]["uid"] = json!(format!("uid-{name}"));
    secret["metadata"]["resourceVersion"] = json!("5");
    json_reply(StatusCode::CREATED, &secret)
}

#[tokio::test]
async fn a_run_whose_container_already_ended_makes_five_requests() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, _) => accept(&fake, &seen),
            // The container ran between two kubelet reports: the first event is its end.
            (Method::GET, "/api/v1/namespaces/ns/pods") => watch_ended(&fake, "Succeeded", 0),
            (Method::GET, "/api/v1/namespaces/ns/pods/p/log") => text_reply("done\n"),
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let (outcome, output) = transport
        .start(with_secret(), options().follow_logs(true))
        .await
        .expect("start")
        .wait_with_output(1 << 20)
        .await
        .expect("run");
    assert_eq!(output, b"done\n");
    assert!(outcome.exit.success(), "{}", outcome.exit);
    assert!(transport.finish_cleanups(Duration::from_secs(10)).await);
    assert_eq!(
        requests(&fake),
        [
            "POST /api/v1/namespaces/ns/secrets",
            "POST /api/v1/namespaces/ns/pods",
            "GET /api/v1/namespaces/ns/pods",
            "GET /api/v1/namespaces/ns/pods/p/log",
            "DELETE /api/v1/namespaces/ns/secrets/p-inputs",
        ],
        "one watch (no list), one plain log read, and deleting the Secret deletes the pod"
    );
    assert_eq!(outcome.api_requests, 5);
    assert_eq!(outcome.logs.expect("summary").reads, 1);
    let seen = fake.seen.lock().unwrap().clone();
    let log_read = &seen[3];
    assert!(
        !log_read.query.contains("follow=true"),
        "{}",
        log_read.query
    );
    let delete = &seen[4].body;
    assert_eq!(delete["preconditions"]["uid"], "uid-p-inputs");
    assert_eq!(delete["propagationPolicy"], "Background");
}

#[tokio::test]
async fn the_pod_and_further_secrets_are_owned_by_the_first_secret() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, _) => accept(&fake, &seen),
            (Method::GET, "/api/v1/namespaces/ns/pods") => watch_ended(&fake, "Failed", 3),
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let mut rendered = with_secret();
    let mut part = rendered.secrets[0].clone();
    part.metadata.name = Some("p-prompt-1".into());
    part.data = Some([("part".to_owned(), ByteString(b"prompt".to_vec()))].into());
    part.string_data = None;
    rendered.secrets.push(part);
    let outcome = run_to_end(&transport, rendered, options()).await;
    assert_eq!(outcome.exit.code, Some(3));
    assert!(transport.finish_cleanups(Duration::from_secs(10)).await);
    assert_eq!(
        requests(&fake),
        [
            "POST /api/v1/namespaces/ns/secrets",
            "POST /api/v1/namespaces/ns/secrets",
            "POST /api/v1/namespaces/ns/pods",
            "GET /api/v1/namespaces/ns/pods",
            "DELETE /api/v1/namespaces/ns/secrets/p-inputs",
        ],
        "no owner patch; one delete"
    );
    let seen = fake.seen.lock().unwrap().clone();
    let anchor = json!([{"apiVersion": "v1", "kind": "Secret", "name": "p-inputs",
                         "uid": "uid-p-inputs"}]);
    assert!(seen[0].body["metadata"]["ownerReferences"].is_null());
    assert_eq!(seen[1].body["metadata"]["ownerReferences"], anchor);
    assert_eq!(seen[2].body["metadata"]["ownerReferences"], anchor);
}

#[tokio::test]
async fn a_run_without_secrets_deletes_its_pod() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, _) => accept(&fake, &seen),
            (Method::GET, "/api/v1/namespaces/ns/pods") => watch_ended(&fake, "Succeeded", 0),
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let outcome = run_to_end(&transport, rendered(), options()).await;
    assert_eq!(outcome.api_requests, 3);
    assert_eq!(
        requests(&fake),
        [
            "POST /api/v1/namespaces/ns/pods",
            "GET /api/v1/namespaces/ns/pods",
            "DELETE /api/v1/namespaces/ns/pods/p",
        ]
    );
    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(seen[2].body["gracePeriodSeconds"], 0);
    assert!(seen[0].body["metadata"]["ownerReferences"].is_null());
}

/// The log of the scripted pod: a follow that delivers `line` and then stays
/// open (the kubelet ends a follow only after it noticed the exit).
fn follow_then_hang(line: &str) -> Reply {
    chunked_reply(vec![Bytes::from(line.to_owned())], Then::Hang)
}

#[tokio::test]
async fn a_run_finished_in_the_background_deletes_only_its_first_secret_once_the_pod_ended() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, _) => accept(&fake, &seen),
            // Running; the end comes once the test opens the gate.
            (Method::GET, "/api/v1/namespaces/ns/pods") => gated_stream_reply(
                vec![event("MODIFIED", pod_in(&fake, "11", "Running", None))],
                fake.gate.clone(),
                vec![event("MODIFIED", pod_in(&fake, "12", "Succeeded", Some(0)))],
            ),
            (Method::GET, "/api/v1/namespaces/ns/pods/p/log") => follow_then_hang("result\n"),
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let mut run = transport
        .start(with_secret(), options().follow_logs(true))
        .await
        .expect("start");
    let mut logs = run.take_logs().expect("logs");
    let first = logs.next().await.expect("a chunk").expect("bytes");
    assert_eq!(first, Bytes::from_static(b"result\n"));
    // The caller has what it needs: the run ends by itself in the background.
    drop(logs);
    run.finish_in_background();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !requests(&fake).iter().any(|r| r.starts_with("DELETE")),
        "nothing is deleted while the container may still be ending: {:?}",
        requests(&fake)
    );
    fake.gate.notify_one();
    assert!(transport.finish_cleanups(Duration::from_secs(10)).await);
    assert_eq!(
        requests(&fake),
        [
            "POST /api/v1/namespaces/ns/secrets",
            "POST /api/v1/namespaces/ns/pods",
            "GET /api/v1/namespaces/ns/pods",
            "GET /api/v1/namespaces/ns/pods/p/log",
            "DELETE /api/v1/namespaces/ns/secrets/p-inputs",
        ],
        "one follow, no final read, one delete"
    );
}

#[tokio::test]
async fn a_run_finished_in_the_background_that_never_ends_is_deleted_after_the_linger() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, _) => accept(&fake, &seen),
            (Method::GET, "/api/v1/namespaces/ns/pods") => stream_reply(
                vec![event("MODIFIED", pod_in(&fake, "11", "Running", None))],
                true,
            ),
            (Method::GET, "/api/v1/namespaces/ns/pods/p/log") => follow_then_hang("result\n"),
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let options = options().follow_logs(true).cleanup(
        CleanupPolicy::default()
            .grace(Duration::ZERO)
            .linger(Duration::from_millis(300)),
    );
    let mut run = transport
        .start(with_secret(), options)
        .await
        .expect("start");
    let mut events = run.take_events().expect("events");
    while let Some(event) = events.next().await {
        if event == RunEvent::Running {
            break;
        }
    }
    run.finish_in_background();
    assert!(transport.finish_cleanups(Duration::from_secs(10)).await);
    let deletes: Vec<(String, Value)> = fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == Method::DELETE)
        .map(|s| (s.path.clone(), s.body.clone()))
        .collect();
    assert_eq!(deletes.len(), 2, "{deletes:?}");
    assert_eq!(deletes[0].0, "/api/v1/namespaces/ns/pods/p");
    assert_eq!(deletes[0].1["gracePeriodSeconds"], 0);
    assert_eq!(deletes[1].0, "/api/v1/namespaces/ns/secrets/p-inputs");
}

#[tokio::test]
async fn the_log_is_not_read_again_after_its_reader_left() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, _) => accept(&fake, &seen),
            (Method::GET, "/api/v1/namespaces/ns/pods") => gated_stream_reply(
                vec![event("MODIFIED", pod_in(&fake, "11", "Running", None))],
                fake.gate.clone(),
                vec![event("MODIFIED", pod_in(&fake, "12", "Succeeded", Some(0)))],
            ),
            // The follow ends (the container is exiting).
            (Method::GET, "/api/v1/namespaces/ns/pods/p/log") => text_reply("hello\n"),
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let mut run = transport
        .start(with_secret(), options().follow_logs(true))
        .await
        .expect("start");
    let mut logs = run.take_logs().expect("logs");
    let first = logs.next().await.expect("a chunk").expect("bytes");
    assert_eq!(first, Bytes::from_static(b"hello\n"));
    drop(logs);
    // Only now does the watch report the end, which would make a final read.
    fake.gate.notify_one();
    let outcome = run.wait().await.expect("run");
    let reads = requests(&fake)
        .iter()
        .filter(|r| r.ends_with("/log"))
        .count();
    assert_eq!(reads, 1, "{:?}", requests(&fake));
    assert_eq!(outcome.logs.expect("summary").reads, 1);
}

#[tokio::test]
async fn a_run_handed_over_while_its_log_is_drained_stops_reading_at_once() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, _) => accept(&fake, &seen),
            // Running, then at once Succeeded: the run waits for its log to be drained.
            (Method::GET, "/api/v1/namespaces/ns/pods") => watch_running_then_succeeded(&fake),
            // The kubelet has not ended the follow yet.
            (Method::GET, "/api/v1/namespaces/ns/pods/p/log") => follow_then_hang("result\n"),
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let mut run = transport
        .start(with_secret(), options().follow_logs(true))
        .await
        .expect("start");
    let mut logs = run.take_logs().expect("logs");
    let mut events = run.take_events().expect("events");
    let first = logs.next().await.expect("a chunk").expect("bytes");
    assert_eq!(first, Bytes::from_static(b"result\n"));
    while let Some(event) = events.next().await {
        if matches!(event, RunEvent::Finished(_)) {
            break;
        }
    }
    drop(logs);
    run.finish_in_background();
    assert!(
        transport.finish_cleanups(Duration::from_secs(10)).await,
        "the run kept waiting for the log (drain timeout 60 s)"
    );
    assert_eq!(
        requests(&fake),
        [
            "POST /api/v1/namespaces/ns/secrets",
            "POST /api/v1/namespaces/ns/pods",
            "GET /api/v1/namespaces/ns/pods",
            "GET /api/v1/namespaces/ns/pods/p/log",
            "DELETE /api/v1/namespaces/ns/secrets/p-inputs",
        ]
    );
}

/// The objects deleted at the end of a run, as `METHOD path` lines.
fn deletes(fake: &Fake) -> Vec<String> {
    requests(fake)
        .into_iter()
        .filter(|r| r.starts_with("DELETE"))
        .collect()
}

#[tokio::test]
async fn a_run_whose_watch_broke_deletes_its_pod_and_secrets_itself() {
    // After an API server restart the controller manager's informers back off
    // (measured on the local cluster: the garbage collector removed an owned
    // pod only after more than 30 s), so a run that saw the API server fail
    // does not leave its pod to the collector.
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, _) => accept(&fake, &seen),
            (Method::GET, "/api/v1/namespaces/ns/pods") => match count(&fake, "watch") {
                // Running, then the connection breaks (the API server died) …
                1 => chunked_reply(
                    vec![Bytes::from(format!(
                        "{}\n",
                        event("MODIFIED", pod_in(&fake, "11", "Running", None))
                    ))],
                    Then::Break,
                ),
                // … is not back yet …
                2 => status_reply(503, "ServiceUnavailable"),
                // … and then reports the end.
                _ => watch_ended(&fake, "Succeeded", 0),
            },
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let mut rendered = with_secret();
    let mut part = rendered.secrets[0].clone();
    part.metadata.name = Some("p-prompt-1".into());
    rendered.secrets.push(part);
    let outcome = run_to_end(&transport, rendered, options()).await;
    assert!(outcome.exit.success(), "{}", outcome.exit);
    assert!(transport.finish_cleanups(Duration::from_secs(10)).await);
    assert_eq!(
        deletes(&fake),
        [
            "DELETE /api/v1/namespaces/ns/pods/p",
            "DELETE /api/v1/namespaces/ns/secrets/p-inputs",
            "DELETE /api/v1/namespaces/ns/secrets/p-prompt-1",
        ],
        "every object deleted directly"
    );
}

#[tokio::test]
async fn a_run_whose_create_was_retried_deletes_its_pod_itself() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            // The API server answers the first pod create with 503.
            (Method::POST, "/api/v1/namespaces/ns/pods") if count(&fake, "pod post") == 1 => {
                status_reply(503, "ServiceUnavailable")
            }
            (Method::POST, _) => accept(&fake, &seen),
            (Method::GET, "/api/v1/namespaces/ns/pods") => watch_ended(&fake, "Succeeded", 0),
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let outcome = run_to_end(&transport, with_secret(), options()).await;
    assert!(outcome.exit.success(), "{}", outcome.exit);
    assert!(transport.finish_cleanups(Duration::from_secs(10)).await);
    assert_eq!(
        deletes(&fake),
        [
            "DELETE /api/v1/namespaces/ns/pods/p",
            "DELETE /api/v1/namespaces/ns/secrets/p-inputs",
        ]
    );
}
