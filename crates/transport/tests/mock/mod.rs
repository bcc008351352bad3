//! A scripted in-process API server (a tower service behind a real
//! `kube::Client`) shared by the scripted-API test files.

#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentpod_podspec::{AgentPodSpec, RenderedPod};
use agentpod_transport::{
    CleanupPolicy, RetryPolicy, RunOptions, RunOutcome, StartPolicy, Transport,
};
use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use kube::client::Body;
use serde_json::{Value, json};
use tokio::sync::Notify;

pub type Reply = Response<BoxBody<Bytes, std::io::Error>>;

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub body: Value,
}

impl Seen {
    /// Reads a request the client sent: method, path, query and JSON body (`Null` if none).
    pub async fn read(request: Request<Body>) -> Seen {
        let (parts, body) = request.into_parts();
        let bytes = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Seen {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }
}

/// What the fake API server does; each test fills in its behaviour.
#[derive(Default)]
pub struct Fake {
    pub seen: Mutex<Vec<Seen>>,
    pub created_pod: Mutex<Option<Value>>,
    pub pod_posts: Mutex<u32>,
    pub watches: Mutex<u32>,
    pub log_follow_served: Notify,
    pub hits: Mutex<std::collections::HashMap<String, u32>>,
    pub gate: Arc<Notify>,
}

/// A complete body.
pub fn full(bytes: Bytes) -> BoxBody<Bytes, std::io::Error> {
    Full::new(bytes)
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A body of `chunks`, then (if `then`) one more item: an error or a hang.
pub fn chunked_reply(chunks: Vec<Bytes>, then: Then) -> Reply {
    let frames = futures::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, std::io::Error>(http_body::Frame::data(c))),
    );
    let body = match then {
        Then::End => BodyExt::boxed(StreamBody::new(frames)),
        Then::Break => BodyExt::boxed(StreamBody::new(frames.chain(futures::stream::once(
            async { Err(std::io::Error::other("scripted connection reset")) },
        )))),
        Then::Hang => BodyExt::boxed(StreamBody::new(frames.chain(futures::stream::pending()))),
    };
    Response::builder().status(200).body(body).unwrap()
}

/// How a scripted body ends.
#[derive(Debug, Clone, Copy)]
pub enum Then {
    /// Cleanly.
    End,
    /// With a broken connection.
    Break,
    /// Never.
    Hang,
}

/// Bumps the counter `key` and returns its new value.
pub fn count(fake: &Fake, key: &str) -> u32 {
    let mut hits = fake.hits.lock().unwrap();
    let hit = hits.entry(key.to_owned()).or_default();
    *hit += 1;
    *hit
}

pub fn json_reply(status: StatusCode, body: &Value) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(Bytes::from(body.to_string())))
        .unwrap()
}

pub fn status_reply(code: u16, reason: &str) -> Reply {
    let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "message": format!("scripted {code}"), "reason": reason, "code": code});
    json_reply(StatusCode::from_u16(code).unwrap(), &body)
}

pub fn stream_reply(lines: Vec<Value>, then_hang: bool) -> Reply {
    let frames =
        futures::stream::iter(lines.into_iter().map(|l| {
            Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from(format!("{l}\n"))))
        }));
    let body = if then_hang {
        BodyExt::boxed(StreamBody::new(frames.chain(futures::stream::pending())))
    } else {
        BodyExt::boxed(StreamBody::new(frames))
    };
    Response::builder().status(200).body(body).unwrap()
}

pub fn text_reply(text: &str) -> Reply {
    Response::builder()
        .status(200)
        .body(full(Bytes::from(text.to_owned())))
        .unwrap()
}

/// The created pod with `phase` and, when terminal, exit `code`.
pub fn pod_in(fake: &Fake, version: &str, phase: &str, code: Option<i32>) -> Value {
    let mut pod = fake
        .created_pod
        .lock()
        .unwrap()
        .clone()
        .expect("pod was created");
    pod["metadata"]["resourceVersion"] = json!(version);
    let state = match code {
        Some(code) => json!({"terminated": {"exitCode": code, "reason": "Completed"}}),
        None => json!({"running": {}}),
    };
    pod["status"] = json!({"phase": phase, "containerStatuses": [{
        "name": "claude-code", "ready": true, "restartCount": 0, "image": "i", "imageID": "",
        "state": state}]});
    pod
}

pub fn event(kind: &str, object: Value) -> Value {
    json!({"type": kind, "object": object})
}

/// A watch whose first event is the created pod's end (`phase`, exit `code`), then stays open:
/// the container ran between two kubelet reports.
pub fn watch_ended(fake: &Fake, phase: &str, code: i32) -> Reply {
    stream_reply(
        vec![event("MODIFIED", pod_in(fake, "12", phase, Some(code)))],
        true,
    )
}

/// A watch that sees the created pod running, then succeeded with exit code 0, then stays open.
pub fn watch_running_then_succeeded(fake: &Fake) -> Reply {
    stream_reply(
        vec![
            event("MODIFIED", pod_in(fake, "11", "Running", None)),
            event("MODIFIED", pod_in(fake, "12", "Succeeded", Some(0))),
        ],
        true,
    )
}

pub type Handler = fn(Arc<Fake>, Seen) -> futures::future::BoxFuture<'static, Reply>;

pub fn transport(fake: Arc<Fake>, handler: Handler) -> Transport {
    let service = tower::service_fn(move |request: Request<Body>| {
        let fake = fake.clone();
        async move {
            let seen = Seen::read(request).await;
            fake.seen.lock().unwrap().push(seen.clone());
            if seen.method == Method::POST && seen.path.ends_with("/pods") {
                *fake.pod_posts.lock().unwrap() += 1;
            }
            Ok::<_, Infallible>(handler(fake, seen).await)
        }
    });
    Transport::from_client(kube::Client::new(service, "default"))
}

/// Accepts a POSTed pod: stores it with a UID and resourceVersion 10.
pub fn accept_pod(fake: &Fake, seen: &Seen) -> Reply {
    let mut pod = seen.body.clone();
    pod["metadata"]["uid"] = json!("uid-1");
    pod["metadata"]["resourceVersion"] = json!("10");
    *fake.created_pod.lock().unwrap() = Some(pod.clone());
    json_reply(StatusCode::CREATED, &pod)
}

pub fn rendered() -> RenderedPod {
    AgentPodSpec::new("img")
        .name("p")
        .namespace("ns")
        .command(["true"])
        .render(std::time::SystemTime::now())
        .unwrap()
}

pub fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .min_delay(Duration::from_millis(1))
        .max_delay(Duration::from_millis(5))
}

pub fn options() -> RunOptions {
    RunOptions::default()
        .start(StartPolicy::default().retry(fast_retry()))
        .follow_logs(false)
        .cleanup(CleanupPolicy::default().grace(Duration::ZERO))
}

/// Starts a run and waits for its outcome; panics if either fails.
pub async fn run_to_end(
    transport: &Transport,
    pod: RenderedPod,
    options: RunOptions,
) -> RunOutcome {
    transport
        .start(pod, options)
        .await
        .expect("start")
        .wait()
        .await
        .expect("run")
}

pub fn requests(fake: &Fake) -> Vec<String> {
    fake.seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect()
}

/// A watch body: `before`, then (once `gate` is notified) `after`, then a hang.
pub fn gated_stream_reply(before: Vec<Value>, gate: Arc<Notify>, after: Vec<Value>) -> Reply {
    let line =
        |l: Value| Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from(format!("{l}\n"))));
    let first = futures::stream::iter(before.into_iter().map(line));
    let then = futures::stream::once(async move {
        gate.notified().await;
        futures::stream::iter(after.into_iter().map(line))
    })
    .flatten();
    let body = BodyExt::boxed(StreamBody::new(
        first.chain(then).chain(futures::stream::pending()),
    ));
    Response::builder().status(200).body(body).unwrap()
}

/// The created pod under `name`, as a GET of it would return it.
pub fn get_pod(fake: &Fake, phase: &str, code: Option<i32>) -> Reply {
    json_reply(StatusCode::OK, &pod_in(fake, "50", phase, code))
}
