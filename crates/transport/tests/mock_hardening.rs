//! Hangs, leaks and lies the hardening pass removed, each reproduced against
//! a scripted API server: one that accepts and then stalls, a watch stuck on
//! a half-open connection, a caller that takes the log but reads it after
//! `wait()`, a caller dropping `start()` during the cleanup's settle delay,
//! log reads that keep breaking or come back rewritten, a reaper whose delete
//! is refused, a watch the server ends at once, and "infinite" timeouts.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

mod mock;

use std::sync::Arc;
use std::time::Duration;

use agentpod_podspec::AgentPodSpec;
use agentpod_transport::{
    CleanupPolicy, ClusterConnection, Reaper, RetryPolicy, RunOptions, StartPolicy, TransportError,
};
use bytes::Bytes;
use futures::StreamExt;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use mock::*;

/// An API server that accepts connections, reads requests, and never answers.
async fn stalled_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut sink = tokio::io::sink();
                let _ = tokio::io::copy(&mut socket, &mut sink).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn a_server_that_accepts_and_stalls_bounds_every_request() {
    let port = stalled_server().await;
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: 'http://127.0.0.1:{port}'}}\nusers:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
    );
    let transport = ClusterConnection::inline_kubeconfig(kubeconfig)
        .request_timeout(Duration::from_millis(300))
        .connect()
        .await
        .expect("connect sends nothing");
    let options = RunOptions::default()
        .start(StartPolicy::default().retry(fast_retry().attempts(2)))
        .follow_logs(false)
        .cleanup(CleanupPolicy::default().settle(Duration::from_millis(10)));
    let error = tokio::time::timeout(
        Duration::from_secs(30),
        transport.start(rendered(), options),
    )
    .await
    .expect("the create is bounded, not hung")
    .expect_err("nothing ever answers");
    assert!(
        matches!(
            error,
            TransportError::RetriesExhausted {
                attempts: 2,
                kind: "pod",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.is_retryable(), "{error}");
    let sweep = tokio::time::timeout(
        Duration::from_secs(30),
        Reaper::new(transport.clone()).namespace("ns").sweep(),
    )
    .await
    .expect("a reaper sweep is bounded too");
    assert!(sweep.is_err(), "{sweep:?}");
    assert!(
        transport.finish_cleanups(Duration::from_secs(30)).await,
        "the cleanup's reads are bounded"
    );
}

#[tokio::test]
async fn a_stuck_watch_does_not_report_a_run_timeout_for_a_finished_pod() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, _) => accept_pod(&fake, &seen),
            // The watch saw Running, then its connection went silent.
            (Method::GET, "/api/v1/namespaces/ns/pods") => stream_reply(
                vec![event("MODIFIED", pod_in(&fake, "11", "Running", None))],
                true,
            ),
            (Method::GET, "/api/v1/namespaces/ns/pods/p") => get_pod(&fake, "Succeeded", Some(0)),
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let outcome = transport
        .start(rendered(), options().run_timeout(Duration::from_secs(1)))
        .await
        .expect("start")
        .wait()
        .await
        .expect("the fresh read at the deadline shows the pod finished");
    assert!(outcome.exit.success(), "{}", outcome.exit);
}

#[tokio::test]
async fn logs_taken_but_read_only_after_wait_do_not_deadlock_the_run() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, _) => accept_pod(&fake, &seen),
            (Method::GET, "/api/v1/namespaces/ns/pods") => watch_running_then_succeeded(&fake),
            (Method::GET, "/api/v1/namespaces/ns/pods/p/log") => {
                chunked_reply(vec![Bytes::from(vec![b'x'; 64 * 1024]); 4], Then::End)
            }
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let mut run = transport
        .start(
            rendered(),
            options()
                .follow_logs(true)
                .log_buffer_chunks(1)
                .log_drain_timeout(Duration::from_secs(1)),
        )
        .await
        .expect("start");
    let mut logs = run.take_logs().expect("logs");
    let outcome = tokio::time::timeout(Duration::from_secs(30), run.wait())
        .await
        .expect("wait() returns although nobody reads the log yet")
        .expect("the run itself worked");
    let summary = outcome.logs.expect("summary");
    assert!(!summary.complete, "{summary:?}");
    let mut items = Vec::new();
    while let Some(item) = logs.next().await {
        items.push(item);
    }
    assert!(
        matches!(
            items.last(),
            Some(Err(TransportError::LogDrainTimeout { .. }))
        ),
        "the stream says it was cut: {:?}",
        items.last()
    );
    assert!(transport.finish_cleanups(Duration::from_secs(10)).await);
}

#[tokio::test]
async fn dropping_start_during_the_settle_still_deletes_the_secret() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |_, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, "/api/v1/namespaces/ns/secrets") => {
                let mut secret = seen.body.clone();
                secret["metadata"]["uid"] = json!("secret-uid");
                json_reply(StatusCode::CREATED, &secret)
            }
            // Admission or quota refuses the pod.
            (Method::POST, "/api/v1/namespaces/ns/pods") => status_reply(403, "Forbidden"),
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let with_secret = AgentPodSpec::new("img")
        .name("p")
        .namespace("ns")
        .command(["true"])
        .secret_env("TOKEN", "sk-test-credential")
        .render(std::time::SystemTime::now())
        .unwrap();
    // The caller's own timeout fires while the cleanup waits (settle, 2 s)
    // for a pod create that might still land.
    let attempt = tokio::time::timeout(
        Duration::from_millis(500),
        transport.start(with_secret, options()),
    )
    .await;
    assert!(attempt.is_err(), "the caller gave up first: {attempt:?}");
    assert!(transport.finish_cleanups(Duration::from_secs(15)).await);
    let secret_deletes: Vec<Value> = fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == Method::DELETE && s.path.contains("/secrets/"))
        .map(|s| s.body.clone())
        .collect();
    assert!(
        !secret_deletes.is_empty(),
        "the Secret with the credential is deleted: {:?}",
        requests(&fake)
    );
    assert!(
        secret_deletes
            .iter()
            .all(|d| d["preconditions"]["uid"] == "secret-uid")
    );
}

/// Watch: Running, then (once `fake.gate` opens) Succeeded.
fn gated_watch(fake: &Fake) -> Reply {
    gated_stream_reply(
        vec![event("MODIFIED", pod_in(fake, "11", "Running", None))],
        fake.gate.clone(),
        vec![event("MODIFIED", pod_in(fake, "12", "Succeeded", Some(0)))],
    )
}

async fn collect(mut logs: agentpod_transport::LogStream) -> (Vec<u8>, Option<TransportError>) {
    let mut all = Vec::new();
    while let Some(item) = logs.next().await {
        match item {
            Ok(chunk) => all.extend_from_slice(&chunk),
            Err(error) => return (all, Some(error)),
        }
    }
    (all, None)
}

#[tokio::test(start_paused = true)]
async fn a_log_that_keeps_breaking_ends_with_the_documented_error() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, _) => accept_pod(&fake, &seen),
            (Method::GET, "/api/v1/namespaces/ns/pods") => stream_reply(
                vec![event("MODIFIED", pod_in(&fake, "11", "Running", None))],
                true,
            ),
            (Method::GET, "/api/v1/namespaces/ns/pods/p/log") => chunked_reply(vec![], Then::Break),
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let mut run = transport
        .start(
            rendered(),
            options()
                .follow_logs(true)
                .run_timeout(Duration::from_secs(3600)),
        )
        .await
        .expect("start");
    let (output, error) = collect(run.take_logs().expect("logs")).await;
    assert!(output.is_empty());
    assert!(
        matches!(error, Some(TransportError::LogBroken { .. })),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn broken_reads_that_make_progress_do_not_use_up_the_reopen_budget() {
    const LEN: usize = 100;
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let data: Vec<u8> = (0..LEN).map(|i| b'a' + (i % 26) as u8).collect();
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, _) => accept_pod(&fake, &seen),
            (Method::GET, "/api/v1/namespaces/ns/pods") => gated_watch(&fake),
            (Method::GET, "/api/v1/namespaces/ns/pods/p/log")
                if seen.query.contains("follow=true") =>
            {
                // Each follow brings one byte more, then the connection breaks.
                let n = count(&fake, "follow") as usize;
                if n >= LEN {
                    fake.gate.notify_one();
                }
                chunked_reply(vec![Bytes::from(data[..n.min(LEN)].to_vec())], Then::Break)
            }
            (Method::GET, "/api/v1/namespaces/ns/pods/p/log") => {
                chunked_reply(vec![Bytes::from(data)], Then::End)
            }
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let run = transport
        .start(rendered(), options().follow_logs(true))
        .await
        .expect("start");
    let (outcome, output) = run.wait_with_output(1 << 20).await.expect("run");
    let expected: Vec<u8> = (0..LEN).map(|i| b'a' + (i % 26) as u8).collect();
    assert_eq!(output, expected);
    assert!(outcome.logs.expect("summary").complete);
}

#[tokio::test]
async fn a_log_rewritten_under_the_follower_is_reported_incomplete() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, _) => accept_pod(&fake, &seen),
            (Method::GET, "/api/v1/namespaces/ns/pods") => gated_watch(&fake),
            (Method::GET, "/api/v1/namespaces/ns/pods/p/log")
                if seen.query.contains("follow=true") =>
            {
                fake.gate.notify_one();
                text_reply("hello ")
            }
            // Rotated: same length up to there, other bytes.
            (Method::GET, "/api/v1/namespaces/ns/pods/p/log") => text_reply("HELLO world\n"),
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let run = transport
        .start(rendered(), options().follow_logs(true))
        .await
        .expect("start");
    let (outcome, output) = run.wait_with_output(1 << 20).await.expect("run");
    assert_eq!(
        String::from_utf8_lossy(&output),
        "hello ",
        "nothing of the rewritten log is passed off as the continuation"
    );
    let summary = outcome.logs.expect("summary");
    assert!(!summary.complete, "{summary:?}");
}

#[tokio::test]
async fn a_refused_delete_does_not_stop_the_sweep() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |_, seen| {
        let expired = |name: &str| {
            json!({"metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"),
                "annotations": {"agentpod.dev/expires-at": "2020-01-01T00:00:00Z"}}})
        };
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::GET, "/api/v1/namespaces/ns/pods") => json_reply(
                StatusCode::OK,
                &json!({"kind": "PodList", "apiVersion": "v1", "metadata": {},
                    "items": [expired("a"), expired("b")]}),
            ),
            (Method::GET, "/api/v1/namespaces/ns/secrets") => json_reply(
                StatusCode::OK,
                &json!({"kind": "SecretList", "apiVersion": "v1", "metadata": {},
                    "items": [expired("s")]}),
            ),
            (Method::DELETE, "/api/v1/namespaces/ns/pods/a") => status_reply(403, "Forbidden"),
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let report = Reaper::new(transport)
        .namespace("ns")
        .sweep()
        .await
        .expect("one refused delete is reported, not fatal");
    assert_eq!(report.deleted_pods, ["ns/b"]);
    assert_eq!(report.deleted_secrets, ["ns/s"]);
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert_eq!(report.failed[0].object, "ns/a");
    assert!(
        report.failed[0].error.to_string().contains("403")
            || report.failed[0].error.to_string().contains("scripted")
    );
}

#[tokio::test]
async fn a_watch_the_server_ends_at_once_is_reopened_with_backoff() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, _) => accept_pod(&fake, &seen),
            (Method::GET, "/api/v1/namespaces/ns/pods") => {
                count(&fake, "watch");
                stream_reply(vec![], false)
            }
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let error = transport
        .start(
            rendered(),
            options().start(
                StartPolicy::default()
                    .retry(fast_retry())
                    .start_timeout(Duration::from_secs(2)),
            ),
        )
        .await
        .expect("start")
        .wait()
        .await
        .expect_err("the pod never runs");
    assert!(
        matches!(error, TransportError::StartTimeout { .. }),
        "{error}"
    );
    let watches = count(&fake, "watch") - 1;
    assert!(
        watches < 20,
        "{watches} watch requests in 2 s: reopened without backoff"
    );
}

#[tokio::test]
async fn infinite_timeouts_are_accepted_and_never_overflow() {
    let fake = Arc::new(Fake::default());
    let transport = transport(fake.clone(), |fake, seen| {
        let reply = match (seen.method.clone(), seen.path.as_str()) {
            (Method::POST, _) => accept_pod(&fake, &seen),
            (Method::GET, "/api/v1/namespaces/ns/pods") => watch_running_then_succeeded(&fake),
            (Method::DELETE, _) => json_reply(StatusCode::OK, &json!({})),
            _ => status_reply(404, "NotFound"),
        };
        Box::pin(async move { reply })
    });
    let forever = RunOptions::default()
        .start(
            StartPolicy::default()
                .start_timeout(Duration::MAX)
                .image_error_grace(Duration::MAX)
                .unschedulable_grace(Duration::MAX)
                .retry(RetryPolicy::default().attempt_timeout(Duration::MAX)),
        )
        .run_timeout(Duration::MAX)
        .log_drain_timeout(Duration::MAX)
        .expiry_margin(Duration::MAX)
        .follow_logs(false);
    let outcome = run_to_end(&transport, rendered(), forever).await;
    assert!(outcome.exit.success());
    let posted = fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.method == Method::POST)
        .map(|s| s.body.clone())
        .unwrap();
    assert_eq!(
        posted["spec"]["activeDeadlineSeconds"],
        json!(i32::MAX),
        "capped at the API's limit"
    );
}
