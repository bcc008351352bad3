//! `agentpod run` against the local cluster: the real binary, the runner image with the real
//! `claude`, the offline model endpoint where pods reach it. Skips (loudly) without
//! `AGENTPOD_KUBECONFIG`, like every cluster test.
//!
//! These are also the command lines `cargo xtask demo` and README show.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should fail the test"
)]

mod common;

use std::path::Path;

use agentpod_testkit::cluster::{
    CLAUDE_RUNNER_BINARY, CLAUDE_RUNNER_IMAGE, Cluster, TestNamespace,
};
use agentpod_testkit::model::{Matcher, ModelEndpoint, Rule, Script};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::ListParams;
use serde_json::json;

/// Carries the hygiene marker (`CREDENTIAL_MARKER`): the test command searches the audit log for it.
const KEY: &str = "agentpod-cli-cluster-key-hygiene-c4f1";

struct World {
    cluster: Cluster,
    ns: TestNamespace,
    endpoint: ModelEndpoint,
    home: tempfile::TempDir,
}

async fn world(script: Script) -> Option<World> {
    let cluster = Cluster::for_test().await?;
    let ns = cluster.namespace().await;
    let endpoint = cluster
        .start_model_endpoint(script)
        .await
        .expect("endpoint starts");
    let home = tempfile::tempdir().expect("HOME");
    Some(World {
        cluster,
        ns,
        endpoint,
        home,
    })
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    /// Runs `command` to its end off the async threads.
    async fn of(mut command: std::process::Command) -> Outcome {
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("joined")
            .expect("the binary runs");
        Outcome {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl World {
    /// `agentpod run` with this world's cluster, namespace, image and endpoint, then `args`.
    async fn run(&self, args: &[&str]) -> Outcome {
        self.run_with_image(CLAUDE_RUNNER_IMAGE, args).await
    }

    async fn run_with_image(&self, image: &str, args: &[&str]) -> Outcome {
        Outcome::of(self.run_command(image, args)).await
    }

    /// The `agentpod run` command line of [`run_with_image`](Self::run_with_image).
    fn run_command(&self, image: &str, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_agentpod"));
        clean_env(&mut command, self.home.path());
        command
            .env("ANTHROPIC_API_KEY", KEY)
            .arg("run")
            .arg("--kubeconfig")
            .arg(self.cluster.kubeconfig())
            .args(["-n", self.ns.name(), "--image", image])
            .args(["--claude-path", CLAUDE_RUNNER_BINARY])
            .args(["--base-url", &self.endpoint.base_url()])
            .args([
                "--env",
                "CLAUDE_CODE_MAX_RETRIES=0",
                "--start-timeout",
                "90s",
            ])
            .args(args);
        command
    }

    /// The command has deleted what it created before it exits: the run's Secret, and with it
    /// (by the cluster's garbage collector, within about a second) its pod. Waits up to 15 s.
    async fn assert_nothing_left(&self) {
        let names = |items: Vec<Option<String>>| items.into_iter().flatten().collect::<Vec<_>>();
        let mut left = (Vec::new(), Vec::new());
        for _ in 0..60 {
            let pods = self
                .ns
                .api::<Pod>()
                .list(&ListParams::default())
                .await
                .expect("list pods");
            let secrets = self
                .ns
                .api::<Secret>()
                .list(&ListParams::default().labels("app.kubernetes.io/managed-by=agentpod"))
                .await
                .expect("list secrets");
            left = (
                names(pods.items.into_iter().map(|p| p.metadata.name).collect()),
                names(secrets.items.into_iter().map(|s| s.metadata.name).collect()),
            );
            if left.0.is_empty() && left.1.is_empty() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        panic!("left after 15 s: pods {:?}, secrets {:?}", left.0, left.1);
    }
}

fn clean_env(command: &mut std::process::Command, home: &Path) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("AGENTPOD_")
            || name.starts_with("ANTHROPIC_")
            || name.starts_with("CLAUDE")
            || name == "KUBECONFIG"
        {
            command.env_remove(&name);
        }
    }
    command.env("HOME", home);
}

#[tokio::test]
async fn cluster_cli_run_answers_on_stdout_and_shows_progress_on_stderr() {
    let Some(world) =
        world(Script::new().rule(Rule::new(Matcher::prompt_contains("What is 2 + 2?")).text("4")))
            .await
    else {
        return;
    };
    let outcome = world.run(&["What is 2 + 2?"]).await;
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    // The answer alone on stdout ...
    assert_eq!(outcome.stdout, "4\n", "stderr: {}", outcome.stderr);
    // ... the pod's progress on stderr.
    assert!(
        outcome
            .stderr
            .contains(&format!("pod {}/agent-", world.ns.name())),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("done in"), "{}", outcome.stderr);
    assert!(!outcome.stderr.contains(KEY), "{}", outcome.stderr);
    assert_eq!(
        world.endpoint.messages_requests()[0].header("x-api-key"),
        Some(KEY)
    );

    let outcome = world.run(&["-o", "json", "What is 2 + 2?"]).await;
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    let output: serde_json::Value =
        serde_json::from_str(&outcome.stdout).expect("stdout is one JSON document");
    assert_eq!(output["text"], "4");
    assert_eq!(output["turns"], 1);
    assert!(
        output["pod"]
            .as_str()
            .is_some_and(|pod| pod.starts_with("agent-")),
        "{output}"
    );
    assert!(
        output["api_requests"].as_u64().is_some_and(|n| n > 0),
        "{output}"
    );
    assert!(output["cost_usd"].as_f64().is_some(), "{output}");
    assert!(output["timings"]["total_ms"].as_u64().is_some(), "{output}");
    world.assert_nothing_left().await;
}

#[tokio::test]
async fn cluster_cli_structured_output_and_a_tool_in_the_pod() {
    let Some(world) = world(
        Script::new()
            .rule(
                Rule::new(Matcher::any().with_tool_offered("StructuredOutput"))
                    .tool_use("StructuredOutput", json!({"answer": 4, "unit": "apples"})),
            )
            .rule(
                Rule::new(Matcher::prompt_contains("where are you").without_tool_result())
                    .tool_use(
                        "Bash",
                        json!({"command": "echo host-$(hostname)", "description": "where"}),
                    ),
            )
            .rule(Rule::new(Matcher::any().with_tool_result_containing("host-")).text("in a pod")),
    )
    .await
    else {
        return;
    };
    let schema = world.home.path().join("answer.schema.json");
    std::fs::write(
        &schema,
        r#"{"type":"object","properties":{"answer":{"type":"integer"},"unit":{"type":"string"}},"required":["answer","unit"]}"#,
    )
    .expect("write schema");
    let schema = schema.to_string_lossy().into_owned();
    let outcome = world
        .run(&["--json-schema", &schema, "How many apples?"])
        .await;
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    let value: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("JSON value");
    assert_eq!(value, json!({"answer": 4, "unit": "apples"}));

    let outcome = world
        .run(&["--allowed-tools", "Bash", "-o", "json", "where are you?"])
        .await;
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    let output: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("JSON");
    assert_eq!(output["text"], "in a pod");
    let pod = output["pod"].as_str().expect("a pod").to_owned();
    // The tool ran in the pod: its host name is the pod's name, shown on stderr as it ran.
    assert!(
        outcome.stderr.contains("tool Bash: echo host-"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains(&format!("host-{pod}")),
        "{}",
        outcome.stderr
    );
    world.assert_nothing_left().await;
}

#[tokio::test]
async fn cluster_cli_failing_runs_have_their_exit_codes() {
    let Some(world) = world(Script::new().rule(Rule::new(Matcher::any()).error(401))).await else {
        return;
    };
    // The model API refuses the key: an agent error.
    let outcome = world.run(&["hello"]).await;
    assert_eq!(outcome.code, Some(1), "{}", outcome.stderr);
    let errors: Vec<&str> = outcome
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", outcome.stderr);
    assert!(errors[0].contains("401"), "{}", errors[0]);
    assert!(outcome.stdout.is_empty(), "{}", outcome.stdout);

    // An image that does not exist: infrastructure, with Kubernetes' reason.
    let outcome = world
        .run_with_image("agentpod.local/no-such-image:1", &["hello"])
        .await;
    assert_eq!(outcome.code, Some(3), "{}", outcome.stderr);
    let errors: Vec<&str> = outcome
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", outcome.stderr);
    assert!(errors[0].contains("ImagePull"), "{}", errors[0]);
    // The pod's last events follow the error line, read after the pod was deleted (which
    // ones the kubelet recorded by then varies; `Scheduled` always is).
    assert!(outcome.stderr.contains("\n  event: "), "{}", outcome.stderr);
    world.assert_nothing_left().await;
}

/// `agentpod reap` in this world's namespace.
async fn reap(world: &World, args: &[&str]) -> Outcome {
    let mut all = vec!["reap"];
    all.extend_from_slice(args);
    agentpod_on_cluster(world, &all).await
}

/// `agentpod ARGS… --kubeconfig … -n NAMESPACE` with this world's cluster and namespace.
async fn agentpod_on_cluster(world: &World, args: &[&str]) -> Outcome {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_agentpod"));
    clean_env(&mut command, world.home.path());
    command
        .args(args)
        .arg("--kubeconfig")
        .arg(world.cluster.kubeconfig())
        .args(["-n", world.ns.name()]);
    Outcome::of(command).await
}

/// A pod and its inputs Secret with our labels, rendered at `rendered_at` with a one-hour expiry.
async fn create_our_objects(world: &World, name: &str, rendered_at: std::time::SystemTime) {
    let rendered = agentpod_podspec::AgentPodSpec::new(agentpod_testkit::cluster::BUSYBOX_IMAGE)
        .name(name)
        .namespace(world.ns.name())
        .command(["sleep", "3600"])
        .secret_env("TOKEN", "t")
        .expires_after(std::time::Duration::from_secs(3600))
        .render(rendered_at)
        .expect("renders");
    for secret in &rendered.secrets {
        world
            .ns
            .api::<Secret>()
            .create(&Default::default(), secret)
            .await
            .expect("secret created");
    }
    world
        .ns
        .api::<Pod>()
        .create(&Default::default(), &rendered.pod)
        .await
        .expect("pod created");
}

#[tokio::test]
async fn cluster_cli_reap_lists_then_deletes_what_a_crashed_run_left() {
    let Some(world) = world(Script::new()).await else {
        return;
    };
    // What a killed process leaves: a pod and its inputs Secret whose expiry passed an hour
    // ago (rendered two hours ago with a one-hour expiry), and a fresh pair that must stay.
    let now = std::time::SystemTime::now();
    create_our_objects(
        &world,
        "leftover",
        now - std::time::Duration::from_secs(7200),
    )
    .await;
    create_our_objects(&world, "live", now).await;

    let outcome = reap(&world, &["--dry-run"]).await;
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    let ns = world.ns.name();
    assert!(
        outcome
            .stdout
            .contains("would delete 1 pod(s) and 1 secret(s)"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stdout.contains(&format!("pod/{ns}/leftover")),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome
            .stdout
            .contains(&format!("secret/{ns}/leftover-inputs")),
        "{}",
        outcome.stdout
    );
    assert!(!outcome.stdout.contains("live"), "{}", outcome.stdout);
    let pods = world
        .ns
        .api::<Pod>()
        .list(&ListParams::default())
        .await
        .expect("list");
    assert_eq!(pods.items.len(), 2, "a dry run deletes nothing");

    let outcome = reap(&world, &[]).await;
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    assert!(
        outcome.stdout.contains(&format!("pod/{ns}/leftover")),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stdout.contains("deleted 1 pod(s) and 1 secret(s)"),
        "{}",
        outcome.stdout
    );
    let secrets = world
        .ns
        .api::<Secret>()
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=agentpod"))
        .await
        .expect("list");
    let names: Vec<String> = secrets
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .collect();
    assert_eq!(names, ["live-inputs"]);

    let outcome = reap(&world, &[]).await;
    assert!(
        outcome.stdout.contains("nothing to reap"),
        "{}",
        outcome.stdout
    );
}

#[tokio::test]
async fn cluster_cli_ctrl_c_deletes_the_pod_and_exits_130() {
    let Some(world) = world(
        Script::new().rule(
            Rule::new(Matcher::any())
                .text("late")
                .delay(std::time::Duration::from_secs(60)),
        ),
    )
    .await
    else {
        return;
    };
    let command = world.run_command(CLAUDE_RUNNER_IMAGE, &["hello"]);
    let (code, stderr) =
        tokio::task::spawn_blocking(move || common::interrupt_when(command, "running", || {}))
            .await
            .expect("joined");
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("error: interrupted"), "{stderr}");
    world.assert_nothing_left().await;
}

/// `agentpod pool …` against this world's cluster and namespace.
async fn pool_command(world: &World, args: &[&str]) -> Outcome {
    let mut all = vec!["pool"];
    all.extend_from_slice(args);
    agentpod_on_cluster(world, &all).await
}

#[tokio::test]
async fn cluster_cli_pool_status_then_drain() {
    use agentpod_provider::{
        ClusterConnection, Credential, K8sEphemeralProvider, K8sPoolProvider, PoolOptions,
    };
    let Some(world) = world(Script::new()).await else {
        return;
    };
    // A pool of one warm pod, made by the library as a service would make it.
    let pods = K8sEphemeralProvider::builder(
        agentpod_podspec::AgentPodSpec::new(CLAUDE_RUNNER_IMAGE).namespace(world.ns.name()),
    )
    .claude_path(CLAUDE_RUNNER_BINARY)
    .api_key(Credential::Value(KEY.into()));
    let pool =
        K8sPoolProvider::builder(pods, PoolOptions::default().name("cli-pool").min(1).max(1))
            .connect(ClusterConnection::kubeconfig_file(
                world.cluster.kubeconfig(),
            ))
            .await
            .expect("the pool starts");
    pool.warm_up().await.expect("one pod warm");

    let status = pool_command(&world, &["status", "cli-pool"]).await;
    assert_eq!(status.code, Some(0), "{}", status.stderr);
    assert!(
        status.stdout.contains("pool cli-pool in")
            && status.stdout.contains("1 pods, 0 busy, 1 idle"),
        "{}",
        status.stdout
    );

    let drain = pool_command(&world, &["drain", "cli-pool", "--wait", "20s"]).await;
    assert_eq!(drain.code, Some(0), "{}", drain.stderr);
    assert!(
        drain.stdout.contains("deleted 1 pod(s), 0 still busy"),
        "{}",
        drain.stdout
    );

    let after = pool_command(&world, &["status", "cli-pool"]).await;
    assert!(after.stdout.contains("0 pods"), "{}", after.stdout);
    drop(pool);
}

#[tokio::test]
async fn cluster_cli_runs_through_a_warm_pool_and_reuses_its_pod() {
    let Some(world) = world(
        Script::new()
            .rule(Rule::new(Matcher::prompt_contains("pooled question")).text("pooled answer")),
    )
    .await
    else {
        return;
    };
    let mut pods = Vec::new();
    for _ in 0..2 {
        let outcome = world
            .run(&[
                "--provider",
                "pool",
                "--pool",
                "cli-warm",
                "-o",
                "json",
                "pooled question",
            ])
            .await;
        assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
        let output: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("json");
        assert_eq!(output["text"], "pooled answer");
        pods.push(output["pod"].as_str().expect("a pod").to_owned());
    }
    assert_eq!(
        pods[0], pods[1],
        "the second run took the warm pod the first left"
    );
    let missing = world.run(&["--provider", "pool", "x"]).await;
    assert_eq!(missing.code, Some(2), "{}", missing.stderr);
    assert!(missing.stderr.contains("--pool NAME"), "{}", missing.stderr);

    let drain = pool_command(&world, &["drain", "cli-warm", "--wait", "20s"]).await;
    assert_eq!(drain.code, Some(0), "{}", drain.stderr);
    world.assert_nothing_left().await;
}
