//! The CLI's notion of an empty prompt, checked against the REAL `claude` CLI 2.1.328: a prompt of
//! whitespace only is refused by the request check exactly when the CLI refuses it (with a
//! non-JSON usage error that a parser could only report as a missing result).

// Helpers outside `#[test]` functions panic on purpose: broken scaffolding must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/cli_run.rs"]
mod cli_run;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use agentpod_claude_args::{BuildOptions, ClaudeArgsError, ClaudeCommand, ClaudeRequest};
use cli_run::{Expect, Invocation, PARALLEL_RUNS, Scratch, claude_binary, run};

#[test]
fn whitespace_only_prompts_are_refused_exactly_when_the_cli_refuses_them() {
    // The ECMAScript white space and line terminators, then characters that look blank but are
    // not in that set (U+0085 is white space to Rust, not to the CLI).
    let blank = [
        '\t', '\n', '\u{b}', '\u{c}', '\r', ' ', '\u{a0}', '\u{1680}', '\u{2000}', '\u{2005}',
        '\u{200a}', '\u{2028}', '\u{2029}', '\u{202f}', '\u{205f}', '\u{3000}', '\u{feff}',
    ];
    let not_blank = ['\u{85}', '\u{180e}', '\u{200b}', '\u{2060}', '\u{ad}'];
    let binary = claude_binary();
    let scratch = Scratch::new("whitespace");
    let base = BuildOptions::default().claude_path(binary.to_str().unwrap());
    let checks: Vec<(char, bool)> = blank
        .iter()
        .map(|c| (*c, true))
        .chain(not_blank.iter().map(|c| (*c, false)))
        .collect();
    let failures = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_RUNS {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&(c, cli_blank)) = checks.get(index) else {
                        break;
                    };
                    let prompt = format!("{c} {c}");
                    let ours = ClaudeCommand::build(&ClaudeRequest::new(prompt.clone()), &base);
                    let refused = matches!(ours, Err(ClaudeArgsError::EmptyPrompt));
                    if refused != cli_blank {
                        failures.lock().unwrap().push(format!(
                            "U+{:04X}: the CLI {} it, the request check {}",
                            u32::from(c),
                            if cli_blank { "refuses" } else { "accepts" },
                            if refused {
                                "refuses it"
                            } else {
                                "lets it through"
                            },
                        ));
                        continue;
                    }
                    let invocation = Invocation {
                        name: format!("prompt of U+{:04X}", u32::from(c)),
                        program: vec![
                            binary.to_str().unwrap().to_owned(),
                            "-p".into(),
                            "--output-format=json".into(),
                            "--".into(),
                            prompt,
                        ],
                        env: Vec::new(),
                        stdin: None,
                        files: Vec::new(),
                        expect: if cli_blank {
                            Expect::Refusal("Error: Input contained only whitespace")
                        } else {
                            Expect::NotLoggedIn
                        },
                    };
                    if let Err(failure) = run(&invocation, index, &scratch) {
                        failures.lock().unwrap().push(failure);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
