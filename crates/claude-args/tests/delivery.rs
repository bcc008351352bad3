//! Where each part travels: prompt delivery, moves out of the shell line, input files, limits.

// Helpers outside `#[test]` functions panic on purpose: a broken fixture must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentpod_claude_args::limits::MAX_ARGUMENT_BYTES;
use agentpod_claude_args::{
    BuildOptions, ClaudeArgsError, ClaudeCommand, ClaudeRequest, Credentials, InputKind,
    JsonOrPath, LargePromptDelivery, PromptDelivery,
};
use serde_json::json;

const SECRET_VALUE: &str = "sk-ant-oat01-THIS-MUST-NEVER-APPEAR";

fn build(request: &ClaudeRequest) -> ClaudeCommand {
    ClaudeCommand::build(request, &BuildOptions::default()).unwrap()
}

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
