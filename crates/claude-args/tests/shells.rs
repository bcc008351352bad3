//! Generated shell lines in the three shells a runner image may have: dash, bash as `sh` and
//! busybox `sh`. Paths must never be read as options or looked up in `$CDPATH`, and requests
//! whose parts fit must be delivered, through argv and through every shell, byte for byte.

// Helpers outside `#[test]` functions panic on purpose: a broken fixture or shell must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/shells.rs"]
mod shells;

use agentpod_claude_args::{BuildOptions, ClaudeCommand, ClaudeRequest, LargePromptDelivery};
use shells::{SHELLS, TempDir, run_with_stdin};
use std::path::Path;
use std::process::Command;

/// A stand-in for claude that prints each argument NUL-terminated, then `STDIN\0` and its stdin.
const ECHO_ARGS: &str =
    r#"for arg in "$@"; do printf '%s\0' "$arg"; done; printf 'STDIN\0'; exec cat"#;

fn options_in(dir: &TempDir, claude: &Path) -> BuildOptions {
    BuildOptions::default()
        .claude_path(claude.to_str().unwrap())
        .inputs_dir(dir.0.join("inputs").to_str().unwrap())
}

/// Puts every input file where the process looks for it (the transport's job).
fn deliver_input_files(command: &ClaudeCommand) {
    for file in command.input_files() {
        let path = Path::new(&file.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &file.contents).unwrap();
    }
}

/// What the stand-in printed, as (arguments, stdin).
fn split_output(stdout: &[u8]) -> (Vec<String>, String) {
    let text = String::from_utf8(stdout.to_vec()).unwrap();
    let (args, stdin) = text.split_once("STDIN\0").expect("the stand-in ran");
    let args = args.split_terminator('\0').map(str::to_owned).collect();
    (args, stdin.to_owned())
}

/// The prompt and system prompt the CLI would see, read back from the arguments, stdin and
/// the input files.
fn effective(args: &[String], stdin: &str) -> (String, Option<String>) {
    let prompt = match args.iter().position(|arg| arg == "--") {
        Some(at) => args[at + 1].clone(),
        None => stdin.to_owned(),
    };
    let system = args.iter().find_map(|arg| {
        if let Some(text) = arg.strip_prefix("--system-prompt=") {
            Some(text.to_owned())
        } else {
            arg.strip_prefix("--system-prompt-file=")
                .map(|path| std::fs::read_to_string(path).unwrap())
        }
    });
    (prompt, system)
}

/// Runs the command as argv and as a shell line in each shell; every run must see the
/// request's prompt and system prompt exactly.
fn assert_delivered_everywhere(dir: &TempDir, command: &ClaudeCommand, request: &ClaudeRequest) {
    deliver_input_files(command);
    let stdin = command.stdin_prompt().unwrap_or_default().as_bytes();
    let expected = (request.prompt.clone(), request.system_prompt.clone());

    if !command.requires_shell() {
        let mut direct = Command::new(&command.argv()[0]);
        direct.args(&command.argv()[1..]).current_dir(&dir.0);
        let output = run_with_stdin(&mut direct, stdin);
        assert!(output.status.success(), "argv: {:?}", output.status);
        let (args, seen_stdin) = split_output(&output.stdout);
        assert_eq!(args, command.argv()[1..], "argv");
        assert!(
            effective(&args, &seen_stdin) == expected,
            "argv: wrong delivery"
        );
    }
    let line = command.shell_line().unwrap();
    for shell in SHELLS {
        let output = shell.run(line, &dir.0, &[], stdin);
        assert!(
            output.status.success(),
            "{}: {:?} {}",
            shell.name,
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let (args, seen_stdin) = split_output(&output.stdout);
        assert_eq!(args, command.argv()[1..], "{}", shell.name);
        assert!(
            effective(&args, &seen_stdin) == expected,
            "{}: wrong delivery",
            shell.name
        );
    }
}

#[test]
fn a_working_dir_named_dash_is_that_directory_not_oldpwd() {
    let dir = TempDir::new("dash-dir");
    std::fs::create_dir_all(dir.0.join("-")).unwrap();
    let pwd = dir.script("bin/claude", "pwd");
    let request = ClaudeRequest::new("hi").working_dir("-");
    let command = ClaudeCommand::build(&request, &options_in(&dir, &pwd)).unwrap();
    for shell in SHELLS {
        let output = shell.run(
            command.shell_line().unwrap(),
            &dir.0,
            &[("OLDPWD", "/")],
            b"",
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            format!("{}/-\n", dir.0.display()),
            "{}: {output:?}",
            shell.name
        );
    }
}

#[test]
fn a_relative_working_dir_is_never_looked_up_in_cdpath() {
    let dir = TempDir::new("cdpath");
    std::fs::create_dir_all(dir.0.join("work")).unwrap();
    std::fs::create_dir_all(dir.0.join("elsewhere/work")).unwrap();
    let pwd = dir.script("bin/claude", "pwd");
    let request = ClaudeRequest::new("hi").working_dir("work");
    let command = ClaudeCommand::build(&request, &options_in(&dir, &pwd)).unwrap();
    let cdpath = dir.0.join("elsewhere");
    for shell in SHELLS {
        let output = shell.run(
            command.shell_line().unwrap(),
            &dir.0,
            &[("CDPATH", cdpath.to_str().unwrap())],
            b"",
        );
        // Only the stand-in's line: `cd` printed nothing and went to ./work.
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            format!("{}/work\n", dir.0.display()),
            "{}: {output:?}",
            shell.name
        );
    }
}

#[test]
fn a_relative_claude_path_starting_with_dash_runs_in_every_shell() {
    let dir = TempDir::new("dash-program");
    dir.script("-bin/claude", "echo ran");
    let options = BuildOptions::default().claude_path("-bin/claude");
    let command = ClaudeCommand::build(&ClaudeRequest::new("hi"), &options).unwrap();
    for shell in SHELLS {
        let output = shell.run(command.shell_line().unwrap(), &dir.0, &[], b"");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "ran\n",
            "{}: {output:?}",
            shell.name
        );
    }
}

#[test]
fn a_60_kib_prompt_with_an_80_kib_system_prompt_is_delivered() {
    let dir = TempDir::new("prompt-and-system");
    let claude = dir.script("bin/claude", ECHO_ARGS);
    let request = ClaudeRequest::new("p".repeat(60 * 1024)).system_prompt("s".repeat(80 * 1024));
    let command = ClaudeCommand::build(&request, &options_in(&dir, &claude)).unwrap();
    assert_delivered_everywhere(&dir, &command, &request);
}

#[test]
fn a_70_kib_system_prompt_of_backslashes_is_delivered() {
    let dir = TempDir::new("backslashes");
    let claude = dir.script("bin/claude", ECHO_ARGS);
    let request = ClaudeRequest::new("hi").system_prompt("\\".repeat(70 * 1024));
    let command = ClaudeCommand::build(&request, &options_in(&dir, &claude)).unwrap();
    assert_delivered_everywhere(&dir, &command, &request);
}

#[test]
fn a_system_prompt_over_one_argument_and_a_prompt_from_a_file_are_delivered() {
    let dir = TempDir::new("big-system");
    let claude = dir.script("bin/claude", ECHO_ARGS);
    let prompt_file = dir.0.join("inputs/prompt.txt");
    let options = options_in(&dir, &claude).large_prompt(LargePromptDelivery::File {
        path: prompt_file.to_str().unwrap().into(),
    });
    let request =
        ClaudeRequest::new("'\"$(id)`\\".repeat(20_000)).system_prompt("-x '\\\n".repeat(40_000));
    let command = ClaudeCommand::build(&request, &options).unwrap();
    assert!(command.requires_shell());
    assert_delivered_everywhere(&dir, &command, &request);
}
