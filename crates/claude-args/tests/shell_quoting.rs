//! Property: whatever a string holds (NUL excluded), the quoted form gives the exact bytes back
//! through a real POSIX shell — both for a single word and for a whole generated command line.

// Helpers outside `#[test]` functions panic on purpose: a broken fixture or shell must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentpod_claude_args::{BuildOptions, ClaudeCommand, ClaudeRequest};
use proptest::prelude::*;
use std::process::Command;

/// Cases per property: 256, or `AGENTPOD_FUZZ_CASES` for the long runs.
fn cases() -> u32 {
    std::env::var("AGENTPOD_FUZZ_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(256)
}

/// Runs `line` with `/bin/sh -c` and returns stdout.
fn sh(line: &str) -> Vec<u8> {
    let output = Command::new("/bin/sh")
        .arg("-c")
        .arg(line)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "sh failed for {line:?}: {output:?}"
    );
    output.stdout
}

/// Strings that stress quoting: shell metacharacters, quotes, whitespace, control characters and
/// non-ASCII text, NUL excluded.
fn tricky_string() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("'".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("$HOME".to_owned()),
        Just("`id`".to_owned()),
        Just("$(id)".to_owned()),
        Just("!".to_owned()),
        Just("*".to_owned()),
        Just("~".to_owned()),
        Just("{a,b}".to_owned()),
        Just("\n".to_owned()),
        Just("\t".to_owned()),
        Just("-".to_owned()),
        Just("%s".to_owned()),
        Just("\u{a0}".to_owned()),
        Just("é語🙂".to_owned()),
        "[\u{1}-\u{7f}]{0,4}",
        any::<String>().prop_map(|s| s.replace('\0', "")),
    ];
    proptest::collection::vec(pieces, 0..12).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn quoted_word_round_trips_through_sh(word in tricky_string()) {
        let quoted = shlex::try_quote(&word).unwrap();
        let printed = sh(&format!("printf '%s\\0' {quoted}"));
        let mut expected = word.into_bytes();
        expected.push(0);
        prop_assert_eq!(printed, expected);
    }

    #[test]
    fn generated_shell_line_passes_every_argument_intact(
        prompt in tricky_string().prop_filter("claude -p needs a prompt", |p| !p.trim().is_empty() && !p.contains('\u{feff}')),
        system_prompt in tricky_string(),
        tool in tricky_string().prop_filter("tool names are non-empty", |t| !t.is_empty()),
        dir in tricky_string().prop_filter("dirs are non-empty", |d| !d.is_empty()),
    ) {
        let request = ClaudeRequest::new(prompt)
            .system_prompt(system_prompt)
            .allowed_tools([tool])
            .add_dirs([dir]);
        // `printf` stands in for claude: the line becomes `exec printf '%s\0' <args…>`, except
        // that the binary is argv[0], so give printf its format as the "binary path".
        let options = BuildOptions::default().claude_path("printf");
        let command = ClaudeCommand::build(&request, &options).unwrap();
        let line = command.shell_line().unwrap().replacen("exec printf", "exec printf '%s\\0'", 1);
        let printed = sh(&line);
        let mut expected = Vec::new();
        for arg in &command.argv()[1..] {
            expected.extend_from_slice(arg.as_bytes());
            expected.push(0);
        }
        prop_assert_eq!(printed, expected);
    }
}
