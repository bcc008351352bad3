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

use agentpod_testkit::model::CLAUDE_CLI_VERSION;

#[path = "support/cli_run.rs"]
mod cli_run;

use cli_run::{Expect, Invocation, PARALLEL_RUNS, Scratch, claude_binary, run};

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agentpod_claude_args::{
    BuildOptions, ClaudeCommand, ClaudeRequest, Effort, EnvValue, JsonOrPath, LargePromptDelivery,
    OutputFormat, PermissionMode, SettingSource, ToolSet,
};
use serde_json::json;

const NO_SESSION: &str = "00000000-0000-4000-8000-000000000001";
const NEW_SESSION: &str = "00000000-0000-4000-8000-000000000002";
/// The one beta header the CLI accepts without a warning.
const KNOWN_BETA: &str = "context-1m-2025-08-07";

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
    BuildOptions::default()
        .claude_path(binary.to_str().unwrap())
        // Blanked names reach the real CLI as empty variables; it must not mind.
        .orchestrator_env_names(["CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT", "PATH"])
}

fn all_options_request(scratch: &Scratch) -> ClaudeRequest {
    ClaudeRequest::new("--help is not a flag here; 'quotes' \"too\" $HOME `x`")
        .output_format(OutputFormat::StreamJson)
        .model("sonnet")
        .fallback_models(["opus", "haiku"])
        .system_prompt("-You answer tersely.")
        .append_system_prompt("--Always in English.")
        .tools(ToolSet::Only(vec!["Read".into(), "Bash".into()]))
        .allowed_tools(["Read", "Bash(git diff *)"])
        .disallowed_tools(["WebFetch", "Write"])
        .max_turns(2)
        .max_budget_usd(0.25)
        .mcp_configs([
            JsonOrPath::Path(scratch.file("mcp.json", r#"{"mcpServers":{}}"#)),
            JsonOrPath::Json(json!({"mcpServers": {}})),
        ])
        .strict_mcp_config(true)
        .bare(true)
        .restricted(true)
        .safe_mode(true)
        .setting_sources(vec![SettingSource::Project])
        .settings(JsonOrPath::Json(
            json!({"permissions": {"allow": ["Read"]}}),
        ))
        .agents(JsonOrPath::Json(
            json!({"reviewer": {"description": "Reviews code", "prompt": "You review code."}}),
        ))
        .plugin_dirs([scratch.dir("plugins").to_str().unwrap()])
        .disable_slash_commands(true)
        .permission_mode(PermissionMode::AcceptEdits)
        .json_schema(
            json!({"type":"object","properties":{"answer":{"type":"integer"}},"required":["answer"]}),
        )
        .session_id(NEW_SESSION)
        .no_session_persistence(true)
        .name("all options")
        .effort(Effort::Low)
        .add_dirs([scratch.dir("extra").to_str().unwrap(), "-odd dir"])
        .betas([KNOWN_BETA])
        .debug_file(scratch.root.join("all-options-debug.log").to_str().unwrap())
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
            prompt().output_format(OutputFormat::StreamJson),
            Expect::NotLoggedIn,
        ),
        (
            "model and fallbacks".into(),
            prompt().model("sonnet").fallback_models(["opus", "haiku"]),
            Expect::NotLoggedIn,
        ),
        (
            "system prompts starting with dashes".into(),
            prompt()
                .system_prompt("-be terse")
                .append_system_prompt("--and kind"),
            Expect::NotLoggedIn,
        ),
        (
            "system prompt files".into(),
            prompt()
                .system_prompt_file(scratch.file("system.md", "-You are terse."))
                .append_system_prompt_file(scratch.file("append.md", "Answer in English.")),
            Expect::NotLoggedIn,
        ),
        (
            "system prompt over one argument, moved into a file".into(),
            prompt().system_prompt("You are terse. ".repeat(10_000)),
            Expect::NotLoggedIn,
        ),
        (
            "exclude dynamic system prompt sections".into(),
            prompt().exclude_dynamic_system_prompt_sections(true),
            Expect::NotLoggedIn,
        ),
        (
            "tools".into(),
            prompt()
                .allowed_tools(["Read", "Bash(git *)", "Edit"])
                .disallowed_tools(["Write", "Bash(rm *)"]),
            Expect::NotLoggedIn,
        ),
        (
            "no built-in tools".into(),
            prompt().tools(ToolSet::None),
            Expect::NotLoggedIn,
        ),
        (
            "default built-in tools".into(),
            prompt().tools(ToolSet::Default),
            Expect::NotLoggedIn,
        ),
        (
            "only some built-in tools".into(),
            prompt().tools(ToolSet::Only(vec![
                "Read".into(),
                "Grep".into(),
                "Bash".into(),
            ])),
            Expect::NotLoggedIn,
        ),
        (
            "limits".into(),
            prompt().max_turns(1).max_budget_usd(0.0000001),
            Expect::NotLoggedIn,
        ),
        (
            "mcp configs".into(),
            prompt()
                .mcp_configs([
                    JsonOrPath::Path(scratch.file("mcp-only.json", r#"{"mcpServers":{}}"#)),
                    JsonOrPath::Json(json!({"mcpServers": {}})),
                ])
                .strict_mcp_config(true),
            Expect::NotLoggedIn,
        ),
        ("bare".into(), prompt().bare(true), Expect::NotLoggedIn),
        (
            "restricted".into(),
            prompt().restricted(true),
            Expect::NotLoggedIn,
        ),
        (
            "safe mode".into(),
            prompt().safe_mode(true),
            Expect::NotLoggedIn,
        ),
        (
            "no setting sources".into(),
            prompt().setting_sources(vec![]),
            Expect::NotLoggedIn,
        ),
        (
            "all setting sources".into(),
            prompt().setting_sources(vec![
                SettingSource::User,
                SettingSource::Project,
                SettingSource::Local,
            ]),
            Expect::NotLoggedIn,
        ),
        (
            "plugin dirs".into(),
            prompt().plugin_dirs([
                scratch.dir("plugins-a").to_str().unwrap(),
                scratch.dir("plugins-b").to_str().unwrap(),
            ]),
            Expect::NotLoggedIn,
        ),
        (
            "slash commands disabled".into(),
            prompt().disable_slash_commands(true),
            Expect::NotLoggedIn,
        ),
        (
            "json schema".into(),
            prompt().json_schema(json!({"type": "object"})),
            Expect::NotLoggedIn,
        ),
        (
            "continue".into(),
            prompt().continue_conversation(true),
            Expect::NotLoggedIn,
        ),
        (
            "continue fork with new session id".into(),
            prompt()
                .continue_conversation(true)
                .fork_session(true)
                .session_id(NEW_SESSION),
            Expect::NotLoggedIn,
        ),
        (
            "resume".into(),
            prompt().resume(NO_SESSION),
            Expect::Refusal("No conversation found with session ID"),
        ),
        (
            "resume fork with new session id".into(),
            prompt()
                .resume(NO_SESSION)
                .fork_session(true)
                .session_id(NEW_SESSION),
            Expect::Refusal("No conversation found with session ID"),
        ),
        (
            "session id".into(),
            prompt().session_id(NEW_SESSION),
            Expect::NotLoggedIn,
        ),
        (
            "no session persistence and a name".into(),
            prompt().no_session_persistence(true).name("nightly run"),
            Expect::NotLoggedIn,
        ),
        (
            "add dirs".into(),
            prompt().add_dirs([scratch.dir("added").to_str().unwrap(), "-odd dir"]),
            Expect::NotLoggedIn,
        ),
        (
            "betas".into(),
            prompt().betas([KNOWN_BETA]),
            Expect::NotLoggedIn,
        ),
        (
            "debug file".into(),
            prompt().debug_file(scratch.root.join("debug.log").to_str().unwrap()),
            Expect::NotLoggedIn,
        ),
        (
            "settings and agents inline, delivered as files".into(),
            prompt()
                .settings(JsonOrPath::Json(
                    json!({"permissions": {"deny": ["WebFetch"]}}),
                ))
                .agents(JsonOrPath::Json(
                    json!({"reviewer": {"description": "Reviews code", "prompt": "Review."}}),
                )),
            Expect::NotLoggedIn,
        ),
        (
            "settings and agents as files".into(),
            prompt()
                .settings(JsonOrPath::Path(
                    scratch.file("settings.json", r#"{"permissions":{"allow":["Read"]}}"#),
                ))
                .agents(JsonOrPath::Path(scratch.file(
                    "agents.json",
                    r#"{"reviewer":{"description":"Reviews code","prompt":"Review."}}"#,
                ))),
            Expect::NotLoggedIn,
        ),
        (
            "bypass by settings, with the opt-in".into(),
            prompt()
                .settings(JsonOrPath::Json(
                    json!({"permissions": {"defaultMode": "bypassPermissions"}}),
                ))
                .allow_bypass_permissions(true),
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
            prompt()
                .permission_mode(mode)
                .allow_bypass_permissions(mode == PermissionMode::BypassPermissions),
            Expect::NotLoggedIn,
        ));
    }
    for effort in Effort::ALL {
        requests.push((
            format!("effort {effort}"),
            prompt().effort(effort),
            Expect::NotLoggedIn,
        ));
    }

    let mut cases: Vec<Case> = requests
        .into_iter()
        .map(|(name, request, expect)| case(name, &request, &base, scratch, Form::Argv, expect))
        .collect();

    // Inline at the default limit, then stdin for 1 MiB and 10 MiB (argv would fail with E2BIG).
    // The CLI reads all 10 MiB and then refuses them itself, as longer than any context window.
    let unchecked = base.clone().context_window_tokens(None);
    let at_limit = ClaudeRequest::new("a".repeat(64 * 1024));
    cases.push(case(
        "64 KiB inline prompt".into(),
        &at_limit,
        &base,
        scratch,
        Form::Argv,
        Expect::NotLoggedIn,
    ));
    let one_mib = ClaudeRequest::new("b".repeat(1024 * 1024));
    cases.push(case(
        "1 MiB prompt on stdin".into(),
        &one_mib,
        &unchecked,
        scratch,
        Form::Argv,
        Expect::NotLoggedIn,
    ));
    let ten_mib = ClaudeRequest::new("b".repeat(10 * 1024 * 1024));
    cases.push(case(
        "10 MiB prompt on stdin".into(),
        &ten_mib,
        &unchecked,
        scratch,
        Form::Argv,
        Expect::FailureResult("Prompt is too long"),
    ));

    // The `sh -c` form: minimal, every option with a working dir, special characters, a stdin
    // prompt through the shell, and a prompt redirected from a file.
    let all = all_options_request(scratch)
        .working_dir(scratch.dir("work dir with spaces").to_str().unwrap());
    let shell_requests = [
        ("sh -c minimal", prompt()),
        ("sh -c all options", all),
        (
            "sh -c special prompt",
            ClaudeRequest::new("it's \"$(id)\" `id` $HOME \\ ; & | * ~ é語🙂\n-p"),
        ),
        ("sh -c 64 KiB inline prompt", at_limit),
        (
            "sh -c 60 KiB prompt and 80 KiB system prompt",
            ClaudeRequest::new("d".repeat(60 * 1024)).system_prompt("e".repeat(80 * 1024)),
        ),
        (
            "sh -c 70 KiB system prompt of backslashes",
            prompt().system_prompt("\\".repeat(70 * 1024)),
        ),
    ];
    for (name, request) in shell_requests {
        cases.push(case(
            name.into(),
            &request,
            &base,
            scratch,
            Form::ShellLine,
            Expect::NotLoggedIn,
        ));
    }
    let big = ClaudeRequest::new("c".repeat(1024 * 1024));
    cases.push(case(
        "sh -c 1 MiB prompt on stdin".into(),
        &big,
        &unchecked,
        scratch,
        Form::ShellLine,
        Expect::NotLoggedIn,
    ));
    let from_file = unchecked.large_prompt(LargePromptDelivery::File {
        path: scratch
            .root
            .join("prompt file.txt")
            .to_str()
            .unwrap()
            .into(),
    });
    cases.push(case(
        "sh -c 1 MiB prompt from a file".into(),
        &big,
        &from_file,
        scratch,
        Form::ShellLine,
        Expect::NotLoggedIn,
    ));
    cases
}

/// Builds one case; each gets its own inputs directory, as runs go in parallel.
fn case(
    name: String,
    request: &ClaudeRequest,
    options: &BuildOptions,
    scratch: &Scratch,
    form: Form,
    expect: Expect,
) -> Case {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let inputs = scratch
        .root
        .join(format!("inputs-{}", NEXT.fetch_add(1, Ordering::SeqCst)));
    let options = options.clone().inputs_dir(inputs.to_str().unwrap());
    let command = ClaudeCommand::build(request, &options).unwrap_or_else(|e| panic!("{name}: {e}"));
    // The CLI refuses bypass mode for root unless told it runs in a sandbox.
    let extra_env = if request.allow_bypass_permissions {
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
            Form::ShellLine => command
                .sh_c_argv()
                .map_err(|e| format!("{}: {e}", self.name))?,
        };
        let mut env = Vec::new();
        for var in command.env() {
            match &var.value {
                EnvValue::Blank => env.push((var.name.clone(), String::new())),
                EnvValue::Plain(value) => env.push((var.name.clone(), value.clone())),
                _ => return Err(format!("{}: the matrix uses no credentials", self.name)),
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
            files: command
                .input_files()
                .iter()
                .map(|file| (file.path.clone(), file.contents.clone()))
                .collect(),
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
        cases.len() >= 56,
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
        &scratch,
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
            files: Vec::new(),
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
