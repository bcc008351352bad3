//! Request → command: argv order, prompt delivery, credentials wiring, size limits.

// Helpers outside `#[test]` functions panic on purpose: a broken fixture or shell must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentpod_claude_args::{
    BuildOptions, ClaudeArgsError, ClaudeCommand, ClaudeRequest, Credentials, Effort, EnvValue,
    EnvVar, JsonOrPath, LargePromptDelivery, MAX_ARGUMENT_BYTES, OutputFormat, PermissionMode,
    PromptDelivery, SecretRef, SetupStep,
};
use serde_json::json;

fn build(request: &ClaudeRequest) -> ClaudeCommand {
    ClaudeCommand::build(request, &BuildOptions::default()).unwrap()
}

fn full_request() -> ClaudeRequest {
    ClaudeRequest {
        output_format: OutputFormat::StreamJson,
        model: Some("sonnet".into()),
        fallback_models: vec!["opus".into(), "haiku".into()],
        system_prompt: Some("-be terse".into()),
        append_system_prompt: Some("Answer in English.".into()),
        allowed_tools: vec!["Read".into(), "Bash(git *)".into()],
        disallowed_tools: vec!["Write".into()],
        max_turns: Some(3),
        max_budget_usd: Some(0.0000001),
        mcp_configs: vec![
            JsonOrPath::Path("/etc/mcp.json".into()),
            JsonOrPath::Json(json!({"mcpServers": {}})),
        ],
        strict_mcp_config: true,
        bare: true,
        permission_mode: Some(PermissionMode::Plan),
        json_schema: Some(json!({"type": "object"})),
        resume: Some("6593f3bc-5111-4222-b3a5-016bad56cb19".into()),
        session_id: Some("6593f3bc-5111-4222-b3a5-016bad56cb10".into()),
        fork_session: true,
        effort: Some(Effort::High),
        add_dirs: vec!["/data".into(), "-odd dir".into()],
        settings: Some(JsonOrPath::Json(json!({"model": "sonnet"}))),
        agents: Some(JsonOrPath::Path("/etc/agents.json".into())),
        working_dir: Some("/work space".into()),
        ..ClaudeRequest::new("--help me")
    }
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
            "--system-prompt=-be terse",
            "--append-system-prompt=Answer in English.",
            "--allowedTools=Read",
            "--allowedTools=Bash(git *)",
            "--disallowedTools=Write",
            "--max-turns=3",
            "--max-budget-usd=0.0000001",
            "--mcp-config=/etc/mcp.json",
            r#"--mcp-config={"mcpServers":{}}"#,
            "--strict-mcp-config",
            "--bare",
            "--permission-mode=plan",
            r#"--json-schema={"type":"object"}"#,
            "--resume=6593f3bc-5111-4222-b3a5-016bad56cb19",
            "--session-id=6593f3bc-5111-4222-b3a5-016bad56cb10",
            "--fork-session",
            "--effort=high",
            "--add-dir=/data",
            "--add-dir=-odd dir",
            r#"--settings={"model":"sonnet"}"#,
            "--agents=/etc/agents.json",
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
            .starts_with("cd -- '/work space' && exec claude -p ")
    );
}

#[test]
fn system_prompt_files_map_to_their_flags() {
    let request = ClaudeRequest {
        system_prompt_file: Some("/etc/agent/system.md".into()),
        append_system_prompt_file: Some("/etc/agent/extra.md".into()),
        ..ClaudeRequest::new("hi")
    };
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
        command.shell_line(),
        "exec claude -p '--output-format=json' -- hi"
    );
    assert!(!command.requires_shell());
    assert!(command.env().is_empty());
}

#[test]
fn bypass_needs_the_request_opt_in() {
    let mut request = ClaudeRequest {
        permission_mode: Some(PermissionMode::BypassPermissions),
        ..ClaudeRequest::new("hi")
    };
    let err = ClaudeCommand::build(&request, &BuildOptions::default()).unwrap_err();
    assert!(matches!(err, ClaudeArgsError::BypassPermissionsNotAllowed));
    request.allow_bypass_permissions = true;
    assert!(
        build(&request)
            .argv()
            .contains(&"--permission-mode=bypassPermissions".to_owned())
    );
}

#[test]
fn opt_in_alone_adds_no_flag() {
    let request = ClaudeRequest {
        allow_bypass_permissions: true,
        ..ClaudeRequest::new("hi")
    };
    assert!(
        !build(&request)
            .argv()
            .iter()
            .any(|arg| arg.contains("ermission"))
    );
}

#[test]
fn prompt_delivery_follows_the_quoted_size() {
    let options = BuildOptions {
        inline_prompt_limit_bytes: 100,
        ..BuildOptions::default()
    };
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
    assert!(command.shell_line().len() <= MAX_ARGUMENT_BYTES);
}

#[test]
fn ten_mib_prompt_goes_through_a_mounted_file() {
    let options = BuildOptions {
        large_prompt: LargePromptDelivery::File {
            path: "/var/run/agentpod/prompt".into(),
        },
        context_window_tokens: Some(4_000_000),
        ..BuildOptions::default()
    };
    let prompt = "x".repeat(10 * 1024 * 1024);
    let command = ClaudeCommand::build(&ClaudeRequest::new(prompt), &options).unwrap();
    assert_eq!(
        command.shell_line(),
        "exec claude -p '--output-format=json' < /var/run/agentpod/prompt"
    );
    assert!(command.requires_shell());
    assert_eq!(
        command.prompt_file().map(|(path, text)| (path, text.len())),
        Some(("/var/run/agentpod/prompt", 10 * 1024 * 1024))
    );
    assert_eq!(command.stdin_prompt(), None);
}

#[test]
fn prompt_size_counts_system_prompts_too_and_can_be_disabled() {
    let request = ClaudeRequest {
        system_prompt: Some("s".repeat(500)),
        ..ClaudeRequest::new("p".repeat(500))
    };
    let small_window = BuildOptions {
        context_window_tokens: Some(200),
        ..BuildOptions::default()
    };
    let err = ClaudeCommand::build(&request, &small_window).unwrap_err();
    assert!(matches!(
        err,
        ClaudeArgsError::PromptTooLarge {
            bytes: 1000,
            limit_bytes: 800,
            ..
        }
    ));
    let unchecked = BuildOptions {
        context_window_tokens: None,
        ..BuildOptions::default()
    };
    assert!(ClaudeCommand::build(&request, &unchecked).is_ok());
}

#[test]
fn oversized_inline_json_is_refused_before_exec() {
    let request = ClaudeRequest {
        settings: Some(JsonOrPath::Json(json!({"big": "x".repeat(200_000)}))),
        ..ClaudeRequest::new("hi")
    };
    let err = ClaudeCommand::build(&request, &BuildOptions::default()).unwrap_err();
    assert!(
        matches!(err, ClaudeArgsError::ArgumentTooLong { ref what, .. } if what == "--settings"),
        "{err:?}"
    );
}

#[test]
fn nul_bytes_are_refused_with_the_field_name() {
    let err = ClaudeCommand::build(
        &ClaudeRequest {
            model: Some("son\0net".into()),
            ..ClaudeRequest::new("hi")
        },
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
    let too_high = BuildOptions {
        inline_prompt_limit_bytes: 128 * 1024,
        ..BuildOptions::default()
    };
    assert!(matches!(
        ClaudeCommand::build(&ClaudeRequest::new("hi"), &too_high),
        Err(ClaudeArgsError::InlineLimitTooLarge { .. })
    ));
    let relative = BuildOptions {
        credentials: Credentials {
            oauth_credentials_file: Some("creds.json".into()),
            ..Credentials::default()
        },
        ..BuildOptions::default()
    };
    assert!(matches!(
        ClaudeCommand::build(&ClaudeRequest::new("hi"), &relative),
        Err(ClaudeArgsError::RelativePath {
            field: "oauth_credentials_file",
            ..
        })
    ));
}

const SECRET_VALUE: &str = "sk-ant-oat01-THIS-MUST-NEVER-APPEAR";

#[test]
fn credentials_are_references_and_the_shell_line_copies_the_oauth_file() {
    let options = BuildOptions {
        credentials: Credentials {
            oauth_credentials_file: Some("/var/run/claude/credentials.json".into()),
            oauth_token: Some(SecretRef::SecretKey {
                secret: "claude".into(),
                key: "oauth-token".into(),
            }),
            api_key: Some(SecretRef::MountedFile {
                path: "/var/run/claude/api key".into(),
            }),
            base_url: Some("http://127.0.0.1:4000".into()),
        },
        orchestrator_env_names: vec![
            "PATH".into(),
            "CLAUDECODE".into(),
            "CLAUDE_CODE_OAUTH_TOKEN".into(),
            "CLAUDE_CODE_ENTRYPOINT".into(),
        ],
        ..BuildOptions::default()
    };
    let command = ClaudeCommand::build(&ClaudeRequest::new("hi"), &options).unwrap();
    assert_eq!(
        command.shell_line(),
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
    let blank = |name: &str| EnvVar {
        name: name.into(),
        value: EnvValue::Literal(String::new()),
    };
    assert_eq!(
        command.env(),
        [
            blank("CLAUDECODE"),
            blank("CLAUDE_CODE_ENTRYPOINT"),
            EnvVar {
                name: "ANTHROPIC_BASE_URL".into(),
                value: EnvValue::Literal("http://127.0.0.1:4000".into())
            },
            EnvVar {
                name: "CLAUDE_CODE_OAUTH_TOKEN".into(),
                value: EnvValue::FromSecret {
                    secret: "claude".into(),
                    key: "oauth-token".into()
                }
            },
        ]
    );
    let everything = format!("{command:?}");
    assert!(!everything.contains(SECRET_VALUE));
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
    let options = BuildOptions {
        claude_path: fake_claude.to_str().unwrap().into(),
        credentials: Credentials {
            oauth_credentials_file: Some(creds.to_str().unwrap().into()),
            oauth_token: Some(SecretRef::MountedFile {
                path: token.to_str().unwrap().into(),
            }),
            ..Credentials::default()
        },
        ..BuildOptions::default()
    };
    let command = ClaudeCommand::build(&ClaudeRequest::new("hi"), &options).unwrap();
    assert!(!command.shell_line().contains(SECRET_VALUE));
    let output = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command.shell_line())
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
    let options = BuildOptions {
        claude_path: "/bin/echo".into(),
        credentials: Credentials {
            api_key: Some(SecretRef::MountedFile {
                path: "/nonexistent/agentpod/key".into(),
            }),
            ..Credentials::default()
        },
        ..BuildOptions::default()
    };
    let command = ClaudeCommand::build(&ClaudeRequest::new("RAN"), &options).unwrap();
    let output = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command.shell_line())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(!String::from_utf8_lossy(&output.stdout).contains("RAN"));
}

#[test]
fn sh_c_argv_wraps_the_line() {
    let command = build(&ClaudeRequest::new("hi"));
    assert_eq!(
        command.sh_c_argv(),
        ["sh", "-c", "exec claude -p '--output-format=json' -- hi"]
    );
}
