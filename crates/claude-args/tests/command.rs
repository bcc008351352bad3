//! Request → command: argv order for every option, validation, credential needs.

// Helpers outside `#[test]` functions panic on purpose: a broken fixture or shell must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentpod_claude_args::{
    BuildOptions, ClaudeArgsError, ClaudeCommand, ClaudeRequest, CredentialSource, Credentials,
    Effort, EnvValue, EnvVar, JsonOrPath, OutputFormat, PermissionMode, SettingSource, SetupStep,
    ToolSet,
};
use serde_json::json;

fn build(request: &ClaudeRequest) -> ClaudeCommand {
    ClaudeCommand::build(request, &BuildOptions::default()).unwrap()
}

fn full_request() -> ClaudeRequest {
    ClaudeRequest::new("--help me")
        .output_format(OutputFormat::StreamJson)
        .model("sonnet")
        .fallback_models(["opus", "haiku"])
        .append_system_prompt("Answer in English.")
        .exclude_dynamic_system_prompt_sections(true)
        .tools(ToolSet::Only(vec!["Read".into(), "Bash".into()]))
        .allowed_tools(["Read", "Bash(git *)"])
        .disallowed_tools(["Write"])
        .max_turns(3)
        .max_budget_usd(0.0000001)
        .mcp_configs([
            JsonOrPath::Path("/etc/mcp.json".into()),
            JsonOrPath::Json(json!({"mcpServers": {}})),
        ])
        .strict_mcp_config(true)
        .bare(true)
        .restricted(true)
        .safe_mode(true)
        .setting_sources(vec![SettingSource::Project, SettingSource::Local])
        .settings(JsonOrPath::Json(json!({"model": "sonnet"})))
        .agents(JsonOrPath::Path("/etc/agents.json".into()))
        .plugin_dirs(["/plugins/a", "-odd.zip"])
        .disable_slash_commands(true)
        .permission_mode(PermissionMode::Plan)
        .json_schema(json!({"type": "object"}))
        .resume("6593f3bc-5111-4222-b3a5-016bad56cb19")
        .session_id("6593f3bc-5111-4222-b3a5-016bad56cb10")
        .fork_session(true)
        .no_session_persistence(true)
        .name("nightly review")
        .effort(Effort::High)
        .add_dirs(["/data", "-odd dir"])
        .betas(["context-1m-2025-08-07"])
        .debug_file("/tmp/claude-debug.log")
        .working_dir("/work space")
}

#[test]
fn every_option_maps_to_its_flag_in_a_stable_order() {
    let command = build(&full_request());
    assert_eq!(
        command.argv(),
        [
            "claude",
            "-p",
            "--output-format=stream-json",
            "--verbose",
            "--model=sonnet",
            "--fallback-model=opus,haiku",
            "--append-system-prompt=Answer in English.",
            "--exclude-dynamic-system-prompt-sections",
            "--tools=Read,Bash",
            "--allowedTools=Read",
            "--allowedTools=Bash(git *)",
            "--disallowedTools=Write",
            "--max-turns=3",
            "--max-budget-usd=0.0000001",
            "--mcp-config=/etc/mcp.json",
            "--mcp-config=/var/run/agentpod/inputs/mcp-config-2.json",
            "--strict-mcp-config",
            "--bare",
            "--restricted",
            "--safe-mode",
            "--setting-sources=project,local",
            "--settings=/var/run/agentpod/inputs/settings.json",
            "--agents=/etc/agents.json",
            "--plugin-dir=/plugins/a",
            "--plugin-dir=-odd.zip",
            "--disable-slash-commands",
            "--permission-mode=plan",
            r#"--json-schema={"type":"object"}"#,
            "--resume=6593f3bc-5111-4222-b3a5-016bad56cb19",
            "--session-id=6593f3bc-5111-4222-b3a5-016bad56cb10",
            "--fork-session",
            "--no-session-persistence",
            "--name=nightly review",
            "--effort=high",
            "--add-dir=/data",
            "--add-dir=-odd dir",
            "--betas=context-1m-2025-08-07",
            "--debug-file=/tmp/claude-debug.log",
            "--",
            "--help me",
        ]
    );
    assert!(command.schema_requested());
    assert_eq!(command.output_format(), OutputFormat::StreamJson);
    assert_eq!(command.working_dir(), Some("/work space"));
    assert!(
        command
            .shell_line()
            .unwrap()
            .starts_with("cd -- '/work space' && exec claude -p ")
    );
}

#[test]
fn tool_sets_and_setting_sources_cover_their_empty_forms() {
    let argv = |request: ClaudeRequest| build(&request).argv()[3].clone();
    assert_eq!(
        argv(ClaudeRequest::new("hi").tools(ToolSet::None)),
        "--tools="
    );
    assert_eq!(
        argv(ClaudeRequest::new("hi").tools(ToolSet::Default)),
        "--tools=default"
    );
    assert_eq!(
        argv(ClaudeRequest::new("hi").setting_sources(vec![])),
        "--setting-sources="
    );
    assert_eq!(
        argv(ClaudeRequest::new("hi").continue_conversation(true)),
        "--continue"
    );
}

#[test]
fn system_prompt_files_map_to_their_flags() {
    let request = ClaudeRequest::new("hi")
        .system_prompt_file("/etc/agent/system.md")
        .append_system_prompt_file("/etc/agent/extra.md");
    assert_eq!(
        build(&request).argv()[3..5],
        [
            "--system-prompt-file=/etc/agent/system.md",
            "--append-system-prompt-file=/etc/agent/extra.md"
        ]
    );
}

#[test]
fn minimal_request_has_only_print_format_and_prompt() {
    let command = build(&ClaudeRequest::new("hi"));
    assert_eq!(
        command.argv(),
        ["claude", "-p", "--output-format=json", "--", "hi"]
    );
    assert_eq!(
        command.shell_line().unwrap(),
        "exec claude -p '--output-format=json' -- hi"
    );
    assert_eq!(
        command.sh_c_argv().unwrap(),
        ["sh", "-c", "exec claude -p '--output-format=json' -- hi"]
    );
    assert!(!command.requires_shell());
    assert!(command.env().is_empty());
    assert!(command.input_files().is_empty());
}

#[test]
fn bypass_needs_the_request_opt_in() {
    let request = ClaudeRequest::new("hi").permission_mode(PermissionMode::BypassPermissions);
    let err = ClaudeCommand::build(&request, &BuildOptions::default()).unwrap_err();
    assert!(matches!(
        err,
        ClaudeArgsError::BypassPermissionsNotAllowed {
            field: "permission_mode"
        }
    ));
    let allowed = request.allow_bypass_permissions(true);
    assert!(
        build(&allowed)
            .argv()
            .contains(&"--permission-mode=bypassPermissions".to_owned())
    );
}

#[test]
fn bypass_by_inline_settings_needs_the_same_opt_in() {
    let request = ClaudeRequest::new("hi").settings(JsonOrPath::Json(
        json!({"permissions": {"defaultMode": "bypassPermissions"}}),
    ));
    let err = ClaudeCommand::build(&request, &BuildOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            ClaudeArgsError::BypassPermissionsNotAllowed { field: "settings" }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("allow_bypass_permissions"));
    assert!(
        ClaudeCommand::build(
            &request.allow_bypass_permissions(true),
            &BuildOptions::default()
        )
        .is_ok()
    );
}

#[test]
fn opt_in_alone_adds_no_flag() {
    let request = ClaudeRequest::new("hi").allow_bypass_permissions(true);
    assert!(
        !build(&request)
            .argv()
            .iter()
            .any(|arg| arg.contains("ermission"))
    );
}

const SECRET_VALUE: &str = "sk-ant-oat01-THIS-MUST-NEVER-APPEAR";

#[test]
fn whitespace_only_prompts_are_refused_as_empty() {
    for blank in [
        " ",
        "\n\n",
        "\t",
        "\u{a0}",
        "\u{feff}",
        " \r\n\u{2028}\u{3000}",
    ] {
        let err =
            ClaudeCommand::build(&ClaudeRequest::new(blank), &BuildOptions::default()).unwrap_err();
        assert!(
            matches!(err, ClaudeArgsError::EmptyPrompt),
            "{blank:?}: {err:?}"
        );
    }
}

#[test]
fn nul_bytes_are_refused_with_the_field_name() {
    let err = ClaudeCommand::build(
        &ClaudeRequest::new("hi").model("son\0net"),
        &BuildOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ClaudeArgsError::NulByte { field: "model" }));
    let err =
        ClaudeCommand::build(&ClaudeRequest::new("a\0b"), &BuildOptions::default()).unwrap_err();
    assert!(matches!(err, ClaudeArgsError::NulByte { field: "prompt" }));
}

#[test]
fn options_are_validated() {
    let hi = ClaudeRequest::new("hi");
    let too_high = BuildOptions::default().inline_prompt_limit_bytes(128 * 1024);
    assert!(matches!(
        ClaudeCommand::build(&hi, &too_high),
        Err(ClaudeArgsError::InlineLimitTooLarge { .. })
    ));
    let relative = BuildOptions::default()
        .credentials(Credentials::default().oauth_credentials_file("creds.json"));
    assert!(matches!(
        ClaudeCommand::build(&hi, &relative),
        Err(ClaudeArgsError::RelativePath {
            field: "oauth_credentials_file",
            ..
        })
    ));
    let relative_inputs = BuildOptions::default().inputs_dir("inputs");
    assert!(matches!(
        ClaudeCommand::build(&hi, &relative_inputs),
        Err(ClaudeArgsError::RelativePath {
            field: "inputs_dir",
            ..
        })
    ));
    let option_like = BuildOptions::default().claude_path("-claude");
    assert!(matches!(
        ClaudeCommand::build(&hi, &option_like),
        Err(ClaudeArgsError::ProgramLooksLikeOption { .. })
    ));
}

#[test]
fn credentials_are_needs_and_the_shell_line_copies_the_oauth_file() {
    let options = BuildOptions::default()
        .credentials(
            Credentials::default()
                .oauth_credentials_file("/var/run/claude/credentials.json")
                .oauth_token(CredentialSource::Environment)
                .api_key(CredentialSource::File {
                    path: "/var/run/claude/api key".into(),
                })
                .base_url("http://127.0.0.1:4000"),
        )
        .orchestrator_env_names([
            "PATH",
            "CLAUDECODE",
            "CLAUDE_CODE_OAUTH_TOKEN",
            "CLAUDE_CODE_ENTRYPOINT",
        ]);
    let command = ClaudeCommand::build(&ClaudeRequest::new("hi"), &options).unwrap();
    assert_eq!(
        command.shell_line().unwrap(),
        "mkdir -p \"$HOME/.claude\" && cp /var/run/claude/credentials.json \"$HOME/.claude/.credentials.json\" \
         && chmod 600 \"$HOME/.claude/.credentials.json\" \
         && ANTHROPIC_API_KEY=\"$(cat '/var/run/claude/api key')\" && export ANTHROPIC_API_KEY \
         && exec claude -p '--output-format=json' -- hi"
    );
    assert!(command.requires_shell());
    assert_eq!(
        command.setup_steps()[0],
        SetupStep::CopyOAuthCredentials {
            from: "/var/run/claude/credentials.json".into()
        }
    );
    let var = |name: &str, value: EnvValue| EnvVar {
        name: name.into(),
        value,
    };
    assert_eq!(
        command.env(),
        [
            var("CLAUDECODE", EnvValue::Blank),
            var("CLAUDE_CODE_ENTRYPOINT", EnvValue::Blank),
            var(
                "ANTHROPIC_BASE_URL",
                EnvValue::Plain("http://127.0.0.1:4000".into())
            ),
            var("CLAUDE_CODE_OAUTH_TOKEN", EnvValue::Credential),
        ]
    );
}

#[test]
fn mounted_credentials_copy_works_in_a_real_shell() {
    let dir = std::env::temp_dir().join(format!("claude-args-creds-{}", std::process::id()));
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let creds = dir.join("mounted credentials.json");
    let token = dir.join("token");
    std::fs::write(
        &creds,
        format!(r#"{{"claudeAiOauth":{{"accessToken":"{SECRET_VALUE}"}}}}"#),
    )
    .unwrap();
    std::fs::write(&token, format!("{SECRET_VALUE}\n")).unwrap();
    // A stand-in for claude that prints the environment it was exec'd with.
    let fake_claude = dir.join("fake-claude");
    std::fs::write(&fake_claude, "#!/bin/sh\nexec /usr/bin/env\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake_claude, std::fs::Permissions::from_mode(0o755)).unwrap();
    let options = BuildOptions::default()
        .claude_path(fake_claude.to_str().unwrap())
        .credentials(
            Credentials::default()
                .oauth_credentials_file(creds.to_str().unwrap())
                .oauth_token(CredentialSource::File {
                    path: token.to_str().unwrap().into(),
                }),
        );
    let command = ClaudeCommand::build(&ClaudeRequest::new("hi"), &options).unwrap();
    let line = command.shell_line().unwrap();
    assert!(!line.contains(SECRET_VALUE));
    let output = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(line)
        .env_clear()
        .env("HOME", &home)
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains(&format!("CLAUDE_CODE_OAUTH_TOKEN={SECRET_VALUE}\n")));
    let copied = home.join(".claude/.credentials.json");
    assert_eq!(
        std::fs::read_to_string(&copied).unwrap(),
        std::fs::read_to_string(&creds).unwrap()
    );
    let mode = std::fs::metadata(&copied).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_secret_file_stops_the_line_before_exec() {
    let options = BuildOptions::default()
        .claude_path("/bin/echo")
        .credentials(Credentials::default().api_key(CredentialSource::File {
            path: "/nonexistent/agentpod/key".into(),
        }));
    let command = ClaudeCommand::build(&ClaudeRequest::new("RAN"), &options).unwrap();
    let output = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command.shell_line().unwrap())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(!String::from_utf8_lossy(&output.stdout).contains("RAN"));
}
