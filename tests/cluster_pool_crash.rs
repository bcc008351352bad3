//! `K8sPoolProvider` when things go wrong: a claim whose holder died expires and the pod is
//! taken over; an exhausted pool is a typed error after the queue timeout, or falls back to an
//! ephemeral pod; the pods of a crashed process are found by their labels and deleted by the
//! reaper once their lease expired.
//!
//! Runs with `cargo xtask test`; skips loudly under plain `cargo test`.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should fail the test"
)]

use std::collections::BTreeMap;
use std::time::Duration;

use agentpod_e2e::World;
use agentpod_provider::{
    Agent, AgentError, ClusterConnection, K8sPoolProvider, POOL_LABEL, PoolOptions,
};
use agentpod_testkit::model::{Matcher, Rule, Script};
use agentpod_transport::{Reaper, RetryPolicy};

async fn pool(world: &World, options: PoolOptions) -> K8sPoolProvider {
    K8sPoolProvider::builder(world.provider_builder(), options)
        .connect(ClusterConnection::kubeconfig_file(
            world.cluster.kubeconfig(),
        ))
        .await
        .expect("pool connects")
}

#[tokio::test]
async fn cluster_pool_dead_holders_exhaustion_and_crashed_processes() {
    let script = Script::new().rule(Rule::new(Matcher::any()).text("pong"));
    let Some(world) = World::new(script).await else {
        return;
    };
    let options = PoolOptions::default()
        .name("crash")
        .min(1)
        .max(1)
        .lease(Duration::from_secs(3))
        .keeper_interval(Duration::from_millis(500));
    let provider = pool(&world, options.clone()).await;
    provider.warm_up().await.expect("warm");
    let transport = provider.transport().clone();
    let selector = format!("{POOL_LABEL}=crash");
    let listed = transport
        .list_workers(world.ns.name(), &selector, &RetryPolicy::default())
        .await
        .expect("listed");
    assert_eq!(listed.len(), 1);
    let member = listed.into_iter().next().expect("one pod");

    // 1. A holder that dies: its claim (3 s) is never released; the next run waits for the
    //    expiry and takes the pod over.
    let dead = member
        .worker
        .try_claim(
            &member.pod,
            "dead-holder",
            Duration::from_secs(3),
            &BTreeMap::new(),
        )
        .await
        .expect("claim request")
        .expect("claimed");
    std::mem::forget(dead);
    let status = provider.status().await.expect("status");
    assert_eq!(status.busy(), 1, "{status}");
    assert_eq!(status.pods[0].claimed_by.as_deref(), Some("dead-holder"));
    let output = Agent::new("after the dead holder")
        .run(&provider)
        .await
        .expect("the expired claim is taken over");
    assert_eq!(output.pod.as_deref(), Some(member.worker.name()));

    // 2. Exhausted: a live holder keeps the only pod; the queue timeout is a typed error.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fresh = transport
        .list_workers(world.ns.name(), &selector, &RetryPolicy::default())
        .await
        .expect("listed")
        .into_iter()
        .next()
        .expect("one pod");
    let busy = fresh
        .worker
        .try_claim(
            &fresh.pod,
            "busy-holder",
            Duration::from_secs(60),
            &BTreeMap::new(),
        )
        .await
        .expect("claim request")
        .expect("claimed");
    let error = Agent::new("no room")
        .start_timeout(Duration::from_secs(1))
        .run(&provider)
        .await
        .expect_err("the pool is exhausted");
    assert!(
        matches!(&error, AgentError::PoolExhausted { pool, .. } if pool == "crash"),
        "{error:?}"
    );
    assert!(error.is_retryable());
    // With the fallback, the same call runs in an ephemeral pod of its own.
    let fallback = pool(&world, options.clone().fallback_ephemeral(true)).await;
    let output = Agent::new("no room, fall back")
        .start_timeout(Duration::from_secs(1))
        .run(&fallback)
        .await
        .expect("the ephemeral fallback answers");
    assert_eq!(output.text, "pong");
    assert!(
        output
            .pod
            .as_deref()
            .is_some_and(|p| p.starts_with("agent-")),
        "{:?}",
        output.pod
    );
    assert!(busy.release(&BTreeMap::new()).await.expect("released"));
    assert!(
        fallback
            .transport()
            .finish_cleanups(Duration::from_secs(30))
            .await
    );

    // 3. The process "crashes": no shutdown, the keeper stops with the last provider. The
    //    pod's lease (3 s) runs out and the reaper finds it by its labels.
    drop(fallback);
    drop(provider);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let report = Reaper::new(transport.clone())
        .namespace(world.ns.name())
        .sweep()
        .await
        .expect("sweep");
    assert!(
        report
            .deleted_pods
            .iter()
            .any(|p| p.ends_with(member.worker.name())),
        "{report:?}"
    );
    world.assert_no_leftovers().await;
}

#[tokio::test]
async fn cluster_pool_recycles_worn_pods_and_shrinks_when_idle() {
    // The first of two concurrent calls holds its pod long enough for the second to need
    // another one.
    let script = Script::new()
        .rule(
            Rule::new(Matcher::prompt_contains("first of two"))
                .text("pong")
                .delay(Duration::from_secs(8)),
        )
        .rule(Rule::new(Matcher::any()).text("pong"));
    let Some(world) = World::new(script).await else {
        return;
    };
    // Recycling: a pod serves two runs, then a new pod takes over.
    let recycled = pool(
        &world,
        PoolOptions::default()
            .name("recycle")
            .min(1)
            .max(1)
            .max_uses(2)
            .keeper_interval(Duration::from_millis(500)),
    )
    .await;
    let mut pods = Vec::new();
    for i in 0..3 {
        let output = Agent::new(format!("use {i}"))
            .run(&recycled)
            .await
            .expect("answer");
        pods.push(output.pod.expect("a pod"));
    }
    assert_eq!(pods[0], pods[1], "{pods:?}");
    assert_ne!(
        pods[1], pods[2],
        "the pod was not retired after 2 uses: {pods:?}"
    );
    recycled
        .shutdown(Duration::from_secs(30))
        .await
        .expect("shutdown");

    // Growth and shrink: two calls at once grow the pool to 2; idle, it shrinks back to 1.
    let shrinking = pool(
        &world,
        PoolOptions::default()
            .name("shrink")
            .min(1)
            .max(2)
            .idle_shrink_after(Duration::from_secs(2))
            .keeper_interval(Duration::from_millis(500)),
    )
    .await;
    shrinking.warm_up().await.expect("warm");
    let (first, second) = (Agent::new("first of two"), Agent::new("second of two"));
    let later = async {
        // The first call checks the warm pod out first.
        tokio::time::sleep(Duration::from_millis(500)).await;
        second.run(&shrinking).await
    };
    let (a, b) = tokio::join!(first.run(&shrinking), later);
    let (a, b) = (a.expect("answer"), b.expect("answer"));
    // Two pods served them: the pool grew (the keeper may already be shrinking it).
    assert_ne!(a.pod, b.pod, "two concurrent runs shared a pod");
    let mut status = shrinking.status().await.expect("status");
    for _ in 0..40 {
        if status.size() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        status = shrinking.status().await.expect("status");
    }
    assert_eq!(status.size(), 1, "not shrunk to min: {status}");
    shrinking
        .shutdown(Duration::from_secs(30))
        .await
        .expect("shutdown");
    world.assert_no_leftovers().await;
}
