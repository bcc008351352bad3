//! Edge cases that a healthy cluster will not produce on demand, against a
//! scripted in-process API server (a tower service behind a real
//! `kube::Client`): throttling and 5xx on create, a create whose reply was
//! lost, a foreign object holding the name, `410 Gone` in the middle of a
//! watch, a log follow that ends before the container did, and a dropped run.
//! Every path here also has a real-cluster test where the cluster can
//! produce it (see `cluster_*.rs`).

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

mod mock;

use std::sync::Arc;
use std::time::Duration;

use agentpod_podspec::AgentPodSpec;
use agentpod_transport::{
    CleanupPolicy, NameConflict, RUN_TOKEN_ANNOTATION, StartPolicy, TransportError,
};
use futures::StreamExt;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use mock::*;

#[tokio::test]
async fn throttled_and_failing_creates_are_retried_and_410_resyncs_the_watch() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, "/api/v1/namespaces/ns/pods") => match *fake.pod_posts.lock().unwrap() {
                1 => status_reply(429, "TooManyRequests"),
                2 => status_reply(503, "ServiceUnavailable"),
                _ => accept_pod(&fake, &seen),
            },
            (Method::GET, "/api/v1/namespaces/ns/pods") if !seen.query.contains("watch=true") => {
                let pod = pod_in(&fake, "30", "Succeeded", Some(0));
                json_reply(
                    StatusCode::OK,
                    &json!({"kind": "PodList", "apiVersion": "v1",
                    "metadata": {"resourceVersion": "40"}, "items": [pod]}),
                )
            }
            (Method::GET, "/api/v1/namespaces/ns/pods") => {
                assert!(seen.query.contains("resourceVersion=10"), "{}", seen.query);
                let gone = json!({"kind": "Status", "status": "Failure", "code": 410,
                    "reason": "Expired", "message": "too old resource version"});
                stream_reply(
                    vec![
                        event("MODIFIED", pod_in(&fake, "11", "Running", None)),
                        event("ERROR", gone),
                    ],
                    false,
                )
            }
            (Method::DELETE, "/api/v1/namespaces/ns/pods/p") => {
                json_reply(StatusCode::OK, &pod_in(&fake, "31", "Succeeded", Some(0)))
            }
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let outcome = transport
        .start(rendered(), options())
        .await
        .expect("created after two transient failures")
        .wait()
        .await
        .expect("the terminal state arrives through the resync");
    assert!(outcome.exit.success());
    assert_eq!(outcome.watch_resyncs, 1);
    assert_eq!(
        requests(&fake),
        [
            "POST /api/v1/namespaces/ns/pods",
            "POST /api/v1/namespaces/ns/pods",
            "POST /api/v1/namespaces/ns/pods",
            "GET /api/v1/namespaces/ns/pods",
            "GET /api/v1/namespaces/ns/pods",
            "DELETE /api/v1/namespaces/ns/pods/p",
        ]
    );
    assert_eq!(
        outcome.api_requests, 6,
        "the per-run counter sees every attempt"
    );
    let delete = fake.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(delete.body["preconditions"]["uid"], "uid-1");
    assert_eq!(delete.body["gracePeriodSeconds"], 0);
}

#[tokio::test]
async fn retries_give_up_with_a_typed_error() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |_, _| {
        Box::pin(async { status_reply(503, "ServiceUnavailable") })
    });
    let error = transport
        .start(
            rendered(),
            options().start(StartPolicy::default().retry(fast_retry().attempts(3))),
        )
        .await
        .expect_err("never succeeds");
    assert!(
        matches!(
            &error,
            TransportError::RetriesExhausted {
                attempts: 3,
                kind: "pod",
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(*fake.pod_posts.lock().unwrap(), 3);
}

#[tokio::test]
async fn a_create_whose_reply_was_lost_is_adopted_by_its_token() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, "/api/v1/namespaces/ns/pods") => {
                if *fake.pod_posts.lock().unwrap() == 1 {
                    // The server stored it, but the reply failed.
                    let _ = accept_pod(&fake, &seen);
                    status_reply(500, "InternalError")
                } else {
                    status_reply(409, "AlreadyExists")
                }
            }
            (Method::GET, "/api/v1/namespaces/ns/pods/p") => {
                json_reply(StatusCode::OK, &pod_in(&fake, "10", "Pending", None))
            }
            (Method::GET, "/api/v1/namespaces/ns/pods") => watch_ended(&fake, "Succeeded", 0),
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let outcome = transport
        .start(rendered(), options())
        .await
        .expect("our own object is adopted")
        .wait()
        .await
        .expect("run");
    assert!(outcome.exit.success());
}

#[tokio::test]
async fn a_foreign_object_with_the_name_is_a_conflict_and_is_not_deleted() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |_, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, _) => status_reply(409, "AlreadyExists"),
            (Method::GET, "/api/v1/namespaces/ns/pods/p") => json_reply(
                StatusCode::OK,
                &json!({"metadata": {"name": "p", "namespace": "ns", "uid": "foreign",
                    "annotations": {RUN_TOKEN_ANNOTATION: "someone-else"}}}),
            ),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let error = transport
        .start(rendered(), options().name_conflict(NameConflict::Fail))
        .await
        .expect_err("the name is taken");
    assert!(
        matches!(&error, TransportError::NameConflict { name, .. } if name == "p"),
        "{error}"
    );
    assert!(
        !requests(&fake).iter().any(|r| r.starts_with("DELETE")),
        "never delete what is not ours: {:?}",
        requests(&fake)
    );
}

#[tokio::test]
async fn a_follow_that_ends_early_is_completed_without_duplicates() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, _) => Some(accept_pod(&fake, &seen)),
            (Method::GET, "/api/v1/namespaces/ns/pods/p/log")
                if seen.query.contains("follow=true") =>
            {
                fake.log_follow_served.notify_one();
                // The connection drops after the first half.
                Some(text_reply("hello "))
            }
            (Method::GET, "/api/v1/namespaces/ns/pods/p/log") => Some(text_reply("hello world\n")),
            (Method::GET, "/api/v1/namespaces/ns/pods") => {
                *fake.watches.lock().unwrap() += 1;
                if *fake.watches.lock().unwrap() == 1 {
                    Some(stream_reply(
                        vec![event("MODIFIED", pod_in(&fake, "11", "Running", None))],
                        false,
                    ))
                } else {
                    None
                }
            }
            (Method::DELETE, _) => Some(json_reply(StatusCode::OK, &json!({}))),
            _ => Some(status_reply(404, "NotFound")),
        };
        let finished = fake.created_pod.lock().unwrap().clone().map(|mut pod| {
            pod["metadata"]["resourceVersion"] = json!("20");
            pod["status"] = json!({"phase": "Succeeded", "containerStatuses": [{
                "name": "claude-code", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                "state": {"terminated": {"exitCode": 0}}}]});
            pod
        });
        // The pod finishes only after the follow was served (and broke off).
        Box::pin(async move {
            match reply {
                Some(reply) => reply,
                None => {
                    fake.log_follow_served.notified().await;
                    stream_reply(vec![event("MODIFIED", finished.unwrap())], true)
                }
            }
        })
    });
    let mut run = transport
        .start(rendered(), options().follow_logs(true))
        .await
        .expect("start");
    let mut logs = run.take_logs().expect("logs");
    let collect = async {
        let mut all = Vec::new();
        while let Some(chunk) = logs.next().await {
            all.extend_from_slice(&chunk.expect("chunk"));
        }
        all
    };
    let (outcome, output) = tokio::join!(run.wait(), collect);
    let outcome = outcome.expect("run");
    assert_eq!(String::from_utf8_lossy(&output), "hello world\n");
    let summary = outcome.logs.expect("summary");
    assert!(summary.complete);
    assert_eq!((summary.bytes, summary.reads), (12, 2));
}

#[tokio::test]
async fn dropping_a_run_deletes_its_pod_gracefully_then_forcibly() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, _) => accept_pod(&fake, &seen),
            (Method::GET, "/api/v1/namespaces/ns/pods") => stream_reply(
                vec![event("MODIFIED", pod_in(&fake, "11", "Running", None))],
                true,
            ),
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let mut run = transport
        .start(
            rendered(),
            options().cleanup(CleanupPolicy::default().grace(Duration::from_secs(1))),
        )
        .await
        .expect("start");
    let mut events = run.take_events().expect("events");
    while let Some(event) = events.next().await {
        if event == agentpod_transport::RunEvent::Running {
            break;
        }
    }
    drop(run);
    assert!(transport.finish_cleanups(Duration::from_secs(10)).await);
    let deletes: Vec<Value> = fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == Method::DELETE)
        .map(|s| s.body.clone())
        .collect();
    assert_eq!(deletes.len(), 2, "{deletes:?}");
    assert_eq!(deletes[0]["gracePeriodSeconds"], 1);
    assert_eq!(deletes[1]["gracePeriodSeconds"], 0);
    assert!(deletes.iter().all(|d| d["preconditions"]["uid"] == "uid-1"));
}

#[tokio::test]
async fn the_periodic_reaper_keeps_sweeping_until_dropped() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |_, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::GET, "/api/v1/namespaces/ns/pods") => json_reply(
                StatusCode::OK,
                &json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": []}),
            ),
            (Method::GET, "/api/v1/namespaces/ns/secrets") => json_reply(
                StatusCode::OK,
                &json!({"kind": "SecretList", "apiVersion": "v1", "metadata": {}, "items": []}),
            ),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let task = agentpod_transport::Reaper::new(transport)
        .namespace("ns")
        .spawn_periodic(Duration::from_millis(20));
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(task);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let sweeps = requests(&fake).len();
    assert!(sweeps >= 6, "at least three sweeps of two lists: {sweeps}");
    assert!(
        fake.seen.lock().unwrap().iter().all(|s| s
            .query
            .contains("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dagentpod")),
        "only our objects are listed"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        requests(&fake).len(),
        sweeps,
        "dropping the handle stops the sweeps"
    );
}

#[tokio::test]
async fn a_taken_generated_name_is_rendered_again_under_a_fresh_one() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, _) if *fake.pod_posts.lock().unwrap() == 1 => {
                status_reply(409, "AlreadyExists")
            }
            (Method::POST, _) => accept_pod(&fake, &seen),
            (Method::GET, "/api/v1/namespaces/ns/pods") => watch_ended(&fake, "Succeeded", 0),
            (Method::GET, path) => json_reply(
                StatusCode::OK,
                &json!({"metadata": {"name": path.rsplit('/').next(), "namespace": "ns",
                    "uid": "foreign", "annotations": {RUN_TOKEN_ANNOTATION: "not-ours"}}}),
            ),
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let spec = AgentPodSpec::new("img")
        .name(agentpod_podspec::PodName::generated("job"))
        .namespace("ns")
        .command(["true"]);
    let outcome = transport
        .start(spec, options())
        .await
        .expect("a fresh name is picked")
        .wait()
        .await
        .expect("run");
    let posted: Vec<String> = fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == Method::POST)
        .map(|s| {
            s.body["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(posted.len(), 2);
    assert_ne!(posted[0], posted[1]);
    assert_eq!(outcome.pod, posted[1]);
    assert!(outcome.pod.starts_with("job-"));
}
