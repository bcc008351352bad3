//! Figures of `K8sPoolProvider`, measured in one run (printed, never asserted): the median
//! latency of a trivial call through the warm pool and through the ephemeral provider, and
//! the pool's checkout overhead alone (list + claim + an exec of `true` + release).
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
use agentpod_provider::{Agent, ClusterConnection, K8sPoolProvider, POOL_LABEL, PoolOptions};
use agentpod_testkit::model::{Matcher, Rule, Script};
use agentpod_transport::{ExecOptions, ExecRequest, RetryPolicy};

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

#[tokio::test]
async fn cluster_pool_figures_pool_vs_ephemeral() {
    let script = Script::new().rule(Rule::new(Matcher::any()).text("ok"));
    let Some(world) = World::new(script).await else {
        return;
    };
    let pool = K8sPoolProvider::builder(
        world.provider_builder(),
        PoolOptions::default().name("figures").min(1).max(1),
    )
    .connect(ClusterConnection::kubeconfig_file(
        world.cluster.kubeconfig(),
    ))
    .await
    .expect("pool connects");
    pool.warm_up().await.expect("warm");
    let ephemeral = world.provider().await;

    const CALLS: usize = 7;
    // One untimed call each first: the first exec into a new pod, and the first pod of a
    // namespace, are slower than the steady state being measured.
    Agent::new("warm-up").run(&pool).await.expect("answer");
    Agent::new("warm-up e")
        .run(&ephemeral)
        .await
        .expect("answer");
    let mut through_pool = Vec::new();
    let mut agent = Vec::new();
    for i in 0..CALLS {
        let started = Instant::now();
        let output = Agent::new(format!("trivial {i}"))
            .run(&pool)
            .await
            .expect("answer");
        through_pool.push(started.elapsed());
        assert_eq!(output.text, "ok");
        agent.push(output.timings.agent);
        // The pod goes back after the exec ended; let that happen between calls.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut through_ephemeral = Vec::new();
    for i in 0..CALLS {
        let started = Instant::now();
        let output = Agent::new(format!("trivial e{i}"))
            .run(&ephemeral)
            .await
            .expect("answer");
        through_ephemeral.push(started.elapsed());
        assert_eq!(output.text, "ok");
    }

    // Checkout overhead on its own: list, claim, exec `true`, release.
    let transport = pool.transport().clone();
    let selector = format!("{POOL_LABEL}=figures");
    let mut checkout = Vec::new();
    let mut claim_only = Vec::new();
    for _ in 0..CALLS {
        let started = Instant::now();
        let listed = transport
            .list_workers(world.ns.name(), &selector, &RetryPolicy::default())
            .await
            .expect("listed");
        let member = listed.into_iter().next().expect("a pod");
        let claim = member
            .worker
            .try_claim(
                &member.pod,
                "figures",
                Duration::from_secs(30),
                &BTreeMap::new(),
            )
            .await
            .expect("claim request")
            .expect("the pod is free");
        claim_only.push(started.elapsed());
        let output = claim
            .worker()
            .exec(
                &ExecRequest::new(["true"]),
                &ExecOptions::default().concurrent(true),
            )
            .await
            .expect("exec");
        assert_eq!(output.exit_code, 0);
        checkout.push(started.elapsed());
        assert!(claim.release(&BTreeMap::new()).await.expect("release"));
    }
    // The floor of any exec'd run: the CLI starting up in the pod.
    let member = transport
        .list_workers(world.ns.name(), &selector, &RetryPolicy::default())
        .await
        .expect("listed")
        .into_iter()
        .next()
        .expect("a pod");
    let mut cli_start = Vec::new();
    for _ in 0..CALLS {
        let started = Instant::now();
        let output = member
            .worker
            .exec(
                &ExecRequest::new([agentpod_testkit::cluster::CLAUDE_RUNNER_BINARY, "--version"]),
                &ExecOptions::default().concurrent(true),
            )
            .await
            .expect("exec");
        assert_eq!(output.exit_code, 0);
        cli_start.push(started.elapsed());
    }

    let pool_median = median(through_pool.clone());
    let ephemeral_median = median(through_ephemeral.clone());
    eprintln!(
        "trivial call, median of {CALLS}: pool {pool_median:?} ({through_pool:?}), \
         ephemeral {ephemeral_median:?} ({through_ephemeral:?}), ratio {:.3}",
        pool_median.as_secs_f64() / ephemeral_median.as_secs_f64()
    );
    eprintln!(
        "checkout overhead, median of {CALLS}: list + claim {:?}, list + claim + exec `true` {:?}",
        median(claim_only),
        median(checkout)
    );
    eprintln!(
        "exec `claude --version`, median of {CALLS}: {:?}; the CLI's own duration of a pool call: {:?}",
        median(cli_start),
        median(agent)
    );
    pool.shutdown(Duration::from_secs(30))
        .await
        .expect("shutdown");
    assert!(
        ephemeral
            .transport()
            .finish_cleanups(Duration::from_secs(30))
            .await
    );
    world.assert_no_leftovers().await;
}
