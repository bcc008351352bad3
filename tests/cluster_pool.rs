//! `K8sPoolProvider` end to end: the real `claude` in warm pods of the runner image on the
//! local cluster, against the offline model endpoint. Isolation between runs, a pod killed
//! mid-test, two transports hammering one pool, per-run credentials, and the figures.
//!
//! Runs with `cargo xtask test`; skips loudly under plain `cargo test`.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "a failed step should fail the test; figures are printed for the report"
)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use agentpod_e2e::World;
use agentpod_provider::{
    Agent, ClusterConnection, Credential, K8sPoolProvider, POOL_LABEL, PoolOptions,
};
use agentpod_testkit::model::{Matcher, Rule, Script};
use agentpod_transport::Transport;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, ListParams};
use serde_json::json;

/// The options of this file's pools: `min` to `max` pods, a patient queue, a busy keeper.
fn options(name: &str, min: usize, max: usize) -> PoolOptions {
    PoolOptions::default()
        .name(name)
        .min(min)
        .max(max)
        .queue_timeout(Duration::from_secs(120))
        .keeper_interval(Duration::from_secs(1))
}

/// A pool provider of this world (its own connection), `max` pods at most.
async fn pool(world: &World, name: &str, min: usize, max: usize) -> K8sPoolProvider {
    K8sPoolProvider::builder(world.provider_builder(), options(name, min, max))
        .connect(ClusterConnection::kubeconfig_file(
            world.cluster.kubeconfig(),
        ))
        .await
        .expect("pool connects")
}

async fn pool_pods(world: &World, name: &str) -> Vec<Pod> {
    let pods: Api<Pod> = world.ns.api();
    pods.list(&ListParams::default().labels(&format!("{POOL_LABEL}={name}")))
        .await
        .expect("pods listed")
        .items
}

/// What each run's Bash tool reports: marker files of earlier runs it can see in its
/// `$HOME`, working dir and `/tmp`, and live processes earlier runs left behind; then it
/// leaves its own markers and a detached process for the next run to (not) find.
const ISOLATION_CHECK: &str = "echo markers-$(ls -A \"$HOME\" \"$PWD\" /tmp 2>/dev/null | grep -c '^agentpod-marker') \
     leftovers-$(grep -l '123[3]' /proc/[0-9]*/cmdline 2>/dev/null | wc -l); \
     touch \"$HOME/agentpod-marker\" \"$PWD/agentpod-marker\" /tmp/agentpod-marker; \
     (setsid sleep 1233 >/dev/null 2>&1 </dev/null &)";

#[tokio::test]
async fn cluster_pool_fifty_isolated_calls_survive_a_killed_pod() {
    let script = Script::new()
        .rule(
            Rule::new(Matcher::prompt_contains("check isolation").without_tool_result()).tool_use(
                "Bash",
                json!({"command": ISOLATION_CHECK, "description": "check"}),
            ),
        )
        .rule(
            Rule::new(Matcher::any().with_tool_result_containing("markers-0 leftovers-0"))
                .text("clean"),
        )
        .rule(Rule::new(Matcher::any().with_tool_result()).text("dirty"));
    let Some(world) = World::new(script).await else {
        return;
    };
    let provider = pool(&world, "iso", 3, 3).await;
    provider.warm_up().await.expect("the pool warms up");

    let mut killed = None;
    let mut used_pods = BTreeMap::<String, usize>::new();
    let mut call = 0;
    let started = Instant::now();
    while call < 50 {
        let batch: FuturesUnordered<_> = (call..(call + 3).min(50))
            .map(|i| {
                let provider = provider.clone();
                async move {
                    Agent::new(format!("check isolation #{i}"))
                        .allowed_tools(["Bash"])
                        .run(&provider)
                        .await
                }
            })
            .collect();
        let outputs: Vec<_> = batch.collect().await;
        for output in outputs {
            let output = output.expect("every call answers");
            assert_eq!(
                output.text, "clean",
                "a run saw an earlier run's files or processes"
            );
            *used_pods.entry(output.pod.expect("a pod")).or_default() += 1;
        }
        call += 3;
        if call == 24 {
            // Kill a pod between batches (it is idle: all runs of the batch returned, but
            // its release may still be under way, which is the point).
            let victim = pool_pods(&world, "iso").await[0]
                .metadata
                .name
                .clone()
                .expect("a name");
            let pods: Api<Pod> = world.ns.api();
            pods.delete(&victim, &DeleteParams::default().grace_period(0))
                .await
                .expect("pod deleted");
            killed = Some(victim);
        }
    }
    let elapsed = started.elapsed();
    let killed = killed.expect("a pod was killed");
    // The killed pod was replaced: three pods again, none of them the victim.
    let mut status = provider.status().await.expect("status");
    for _ in 0..60 {
        if status.size() == 3 && status.pods.iter().all(|p| p.name != killed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        status = provider.status().await.expect("status");
    }
    eprintln!("50 isolated calls in {elapsed:?} over pods {used_pods:?}\n{status}");
    assert_eq!(status.size(), 3, "{status}");
    assert!(status.pods.iter().all(|p| p.name != killed), "{status}");
    assert!(
        used_pods.len() >= 4,
        "the replacement took runs too: {used_pods:?}"
    );
    assert_eq!(used_pods.values().sum::<usize>(), 50);
    assert_eq!(world.endpoint.messages_requests().len(), 100);

    let report = provider
        .shutdown(Duration::from_secs(30))
        .await
        .expect("shutdown");
    assert!(report.still_busy.is_empty(), "{report:?}");
    world.assert_no_leftovers().await;
}

#[tokio::test]
async fn cluster_pool_two_transports_never_share_a_pod() {
    let script = Script::new().rule(Rule::new(Matcher::any()).text("pong"));
    let Some(world) = World::new(script).await else {
        return;
    };
    // Two providers with their own connections: as two processes would be.
    let first = pool(&world, "shared", 2, 2).await;
    let second = pool(&world, "shared", 2, 2).await;
    first.warm_up().await.expect("warm");

    let hammer = |provider: K8sPoolProvider, who: &'static str| async move {
        // Two callers at a time per transport: four callers on two pods.
        futures::stream::iter(0..40)
            .map(|i| {
                let provider = provider.clone();
                async move {
                    let run = Agent::new(format!("ping {who} {i}"))
                        .start(&provider)
                        .await
                        .expect("a pod is checked out");
                    let claimed = Instant::now();
                    let pod = run.pod().expect("a pod").to_owned();
                    let output = run.output().await.expect("the call answers");
                    (pod, claimed, Instant::now(), output.text)
                }
            })
            .buffer_unordered(2)
            .collect::<Vec<_>>()
            .await
    };
    let (a, b) = tokio::join!(hammer(first.clone(), "a"), hammer(second.clone(), "b"));
    let mut claims: Vec<_> = a.into_iter().chain(b).collect();
    assert_eq!(claims.len(), 80, "no call lost");
    assert!(claims.iter().all(|c| c.3 == "pong"));
    claims.sort_by_key(|c| (c.0.clone(), c.1));
    let base = claims.iter().map(|c| c.1).min().expect("calls");
    for pair in claims.windows(2) {
        let (earlier, later) = (&pair[0], &pair[1]);
        if earlier.0 == later.0 {
            assert!(
                later.1 >= earlier.2,
                "two runs in pod {} at once: [{:?}, {:?}] and [{:?}, {:?}]",
                earlier.0,
                earlier.1 - base,
                earlier.2 - base,
                later.1 - base,
                later.2 - base
            );
        }
    }
    let pods: std::collections::BTreeSet<_> = claims.iter().map(|c| c.0.clone()).collect();
    eprintln!("80 calls from two transports over pods {pods:?}, no overlap");
    assert_eq!(world.endpoint.messages_requests().len(), 80);
    first
        .shutdown(Duration::from_secs(30))
        .await
        .expect("shutdown");
    world.assert_no_leftovers().await;
}

#[tokio::test]
async fn cluster_pool_each_run_sees_only_its_own_key() {
    let script = Script::new()
        .rule(Rule::new(Matcher::prompt_contains("who is alpha")).text("alpha here"))
        .rule(
            Rule::new(Matcher::prompt_contains("look for alpha").without_tool_result()).tool_use(
                "Bash",
                json!({"command": "echo found-$( (cat /proc/[0-9]*/environ; grep -rs . /tmp \"$HOME\" /home) 2>/dev/null | tr '\\0' '\\n' | grep -c 'e2e-key-alph[a]')", "description": "look"}),
            ),
        )
        .rule(Rule::new(Matcher::any().with_tool_result_containing("found-0")).text("not found"))
        .rule(Rule::new(Matcher::any().with_tool_result()).text("FOUND"));
    let Some(world) = World::new(script).await else {
        return;
    };
    // One pod: both runs use it, one after the other.
    let provider = pool(&world, "keys", 1, 1).await;
    let alpha = provider
        .with_api_key(Credential::Value("e2e-key-alpha".into()))
        .expect("alpha");
    let beta = provider
        .with_api_key(Credential::Value("e2e-key-beta".into()))
        .expect("beta");

    let first = Agent::new("who is alpha")
        .run(&alpha)
        .await
        .expect("alpha answers");
    let second = Agent::new("look for alpha")
        .allowed_tools(["Bash"])
        .run(&beta)
        .await
        .expect("beta answers");
    assert_eq!(first.pod, second.pod, "one pod served both");
    assert_eq!(first.text, "alpha here");
    assert_eq!(second.text, "not found", "beta's run could see alpha's key");
    for request in world.endpoint.messages_requests() {
        let prompt = request.prompt().unwrap_or_default();
        let key = request.header("x-api-key");
        if prompt.contains("alpha") && prompt.contains("who") {
            assert_eq!(key, Some("e2e-key-alpha"));
        } else {
            assert_eq!(key, Some("e2e-key-beta"), "{prompt}");
        }
    }
    // The pods carry no key: not in the spec, not in the environment.
    for pod in pool_pods(&world, "keys").await {
        let text = serde_json::to_string(&pod).expect("json");
        assert!(
            !text.contains("e2e-key") && !text.contains("ANTHROPIC_API_KEY"),
            "{text}"
        );
    }
    provider
        .shutdown(Duration::from_secs(30))
        .await
        .expect("shutdown");
    world.assert_no_leftovers().await;
}

/// `client`, with every PATCH (claims, renewals, releases) reaching the API server 1.5 s late.
fn with_slow_patches(client: kube::Client) -> kube::Client {
    let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
        let client = client.clone();
        async move {
            if request.method() == http::Method::PATCH {
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            client.send(request).await
        }
    });
    kube::Client::new(service, "default")
}

#[tokio::test]
async fn cluster_pool_a_call_right_after_another_waits_for_its_release_instead_of_growing() {
    // The previous call's pod is still being released (in the background, slowly) when the
    // next call of the same process checks out: the pool waits for that release instead of
    // starting a pod it does not need.
    let script = Script::new().rule(Rule::new(Matcher::any()).text("ok"));
    let Some(world) = World::new(script).await else {
        return;
    };
    let transport = Transport::from_client(with_slow_patches(world.cluster.client()));
    let provider = K8sPoolProvider::builder(world.provider_builder(), options("seq", 1, 3))
        .build(transport)
        .expect("the pool builds");
    provider.warm_up().await.expect("the pool warms up");
    let mut used = Vec::new();
    for i in 0..3 {
        let output = Agent::new(format!("call {i}"))
            .run(&provider)
            .await
            .expect("an answer");
        assert_eq!(output.text, "ok");
        used.push(output.pod.expect("the pod"));
    }
    let pods = pool_pods(&world, "seq").await;
    assert_eq!(
        pods.len(),
        1,
        "sequential calls grew the pool; pods used: {used:?}"
    );
    assert!(used.iter().all(|pod| *pod == used[0]), "{used:?}");
    provider
        .shutdown(Duration::from_secs(60))
        .await
        .expect("shutdown");
    world.assert_no_leftovers().await;
}
