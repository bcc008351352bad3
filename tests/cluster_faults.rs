//! Faults on the cluster side, end to end with `K8sEphemeralProvider`, the runner image and the
//! real `claude`: the API server crashing at each stage of a run, the orchestrator process
//! killed mid-run (a later reaper cleans up), runs cancelled at random points, and — in
//! `cargo xtask soak` only — the kubelet dying mid-run. Each ends with a result or a typed
//! error, and with no pod or Secret left.
//!
//! The tests take daemons away from everyone, so they run one at a time (`SERIAL`) and this
//! file is a test binary of its own (binaries run one after another).

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "test code: a failed step fails the test, figures go to the log"
)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agentpod_e2e::World;
use agentpod_provider::{
    Agent, AgentError, AgentEvent, AgentOutput, K8sEphemeralProvider, RunOptions, StartPolicy,
};
use agentpod_testkit::cluster::outage::{Daemon, Outage};
use agentpod_testkit::model::{Matcher, Rule, Script};
use agentpod_transport::Reaper;
use futures::StreamExt;
use serde_json::json;
use tokio::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::const_new(());

/// How long a crashed daemon stays down.
const DOWNTIME: Duration = Duration::from_secs(3);
/// What the agent answers once its Bash tool (`sleep 3`) ran in the pod.
const ANSWER: &str = "survived the fault";
const TOOL_PROMPT: &str = "fault-suite: run the slow tool";
const SLOW_PROMPT: &str = "fault-suite: answer slowly";
const LONG_TOOL_PROMPT: &str = "fault-suite: run a long tool";

fn script() -> Script {
    let bash = |command: &str| json!({"command": command, "description": "fault suite"});
    Script::new()
        .rule(
            Rule::new(Matcher::prompt_contains(TOOL_PROMPT).without_tool_result())
                .tool_use("Bash", bash("sleep 3; echo tool-done")),
        )
        .rule(
            Rule::new(
                Matcher::prompt_contains(TOOL_PROMPT).with_tool_result_containing("tool-done"),
            )
            .text(ANSWER),
        )
        .rule(
            Rule::new(Matcher::prompt_contains(SLOW_PROMPT))
                .text(ANSWER)
                .delay(Duration::from_secs(2)),
        )
        .rule(
            Rule::new(Matcher::prompt_contains(LONG_TOOL_PROMPT).without_tool_result())
                .tool_use("Bash", bash("sleep 120")),
        )
}

fn tool_agent() -> Agent {
    Agent::new(TOOL_PROMPT).allowed_tools(["Bash"]).max_turns(4)
}

/// Where in a run the API server crashes.
#[derive(Debug, Clone, Copy)]
enum Stage {
    /// Before the first request: the run's creates meet a dead API server.
    Create,
    /// The pod exists, the agent does not run yet.
    Pending,
    /// The agent runs.
    Running,
    /// The log is being followed (the agent's tool is running).
    LogTail,
}

impl Stage {
    fn reached(self, event: &AgentEvent) -> bool {
        match self {
            Self::Create => true,
            Self::Pending => matches!(event, AgentEvent::PodCreated { .. }),
            Self::Running => matches!(event, AgentEvent::Running),
            Self::LogTail => matches!(event, AgentEvent::ToolCall { .. }),
        }
    }
}

/// Kills the API server, and starts it again after `DOWNTIME` in the background.
async fn crash_api_server(world: &World) -> tokio::task::JoinHandle<Duration> {
    let kubeconfig = world.cluster.kubeconfig().to_path_buf();
    let mut outage =
        tokio::task::spawn_blocking(move || Outage::begin(&kubeconfig, Daemon::ApiServer))
            .await
            .expect("joined")
            .expect("the API server is down");
    tokio::spawn(async move {
        tokio::time::sleep(DOWNTIME).await;
        outage.end().expect("the API server starts again")
    })
}

async fn run_with_crash_at(
    world: &World,
    provider: &K8sEphemeralProvider,
    stage: Stage,
) -> Result<AgentOutput, AgentError> {
    if let Stage::Create = stage {
        let restart = crash_api_server(world).await;
        let result = tool_agent().run(provider).await;
        restart.await.expect("restarted");
        return result;
    }
    let mut run = tool_agent().start(provider).await?;
    let mut events = run.take_events().expect("events");
    let mut restart = None;
    let follow = async {
        while let Some(event) = events.next().await {
            if restart.is_none() && stage.reached(&event) {
                restart = Some(crash_api_server(world).await);
            }
        }
    };
    let (result, ()) = tokio::join!(run.output(), follow);
    if let Some(restart) = restart {
        restart.await.expect("restarted");
    }
    result
}

#[tokio::test]
async fn cluster_an_api_server_crash_at_each_stage_ends_in_the_result_or_a_typed_error() {
    agentpod_testkit::trace_from_env();
    let _serial = SERIAL.lock().await;
    let Some(world) = World::new(script()).await else {
        return;
    };
    let provider = world.provider().await;
    for stage in [
        Stage::Create,
        Stage::Pending,
        Stage::Running,
        Stage::LogTail,
    ] {
        let started = Instant::now();
        let result = tokio::time::timeout(
            Duration::from_secs(180),
            run_with_crash_at(&world, &provider, stage),
        )
        .await
        .unwrap_or_else(|_| panic!("{stage:?}: the run hung"));
        eprintln!(
            "{stage:?}: {:?} after {:?}",
            result.as_ref().map(|o| &o.text),
            started.elapsed()
        );
        match (stage, result) {
            (_, Ok(output)) => assert_eq!(output.text, ANSWER, "{stage:?}"),
            // Creating against a dead API server may fail once the retries are spent; it must
            // say so as an infrastructure error.
            (Stage::Create, Err(AgentError::Infrastructure { source })) => {
                eprintln!("  create failed as infrastructure: {source}");
            }
            (stage, Err(error)) => panic!("{stage:?}: expected the answer, got {error}"),
        }
        world.assert_no_leftovers().await;
    }
}

#[tokio::test]
async fn cluster_a_killed_orchestrators_run_is_cleaned_by_a_later_reaper() {
    let _serial = SERIAL.lock().await;
    let Some(world) = World::new(script()).await else {
        return;
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_e2e-orchestrator"))
        .env("KUBECONFIG", world.cluster.kubeconfig())
        .env("AGENTPOD_E2E_NAMESPACE", world.ns.name())
        .env("AGENTPOD_E2E_BASE_URL", world.endpoint.base_url())
        .env("AGENTPOD_E2E_PROMPT", LONG_TOOL_PROMPT)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the orchestrator starts");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(90), line)
        .await
        .expect("the agent runs within 90 s")
        .expect("joined")
        .expect("read");
    assert!(line.starts_with("running "), "{line:?}");
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let killed = Instant::now();
    let (pods, secrets) = world.leftovers().await;
    assert!(
        pods == 1 && secrets >= 1,
        "the crash left its run: {pods} pods, {secrets} secrets"
    );

    let reaper = Reaper::new(world.provider().await.transport().clone()).namespace(world.ns.name());
    let mut sweeps = 0;
    loop {
        let report = reaper.sweep().await.expect("sweep");
        sweeps += 1;
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        if world.leftovers().await == (0, 0) {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(90),
            "still there 90 s after the crash: {:?}",
            world.leftovers().await
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    eprintln!(
        "reaped {:?} after the crash, {sweeps} sweeps",
        killed.elapsed()
    );
}

/// A small deterministic generator (no dependency, same points every run).
struct Points(u64);

impl Points {
    fn next_below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

#[tokio::test]
async fn cluster_a_hundred_runs_cancelled_at_random_points_leave_nothing() {
    let _serial = SERIAL.lock().await;
    let Some(world) = World::new(script()).await else {
        return;
    };
    let provider = world
        .provider_builder()
        .run_options(
            RunOptions::default()
                .start(StartPolicy::default().start_timeout(Duration::from_secs(120)))
                .run_timeout(Duration::from_secs(120)),
        )
        .connect(agentpod_provider::ClusterConnection::kubeconfig_file(
            world.cluster.kubeconfig(),
        ))
        .await
        .expect("provider");
    let mut points = Points(0x5eed);
    let delays: Vec<Duration> = (0..100)
        .map(|_| Duration::from_millis(points.next_below(4_000)))
        .collect();
    let started = Instant::now();
    let finished: usize = futures::stream::iter(delays)
        .map(|delay| {
            let provider = &provider;
            async move {
                let agent = Agent::new(SLOW_PROMPT);
                usize::from(
                    tokio::time::timeout(delay, agent.run(provider))
                        .await
                        .is_ok(),
                )
            }
        })
        .buffer_unordered(10)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .sum();
    eprintln!(
        "100 runs, {} cancelled at random points (0–4 s), {finished} ended first, in {:?}",
        100 - finished,
        started.elapsed()
    );
    let settle = Instant::now();
    world.assert_no_leftovers().await;
    eprintln!(
        "nothing left {:?} after the last cancellation",
        settle.elapsed()
    );
}

#[tokio::test]
async fn cluster_soak_a_dead_kubelet_ends_in_a_run_timeout_and_nothing_left_once_back() {
    if std::env::var_os("AGENTPOD_SOAK").is_none() {
        eprintln!("SKIPPED (soak only): set AGENTPOD_SOAK=1 or run `cargo xtask soak --cluster`");
        return;
    }
    let _serial = SERIAL.lock().await;
    let Some(world) = World::new(script()).await else {
        return;
    };
    let run_timeout = Duration::from_secs(15);
    let provider = world
        .provider_builder()
        .run_options(
            RunOptions::default()
                .start(StartPolicy::default().start_timeout(Duration::from_secs(60)))
                .run_timeout(run_timeout),
        )
        .connect(agentpod_provider::ClusterConnection::kubeconfig_file(
            world.cluster.kubeconfig(),
        ))
        .await
        .expect("provider");
    let mut run = Agent::new(LONG_TOOL_PROMPT)
        .allowed_tools(["Bash"])
        .start(&provider)
        .await
        .expect("started");
    let mut events = run.take_events().expect("events");
    let mut outage = None;
    let kubeconfig = world.cluster.kubeconfig().to_path_buf();
    let follow = async {
        while let Some(event) = events.next().await {
            if outage.is_none() && matches!(event, AgentEvent::ToolCall { .. }) {
                let kubeconfig = kubeconfig.clone();
                outage = Some(
                    tokio::task::spawn_blocking(move || {
                        Outage::begin(&kubeconfig, Daemon::Kubelet)
                    })
                    .await
                    .expect("joined")
                    .expect("the kubelet is down"),
                );
            }
        }
    };
    let (result, ()) = tokio::join!(run.output(), follow);
    let error = result.expect_err("the run cannot finish without its kubelet");
    assert!(
        matches!(error, AgentError::RunTimeout { timeout, .. } if timeout == run_timeout),
        "{error}"
    );
    let down = outage
        .expect("the kubelet was stopped")
        .end()
        .expect("the kubelet starts again");
    eprintln!("run timeout while the kubelet was down; kubelet back after {down:?}");
    world.assert_no_leftovers().await;
}
