//! Request → command: argv order, prompt and document delivery, credential needs, size limits.

// Helpers outside `#[test]` functions panic on purpose: a broken fixture or shell must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentpod_claude_args::limits::MAX_ARGUMENT_BYTES;
use agentpod_claude_args::{
    BuildOptions, ClaudeArgsError, ClaudeCommand, ClaudeRequest, CredentialSource, Credentials,
    Effort, EnvValue, EnvVar, InputKind, JsonOrPath, LargePromptDelivery, OutputFormat,
    PermissionMode, PromptDelivery, SettingSource, SetupStep, ToolSet,
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
fn inline_documents_travel_as_input_files_never_in_argv() {
    let request = ClaudeRequest::new("hi")
        .mcp_configs([
            JsonOrPath::Json(
                json!({"mcpServers": {"gh": {"type": "http", "url": "http://gh",
                "headers": {"Authorization": format!("Bearer {SECRET_VALUE}")}}}}),
            ),
            JsonOrPath::Path("/etc/mcp.json".into()),
        ])
        .settings(JsonOrPath::Json(json!({"env": {"TOKEN": SECRET_VALUE}})))
        .agents(JsonOrPath::Json(
            json!({"a": {"description": "d", "prompt": SECRET_VALUE}}),
        ));
    assert!(!format!("{request:?}").contains(SECRET_VALUE));
    let options = BuildOptions::default().inputs_dir("/run/claude-inputs/");
    let command = ClaudeCommand::build(&request, &options).unwrap();
    assert!(
        !command
            .argv()
            .iter()
            .any(|word| word.contains(SECRET_VALUE))
    );
    assert!(!command.shell_line().unwrap().contains(SECRET_VALUE));
    assert!(!format!("{command:?}").contains(SECRET_VALUE));
    assert_eq!(
        command.argv()[3..7],
        [
            "--mcp-config=/run/claude-inputs/mcp-config-1.json",
            "--mcp-config=/etc/mcp.json",
            "--settings=/run/claude-inputs/settings.json",
            "--agents=/run/claude-inputs/agents.json",
        ]
    );
    let files: Vec<_> = command
        .input_files()
        .iter()
        .map(|file| (file.path.as_str(), file.kind))
        .collect();
    assert_eq!(
        files,
        [
            ("/run/claude-inputs/mcp-config-1.json", InputKind::McpConfig),
            ("/run/claude-inputs/settings.json", InputKind::Settings),
            ("/run/claude-inputs/agents.json", InputKind::Agents),
        ]
    );
    for file in command.input_files() {
        assert!(file.contents.contains(SECRET_VALUE));
        assert!(!format!("{file:?}").contains(SECRET_VALUE));
        let parsed: serde_json::Value = serde_json::from_str(&file.contents).unwrap();
        assert!(parsed.is_object());
    }
    // Documents are plain files the caller provides: argv alone still runs the command.
    assert!(!command.requires_shell());
}

#[test]
fn prompt_delivery_follows_the_quoted_size() {
    let options = BuildOptions::default().inline_prompt_limit_bytes(100);
    let at_limit = ClaudeCommand::build(&ClaudeRequest::new("a".repeat(100)), &options).unwrap();
    assert_eq!(at_limit.prompt_delivery(), &PromptDelivery::Inline);
    let over = ClaudeCommand::build(&ClaudeRequest::new("a".repeat(101)), &options).unwrap();
    assert_eq!(over.prompt_delivery(), &PromptDelivery::Stdin);
    assert_eq!(over.stdin_prompt(), Some("a".repeat(101).as_str()));
    assert!(!over.argv().contains(&"--".to_owned()));
    // Mixed quotes are under the limit raw but over it once quoted.
    let quotes = "a'\"".repeat(25);
    assert!(quotes.len() <= 100 && shlex::try_quote(&quotes).unwrap().len() > 100);
    let command = ClaudeCommand::build(&ClaudeRequest::new(quotes), &options).unwrap();
    assert_eq!(command.prompt_delivery(), &PromptDelivery::Stdin);
}

#[test]
fn default_inline_limit_keeps_the_shell_line_under_the_argument_limit() {
    // Worst case for quoting: every byte is a single quote.
    let prompt = "'".repeat(64 * 1024);
    let command = build(&ClaudeRequest::new(prompt));
    assert_eq!(command.prompt_delivery(), &PromptDelivery::Stdin);
    let prompt = "a'".repeat(20_000);
    let command = build(&ClaudeRequest::new(prompt));
    assert!(command.shell_line().unwrap().len() <= MAX_ARGUMENT_BYTES);
}

#[test]
fn prompt_moves_to_stdin_when_the_whole_line_would_not_fit() {
    // Each part fits on its own; together they are over one argument.
    let request = ClaudeRequest::new("p".repeat(60 * 1024)).system_prompt("s".repeat(80 * 1024));
    let command = build(&request);
    assert_eq!(command.prompt_delivery(), &PromptDelivery::Stdin);
    assert_eq!(command.stdin_prompt().map(str::len), Some(60 * 1024));
    assert!(command.argv()[3].starts_with("--system-prompt=sss"));
    assert!(command.shell_line().unwrap().len() <= MAX_ARGUMENT_BYTES);
    assert!(command.input_files().is_empty());
}

#[test]
fn a_system_prompt_whose_quoted_form_is_too_long_moves_into_a_file() {
    // Backslashes double when quoted: fine as one argv word, too long for the shell line.
    let system = "\\".repeat(70 * 1024);
    let request = ClaudeRequest::new("hi").system_prompt(system.clone());
    let command = build(&request);
    assert_eq!(
        command.argv()[3],
        "--system-prompt-file=/var/run/agentpod/inputs/system-prompt.txt"
    );
    assert_eq!(command.input_files().len(), 1);
    assert_eq!(command.input_files()[0].kind, InputKind::SystemPrompt);
    assert_eq!(command.input_files()[0].contents, system);
    assert!(command.shell_line().unwrap().len() <= MAX_ARGUMENT_BYTES);
}

#[test]
fn system_prompts_over_one_argument_move_into_files_the_larger_first() {
    let request = ClaudeRequest::new("hi")
        .system_prompt("s".repeat(200 * 1024))
        .append_system_prompt("a".repeat(70 * 1024));
    let command = build(&request);
    assert_eq!(
        command.argv()[3..5],
        [
            "--system-prompt-file=/var/run/agentpod/inputs/system-prompt.txt",
            &("--append-system-prompt=".to_owned() + &"a".repeat(70 * 1024)),
        ]
    );
    let both = ClaudeRequest::new("hi")
        .system_prompt("s".repeat(70 * 1024))
        .append_system_prompt("a".repeat(80 * 1024));
    let command = build(&both);
    assert_eq!(
        command.argv()[4],
        "--append-system-prompt-file=/var/run/agentpod/inputs/append-system-prompt.txt"
    );
    assert_eq!(
        command.argv()[3].len(),
        "--system-prompt=".len() + 70 * 1024
    );
}

#[test]
fn what_cannot_move_is_refused_only_when_no_form_can_deliver_it() {
    // Two 70 KiB tool patterns: each argv word fits, the shell line cannot.
    let tool = |c: &str| format!("Bash({})", c.repeat(70 * 1024));
    let request = ClaudeRequest::new("hi").allowed_tools([tool("a"), tool("b")]);
    let command = build(&request);
    assert!(!command.requires_shell());
    assert!(matches!(
        command.shell_line(),
        Err(ClaudeArgsError::ArgumentTooLong { .. })
    ));
    // With a setup step the shell is needed, so the build is refused.
    let options = BuildOptions::default()
        .credentials(Credentials::default().oauth_credentials_file("/creds.json"));
    assert!(matches!(
        ClaudeCommand::build(&request, &options),
        Err(ClaudeArgsError::ArgumentTooLong { ref what, .. }) if what == "the sh -c line"
    ));
    // One word over the limit is refused in any form.
    let huge_schema = ClaudeRequest::new("hi").json_schema(json!({"d": "x".repeat(200_000)}));
    let err = ClaudeCommand::build(&huge_schema, &BuildOptions::default()).unwrap_err();
    assert!(
        matches!(err, ClaudeArgsError::ArgumentTooLong { ref what, .. } if what == "--json-schema"),
        "{err:?}"
    );
}

#[test]
fn ten_mib_prompt_goes_through_a_file() {
    let options = BuildOptions::default()
        .large_prompt(LargePromptDelivery::File {
            path: "/var/run/agentpod/prompt".into(),
        })
        .context_window_tokens(Some(4_000_000));
    let prompt = "x".repeat(10 * 1024 * 1024);
    let command = ClaudeCommand::build(&ClaudeRequest::new(prompt), &options).unwrap();
    assert_eq!(
        command.shell_line().unwrap(),
        "exec claude -p '--output-format=json' < /var/run/agentpod/prompt"
    );
    assert!(command.requires_shell());
    let file = &command.input_files()[0];
    assert_eq!(
        (file.path.as_str(), file.kind, file.contents.len()),
        (
            "/var/run/agentpod/prompt",
            InputKind::Prompt,
            10 * 1024 * 1024
        )
    );
    assert_eq!(command.stdin_prompt(), None);
}

#[test]
fn prompt_size_counts_system_prompts_too_and_can_be_disabled() {
    let request = ClaudeRequest::new("p".repeat(500)).system_prompt("s".repeat(500));
    let small_window = BuildOptions::default().context_window_tokens(Some(200));
    let err = ClaudeCommand::build(&request, &small_window).unwrap_err();
    assert!(matches!(
        err,
        ClaudeArgsError::PromptTooLarge {
            bytes: 1000,
            limit_bytes: 800,
            ..
        }
    ));
    let unchecked = BuildOptions::default().context_window_tokens(None);
    assert!(ClaudeCommand::build(&request, &unchecked).is_ok());
}

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
