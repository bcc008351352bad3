//! Warm-worker races and leftovers that a healthy cluster will not produce on
//! demand, against a scripted in-process API server that keeps pods and
//! Secrets like the real one (UIDs, `409` on taken names, UID preconditions on
//! delete, merge patches): a Secret left by a crashed creator, a foreign pod or
//! Secret holding the worker's name, two processes repairing one dead worker,
//! a worker stuck in CrashLoopBackOff or not Ready, and what an exec request
//! puts in its URL.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentpod_podspec::labels::{
    COMPONENT_LABEL, COMPONENT_VALUE, EXPIRES_AT_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE,
    POD_NAME_LABEL,
};
use agentpod_podspec::{AgentPodSpec, PodName, RenderedPod, RestartPolicy};
use agentpod_transport::{
    ExecOptions, ExecRequest, RUN_TOKEN_ANNOTATION, RetryPolicy, StartPolicy, Transport,
    TransportError, Worker,
};
use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use kube::client::Body;
use serde_json::{Value, json};

mod mock;
use mock::Seen;

type Reply = Response<BoxBody<Bytes, Infallible>>;

impl Seen {
    fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A scripted answer that replaces the stored behaviour for one request.
type Hook = Box<dyn FnMut(&mut Store, &Seen) -> Option<Reply> + Send>;

/// The objects the fake API server keeps, by `(resource, name)`.
#[derive(Default)]
struct Store {
    objects: BTreeMap<(String, String), Value>,
    next: u32,
    /// Status a pod gets as soon as it is created (the "kubelet").
    pod_status: Option<Value>,
    /// Exec requests never get an answer.
    stall_exec: bool,
    seen: Vec<Seen>,
}

impl Store {
    fn insert(&mut self, resource: &str, mut object: Value) -> Value {
        self.next += 1;
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        if object["metadata"]["uid"].is_null() {
            object["metadata"]["uid"] = json!(format!("uid-{}", self.next));
        }
        object["metadata"]["resourceVersion"] = json!(self.next.to_string());
        if object["metadata"]["creationTimestamp"].is_null() {
            object["metadata"]["creationTimestamp"] = json!(now_rfc3339());
        }
        object["metadata"]["namespace"] = json!("ns");
        self.objects
            .insert((resource.to_owned(), name), object.clone());
        object
    }

    fn get(&self, resource: &str, name: &str) -> Option<Value> {
        self.objects
            .get(&(resource.to_owned(), name.to_owned()))
            .cloned()
    }
}

fn now_rfc3339() -> String {
    agentpod_podspec::expiry::format_expires_at(std::time::SystemTime::now()).unwrap()
}

fn json_reply(status: StatusCode, body: &Value) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())).boxed())
        .unwrap()
}

fn status_reply(code: u16, reason: &str) -> Reply {
    let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "message": format!("scripted {code}"), "reason": reason, "code": code});
    json_reply(StatusCode::from_u16(code).unwrap(), &body)
}

/// A watch that sends `objects` as MODIFIED events and then stays open.
fn watch_reply(objects: Vec<Value>) -> Reply {
    let frames = futures::stream::iter(objects.into_iter().map(|object| {
        let line = json!({"type": "MODIFIED", "object": object});
        Ok::<_, Infallible>(http_body::Frame::data(Bytes::from(format!("{line}\n"))))
    }));
    let body = BodyExt::boxed(StreamBody::new(frames.chain(futures::stream::pending())));
    Response::builder().status(200).body(body).unwrap()
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// The stored behaviour of the API server for pods and Secrets in `ns`.
fn serve(store: &mut Store, seen: &Seen) -> Reply {
    let rest = seen.path.trim_start_matches("/api/v1/namespaces/ns/");
    let mut parts = rest.splitn(3, '/');
    let resource = parts.next().unwrap_or_default().to_owned();
    let name = parts.next().map(str::to_owned);
    let sub = parts.next();
    match (&seen.method, name, sub) {
        (&Method::POST, None, None) => {
            let name = seen.body["metadata"]["name"].as_str().unwrap().to_owned();
            if store.get(&resource, &name).is_some() {
                return status_reply(409, "AlreadyExists");
            }
            let mut object = seen.body.clone();
            if resource == "pods"
                && let Some(status) = store.pod_status.clone()
            {
                object["status"] = status;
            }
            json_reply(StatusCode::CREATED, &store.insert(&resource, object))
        }
        (&Method::GET, None, None) if seen.query.contains("watch=true") => {
            let name = seen
                .query
                .split('&')
                .find_map(|p| p.strip_prefix("fieldSelector=metadata.name%3D"))
                .unwrap_or_default()
                .to_owned();
            watch_reply(store.get(&resource, &name).into_iter().collect())
        }
        (&Method::GET, Some(name), None) => match store.get(&resource, &name) {
            Some(object) => json_reply(StatusCode::OK, &object),
            None => status_reply(404, "NotFound"),
        },
        (&Method::DELETE, Some(name), None) => {
            let Some(object) = store.get(&resource, &name) else {
                return status_reply(404, "NotFound");
            };
            let wanted = &seen.body["preconditions"]["uid"];
            if !wanted.is_null() && *wanted != object["metadata"]["uid"] {
                return status_reply(409, "Conflict");
            }
            store.objects.remove(&(resource, name));
            json_reply(StatusCode::OK, &object)
        }
        (&Method::PATCH, Some(name), None) => {
            let Some(mut object) = store.get(&resource, &name) else {
                return status_reply(404, "NotFound");
            };
            merge(&mut object, &seen.body);
            store.next += 1;
            object["metadata"]["resourceVersion"] = json!(store.next.to_string());
            store.objects.insert((resource, name), object.clone());
            json_reply(StatusCode::OK, &object)
        }
        // Exec and everything else: refused (no WebSocket upgrade here).
        _ => status_reply(400, "BadRequest"),
    }
}

/// A transport whose client talks to the fake; `hook` answers first.
fn transport(store: Arc<Mutex<Store>>, hook: Hook) -> Transport {
    let hook = Arc::new(Mutex::new(hook));
    let service = tower::service_fn(move |request: Request<Body>| {
        let store = store.clone();
        let hook = hook.clone();
        async move {
            let seen = Seen::read(request).await;
            let stall = {
                let mut store = store.lock().unwrap();
                store.seen.push(seen.clone());
                store.stall_exec && seen.path.ends_with("/exec")
            };
            if stall {
                futures::future::pending::<()>().await;
            }
            let mut store = store.lock().unwrap();
            let scripted = (hook.lock().unwrap())(&mut store, &seen);
            let reply = scripted.unwrap_or_else(|| serve(&mut store, &seen));
            Ok::<_, Infallible>(reply)
        }
    });
    Transport::from_client(kube::Client::new(service, "ns"))
}

fn no_hook() -> Hook {
    Box::new(|_, _| None)
}

/// A running and Ready worker container.
fn running_ready() -> Value {
    json!({"phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "claude-code", "ready": true, "restartCount": 0,
            "image": "i", "imageID": "", "state": {"running": {}}}]})
}

/// The worker `w` with one Secret (`w-inputs`).
fn worker() -> RenderedPod {
    AgentPodSpec::new("img")
        .name(PodName::explicit("w"))
        .namespace("ns")
        .restart_policy(RestartPolicy::Always)
        .command(["sleep", "infinity"])
        .secret_env("TOKEN", "worker-secret")
        .render(std::time::SystemTime::now())
        .unwrap()
}

fn our_labels(pod: Option<&str>) -> Value {
    let mut labels = json!({MANAGED_BY_LABEL: MANAGED_BY_VALUE, COMPONENT_LABEL: COMPONENT_VALUE});
    if let Some(pod) = pod {
        labels[POD_NAME_LABEL] = json!(pod);
    }
    labels
}

/// A Secret `w-inputs` as a creator left it: our labels, its own token, no owner.
fn leftover_secret(created: &str, annotations: Value) -> Value {
    let mut annotations = annotations;
    annotations[RUN_TOKEN_ANNOTATION] = json!("token-of-a-crashed-process");
    json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "w-inputs", "labels": our_labels(Some("w")),
            "annotations": annotations, "creationTimestamp": created},
        "data": {"TOKEN": "c3RhbGU="}})
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .min_delay(Duration::from_millis(1))
        .max_delay(Duration::from_millis(5))
}

fn start(start_timeout: Duration) -> StartPolicy {
    StartPolicy::default()
        .start_timeout(start_timeout)
        .retry(fast_retry())
}

/// `ensure_worker` with a bound far beyond its own start timeout: a hang
/// fails the test instead of blocking it.
async fn ensure(transport: &Transport, start_timeout: Duration) -> Result<Worker, TransportError> {
    tokio::time::timeout(
        start_timeout + Duration::from_secs(20),
        transport.ensure_worker(&worker(), start(start_timeout)),
    )
    .await
    .expect("ensure_worker returned within its start timeout (it hung)")
}

fn store_with(pod_status: Value) -> Arc<Mutex<Store>> {
    Arc::new(Mutex::new(Store {
        pod_status: Some(pod_status),
        ..Store::default()
    }))
}

fn requests(store: &Mutex<Store>) -> Vec<String> {
    store.lock().unwrap().seen.iter().map(Seen::line).collect()
}

#[tokio::test]
async fn a_stale_worker_secret_without_a_pod_is_replaced() {
    let store = store_with(running_ready());
    let stale = store.lock().unwrap().insert(
        "secrets",
        leftover_secret("2020-01-01T00:00:00Z", json!({})),
    );
    let transport = transport(store.clone(), no_hook());
    let pod = ensure(&transport, Duration::from_secs(5))
        .await
        .expect("the stale Secret is replaced");
    let deleted: Vec<Value> = store
        .lock()
        .unwrap()
        .seen
        .iter()
        .filter(|s| s.method == Method::DELETE && s.path.ends_with("/secrets/w-inputs"))
        .map(|s| s.body.clone())
        .collect();
    assert_eq!(deleted.len(), 1, "{:?}", requests(&store));
    assert_eq!(
        deleted[0]["preconditions"]["uid"], stale["metadata"]["uid"],
        "deleted by UID"
    );
    let secret = store.lock().unwrap().get("secrets", "w-inputs").unwrap();
    assert_ne!(secret["metadata"]["uid"], stale["metadata"]["uid"]);
    assert_eq!(
        secret["metadata"]["ownerReferences"][0]["uid"],
        json!(pod.uid()),
        "the new Secret is owned by the new pod"
    );
}

#[tokio::test]
async fn a_secret_of_a_creator_in_flight_is_waited_for_only_until_the_deadline() {
    let store = store_with(running_ready());
    let in_an_hour = agentpod_podspec::expiry::format_expires_at(
        std::time::SystemTime::now() + Duration::from_secs(3600),
    )
    .unwrap();
    store.lock().unwrap().insert(
        "secrets",
        leftover_secret(&now_rfc3339(), json!({EXPIRES_AT_ANNOTATION: in_an_hour})),
    );
    let transport = transport(store.clone(), no_hook());
    let error = ensure(&transport, Duration::from_secs(1))
        .await
        .expect_err("nobody ever creates the pod");
    assert!(
        matches!(error, TransportError::StartTimeout { .. }),
        "{error}"
    );
    assert!(
        !requests(&store).iter().any(|r| r.starts_with("DELETE")),
        "a creator in flight keeps its Secret: {:?}",
        requests(&store)
    );
}

#[tokio::test]
async fn a_foreign_secret_with_the_workers_secret_name_is_a_conflict() {
    let store = store_with(running_ready());
    store.lock().unwrap().insert(
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "w-inputs", "labels": {"team": "other"}}}),
    );
    let transport = transport(store.clone(), no_hook());
    let error = ensure(&transport, Duration::from_secs(5))
        .await
        .expect_err("the name is taken");
    assert!(
        matches!(&error, TransportError::NameConflict { kind: "secret", name, .. } if name == "w-inputs"),
        "{error}"
    );
    assert!(
        !requests(&store).iter().any(|r| r.starts_with("DELETE")),
        "{:?}",
        requests(&store)
    );
}

#[tokio::test]
async fn a_foreign_pod_with_the_workers_name_is_refused() {
    let store = store_with(running_ready());
    store.lock().unwrap().insert(
        "pods",
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "w", "labels": {"app": "someone-elses"}},
            "spec": {"containers": [{"name": "claude-code", "image": "other"}]},
            "status": running_ready()}),
    );
    let transport = transport(store.clone(), no_hook());
    let error = ensure(&transport, Duration::from_secs(5))
        .await
        .expect_err("a pod without our labels is never a worker");
    assert!(
        matches!(&error, TransportError::NameConflict { kind: "pod", name, .. } if name == "w"),
        "{error}"
    );
    assert!(
        !requests(&store).iter().any(|r| r.starts_with("DELETE")),
        "{:?}",
        requests(&store)
    );
}

/// Two processes saw the same dead worker. A already deleted it and created
/// the replacement (pod and Secret); B, late, must not delete A's Secret.
#[tokio::test]
async fn a_late_repair_of_a_dead_worker_leaves_the_replacements_secret_alone() {
    let store = store_with(running_ready());
    let (replacement, secret_of_a) = {
        let mut store = store.lock().unwrap();
        let mut pod = serde_json::to_value(&worker().pod).unwrap();
        pod["metadata"]["annotations"][RUN_TOKEN_ANNOTATION] = json!("token-a");
        pod["status"] = running_ready();
        let replacement = store.insert("pods", pod);
        let mut secret = serde_json::to_value(&worker().secrets[0]).unwrap();
        secret["metadata"]["annotations"][RUN_TOKEN_ANNOTATION] = json!("token-a");
        secret["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Pod",
            "name": "w", "uid": replacement["metadata"]["uid"]}]);
        (replacement, store.insert("secrets", secret))
    };
    let mut dead = replacement.clone();
    dead["metadata"]["uid"] = json!("uid-dead");
    dead["metadata"]["annotations"][RUN_TOKEN_ANNOTATION] = json!("token-dead");
    dead["status"] = json!({"phase": "Succeeded"});
    let mut served_dead = false;
    let hook: Hook = Box::new(move |_, seen| {
        // B's first look still sees the dead pod.
        if seen.method == Method::GET && seen.path.ends_with("/pods/w") && !served_dead {
            served_dead = true;
            return Some(json_reply(StatusCode::OK, &dead));
        }
        None
    });
    let transport = transport(store.clone(), hook);
    let pod = ensure(&transport, Duration::from_secs(5))
        .await
        .expect("B ends up with A's replacement");
    assert_eq!(json!(pod.uid()), replacement["metadata"]["uid"]);
    let secret = store.lock().unwrap().get("secrets", "w-inputs");
    assert_eq!(
        secret.map(|s| s["metadata"]["uid"].clone()),
        Some(secret_of_a["metadata"]["uid"].clone()),
        "A's Secret survives: {:?}",
        requests(&store)
    );
}

#[tokio::test]
async fn a_worker_stuck_in_crash_loop_is_replaced() {
    let store = store_with(running_ready());
    let broken = {
        let mut pod = serde_json::to_value(&worker().pod).unwrap();
        pod["status"] = json!({"phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [{"name": "claude-code", "ready": false, "restartCount": 7,
                "image": "i", "imageID": "", "state": {"waiting": {"reason": "CrashLoopBackOff",
                "message": "back-off 5m0s restarting failed container"}}}]});
        store.lock().unwrap().insert("pods", pod)
    };
    let transport = transport(store.clone(), no_hook());
    let pod = ensure(&transport, Duration::from_secs(5))
        .await
        .expect("a broken worker is replaced");
    assert_ne!(json!(pod.uid()), broken["metadata"]["uid"]);
    let deletes: Vec<Value> = store
        .lock()
        .unwrap()
        .seen
        .iter()
        .filter(|s| s.method == Method::DELETE && s.path.ends_with("/pods/w"))
        .map(|s| s.body["preconditions"]["uid"].clone())
        .collect();
    assert_eq!(deletes, [broken["metadata"]["uid"].clone()]);
}

#[tokio::test]
async fn a_running_worker_that_is_not_ready_is_not_handed_out() {
    let store = store_with(json!({"phase": "Running",
        "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
        "containerStatuses": [{"name": "claude-code", "ready": false, "restartCount": 0,
            "image": "i", "imageID": "", "state": {"running": {}}}]}));
    let transport = transport(store.clone(), no_hook());
    let error = ensure(&transport, Duration::from_secs(1))
        .await
        .expect_err("never Ready");
    assert!(
        matches!(&error, TransportError::StartTimeout { last_state, .. } if last_state.contains("Ready")),
        "{error}"
    );
}

#[tokio::test]
async fn exec_keeps_the_command_and_its_data_out_of_the_url() {
    let store = store_with(running_ready());
    let transport = transport(store.clone(), no_hook());
    let worker = ensure(&transport, Duration::from_secs(5))
        .await
        .expect("worker");
    let secret = "sk-ant-do-not-log-me";
    let request = ExecRequest::new(["claude", "-p", "--append-system-prompt", secret])
        .stdin(format!("prompt {secret}"));
    let refused = worker.exec(&request, &ExecOptions::default()).await;
    assert!(refused.is_err(), "the fake refuses the upgrade");
    let exec: Vec<Seen> = store
        .lock()
        .unwrap()
        .seen
        .iter()
        .filter(|s| s.path.ends_with("/exec"))
        .cloned()
        .collect();
    assert_eq!(exec.len(), 1, "{:?}", requests(&store));
    assert!(!exec[0].query.contains(secret), "{}", exec[0].query);
    assert!(
        !exec[0].query.contains("command=claude"),
        "{}",
        exec[0].query
    );
    assert!(
        !exec[0].query.contains("system-prompt"),
        "{}",
        exec[0].query
    );
}

#[tokio::test]
async fn execs_into_one_worker_take_turns_unless_concurrent() {
    let store = store_with(running_ready());
    store.lock().unwrap().stall_exec = true;
    let transport = transport(store.clone(), no_hook());
    let worker = ensure(&transport, Duration::from_secs(5))
        .await
        .expect("worker");
    let exec_requests = || {
        store
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.path.ends_with("/exec"))
            .count()
    };
    let first = {
        let worker = worker.clone();
        tokio::spawn(async move {
            let request = ExecRequest::new(["sleep", "1000"]);
            worker.exec(&request, &ExecOptions::default()).await
        })
    };
    for _ in 0..500 {
        if exec_requests() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(exec_requests(), 1, "the first exec holds the worker");
    let request = ExecRequest::new(["true"]);
    let impatient = ExecOptions::default().queue_timeout(Duration::from_millis(200));
    let busy = worker
        .exec(&request, &impatient)
        .await
        .expect_err("the worker is busy");
    assert!(
        matches!(&busy, TransportError::WorkerBusy { pod, .. } if pod == "w"),
        "{busy}"
    );
    assert!(busy.is_retryable());
    assert_eq!(exec_requests(), 1, "a waiting exec sends nothing");
    let alongside = ExecOptions::default()
        .concurrent(true)
        .setup_timeout(Duration::from_millis(200));
    let error = worker
        .exec(&request, &alongside)
        .await
        .expect_err("the fake never answers");
    assert!(
        matches!(error, TransportError::ExecSetupTimeout { .. }),
        "{error}"
    );
    assert_eq!(exec_requests(), 2, "a concurrent exec does not wait");
    first.abort();
}
