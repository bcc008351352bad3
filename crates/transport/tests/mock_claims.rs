//! Worker claims against a scripted API server that applies JSON Patches the way the real one
//! does (atomically, `422` when a `test` fails): two transports hammering one pod never hold
//! it at once; an expired claim is taken over and its old holder learns it lost the pod.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code")]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use agentpod_podspec::expiry::format_expires_at;
use agentpod_podspec::labels::{
    COMPONENT_LABEL, COMPONENT_VALUE, MANAGED_BY_LABEL, MANAGED_BY_VALUE,
};
use agentpod_transport::{CLAIM_ANNOTATION, ClaimState, RetryPolicy, Transport};
use http::{Method, Request, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

mod mock;
use mock::{Seen, json_reply, status_reply};

/// The one pod the fake serves, and the patches it saw.
struct Store {
    pod: Value,
    patches: usize,
}

fn pod(annotations: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "w", "namespace": "ns", "uid": "uid-w", "resourceVersion": "1",
            "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE, COMPONENT_LABEL: COMPONENT_VALUE, "pool": "p"},
            "annotations": annotations},
        "spec": {"containers": [{"name": "main", "image": "i"}]},
        "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "main", "ready": true, "restartCount": 0, "image": "i",
                "imageID": "", "state": {"running": {}}}]}
    })
}

fn serve(store: &Mutex<Store>, seen: &Seen) -> mock::Reply {
    let mut store = store.lock().unwrap();
    match seen.method {
        Method::GET if seen.path == "/api/v1/namespaces/ns/pods" => json_reply(
            StatusCode::OK,
            &json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"},
                "items": [store.pod]}),
        ),
        Method::PATCH if seen.path == "/api/v1/namespaces/ns/pods/w" => {
            store.patches += 1;
            let patch: json_patch::Patch = serde_json::from_value(seen.body.clone()).unwrap();
            let mut next = store.pod.clone();
            if json_patch::patch(&mut next, &patch).is_err() {
                // What Kubernetes 1.20 answers to a failed `test`.
                return status_reply(422, "Invalid");
            }
            let version: u64 = next["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            next["metadata"]["resourceVersion"] = json!((version + 1).to_string());
            store.pod = next.clone();
            json_reply(StatusCode::OK, &next)
        }
        _ => status_reply(404, "NotFound"),
    }
}

fn transport(store: Arc<Mutex<Store>>) -> Transport {
    let service = tower::service_fn(move |request: Request<Body>| {
        let store = store.clone();
        async move {
            let seen = Seen::read(request).await;
            // Let other requests interleave between read and apply.
            tokio::task::yield_now().await;
            Ok::<_, Infallible>(serve(&store, &seen))
        }
    });
    Transport::from_client(kube::Client::new(service, "ns"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_transports_hammering_one_pod_never_hold_it_at_once() {
    let store = Arc::new(Mutex::new(Store {
        pod: pod(json!({})),
        patches: 0,
    }));
    let inside = Arc::new(AtomicUsize::new(0));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let claims = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for process in 0..2 {
        let transport = transport(store.clone());
        for task in 0..4 {
            let (transport, inside, overlaps, claims) = (
                transport.clone(),
                inside.clone(),
                overlaps.clone(),
                claims.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let holder = format!("p{process}-t{task}");
                for _ in 0..40 {
                    let listed = transport
                        .list_workers("ns", "pool=p", &RetryPolicy::default())
                        .await
                        .unwrap();
                    let member = &listed[0];
                    let claim = member
                        .worker
                        .try_claim(
                            &member.pod,
                            &holder,
                            Duration::from_secs(30),
                            &BTreeMap::new(),
                        )
                        .await
                        .unwrap();
                    let Some(claim) = claim else { continue };
                    claims.fetch_add(1, Ordering::SeqCst);
                    if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                        overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    tokio::task::yield_now().await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                    assert!(
                        claim.release(&BTreeMap::new()).await.unwrap(),
                        "our claim was lost"
                    );
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let claims = claims.load(Ordering::SeqCst);
    assert_eq!(overlaps.load(Ordering::SeqCst), 0, "two holders at once");
    // Progress: the pod changed hands many times (how many depends on scheduling).
    assert!(claims >= 8, "only {claims} claims succeeded");
    // Lost races happened (the test is not trivially sequential).
    assert!(
        store.lock().unwrap().patches > 2 * claims,
        "no contention: {} patches for {claims} claims",
        store.lock().unwrap().patches
    );
}

#[tokio::test]
async fn an_expired_claim_is_taken_over_and_its_holder_learns_it() {
    let now = SystemTime::now();
    let live = format!(
        "held old/1 {}",
        format_expires_at(now + Duration::from_secs(60)).unwrap()
    );
    let store = Arc::new(Mutex::new(Store {
        pod: pod(json!({CLAIM_ANNOTATION: live})),
        patches: 0,
    }));
    let transport = transport(store.clone());
    let listed = transport
        .list_workers("ns", "pool=p", &RetryPolicy::default())
        .await
        .unwrap();
    // A live claim is respected without even trying.
    let none = listed[0]
        .worker
        .try_claim(
            &listed[0].pod,
            "new",
            Duration::from_secs(30),
            &BTreeMap::new(),
        )
        .await
        .unwrap();
    assert!(none.is_none());
    assert_eq!(store.lock().unwrap().patches, 0);

    // Our own claim with a 2 s life, then it lapses (the holder "died")…
    let lapsed = format!("held old/2 {}", format_expires_at(now).unwrap());
    store.lock().unwrap().pod = pod(json!({CLAIM_ANNOTATION: "free x/0"}));
    let listed = transport
        .list_workers("ns", "pool=p", &RetryPolicy::default())
        .await
        .unwrap();
    let mut first = listed[0]
        .worker
        .try_claim(
            &listed[0].pod,
            "first",
            Duration::from_secs(2),
            &BTreeMap::new(),
        )
        .await
        .unwrap()
        .expect("free pod claimed");
    // …simulated: the stored claim is the first holder's, with its expiry passed.
    {
        let mut store = store.lock().unwrap();
        let value = store.pod["metadata"]["annotations"][CLAIM_ANNOTATION]
            .as_str()
            .unwrap()
            .to_owned();
        let id = value.split(' ').nth(1).unwrap().to_owned();
        store.pod["metadata"]["annotations"][CLAIM_ANNOTATION] =
            json!(lapsed.replace("old/2", &id));
    }
    let listed = transport
        .list_workers("ns", "pool=p", &RetryPolicy::default())
        .await
        .unwrap();
    assert!(ClaimState::of(&listed[0].pod).is_claimable(SystemTime::now()));
    let second = listed[0]
        .worker
        .try_claim(
            &listed[0].pod,
            "second",
            Duration::from_secs(30),
            &BTreeMap::new(),
        )
        .await
        .unwrap()
        .expect("the expired claim is taken over");
    assert_eq!(
        ClaimState::of(&serde_json::from_value(store.lock().unwrap().pod.clone()).unwrap())
            .holder(),
        Some("second")
    );
    // The first holder's renew and release fail: it lost the pod.
    assert!(!first.renew(&BTreeMap::new()).await.unwrap());
    assert!(!first.release(&BTreeMap::new()).await.unwrap());
    assert!(second.release(&BTreeMap::new()).await.unwrap());
}
