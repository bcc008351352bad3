//! Running the real CLI the way a transport would, and judging the outcome.
//!
//! A run passes only when the CLI got past its argument parsing and ended the expected way; a
//! usage error (`error: …` on stderr), any other stderr line or another outcome fails it.

// Shared by several test files; each uses a part.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agentpod_claude_args::{ClaudeArgsError, parse_output};
use agentpod_testkit::model::ClaudeCli;

const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// How many CLI processes run at once.
pub const PARALLEL_RUNS: usize = 3;

/// The pinned real CLI, installed into the shared cache when absent. A missing CLI fails the
/// test with what to fix; it never skips.
pub fn claude_binary() -> PathBuf {
    match ClaudeCli::ensure_installed() {
        Ok(cli) => cli.path().to_path_buf(),
        Err(error) => panic!("the real claude CLI is needed: {error}"),
    }
}

/// What a run must end with.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// The "Not logged in" result (no credentials).
    NotLoggedIn,
    /// The CLI parsed everything and refused the request, saying this on stderr.
    Refusal(&'static str),
    /// The CLI read everything and answered with this failure result before any API call.
    FailureResult(&'static str),
}

/// A temporary directory removed on drop.
pub struct Scratch {
    pub root: PathBuf,
}

impl Scratch {
    /// A fresh directory per test (tests of this file run in parallel).
    pub fn new(test: &str) -> Self {
        let root = std::env::temp_dir().join(format!(
            "claude-args-real-cli-{}-{test}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        Scratch { root }
    }

    /// Writes a file in the directory and returns its path.
    pub fn file(&self, name: &str, contents: &str) -> String {
        let path = self.root.join(name);
        std::fs::write(&path, contents).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// Creates a subdirectory and returns its path.
    pub fn dir(&self, name: &str) -> PathBuf {
        let path = self.root.join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// One process start: what a transport would do with a `ClaudeCommand`.
pub struct Invocation {
    pub name: String,
    pub program: Vec<String>,
    pub env: Vec<(String, String)>,
    pub stdin: Option<String>,
    /// `(path, contents)` of every file the process must find.
    pub files: Vec<(String, String)>,
    pub expect: Expect,
}

/// Runs one invocation; `Err` says what went wrong, with the CLI's own words.
pub fn run(invocation: &Invocation, index: usize, scratch: &Scratch) -> Result<Duration, String> {
    let name = &invocation.name;
    let home = scratch.dir(&format!("home-{index}"));
    let cwd = scratch.dir(&format!("cwd-{index}"));
    let mut process = Command::new(&invocation.program[0]);
    process
        .args(&invocation.program[1..])
        .current_dir(&cwd)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &home)
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .envs(invocation.env.iter().map(|(name, value)| (name, value)));
    check_no_credentials_leak(&process)?;
    for (path, contents) in &invocation.files {
        // The transport's job: put each input file where the process looks for it.
        let path = std::path::Path::new(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    let started = Instant::now();
    process
        .stdin(if invocation.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = process
        .spawn()
        .map_err(|e| format!("{name}: cannot start: {e}"))?;
    let writer = child.stdin.take().map(|mut stdin| {
        let prompt = invocation.stdin.clone().unwrap_or_default();
        std::thread::spawn(move || stdin.write_all(prompt.as_bytes()))
    });
    let mut stdout_pipe = child.stdout.take().unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stdout_reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout_pipe.read_to_string(&mut text).map(|_| text)
    });
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        stderr_pipe.read_to_string(&mut text).map(|_| text)
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{name}: no exit within {RUN_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    if let Some(writer) = writer {
        writer
            .join()
            .unwrap()
            .map_err(|e| format!("{name}: the CLI did not read the whole stdin prompt: {e}"))?;
    }
    let stdout = stdout_reader.join().unwrap().unwrap_or_default();
    let stderr = stderr_reader.join().unwrap().unwrap_or_default();
    let describe = || {
        format!(
            "{name}: exit {status}; stderr: {:?}; stdout starts {:?}",
            stderr.trim(),
            &stdout[..stdout.len().min(300)]
        )
    };
    if stderr.lines().any(|line| line.starts_with("error:")) {
        return Err(format!("usage error — {}", describe()));
    }
    match invocation.expect {
        Expect::NotLoggedIn => match parse_output(&stdout, false) {
            Err(ClaudeArgsError::Api {
                status: None,
                message,
                ..
            }) if message.contains("Not logged in") && stderr.trim().is_empty() => Ok(elapsed),
            other => Err(format!(
                "expected the not-logged-in result, parsed {other:?} — {}",
                describe()
            )),
        },
        Expect::FailureResult(text) => match parse_output(&stdout, false) {
            Err(ClaudeArgsError::RunFailed { message, .. })
                if message == text && stderr.trim().is_empty() =>
            {
                Ok(elapsed)
            }
            other => Err(format!(
                "expected the failure result {text:?}, parsed {other:?} — {}",
                describe()
            )),
        },
        Expect::Refusal(text) => {
            if stderr.trim().starts_with(text) && stdout.trim().is_empty() {
                Ok(elapsed)
            } else {
                Err(format!("expected the refusal {text:?} — {}", describe()))
            }
        }
    }
}

/// No Anthropic or Claude variable may reach the CLI except blanks and the traffic switch.
fn check_no_credentials_leak(process: &Command) -> Result<(), String> {
    for (name, value) in process.get_envs() {
        let name = name.to_string_lossy();
        let blank = value.is_some_and(|value| value.is_empty());
        let allowed = name == "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC" || blank;
        if (name.starts_with("ANTHROPIC_") || name.starts_with("CLAUDE")) && !allowed {
            return Err(format!("{name} would reach the CLI"));
        }
    }
    Ok(())
}
