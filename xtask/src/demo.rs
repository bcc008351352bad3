//! `cargo xtask demo`: the project's main job, on this machine, in one command.
//!
//! Why here: a new user (and CI) must see an agent answer from a pod without owning a cluster
//! or an API key. The demo brings the local cluster up when it is not running, starts the
//! offline model endpoint with a small script where the pods reach it, and runs the real
//! `agentpod` binary three times: a plain question, a structured answer, and a run where the
//! agent's Bash tool really runs inside the pod. Every answer is checked, so the test
//! command's cluster phase runs the demo as a test of the whole chain.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use agentpod_testkit::cluster::{self as topology, KUBECONFIG_ENV};
use agentpod_testkit::model::{Matcher, ModelEndpoint, Rule, Script};
use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::cluster::{self, layout::Layout};

/// The plain question and the answer the script gives.
const QUESTION: &str = "What is 2 + 2?";
const ANSWER: &str = "4";
/// The structured run: a prompt, the schema the CLI is given, and the value the model returns.
const STRUCTURED_PROMPT: &str = "Name the capital of France, as JSON.";
/// The tool run. The answer is scripted only for a tool result holding what the pod's own
/// `id -u` and `uname -s` print, so a right answer proves the command ran in the pod.
const TOOL_PROMPT: &str = "Which kernel and which user id does your sandbox run as?";
const TOOL_COMMAND: &str = "echo \"kernel=$(uname -s) uid=$(id -u)\"";
/// The real output of `TOOL_COMMAND` in the runner image (non-root uid of the hardened preset).
fn tool_output() -> String {
    format!("kernel=Linux uid={}", topology::CLAUDE_RUNNER_UID)
}
/// A key the offline endpoint accepts; it travels in the run's Secret like a real one would
/// (the marker lets the test command's hygiene scan look for it).
fn demo_key() -> String {
    format!("demo-offline-key-{}", topology::CREDENTIAL_MARKER)
}

/// How the demo treats the cluster.
pub struct DemoOptions {
    /// Leave a cluster the demo started running afterwards.
    pub keep_cluster: bool,
}

/// `cargo xtask demo`: up (if needed), three checked runs, down (if the demo brought it up).
pub fn run(layout: &Layout, options: &DemoOptions) -> anyhow::Result<()> {
    let started = Instant::now();
    let lock = cluster::lock::acquire()?;
    let started_cluster = if cluster::is_up(layout) {
        eprintln!("==> the local cluster is up; using it");
        false
    } else {
        eprintln!("==> bringing the local cluster up (the first time builds Kubernetes: minutes)");
        cluster::up(layout)?;
        true
    };
    let result = run_checked(&layout.admin_kubeconfig());
    if started_cluster && !options.keep_cluster {
        eprintln!("==> cargo xtask cluster down (pass --keep-cluster to keep it)");
        let teardown = cluster::down(layout);
        result?;
        teardown?;
    } else {
        result?;
    }
    drop(lock);
    print_next_steps(layout, started_cluster && !options.keep_cluster);
    eprintln!("==> demo done in {} s", started.elapsed().as_secs());
    Ok(())
}

/// The three runs against a running cluster, each answer checked. The test command calls this
/// in its cluster phase.
pub fn run_checked(kubeconfig: &Path) -> anyhow::Result<()> {
    let binary = build_cli()?;
    let runtime = tokio::runtime::Runtime::new().context("could not start a tokio runtime")?;
    let endpoint = runtime
        .block_on(ModelEndpoint::start(
            script(),
            topology::model_endpoint_bind_addr(),
        ))
        .context("could not start the offline model endpoint")?;
    let demo = Demo {
        binary,
        kubeconfig: kubeconfig.to_path_buf(),
        base_url: endpoint.base_url(),
        scratch: tempfile::tempdir().context("could not create a scratch directory")?,
    };
    let result = demo.all();
    drop(endpoint);
    result
}

/// The endpoint's script: one rule per run (anything else gets the text `OK`).
fn script() -> Script {
    Script::new()
        .rule(Rule::new(Matcher::prompt_contains(QUESTION)).text(ANSWER))
        .rule(
            Rule::new(
                Matcher::prompt_contains(STRUCTURED_PROMPT).with_tool_offered("StructuredOutput"),
            )
            .tool_use("StructuredOutput", structured_value()),
        )
        .rule(
            Rule::new(Matcher::prompt_contains(TOOL_PROMPT).without_tool_result()).tool_use(
                "Bash",
                json!({"command": TOOL_COMMAND, "description": "Show kernel and user id"}),
            ),
        )
        .rule(
            Rule::new(
                Matcher::prompt_contains(TOOL_PROMPT).with_tool_result_containing(tool_output()),
            )
            .text(format!("The sandbox reports: {}", tool_output())),
        )
}

fn structured_value() -> Value {
    json!({"city": "Paris", "country": "France"})
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"],
        "additionalProperties": false
    })
}

struct Demo {
    binary: PathBuf,
    kubeconfig: PathBuf,
    base_url: String,
    /// Private (mode 700) and removed on drop: holds the schema file.
    scratch: tempfile::TempDir,
}

impl Demo {
    fn all(&self) -> anyhow::Result<()> {
        let answer = self.run("1/3 a question, answered by an agent in a pod", &[QUESTION])?;
        if answer.trim() != ANSWER {
            bail!("expected the answer {ANSWER:?}, the agent printed {answer:?}");
        }

        let schema_file = self.scratch.path().join("capital.schema.json");
        std::fs::write(&schema_file, serde_json::to_vec_pretty(&schema())?)
            .with_context(|| format!("could not write {}", schema_file.display()))?;
        let schema_arg = schema_file.to_string_lossy().into_owned();
        let printed = self.run(
            "2/3 structured output: the answer as a value of a JSON schema",
            &[
                STRUCTURED_PROMPT,
                "--json-schema",
                &schema_arg,
                "-o",
                "json",
            ],
        )?;
        let output: Value = serde_json::from_str(&printed)
            .with_context(|| format!("`-o json` printed no JSON: {printed:?}"))?;
        if output.get("structured") != Some(&structured_value()) {
            bail!(
                "expected the structured value {}, got {output}",
                structured_value()
            );
        }

        let answer = self.run(
            "3/3 the agent runs a Bash command inside its pod",
            &[TOOL_PROMPT, "--allowed-tools", "Bash"],
        )?;
        if !answer.contains(&tool_output()) {
            bail!(
                "expected an answer built on the pod's real `{TOOL_COMMAND}` output ({}), got {answer:?}",
                tool_output()
            );
        }
        Ok(())
    }

    /// Runs `agentpod run ARGS…` with progress on the terminal; returns what it printed on
    /// stdout (also shown).
    fn run(&self, title: &str, args: &[&str]) -> anyhow::Result<String> {
        let kubeconfig = self.kubeconfig.to_string_lossy();
        let mut all: Vec<&str> = vec!["run"];
        all.extend_from_slice(args);
        all.extend_from_slice(&[
            "--kubeconfig",
            &kubeconfig,
            "--image",
            topology::CLAUDE_RUNNER_IMAGE,
            "--claude-path",
            topology::CLAUDE_RUNNER_BINARY,
            "--base-url",
            &self.base_url,
        ]);
        eprintln!("\n==> {title}");
        eprintln!("$ agentpod {}", shown(&all));
        let output = Command::new(&self.binary)
            .args(&all)
            .env("ANTHROPIC_API_KEY", demo_key())
            .env_remove(KUBECONFIG_ENV)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("could not start {}", self.binary.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        print!("{stdout}");
        if !output.status.success() {
            bail!("agentpod run failed ({})", output.status);
        }
        Ok(stdout)
    }
}

/// A command line as a user would type it (arguments with spaces quoted).
fn shown(args: &[&str]) -> String {
    args.iter()
        .map(|arg| {
            if arg
                .chars()
                .any(|c| c.is_whitespace() || "'\"$?*".contains(c))
            {
                format!("'{}'", arg.replace('\'', "'\\''"))
            } else {
                (*arg).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Builds the `agentpod` binary (cargo shows its progress) and returns its path.
fn build_cli() -> anyhow::Result<PathBuf> {
    eprintln!("==> cargo build -p agentpod-cli");
    let output = Command::new(env!("CARGO"))
        .args([
            "build",
            "--package",
            "agentpod-cli",
            "--bin",
            "agentpod",
            "--message-format",
            "json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("could not start cargo build")?;
    if !output.status.success() {
        bail!("building the agentpod binary failed ({})", output.status);
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .context("cargo built no agentpod executable")
}

fn print_next_steps(layout: &Layout, torn_down: bool) {
    let kubeconfig = layout.admin_kubeconfig();
    if !torn_down {
        eprintln!(
            "\nThe local cluster is still up. Try more, e.g.:\n  cargo install --path crates/cli\n  export KUBECONFIG={}\n  agentpod render \"Hello\" --image {} -o yaml",
            kubeconfig.display(),
            topology::CLAUDE_RUNNER_IMAGE
        );
    }
    eprintln!(
        "\nOn a real cluster with the real API:\n  \
         1. an image with the `claude` CLI on its PATH (or pass --claude-path);\n  \
         2. kubectl create secret generic anthropic --from-literal=api-key=…\n  \
         3. agentpod run \"What is 2 + 2?\" --kubeconfig ~/.kube/config --namespace agents \\\n       \
         --image <your runner image> --api-key-secret anthropic/api-key\n  \
         (or export ANTHROPIC_API_KEY: the CLI puts it into a Secret of the run, never the Pod)."
    );
}
