//! The `agentpod` binary without a cluster: `render` snapshots, bad input (one clear line and
//! the documented exit code), the configuration precedence, help and completions.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should fail the test"
)]

use std::path::Path;

use assert_cmd::Command;

/// Exit codes, as documented in `agentpod --help` and docs/cli.md.
const USAGE: i32 = 2;
const INFRASTRUCTURE: i32 = 3;

const SECRET_KEY: &str = "sk-ant-cli-test-5f2c91";

/// The binary with a clean environment: no `AGENTPOD_*`, no credentials, no config file.
fn agentpod(home: &Path) -> Command {
    let mut command = Command::cargo_bin("agentpod").expect("the binary is built");
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("AGENTPOD_")
            || name.starts_with("ANTHROPIC_")
            || name.starts_with("CLAUDE")
            || name == "KUBECONFIG"
            || name == "XDG_CONFIG_HOME"
            || name == "RUST_LOG"
        {
            command.env_remove(&name);
        }
    }
    command.env("HOME", home);
    command
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(command: &mut Command) -> Outcome {
    let output = command.output().expect("the binary runs");
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// One `error:` line naming `needle`, no panic, no Rust Debug text, the exit code `code`.
fn assert_one_clear_line(outcome: &Outcome, code: i32, needle: &str) {
    assert_eq!(outcome.code, Some(code), "stderr: {}", outcome.stderr);
    let errors: Vec<&str> = outcome
        .stderr
        .lines()
        .filter(|line| line.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "stderr: {}", outcome.stderr);
    assert!(
        errors[0].contains(needle),
        "{needle:?} not in {:?}",
        errors[0]
    );
    for debug_text in ["panicked", "RUST_BACKTRACE", "Error {", "Some(", "kind: "] {
        assert!(
            !outcome.stderr.contains(debug_text),
            "{debug_text:?} in stderr: {}",
            outcome.stderr
        );
    }
    assert!(outcome.stdout.is_empty(), "stdout: {}", outcome.stdout);
}

fn render_args() -> [&'static str; 13] {
    [
        "render",
        "--image",
        "registry.example/claude-runner:2.1.328",
        "-n",
        "agents",
        "--label",
        "team=infra",
        "--env",
        "LOG_LEVEL=debug",
        "--secret-env",
        "GITHUB_TOKEN=github/token",
        "--max-turns",
        "4",
    ]
}

/// Generated names and times differ per render; everything else must not.
fn stable() -> insta::internals::SettingsBindDropGuard {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"agent-[0-9a-z]+-[0-9a-z]{8}", "agent-[name]");
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[time]");
    settings.bind_to_scope()
}

#[test]
fn render_yaml_is_the_pod_and_its_redacted_secret() {
    let home = tempfile::tempdir().expect("temp HOME");
    let outcome = run(agentpod(home.path())
        .env("ANTHROPIC_API_KEY", SECRET_KEY)
        .args(render_args())
        .args([
            "--model",
            "sonnet",
            "--allowed-tools",
            "Read,Bash(git diff *)",
        ])
        .arg("Fix the flaky test"));
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    assert!(!outcome.stdout.contains(SECRET_KEY));
    assert!(!outcome.stdout.contains("Fix the flaky test"));
    let _guard = stable();
    insta::assert_snapshot!("render_yaml", outcome.stdout);
}

#[test]
fn render_json_is_a_v1_list() {
    let home = tempfile::tempdir().expect("temp HOME");
    let outcome = run(agentpod(home.path())
        .env("ANTHROPIC_API_KEY", SECRET_KEY)
        .args(render_args())
        .args([
            "-o",
            "json",
            "--system-prompt",
            "Be brief.",
            "Fix the flaky test",
        ]));
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    assert!(!outcome.stdout.contains(SECRET_KEY));
    assert!(!outcome.stdout.contains("Be brief."));
    let list: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("JSON");
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"][0]["kind"], "Pod");
    assert_eq!(list["items"][1]["kind"], "Secret");
    let _guard = stable();
    insta::assert_snapshot!("render_json", outcome.stdout);
}

#[test]
fn render_uses_an_existing_secret_for_the_api_key() {
    let home = tempfile::tempdir().expect("temp HOME");
    let outcome = run(agentpod(home.path())
        .env("ANTHROPIC_API_KEY", SECRET_KEY)
        .args(["render", "--image", "img:1", "-o", "json"])
        .args(["--api-key-secret", "anthropic/api-key", "hello"]));
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    let list: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("JSON");
    let env = &list["items"][0]["spec"]["containers"][0]["env"];
    let key = env
        .as_array()
        .and_then(|vars| vars.iter().find(|v| v["name"] == "ANTHROPIC_API_KEY"))
        .expect("the key's variable");
    assert_eq!(key["valueFrom"]["secretKeyRef"]["name"], "anthropic");
    assert_eq!(key["valueFrom"]["secretKeyRef"]["key"], "api-key");
    assert!(!outcome.stdout.contains(SECRET_KEY));
}

#[test]
fn unknown_permission_mode_is_a_usage_error() {
    let home = tempfile::tempdir().expect("temp HOME");
    let outcome = run(agentpod(home.path()).args([
        "run",
        "--image",
        "img:1",
        "--permission-mode",
        "yolo",
        "hello",
    ]));
    assert_one_clear_line(&outcome, USAGE, "--permission-mode");
    assert!(outcome.stderr.contains("acceptEdits"), "{}", outcome.stderr);
}

#[test]
fn malformed_label_is_a_usage_error() {
    let home = tempfile::tempdir().expect("temp HOME");
    let outcome =
        run(agentpod(home.path()).args(["render", "--image", "img:1", "--label", "team"]));
    assert_one_clear_line(&outcome, USAGE, "KEY=VALUE");
    // A label Kubernetes would refuse is caught before anything is sent, too.
    let outcome = run(agentpod(home.path()).args([
        "render",
        "--image",
        "img:1",
        "--label",
        "team=not a valid value",
    ]));
    assert_one_clear_line(&outcome, USAGE, "team");
}

#[test]
fn missing_prompt_is_a_usage_error() {
    let home = tempfile::tempdir().expect("temp HOME");
    let outcome = run(agentpod(home.path()).args(["run", "--image", "img:1"]));
    assert_one_clear_line(&outcome, USAGE, "no prompt");
    let outcome =
        run(agentpod(home.path()).args(["run", "--image", "img:1", "@/nonexistent/task.md"]));
    assert_one_clear_line(&outcome, USAGE, "/nonexistent/task.md");
    let outcome = run(agentpod(home.path())
        .args(["run", "--image", "img:1", "-"])
        .write_stdin("   \n"));
    assert_one_clear_line(&outcome, USAGE, "prompt");
}

#[test]
fn unreadable_schema_file_is_a_usage_error() {
    let home = tempfile::tempdir().expect("temp HOME");
    let outcome = run(agentpod(home.path()).args([
        "run",
        "--image",
        "img:1",
        "--json-schema",
        "/nonexistent/schema.json",
        "hello",
    ]));
    assert_one_clear_line(&outcome, USAGE, "/nonexistent/schema.json");
    let broken = home.path().join("schema.json");
    std::fs::write(&broken, "{ not json").expect("write");
    let outcome = run(agentpod(home.path())
        .args(["run", "--image", "img:1", "--json-schema"])
        .arg(&broken)
        .arg("hello"));
    assert_one_clear_line(&outcome, USAGE, "not valid JSON");
}

fn kubeconfig(dir: &Path, server: &str) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"{server}\", insecure-skip-tls-verify: true}}\nusers:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
        ),
    )
    .expect("write kubeconfig");
    path
}

#[test]
fn unreachable_cluster_is_an_infrastructure_error() {
    let home = tempfile::tempdir().expect("temp HOME");
    // Port 1 on loopback: nothing listens there, every connection is refused.
    let config = kubeconfig(home.path(), "https://127.0.0.1:1");
    let outcome = run(agentpod(home.path())
        .args(["run", "--image", "img:1", "--kubeconfig"])
        .arg(&config)
        .arg("hello"));
    assert_one_clear_line(&outcome, INFRASTRUCTURE, "unreachable");
    assert!(
        outcome.stderr.contains("Connection refused"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn invalid_kubeconfig_is_an_infrastructure_error() {
    let home = tempfile::tempdir().expect("temp HOME");
    let broken = home.path().join("broken.kubeconfig");
    std::fs::write(&broken, "clusters: [\n").expect("write");
    let outcome = run(agentpod(home.path())
        .args(["run", "--image", "img:1", "--kubeconfig"])
        .arg(&broken)
        .arg("hello"));
    assert_one_clear_line(&outcome, INFRASTRUCTURE, "broken.kubeconfig");
    let outcome = run(agentpod(home.path()).args([
        "run",
        "--image",
        "img:1",
        "--kubeconfig",
        "/nonexistent/kubeconfig",
        "hello",
    ]));
    assert_one_clear_line(&outcome, INFRASTRUCTURE, "/nonexistent/kubeconfig");
    let outcome = run(agentpod(home.path())
        .arg("reap")
        .arg("--kubeconfig")
        .arg(&broken));
    assert_one_clear_line(&outcome, INFRASTRUCTURE, "broken.kubeconfig");
}

fn rendered_namespace(command: &mut Command, flags: &[&str]) -> String {
    let outcome = run(command.args(["render", "-o", "json", "hello"]).args(flags));
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    let list: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("JSON");
    list["items"][0]["metadata"]["namespace"]
        .as_str()
        .expect("a namespace")
        .to_owned()
}

#[test]
fn flags_win_over_the_environment_which_wins_over_the_config_file() {
    let home = tempfile::tempdir().expect("temp HOME");
    let dir = home.path().join(".config/agentpod");
    std::fs::create_dir_all(&dir).expect("config dir");
    std::fs::write(
        dir.join("config.toml"),
        "image = \"file-image:1\"\nnamespace = \"file-ns\"\n",
    )
    .expect("write config");

    // The default config file alone.
    assert_eq!(
        rendered_namespace(&mut agentpod(home.path()), &[]),
        "file-ns"
    );
    // The environment wins over the file.
    assert_eq!(
        rendered_namespace(
            agentpod(home.path()).env("AGENTPOD_NAMESPACE", "env-ns"),
            &[]
        ),
        "env-ns"
    );
    // The flag wins over both.
    assert_eq!(
        rendered_namespace(
            agentpod(home.path()).env("AGENTPOD_NAMESPACE", "env-ns"),
            &["-n", "flag-ns"]
        ),
        "flag-ns"
    );
    // --config names another file, which then is the file layer.
    let other = home.path().join("other.toml");
    std::fs::write(&other, "image = \"other:1\"\nnamespace = \"other-ns\"\n").expect("write");
    assert_eq!(
        rendered_namespace(agentpod(home.path()).arg("--config").arg(&other), &[]),
        "other-ns"
    );
    // An unknown key is named, with the file.
    std::fs::write(&other, "namespac = \"x\"\n").expect("write");
    let outcome = run(agentpod(home.path())
        .arg("--config")
        .arg(&other)
        .args(["render", "hello"]));
    assert_one_clear_line(&outcome, USAGE, "namespac");
}

#[test]
fn help_documents_exit_codes_and_completions_are_generated() {
    let home = tempfile::tempdir().expect("temp HOME");
    let outcome = run(agentpod(home.path()).arg("--help"));
    assert_eq!(outcome.code, Some(0));
    for line in ["Exit codes:", "130", "AGENTPOD_NAMESPACE", "agentpod run"] {
        assert!(outcome.stdout.contains(line), "{line:?} missing");
    }
    let outcome = run(agentpod(home.path()).args(["completions", "bash"]));
    assert_eq!(outcome.code, Some(0));
    assert!(outcome.stdout.contains("--permission-mode"));
}
