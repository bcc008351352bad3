//! `agentpod run --provider local`: the real binary drives the pinned real `claude` (installed
//! by the test kit) against the offline model endpoint on loopback. No cluster.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should fail the test"
)]

use std::path::Path;

mod common;

use agentpod_testkit::model::{ClaudeCli, Matcher, ModelEndpoint, Rule, Script};
use common::interrupt_when;
use serde_json::json;

const KEY: &str = "agentpod-cli-local-key-71c3";

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary with a clean environment (HOME a fresh directory, the test key, no
/// `AGENTPOD_*`), off the async runtime that serves the endpoint.
async fn agentpod(home: &Path, endpoint: &ModelEndpoint, args: &[&str]) -> Outcome {
    let cli = ClaudeCli::ensure_installed().expect("the pinned CLI installs");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_agentpod"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("AGENTPOD_")
            || name.starts_with("ANTHROPIC_")
            || name.starts_with("CLAUDE")
        {
            command.env_remove(&name);
        }
    }
    command
        .current_dir(home)
        .env("HOME", home)
        .env("ANTHROPIC_API_KEY", KEY)
        // LocalProvider blanks the CLAUDE* variables it inherits; --env sets them.
        .args([
            "run",
            "--provider",
            "local",
            "--env",
            "CLAUDE_CODE_MAX_RETRIES=0",
        ])
        .arg("--claude-path")
        .arg(cli.path())
        .args(["--base-url", &endpoint.base_url()])
        .args(args);
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

#[tokio::test(flavor = "multi_thread")]
async fn local_run_prints_the_answer_on_stdout_and_progress_on_stderr() {
    let endpoint = ModelEndpoint::start_local(
        Script::new().rule(Rule::new(Matcher::prompt_contains("What is 2 + 2?")).text("4")),
    )
    .await
    .expect("endpoint");
    let home = tempfile::tempdir().expect("HOME");
    let outcome = agentpod(home.path(), &endpoint, &["What is 2 + 2?"]).await;
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "4\n");
    assert!(outcome.stderr.contains("running"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("done in"), "{}", outcome.stderr);
    assert!(!outcome.stderr.contains(KEY));
    let sent = endpoint.messages_requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("x-api-key"), Some(KEY));
}

#[tokio::test(flavor = "multi_thread")]
async fn local_run_json_and_stream_json_and_the_prompt_from_a_file() {
    let endpoint = ModelEndpoint::start_local(
        Script::new()
            .rule(
                Rule::new(Matcher::prompt_contains("run the check").without_tool_result())
                    .tool_use(
                        "Bash",
                        json!({"command": "echo result-$((6 * 7))", "description": "compute"}),
                    ),
            )
            .rule(
                Rule::new(Matcher::any().with_tool_result_containing("result-42"))
                    .text("it printed 42"),
            ),
    )
    .await
    .expect("endpoint");
    let home = tempfile::tempdir().expect("HOME");
    std::fs::write(home.path().join("task.md"), "run the check").expect("write");

    let outcome = agentpod(
        home.path(),
        &endpoint,
        &["-o", "json", "--allowed-tools", "Bash", "@task.md"],
    )
    .await;
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    let output: serde_json::Value =
        serde_json::from_str(&outcome.stdout).expect("one JSON document");
    assert_eq!(output["text"], "it printed 42");
    assert_eq!(output["turns"], 2);
    assert_eq!(output["exit_code"], 0);
    assert!(output["pod"].is_null());
    assert!(output["timings"]["total_ms"].as_u64().is_some());
    // The tool call is shown on stderr as it happens.
    assert!(
        outcome.stderr.contains("tool Bash: echo result-"),
        "{}",
        outcome.stderr
    );

    let outcome = agentpod(
        home.path(),
        &endpoint,
        &[
            "-o",
            "stream-json",
            "--allowed-tools",
            "Bash",
            "run the check",
        ],
    )
    .await;
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    let lines: Vec<serde_json::Value> = outcome
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    let types: Vec<&str> = lines.iter().filter_map(|l| l["type"].as_str()).collect();
    let position = |kind: &str| types.iter().position(|t| *t == kind);
    assert!(position("running") < position("tool_call"), "{types:?}");
    assert!(position("tool_call") < position("tool_result"), "{types:?}");
    assert!(position("tool_result") < position("result"), "{types:?}");
    assert_eq!(types.last(), Some(&"output"), "{types:?}");
    assert_eq!(
        lines.last().map(|l| &l["output"]["text"]),
        Some(&json!("it printed 42"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn local_structured_output_from_a_schema_file() {
    let endpoint = ModelEndpoint::start_local(
        Script::new().rule(
            Rule::new(Matcher::any().with_tool_offered("StructuredOutput"))
                .tool_use("StructuredOutput", json!({"answer": 4})),
        ),
    )
    .await
    .expect("endpoint");
    let home = tempfile::tempdir().expect("HOME");
    std::fs::write(
        home.path().join("schema.json"),
        r#"{"type":"object","properties":{"answer":{"type":"integer"}},"required":["answer"]}"#,
    )
    .expect("write");
    let outcome = agentpod(
        home.path(),
        &endpoint,
        &["--json-schema", "schema.json", "What is 2 + 2?"],
    )
    .await;
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    let value: serde_json::Value =
        serde_json::from_str(&outcome.stdout).expect("the value as JSON");
    assert_eq!(value, json!({"answer": 4}));
}

#[tokio::test(flavor = "multi_thread")]
async fn local_failures_have_their_exit_codes() {
    // The model API refuses the key: an agent error (1), one line, and a JSON error document
    // on stdout with -o json.
    let endpoint =
        ModelEndpoint::start_local(Script::new().rule(Rule::new(Matcher::any()).error(401)))
            .await
            .expect("endpoint");
    let home = tempfile::tempdir().expect("HOME");
    let outcome = agentpod(home.path(), &endpoint, &["-o", "json", "hello"]).await;
    assert_eq!(outcome.code, Some(1), "{}", outcome.stderr);
    let errors: Vec<&str> = outcome
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", outcome.stderr);
    assert!(errors[0].contains("401"), "{}", errors[0]);
    let document: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("JSON");
    assert_eq!(document["error"]["kind"], "api");
    assert_eq!(document["error"]["exit_code"], 1);

    // Max turns: an agent error too.
    let endpoint =
        ModelEndpoint::start_local(Script::new().rule(Rule::new(Matcher::any()).tool_use(
            "Bash",
            json!({"command": "echo again", "description": "loop"}),
        )))
        .await
        .expect("endpoint");
    let outcome = agentpod(
        home.path(),
        &endpoint,
        &["--allowed-tools", "Bash", "--max-turns", "1", "loop"],
    )
    .await;
    assert_eq!(outcome.code, Some(1), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("max-turns"), "{}", outcome.stderr);
    assert!(outcome.stdout.is_empty());

    // A run past its timeout: 4.
    let endpoint = ModelEndpoint::start_local(
        Script::new().rule(
            Rule::new(Matcher::any())
                .text("late")
                .delay(std::time::Duration::from_secs(30)),
        ),
    )
    .await
    .expect("endpoint");
    let outcome = agentpod(home.path(), &endpoint, &["--run-timeout", "2s", "hello"]).await;
    assert_eq!(outcome.code, Some(4), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("run timeout"), "{}", outcome.stderr);

    // A claude that does not exist: infrastructure (3).
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_agentpod"));
    command.env("HOME", home.path()).args([
        "run",
        "--provider",
        "local",
        "--claude-path",
        "/nonexistent/claude",
        "hello",
    ]);
    let output = command.output().expect("runs");
    assert_eq!(output.status.code(), Some(3));
}

#[tokio::test(flavor = "multi_thread")]
async fn local_ctrl_c_stops_the_agent_and_exits_130() {
    let endpoint = ModelEndpoint::start_local(
        Script::new().rule(
            Rule::new(Matcher::any())
                .text("late")
                .delay(std::time::Duration::from_secs(60)),
        ),
    )
    .await
    .expect("endpoint");
    let home = tempfile::tempdir().expect("HOME");
    let cli = ClaudeCli::ensure_installed().expect("the pinned CLI installs");
    let marker = home.path().to_string_lossy().into_owned();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_agentpod"));
    command
        .current_dir(home.path())
        .env("HOME", home.path())
        .env("ANTHROPIC_API_KEY", KEY)
        .args([
            "run",
            "--provider",
            "local",
            "--env",
            "CLAUDE_CODE_MAX_RETRIES=0",
        ])
        .arg("--claude-path")
        .arg(cli.path())
        .args(["--base-url", &endpoint.base_url(), "--env"])
        .arg(format!("AGENTPOD_TEST_MARKER={marker}"))
        .arg("hello");
    // The claude process is the one whose environment holds the marker.
    let marked = move || -> Vec<String> {
        std::fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .filter(|entry| {
                std::fs::read(entry.path().join("environ")).is_ok_and(|env| {
                    String::from_utf8_lossy(&env)
                        .contains(&format!("AGENTPOD_TEST_MARKER={marker}"))
                })
            })
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect()
    };
    let check = marked.clone();
    let (code, stderr) = tokio::task::spawn_blocking(move || {
        interrupt_when(command, "running", || {
            // The check below can see the claude process: it is there before the interrupt.
            let seen = (0..100).any(|_| {
                let found = !check().is_empty();
                if !found {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                found
            });
            assert!(seen, "the claude process never showed up");
        })
    })
    .await
    .expect("joined");
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("error: interrupted"), "{stderr}");
    // SIGKILL was sent before the exit; the kernel may take a moment to tear the process down.
    let mut left = marked();
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        left = marked();
    }
    assert!(left.is_empty(), "processes left: {left:?}");
}
