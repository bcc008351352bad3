//! Acceptance against the REAL `claude` CLI 2.1.328: every generated command must get past the
//! CLI's argument parsing.
//!
//! Each case runs the real binary with no credentials and an empty `HOME`, so a command the CLI
//! accepts ends at the "Not logged in" result (or, for a resume of a session that does not exist,
//! at the CLI's "No conversation found" refusal). Anything else fails the test: a usage error
//! (`error: unknown option …`, a missing or invalid argument), a semantic refusal such as
//! stream-json without `--verbose`, any unexpected stderr line (the CLI only *warns* about an
//! unknown `--effort`), or `E2BIG` for a large prompt. This catches flags we invent, misspell or
//! misuse, which no unit test can.
//!
//! The environment is cleared except `PATH` and `HOME`; the only variable set on purpose is
//! `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`, which keeps the CLI from resolving any remote
//! host, so the test sends no traffic at all.

// Helpers outside `#[test]` functions panic on purpose: broken scaffolding must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentpod_testkit::model::{CLAUDE_CLI_VERSION, ClaudeCli};

/// The pinned real CLI, installed into the shared cache when absent. A missing CLI fails the
/// test with what to fix; it never skips.
fn claude_binary() -> std::path::PathBuf {
    match ClaudeCli::ensure_installed() {
        Ok(cli) => cli.path().to_path_buf(),
        Err(error) => panic!("the real claude CLI is needed: {error}"),
    }
}
#[path = "support/cli_run.rs"]
mod cli_run;

use cli_run::{Expect, Invocation, Scratch, run};

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agentpod_claude_args::{
    BuildOptions, ClaudeCommand, ClaudeRequest, Effort, EnvValue, JsonOrPath, LargePromptDelivery,
    OutputFormat, PermissionMode,
};
use serde_json::json;

const NO_SESSION: &str = "00000000-0000-4000-8000-000000000001";
const NEW_SESSION: &str = "00000000-0000-4000-8000-000000000002";
const PARALLEL_RUNS: usize = 3;

/// How the command is started.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Form {
    Argv,
    ShellLine,
}

struct Case {
    name: String,
    command: ClaudeCommand,
    form: Form,
    expect: Expect,
    extra_env: Vec<(&'static str, &'static str)>,
}

fn options(binary: &Path) -> BuildOptions {
    BuildOptions {
        claude_path: binary.to_str().unwrap().to_owned(),
        // Blanked names reach the real CLI as empty variables; it must not mind.
        orchestrator_env_names: vec![
            "CLAUDECODE".into(),
            "CLAUDE_CODE_ENTRYPOINT".into(),
            "PATH".into(),
        ],
        ..BuildOptions::default()
    }
}

fn all_options_request(scratch: &Scratch) -> ClaudeRequest {
    ClaudeRequest {
        output_format: OutputFormat::StreamJson,
        model: Some("sonnet".into()),
        fallback_models: vec!["opus".into(), "haiku".into()],
        system_prompt: Some("-You answer tersely.".into()),
        append_system_prompt: Some("--Always in English.".into()),
        allowed_tools: vec!["Read".into(), "Bash(git diff *)".into()],
        disallowed_tools: vec!["WebFetch".into(), "Write".into()],
        max_turns: Some(2),
        max_budget_usd: Some(0.25),
        mcp_configs: vec![
            JsonOrPath::Path(scratch.file("mcp.json", r#"{"mcpServers":{}}"#)),
            JsonOrPath::Json(json!({"mcpServers": {}})),
        ],
        strict_mcp_config: true,
        bare: true,
        permission_mode: Some(PermissionMode::AcceptEdits),
        json_schema: Some(
            json!({"type":"object","properties":{"answer":{"type":"integer"}},"required":["answer"]}),
        ),
        session_id: Some(NEW_SESSION.into()),
        effort: Some(Effort::Low),
        add_dirs: vec![
            scratch.dir("extra").to_str().unwrap().into(),
            "-odd dir".into(),
        ],
        settings: Some(JsonOrPath::Json(
            json!({"permissions": {"allow": ["Read"]}}),
        )),
        agents: Some(JsonOrPath::Json(
            json!({"reviewer": {"description": "Reviews code", "prompt": "You review code."}}),
        )),
        ..ClaudeRequest::new("--help is not a flag here; 'quotes' \"too\" $HOME `x`")
    }
}

/// The matrix: every request field at least once, every permission mode and effort, both output
/// formats, the three prompt deliveries, and both the argv and the `sh -c` form.
fn cases(binary: &Path, scratch: &Scratch) -> Vec<Case> {
    let base = options(binary);
    let prompt = || ClaudeRequest::new("hi");
    let mut requests: Vec<(String, ClaudeRequest, Expect)> = vec![
        ("minimal".into(), prompt(), Expect::NotLoggedIn),
        (
            "stream-json".into(),
            ClaudeRequest {
                output_format: OutputFormat::StreamJson,
                ..prompt()
            },
            Expect::NotLoggedIn,
        ),
        (
            "model and fallbacks".into(),
            ClaudeRequest {
                model: Some("sonnet".into()),
                fallback_models: vec!["opus".into(), "haiku".into()],
                ..prompt()
            },
            Expect::NotLoggedIn,
        ),
        (
            "system prompts starting with dashes".into(),
            ClaudeRequest {
                system_prompt: Some("-be terse".into()),
                append_system_prompt: Some("--and kind".into()),
                ..prompt()
            },
            Expect::NotLoggedIn,
        ),
        (
            "system prompt files".into(),
            ClaudeRequest {
                system_prompt_file: Some(scratch.file("system.md", "-You are terse.")),
                append_system_prompt_file: Some(scratch.file("append.md", "Answer in English.")),
                ..prompt()
            },
            Expect::NotLoggedIn,
        ),
        (
            "tools".into(),
            ClaudeRequest {
                allowed_tools: vec!["Read".into(), "Bash(git *)".into(), "Edit".into()],
                disallowed_tools: vec!["Write".into(), "Bash(rm *)".into()],
                ..prompt()
            },
            Expect::NotLoggedIn,
        ),
        (
            "limits".into(),
            ClaudeRequest {
                max_turns: Some(1),
                max_budget_usd: Some(0.0000001),
                ..prompt()
            },
            Expect::NotLoggedIn,
        ),
        (
            "mcp configs".into(),
            ClaudeRequest {
                mcp_configs: vec![
                    JsonOrPath::Path(scratch.file("mcp-only.json", r#"{"mcpServers":{}}"#)),
                    JsonOrPath::Json(json!({"mcpServers": {}})),
                ],
                strict_mcp_config: true,
                ..prompt()
            },
            Expect::NotLoggedIn,
        ),
        (
            "bare".into(),
            ClaudeRequest {
                bare: true,
                ..prompt()
            },
            Expect::NotLoggedIn,
        ),
        (
            "json schema".into(),
            ClaudeRequest {
                json_schema: Some(json!({"type": "object"})),
                ..prompt()
            },
            Expect::NotLoggedIn,
        ),
        (
            "resume".into(),
            ClaudeRequest {
                resume: Some(NO_SESSION.into()),
                ..prompt()
            },
            Expect::Refusal("No conversation found with session ID"),
        ),
        (
            "resume fork with new session id".into(),
            ClaudeRequest {
                resume: Some(NO_SESSION.into()),
                fork_session: true,
                session_id: Some(NEW_SESSION.into()),
                ..prompt()
            },
            Expect::Refusal("No conversation found with session ID"),
        ),
        (
            "session id".into(),
            ClaudeRequest {
                session_id: Some(NEW_SESSION.into()),
                ..prompt()
            },
            Expect::NotLoggedIn,
        ),
        (
            "add dirs".into(),
            ClaudeRequest {
                add_dirs: vec![
                    scratch.dir("added").to_str().unwrap().into(),
                    "-odd dir".into(),
                ],
                ..prompt()
            },
            Expect::NotLoggedIn,
        ),
        (
            "settings and agents inline".into(),
            ClaudeRequest {
                settings: Some(JsonOrPath::Json(
                    json!({"permissions": {"deny": ["WebFetch"]}}),
                )),
                agents: Some(JsonOrPath::Json(
                    json!({"reviewer": {"description": "Reviews code", "prompt": "Review."}}),
                )),
                ..prompt()
            },
            Expect::NotLoggedIn,
        ),
        (
            "settings and agents as files".into(),
            ClaudeRequest {
                settings: Some(JsonOrPath::Path(
                    scratch.file("settings.json", r#"{"permissions":{"allow":["Read"]}}"#),
                )),
                agents: Some(JsonOrPath::Path(scratch.file(
                    "agents.json",
                    r#"{"reviewer":{"description":"Reviews code","prompt":"Review."}}"#,
                ))),
                ..prompt()
            },
            Expect::NotLoggedIn,
        ),
        (
            "all options at once".into(),
            all_options_request(scratch),
            Expect::NotLoggedIn,
        ),
    ];
    for mode in PermissionMode::ALL {
        requests.push((
            format!("permission mode {mode}"),
            ClaudeRequest {
                permission_mode: Some(mode),
                allow_bypass_permissions: mode == PermissionMode::BypassPermissions,
                ..prompt()
            },
            Expect::NotLoggedIn,
        ));
    }
    for effort in Effort::ALL {
        requests.push((
            format!("effort {effort}"),
            ClaudeRequest {
                effort: Some(effort),
                ..prompt()
            },
            Expect::NotLoggedIn,
        ));
    }

    let mut cases: Vec<Case> = requests
        .into_iter()
        .map(|(name, request, expect)| case(name, &request, &base, Form::Argv, expect))
        .collect();

    // Inline at the default limit, then stdin for 1 MiB and 10 MiB (argv would fail with E2BIG).
    // The CLI reads all 10 MiB and then refuses them itself, as longer than any context window.
    let unchecked = BuildOptions {
        context_window_tokens: None,
        ..base.clone()
    };
    let at_limit = ClaudeRequest::new("a".repeat(64 * 1024));
    cases.push(case(
        "64 KiB inline prompt".into(),
        &at_limit,
        &base,
        Form::Argv,
        Expect::NotLoggedIn,
    ));
    let one_mib = ClaudeRequest::new("b".repeat(1024 * 1024));
    cases.push(case(
        "1 MiB prompt on stdin".into(),
        &one_mib,
        &unchecked,
        Form::Argv,
        Expect::NotLoggedIn,
    ));
    let ten_mib = ClaudeRequest::new("b".repeat(10 * 1024 * 1024));
    cases.push(case(
        "10 MiB prompt on stdin".into(),
        &ten_mib,
        &unchecked,
        Form::Argv,
        Expect::FailureResult("Prompt is too long"),
    ));

    // The `sh -c` form: minimal, every option with a working dir, special characters, a stdin
    // prompt through the shell, and a prompt redirected from a mounted file.
    let mut all = all_options_request(scratch);
    all.working_dir = Some(scratch.dir("work dir with spaces").to_str().unwrap().into());
    let shell_requests = [
        ("sh -c minimal", prompt()),
        ("sh -c all options", all),
        (
            "sh -c special prompt",
            ClaudeRequest::new("it's \"$(id)\" `id` $HOME \\ ; & | * ~ é語🙂\n-p"),
        ),
        ("sh -c 64 KiB inline prompt", at_limit),
    ];
    for (name, request) in shell_requests {
        cases.push(case(
            name.into(),
            &request,
            &base,
            Form::ShellLine,
            Expect::NotLoggedIn,
        ));
    }
    let big = ClaudeRequest::new("c".repeat(1024 * 1024));
    cases.push(case(
        "sh -c 1 MiB prompt on stdin".into(),
        &big,
        &unchecked,
        Form::ShellLine,
        Expect::NotLoggedIn,
    ));
    let from_file = BuildOptions {
        large_prompt: LargePromptDelivery::File {
            path: scratch
                .root
                .join("mounted prompt.txt")
                .to_str()
                .unwrap()
                .into(),
        },
        ..unchecked
    };
    cases.push(case(
        "sh -c 1 MiB prompt from a file".into(),
        &big,
        &from_file,
        Form::ShellLine,
        Expect::NotLoggedIn,
    ));
    cases
}

fn case(
    name: String,
    request: &ClaudeRequest,
    options: &BuildOptions,
    form: Form,
    expect: Expect,
) -> Case {
    let command = ClaudeCommand::build(request, options).unwrap_or_else(|e| panic!("{name}: {e}"));
    // The CLI refuses bypass mode for root unless told it runs in a sandbox.
    let extra_env = if request.permission_mode == Some(PermissionMode::BypassPermissions) {
        vec![("IS_SANDBOX", "1")]
    } else {
        Vec::new()
    };
    Case {
        name,
        command,
        form,
        expect,
        extra_env,
    }
}

impl Case {
    fn invocation(&self) -> Result<Invocation, String> {
        let command = &self.command;
        let program = match self.form {
            Form::Argv if command.requires_shell() => {
                return Err(format!(
                    "{}: argv form chosen for a command that needs the shell",
                    self.name
                ));
            }
            Form::Argv => command.argv().to_vec(),
            Form::ShellLine => command.sh_c_argv(),
        };
        let mut env = Vec::new();
        for var in command.env() {
            match &var.value {
                EnvValue::Literal(value) => env.push((var.name.clone(), value.clone())),
                EnvValue::FromSecret { .. } => {
                    return Err(format!("{}: the matrix uses no secrets", self.name));
                }
            }
        }
        env.extend(
            self.extra_env
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string())),
        );
        Ok(Invocation {
            name: self.name.clone(),
            program,
            env,
            stdin: command.stdin_prompt().map(str::to_owned),
            prompt_file: command
                .prompt_file()
                .map(|(path, text)| (path.to_owned(), text.to_owned())),
            expect: self.expect,
        })
    }
}

#[test]
fn every_generated_command_gets_past_the_real_cli_argument_parsing() {
    let binary = claude_binary();
    let scratch = Scratch::new("matrix");
    let cases = cases(&binary, &scratch);
    assert!(
        cases.len() >= 30,
        "the matrix shrank to {} cases",
        cases.len()
    );

    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let slowest = Mutex::new((Duration::ZERO, String::new()));
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_RUNS {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(case) = cases.get(index) else { break };
                    match case
                        .invocation()
                        .and_then(|invocation| run(&invocation, index, &scratch))
                    {
                        Ok(elapsed) => {
                            let mut slowest = slowest.lock().unwrap();
                            if elapsed > slowest.0 {
                                *slowest = (elapsed, case.name.clone());
                            }
                        }
                        Err(failure) => failures.lock().unwrap().push(failure),
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let (slowest_time, slowest_name) = slowest.into_inner().unwrap();
    eprintln!(
        "real claude {}: {} runs in {:?} ({PARALLEL_RUNS} in parallel); slowest {slowest_name:?} {slowest_time:?}",
        CLAUDE_CLI_VERSION,
        cases.len(),
        started.elapsed(),
    );
    assert!(
        failures.is_empty(),
        "{} of {} runs failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn the_check_fails_on_usage_errors_and_wrong_outcomes() {
    // Proves the harness can fail: the same `run` that accepts the matrix must reject commands
    // the CLI does not accept.
    let binary = claude_binary();
    let scratch = Scratch::new("check");
    let good = case(
        "known good".into(),
        &ClaudeRequest::new("hi"),
        &options(&binary),
        Form::Argv,
        Expect::NotLoggedIn,
    )
    .invocation()
    .unwrap();
    assert!(run(&good, 0, &scratch).is_ok());
    assert_eq!(good.program.last().map(String::as_str), Some("hi"));

    // Adds one argument just before `-- hi`, where later flags override earlier ones.
    let with = |name: &str, arg: &str| {
        let mut program = good.program.clone();
        program.insert(program.len() - 2, arg.to_owned());
        Invocation {
            name: name.into(),
            program,
            env: Vec::new(),
            stdin: None,
            prompt_file: None,
            expect: Expect::NotLoggedIn,
        }
    };
    let misspelled = run(&with("misspelled flag", "--max-turn=3"), 1, &scratch).unwrap_err();
    assert!(
        misspelled.starts_with("usage error") && misspelled.contains("unknown option"),
        "{misspelled}"
    );
    let bad_value = run(&with("invalid mode", "--permission-mode=yolo"), 2, &scratch).unwrap_err();
    assert!(
        bad_value.starts_with("usage error") && bad_value.contains("is invalid"),
        "{bad_value}"
    );
    let stream_without_verbose = run(
        &with("stream without verbose", "--output-format=stream-json"),
        3,
        &scratch,
    )
    .unwrap_err();
    assert!(
        stream_without_verbose.contains("requires --verbose"),
        "{stream_without_verbose}"
    );
    let unknown_effort = run(&with("effort warning", "--effort=extreme"), 4, &scratch).unwrap_err();
    assert!(
        unknown_effort.contains("Unknown --effort value"),
        "{unknown_effort}"
    );
}
