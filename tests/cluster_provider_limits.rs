//! `K8sEphemeralProvider` end to end at its limits: a run timeout, a dropped future, ten calls
//! at once, a 2 MiB prompt; and the figures of a trivial call (printed, never asserted).
//!
//! Runs with `cargo xtask test`; skips loudly under plain `cargo test`.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "a failed step should fail the test; figures are printed for the report"
)]

use std::time::{Duration, Instant};

use agentpod_e2e::World;
use agentpod_provider::{Agent, AgentError};
use agentpod_testkit::model::{Matcher, Rule, Script};

#[tokio::test]
async fn cluster_provider_run_timeout_stops_and_deletes_the_pod() {
    let script = Script::new().rule(
        Rule::new(Matcher::any())
            .text("too late")
            .delay(Duration::from_secs(60)),
    );
    let Some(world) = World::new(script).await else {
        return;
    };
    let provider = world.provider().await;

    let error = Agent::new("take your time")
        .run_timeout(Duration::from_secs(3))
        .run(&provider)
        .await
        .expect_err("the run timeout fires");

    match &error {
        AgentError::RunTimeout { timeout, pod, .. } => {
            assert_eq!(*timeout, Duration::from_secs(3));
            assert!(
                pod.as_deref().is_some_and(|p| p.starts_with("agent-")),
                "{error}"
            );
        }
        other => panic!("expected RunTimeout, got {other:?}"),
    }
    world.assert_no_leftovers().await;
}

#[tokio::test]
async fn cluster_provider_dropped_future_leaves_no_pod_and_no_secret() {
    let script = Script::new().rule(
        Rule::new(Matcher::any())
            .text("never read")
            .delay(Duration::from_secs(60)),
    );
    let Some(world) = World::new(script).await else {
        return;
    };
    let provider = world.provider().await;

    let agent = Agent::new("wait with me");
    // Boxed, so that `drop` below really drops the future (a `pin!`ned one lives on).
    let mut call = Box::pin(agent.run(&provider));
    // Drive the call until the CLI in the pod is talking to the model, then drop it.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        tokio::select! {
            result = &mut call => panic!("the call ended on its own: {result:?}"),
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        if !world.endpoint.messages_requests().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the CLI never called the model");
    }
    let (pods, secrets) = world.leftovers().await;
    assert_eq!(
        (pods, secrets),
        (1, 1),
        "the run's objects exist while it runs"
    );

    let dropped = Instant::now();
    drop(call);
    assert!(
        provider
            .transport()
            .finish_cleanups(Duration::from_secs(30))
            .await,
        "cleanups did not finish"
    );
    world.assert_no_leftovers().await;
    eprintln!(
        "dropped call: objects gone {:?} after the drop",
        dropped.elapsed()
    );
}

#[tokio::test]
async fn cluster_provider_ten_concurrent_calls() {
    let mut script = Script::new();
    for n in 0..10 {
        script = script.rule(
            Rule::new(Matcher::prompt_contains(format!("call number {n}!")))
                .text(format!("answer {n}")),
        );
    }
    let Some(world) = World::new(script).await else {
        return;
    };
    let provider = world.provider().await;

    let started = Instant::now();
    let calls = (0..10).map(|n| {
        let provider = provider.clone(); // clones share one client
        async move {
            Agent::new(format!("call number {n}!"))
                .run(&provider)
                .await
                .map(|output| (n, output))
        }
    });
    let results = futures::future::join_all(calls).await;
    let wall = started.elapsed();

    let mut pods = Vec::new();
    for result in results {
        let (n, output) = result.expect("every call answers");
        assert_eq!(output.text, format!("answer {n}"));
        pods.push(output.pod.expect("a pod"));
    }
    pods.sort();
    pods.dedup();
    assert_eq!(pods.len(), 10, "each call had its own pod");
    world.assert_no_leftovers().await;
    eprintln!("10 concurrent calls: {wall:?} wall");
}

#[tokio::test]
async fn cluster_provider_two_mib_prompt() {
    let script = Script::new().rule(Rule::new(Matcher::prompt_contains("END-OF-BIG")).text("big"));
    let Some(world) = World::new(script).await else {
        return;
    };
    let provider = world
        .provider_builder()
        .context_window_tokens(Some(1_000_000))
        .build(
            agentpod_provider::ClusterConnection::kubeconfig_file(world.cluster.kubeconfig())
                .connect()
                .await
                .expect("connects"),
        );
    let line = "the quick brown fox jumps over the lazy dog 0123456789\n";
    let mut prompt = line.repeat(2 * 1024 * 1024 / line.len());
    prompt.push_str("END-OF-BIG");
    assert!(prompt.len() >= 2 * 1024 * 1024 - line.len());

    let output = Agent::new(prompt.clone())
        .run(&provider)
        .await
        .expect("the agent answers");

    assert_eq!(output.text, "big");
    let sent = world.endpoint.messages_requests();
    assert_eq!(sent.len(), 1);
    let received = sent[0].prompt().unwrap_or_default();
    assert_eq!(received.len(), prompt.len());
    assert!(received == prompt, "the prompt arrived changed");
    world.assert_no_leftovers().await;
}

/// A plain call in the default configuration (the prompt and the API key in a Secret, the
/// hardened preset, the pod's own termination grace) makes at most five Kubernetes API
/// requests, its cleanup included: create Secret, create pod, watch, one log read, delete the
/// Secret (which owns the pod).
#[tokio::test]
async fn cluster_provider_plain_call_makes_at_most_five_requests() {
    let script = Script::new().rule(Rule::new(Matcher::any()).text("ok"));
    let Some(world) = World::new(script).await else {
        return;
    };
    let provider = default_provider(&world).await;
    let transport = provider.transport();
    for _ in 0..3 {
        let before = transport.total_requests();
        let output = Agent::new("say ok").run(&provider).await.expect("answers");
        assert_eq!(output.text, "ok");
        assert!(transport.finish_cleanups(Duration::from_secs(30)).await);
        let requests = transport.total_requests() - before;
        assert!(
            requests <= 5,
            "{requests} API requests for a plain call (the output counted {})",
            output.api_requests
        );
        world.assert_no_leftovers().await;
    }
}

/// The world's provider with the pod template users get by default: no
/// `terminationGracePeriodSeconds` override (the world's tests set 0 to make deletes quick).
async fn default_provider(world: &World) -> agentpod_provider::K8sEphemeralProvider {
    use agentpod_podspec::{AgentPodSpec, ImagePullPolicy};
    use agentpod_provider::{ClusterConnection, Credential, K8sEphemeralProvider};
    use agentpod_testkit::cluster::{CLAUDE_RUNNER_BINARY, CLAUDE_RUNNER_IMAGE};
    let template = AgentPodSpec::new(CLAUDE_RUNNER_IMAGE)
        .namespace(world.ns.name())
        .image_pull_policy(ImagePullPolicy::IfNotPresent)
        .env("CLAUDE_CODE_MAX_RETRIES", "0");
    K8sEphemeralProvider::builder(template)
        .claude_path(CLAUDE_RUNNER_BINARY)
        .api_key(Credential::Value(agentpod_e2e::TEST_API_KEY.into()))
        .base_url(world.endpoint.base_url())
        .connect(ClusterConnection::kubeconfig_file(
            world.cluster.kubeconfig(),
        ))
        .await
        .expect("provider connects")
}

/// Figures for the report: wall time, API requests and time until nothing is left of 9
/// trivial sequential calls in the default configuration (run it alone: parallel tests share
/// the 2 cores).
#[tokio::test]
async fn cluster_provider_trivial_call_figures() {
    let script = Script::new().rule(Rule::new(Matcher::any()).text("ok"));
    let Some(world) = World::new(script).await else {
        return;
    };
    let provider = default_provider(&world).await;
    let mut walls = Vec::new();
    let mut agent_times = Vec::new();
    let mut pod_runs = Vec::new();
    let mut requests = Vec::new();
    let mut all_requests = Vec::new();
    let mut exit_codes = Vec::new();
    let mut gone_after = Vec::new();
    let transport = provider.transport();
    for _ in 0..9 {
        let before = transport.total_requests();
        let started = Instant::now();
        let output = Agent::new("say ok").run(&provider).await.expect("answers");
        let returned = Instant::now();
        walls.push(returned - started);
        // Nothing of the call is left: poll (with another client) until pod and Secret are gone.
        loop {
            if world.leftovers().await == (0, 0) {
                gone_after.push(returned.elapsed());
                break;
            }
            assert!(returned.elapsed() < Duration::from_secs(60), "objects left");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The cleanup runs in the background: count its requests too.
        assert!(transport.finish_cleanups(Duration::from_secs(30)).await);
        all_requests.push(transport.total_requests() - before);
        agent_times.push(output.timings.agent);
        pod_runs.push(output.timings.pod_run.unwrap_or_default());
        requests.push(output.api_requests);
        exit_codes.push(output.exit_code);
        assert_eq!(output.text, "ok");
        assert!(output.api_requests > 0);
    }
    walls.sort();
    agent_times.sort();
    pod_runs.sort();
    gone_after.sort();
    let median = |values: &[Duration]| values[values.len() / 2];
    eprintln!(
        "trivial call x9: wall median {:?} (all {walls:?}); container running→finished (watch) median {:?}; \
         CLI's own duration median {:?}; API requests in the output {requests:?}, \
         cleanup included {all_requests:?}; exit codes {exit_codes:?}; \
         return → nothing left median {:?} (all {gone_after:?})",
        median(&walls),
        median(&pod_runs),
        median(&agent_times),
        median(&gone_after),
    );
}
