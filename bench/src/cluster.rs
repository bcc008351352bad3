//! B1, B2, B4 and B5 on the local cluster.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use agentpod_podspec::labels::MANAGED_SELECTOR;
use agentpod_testkit::cluster::{CLAUDE_RUNNER_IMAGE, Cluster, TestNamespace};
use agentpod_testkit::model::{Matcher, ModelEndpoint, Rule, Script};
use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::{DeleteParams, ListParams};
use serde::{Deserialize, Serialize};

use crate::containerd::ContainerClock;
use crate::proxy::CountingProxy;
use crate::sides::{self, ClusterAt, Setup};

/// ironflow-core's pods carry this label (its forced `managed-by`).
pub const THEIR_SELECTOR: &str = "app.kubernetes.io/managed-by=ironflow";

/// The trivial prompt and the scripted answer.
pub const PROMPT: &str = "say ok";
/// The answer the endpoint gives every call.
pub const ANSWER: &str = "ok";

/// Which implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Side {
    /// agentpod's `K8sEphemeralProvider`.
    Ours,
    /// ironflow-core 2.10.1's `K8sEphemeralProvider`.
    Theirs,
}

/// One timed call of B1.
#[derive(Debug, Clone, Serialize)]
pub struct TimedCall {
    /// Which side.
    pub side: Side,
    /// Wall time of the call.
    pub wall: Duration,
    /// The container's own run (containerd task start → exit).
    pub container: Duration,
    /// Container exit → the call returned (negative: returned before the exit).
    pub exit_to_return_ms: f64,
    /// Requests the side reported (ours), and ours including the background cleanup.
    pub api_requests: Option<u64>,
    /// Ours: requests including the cleanup after the return.
    pub api_requests_with_cleanup: Option<u64>,
}

/// The world of a benchmark run: a fresh namespace and the model endpoint.
pub struct World {
    /// The harness's own connection.
    pub cluster: Cluster,
    /// Deleted when dropped.
    pub ns: TestNamespace,
    /// Answers `ok` to everything.
    pub endpoint: ModelEndpoint,
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
}

impl World {
    /// Connects, creates the namespace, starts the endpoint.
    pub async fn new(kubeconfig: &Path) -> anyhow::Result<World> {
        let cluster = Cluster::connect(kubeconfig)
            .await
            .context("the local cluster is not reachable (`cargo xtask cluster status`)")?;
        let ns = cluster.namespace().await;
        let endpoint = cluster
            .start_model_endpoint(Script::new().rule(Rule::new(Matcher::any()).text(ANSWER)))
            .await
            .context("the model endpoint did not start")?;
        Ok(World {
            cluster,
            ns,
            endpoint,
            kubeconfig: kubeconfig.to_path_buf(),
        })
    }

    /// The setup both sides get.
    pub fn setup(&self) -> Setup {
        Setup {
            cluster: ClusterAt::File(self.kubeconfig.clone()),
            namespace: self.ns.name().to_owned(),
            base_url: self.endpoint.base_url(),
            fake_claude: None,
        }
    }

    /// Pods and Secrets of either side left in the namespace: (ours pods, ours secrets, theirs pods).
    pub async fn leftovers(&self) -> anyhow::Result<(usize, usize, usize)> {
        let pods: Api<Pod> = self.ns.api();
        let secrets: Api<Secret> = self.ns.api();
        let ours = ListParams::default().labels(MANAGED_SELECTOR);
        let theirs = ListParams::default().labels(THEIR_SELECTOR);
        Ok((
            pods.list(&ours).await?.items.len(),
            secrets.list(&ours).await?.items.len(),
            pods.list(&theirs).await?.items.len(),
        ))
    }

    /// Waits up to `timeout` for no pod or Secret of either side; returns what is left then.
    pub async fn settle(&self, timeout: Duration) -> anyhow::Result<(usize, usize, usize)> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = self.leftovers().await?;
            if left == (0, 0, 0) || Instant::now() >= deadline {
                return Ok(left);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The harness's cleanup between measurements (never timed, never counted): pods of
    /// either side force-deleted, so each call starts on an empty node.
    pub async fn force_clean(&self) -> anyhow::Result<()> {
        let pods: Api<Pod> = self.ns.api();
        let secrets: Api<Secret> = self.ns.api();
        let now = DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        };
        for selector in [MANAGED_SELECTOR, THEIR_SELECTOR] {
            let params = ListParams::default().labels(selector);
            pods.delete_collection(&now, &params).await?;
            secrets.delete_collection(&now, &params).await?;
        }
        let left = self.settle(Duration::from_secs(60)).await?;
        if left != (0, 0, 0) {
            bail!("objects left after the harness's cleanup: {left:?}");
        }
        Ok(())
    }
}

/// B1: `calls` interleaved rounds (ours then theirs, then theirs then ours, …), after one
/// warm-up call each.
pub async fn b1(world: &World, calls: usize) -> anyhow::Result<Vec<TimedCall>> {
    let clock = ContainerClock::start().await?;
    let setup = world.setup();
    let ours = sides::ours(&setup).await?;
    let theirs = sides::theirs(&setup);
    let mut timed = Vec::new();
    for round in 0..=calls {
        let order = if round % 2 == 0 {
            [Side::Ours, Side::Theirs]
        } else {
            [Side::Theirs, Side::Ours]
        };
        for side in order {
            let since = SystemTime::now();
            let before = ours.transport().total_requests();
            let call = match side {
                Side::Ours => sides::call_ours(&ours, PROMPT).await?,
                Side::Theirs => sides::call_theirs(&theirs, PROMPT, false).await?,
            };
            let returned = SystemTime::now();
            if call.text.trim() != ANSWER {
                bail!("{side:?} answered {:?}, not {ANSWER:?}", call.text);
            }
            let life = clock
                .wait_exited(CLAUDE_RUNNER_IMAGE, since, Duration::from_secs(60))
                .await
                .with_context(|| format!("no container exit seen for a {side:?} call"))?;
            ours.transport()
                .finish_cleanups(Duration::from_secs(30))
                .await;
            let with_cleanup = ours.transport().total_requests() - before;
            world.force_clean().await?;
            let container = life.run_time().context("container without start")?;
            let exit_to_return_ms = match (life.exited, returned) {
                (Some(exit), returned) => match returned.duration_since(exit) {
                    Ok(after) => after.as_secs_f64() * 1e3,
                    Err(before) => -before.duration().as_secs_f64() * 1e3,
                },
                (None, _) => f64::NAN,
            };
            if round == 0 {
                continue; // warm-up
            }
            eprintln!(
                "B1 {side:?} call {round}: wall {:?}, container {:?}, overhead {:?}, requests {:?}",
                call.wall,
                container,
                call.wall.saturating_sub(container),
                call.api_requests
            );
            timed.push(TimedCall {
                side,
                wall: call.wall,
                container,
                exit_to_return_ms,
                api_requests: call.api_requests,
                api_requests_with_cleanup: (side == Side::Ours).then_some(with_cleanup),
            });
        }
    }
    Ok(timed)
}

/// B2 through the counting proxy: requests of each call, per side.
#[derive(Debug, Clone, Serialize)]
pub struct Counted {
    /// Which side.
    pub side: Side,
    /// Requests the proxy saw from the call's start to its return.
    pub during: usize,
    /// …and until the side's background work ended (ours: the cleanup).
    pub with_cleanup: usize,
    /// Ours: what the transport counter said for the same call.
    pub reported: Option<u64>,
    /// The requests (`METHOD path`).
    pub requests: Vec<String>,
}

/// B2: `calls` calls per side through a proxy each.
pub async fn b2(world: &World, calls: usize) -> anyhow::Result<Vec<Counted>> {
    let namespace = world.ns.name();
    let our_proxy = CountingProxy::start(world.cluster.client()).await?;
    let their_proxy = CountingProxy::start(world.cluster.client()).await?;
    let mut setup = world.setup();
    setup.cluster = ClusterAt::Inline(our_proxy.kubeconfig(namespace));
    let ours = sides::ours(&setup).await?;
    setup.cluster = ClusterAt::Inline(their_proxy.kubeconfig(namespace));
    let theirs = sides::theirs(&setup);
    let mut counted = Vec::new();
    for round in 0..calls {
        for side in [Side::Ours, Side::Theirs] {
            let proxy = match side {
                Side::Ours => &our_proxy,
                Side::Theirs => &their_proxy,
            };
            let from = proxy.seen.count();
            let call = match side {
                Side::Ours => sides::call_ours(&ours, PROMPT).await?,
                Side::Theirs => sides::call_theirs(&theirs, PROMPT, false).await?,
            };
            let during = proxy.seen.count() - from;
            ours.transport()
                .finish_cleanups(Duration::from_secs(30))
                .await;
            let requests = proxy.seen.since(from);
            eprintln!(
                "B2 {side:?} call {round}: {during} during the call, {} with cleanup: {requests:?}",
                requests.len()
            );
            counted.push(Counted {
                side,
                during,
                with_cleanup: requests.len(),
                reported: call.api_requests,
                requests,
            });
            world.force_clean().await?;
        }
    }
    Ok(counted)
}

/// What a child process measured (B4, B5).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildReport {
    /// Which side.
    pub side: Side,
    /// Calls started.
    pub calls: usize,
    /// Calls that returned the expected answer.
    pub ok: usize,
    /// The first few errors.
    pub errors: Vec<String>,
    /// First call started → last call returned.
    pub wall: Duration,
    /// The process's peak resident set (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// VmHWM before the first call (runtime, clients, endpoint), KiB.
    pub baseline_rss_kib: u64,
}

/// The measurement of one child run plus what the parent saw afterwards.
#[derive(Debug, Clone, Serialize)]
pub struct Concurrency {
    /// The child's report.
    pub child: ChildReport,
    /// Pods/Secrets of the side left right after the child exited.
    pub left_at_exit: (usize, usize),
    /// …and 30 s later.
    pub left_after_30s: (usize, usize),
    /// The machine's lowest `MemAvailable` while the child ran, MiB (how close to full).
    pub min_mem_available_mib: u64,
}

/// Runs `agentpod-bench child …` and collects its report and the leftovers.
pub async fn run_child(
    world: &World,
    side: Side,
    scenario: &str,
    calls: usize,
    fake_claude: Option<&Path>,
) -> anyhow::Result<Concurrency> {
    let exe = std::env::current_exe()?;
    let mut command = tokio::process::Command::new(exe);
    command
        .args(["child", scenario])
        .args([
            "--side",
            match side {
                Side::Ours => "ours",
                Side::Theirs => "theirs",
            },
        ])
        .args(["--calls", &calls.to_string()])
        .args(["--namespace", world.ns.name()])
        .args(["--base-url", &world.endpoint.base_url()])
        .arg("--kubeconfig")
        .arg(&world.kubeconfig)
        .stderr(std::process::Stdio::inherit());
    if let Some(dir) = fake_claude {
        command.arg("--fake-claude").arg(dir);
    }
    let lowest = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX));
    let sampler = {
        let lowest = lowest.clone();
        tokio::spawn(async move {
            loop {
                lowest.fetch_min(mem_available_mib(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let output = command.output().await;
    sampler.abort();
    let output = output?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let child: ChildReport = serde_json::from_str(line).with_context(|| {
        format!(
            "the {side:?} child ({}) printed no report: {stdout}",
            output.status
        )
    })?;
    let pick = |(ours_pods, ours_secrets, theirs_pods): (usize, usize, usize)| match side {
        Side::Ours => (ours_pods, ours_secrets),
        Side::Theirs => (theirs_pods, 0),
    };
    let left_at_exit = pick(world.leftovers().await?);
    let left_after_30s = pick(world.settle(Duration::from_secs(30)).await?);
    world.force_clean().await?;
    Ok(Concurrency {
        child,
        left_at_exit,
        left_after_30s,
        min_mem_available_mib: lowest.load(std::sync::atomic::Ordering::Relaxed),
    })
}

/// The child side of B4/B5: `calls` concurrent calls, then the process's peak RSS.
pub async fn child(
    side: Side,
    calls: usize,
    setup: Setup,
    stream_json: bool,
) -> anyhow::Result<ChildReport> {
    let started;
    let results: Vec<anyhow::Result<sides::Call>> = match side {
        Side::Ours => {
            let provider = sides::ours(&setup).await?;
            let baseline = peak_rss_kib();
            started = (Instant::now(), baseline);
            let runs = (0..calls).map(|n| {
                let provider = provider.clone();
                async move { sides::call_ours(&provider, &format!("{PROMPT} {n}")).await }
            });
            let results = futures::future::join_all(runs).await;
            provider
                .transport()
                .finish_cleanups(Duration::from_secs(60))
                .await;
            results
        }
        Side::Theirs => {
            let provider = sides::theirs(&setup);
            let baseline = peak_rss_kib();
            started = (Instant::now(), baseline);
            let runs =
                (0..calls).map(|n| {
                    let provider = &provider;
                    async move {
                        sides::call_theirs(provider, &format!("{PROMPT} {n}"), stream_json).await
                    }
                });
            futures::future::join_all(runs).await
        }
    };
    let wall = started.0.elapsed();
    let expected = if stream_json {
        crate::stream::RESULT_TEXT
    } else {
        ANSWER
    };
    let mut ok = 0;
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(call) if call.text.trim() == expected => ok += 1,
            Ok(call) => errors.push(format!("unexpected answer ({} bytes)", call.text.len())),
            Err(error) => errors.push(format!("{error:#}")),
        }
    }
    errors.truncate(5);
    Ok(ChildReport {
        side,
        calls,
        ok,
        errors,
        wall,
        peak_rss_kib: peak_rss_kib(),
        baseline_rss_kib: started.1,
    })
}

/// VmHWM of this process, KiB (0 if unreadable).
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmHWM:")
                    .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

/// The machine's `MemAvailable`, MiB (u64::MAX if unreadable).
fn mem_available_mib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|line| {
                line.strip_prefix("MemAvailable:").and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
            })
        })
        .map_or(u64::MAX, |kib| kib / 1024)
}

/// One timed call of B3.
#[derive(Debug, Clone, Serialize)]
pub struct PoolCall {
    /// Through the warm pool (`true`) or our ephemeral provider.
    pub pooled: bool,
    /// Wall time of the call.
    pub wall: Duration,
    /// The `claude` process's own time as the output reports it (`timings.agent`).
    pub agent: Duration,
}

/// B3: `calls` interleaved rounds of a trivial call through a warm pool of one pod and through
/// our ephemeral provider, after one warm-up call each. Between calls (untimed) the pool's
/// release of its pod and the ephemeral run's cleanup are awaited, so every call starts alike.
pub async fn b3(world: &World, calls: usize) -> anyhow::Result<Vec<PoolCall>> {
    let setup = world.setup();
    let pool = sides::our_pool(&setup).await?;
    let ephemeral = sides::ours(&setup).await?;
    let mut timed = Vec::new();
    for round in 0..=calls {
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for pooled in order {
            let started = Instant::now();
            let output = if pooled {
                agentpod_provider::Agent::new(PROMPT).run(&pool).await?
            } else {
                agentpod_provider::Agent::new(PROMPT)
                    .run(&ephemeral)
                    .await?
            };
            let wall = started.elapsed();
            if output.text.trim() != ANSWER {
                bail!("answered {:?}, not {ANSWER:?}", output.text);
            }
            pool.settle(Duration::from_secs(30)).await;
            ephemeral
                .transport()
                .finish_cleanups(Duration::from_secs(30))
                .await;
            if round == 0 {
                continue; // warm-up
            }
            eprintln!(
                "B3 {} call {round}: wall {wall:?}, claude {:?}",
                if pooled { "pool" } else { "ephemeral" },
                output.timings.agent
            );
            timed.push(PoolCall {
                pooled,
                wall,
                agent: output.timings.agent,
            });
        }
    }
    pool.shutdown(Duration::from_secs(60)).await?;
    Ok(timed)
}
