//! The exec wrapper run by the local shells a runner image may have — dash,
//! bash and busybox `sh` with busybox's own `head`, `tail`, `setsid`, … — fed
//! the same bytes the exec session's stdin channel carries.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ExecRequest, WRAPPER};

/// A shell that runs the wrapper: its program and, for busybox, a `PATH`
/// where every tool is a busybox applet.
struct Shell {
    name: &'static str,
    program: PathBuf,
    path: Option<PathBuf>,
}

/// Applets the wrapper and these tests use.
const APPLETS: [&str; 13] = [
    "sh", "head", "tail", "wc", "mktemp", "setsid", "kill", "sleep", "rm", "cat", "printf", "echo",
    "env",
];

fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// A directory of busybox applet links next to the test binary (in the
/// target dir, reused by later runs instead of piling up in the temp dir).
fn busybox_dir() -> Option<PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let busybox = find("busybox")?;
        let exe = std::env::current_exe().ok()?;
        let dir = exe.parent()?.parent()?.join("agentpod-busybox");
        std::fs::create_dir_all(&dir).ok()?;
        for applet in APPLETS {
            match std::os::unix::fs::symlink(&busybox, dir.join(applet)) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(_) => return None,
            }
        }
        Some(dir)
    })
    .clone()
}

/// The shells found on this machine (each missing one is reported).
fn shells() -> Vec<Shell> {
    let mut shells = Vec::new();
    for name in ["dash", "bash"] {
        match find(name) {
            Some(program) => shells.push(Shell {
                name,
                program,
                path: None,
            }),
            None => eprintln!("SKIPPED shell {name}: not installed"),
        }
    }
    match busybox_dir() {
        Some(dir) => shells.push(Shell {
            name: "busybox",
            program: dir.join("sh"),
            path: Some(dir),
        }),
        None => eprintln!("SKIPPED shell busybox: not installed"),
    }
    assert!(!shells.is_empty(), "no shell to test the wrapper with");
    shells
}

/// What the wrapper produced.
#[derive(Debug)]
struct Ran {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs the wrapper like the exec API does: `input` on stdin, which then stays
/// open (as the session's channel does) until `hold` has passed.
async fn run_bytes(shell: &Shell, input: Vec<u8>, hold: Duration) -> Ran {
    let mut command = tokio::process::Command::new(&shell.program);
    command
        .args(["-c", WRAPPER.as_str(), "agentpod-exec"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(path) = &shell.path {
        command.env("PATH", path);
    }
    let mut child = command.spawn().expect("shell starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let holder = tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
        tokio::time::sleep(hold).await;
        drop(stdin);
    });
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err))
    })
    .await;
    holder.abort();
    assert!(
        read.is_ok(),
        "{}: output still open 20 s later: {}",
        shell.name,
        String::from_utf8_lossy(&out)
    );
    let code = child.wait().await.expect("wait").code();
    Ran {
        code,
        stdout: out,
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }
}

async fn run(shell: &Shell, request: &ExecRequest, hold: Duration) -> Ran {
    run_bytes(shell, request.frame().expect("frames"), hold).await
}

/// Local processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|line| line.contains(marker))
        .collect()
}

/// Asserts that no process with `marker` is left (polling briefly: a killed
/// process may take a moment to leave the process table).
async fn assert_gone(marker: &str) {
    for _ in 0..50 {
        if processes_with(marker).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("still running: {:?}", processes_with(marker));
}

const FOREVER: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn arguments_and_stdin_arrive_unchanged() {
    let words = [
        "",
        " ",
        "a  b",
        "line\n",
        "\n\n",
        "-n",
        "-",
        "--",
        "'\"$HOME`x`\\",
        "*",
        "ünïcödé ✓",
        "%s%d\\n",
    ];
    let long = "y".repeat(100_000);
    let input: Vec<u8> = (0..(1 << 20)).map(|i: u32| (i * 7 % 256) as u8).collect();
    let mut command = vec![
        "sh",
        "-c",
        "cat; for a; do printf '<%s>' \"$a\"; done",
        "sh",
    ];
    command.extend(words);
    command.push(&long);
    let request = ExecRequest::new(command).stdin(input.clone());
    let mut expected = input;
    for word in words.iter().copied().chain([long.as_str()]) {
        expected.extend_from_slice(format!("<{word}>").as_bytes());
    }
    for shell in shells() {
        let ran = run(&shell, &request, FOREVER).await;
        assert_eq!(ran.code, Some(0), "{}: {}", shell.name, ran.stderr);
        assert!(ran.stdout == expected, "{}: output differs", shell.name);
    }
}

#[tokio::test]
async fn the_exit_code_is_the_commands() {
    for shell in shells() {
        let three = run(&shell, &ExecRequest::new(["sh", "-c", "exit 3"]), FOREVER).await;
        assert_eq!(three.code, Some(3), "{}: {}", shell.name, three.stderr);
        let missing = run(&shell, &ExecRequest::new(["no-such-command-x"]), FOREVER).await;
        assert_eq!(
            missing.code,
            Some(127),
            "{}: {}",
            shell.name,
            missing.stderr
        );
    }
}

#[tokio::test]
async fn a_bad_header_is_refused_before_anything_runs() {
    for shell in shells() {
        for input in [&b"1 x 0\n"[..], b"\n", b"0 0\n", b"2 1 0\nx", b"1 5 0\nab"] {
            let ran = run_bytes(&shell, input.to_vec(), Duration::ZERO).await;
            assert_eq!(ran.code, Some(125), "{}: {input:?}", shell.name);
            assert!(ran.stderr.starts_with("agentpod-exec: "), "{}", ran.stderr);
        }
    }
}

#[tokio::test]
async fn a_backgrounded_child_holding_stdout_ends_with_the_command() {
    for (index, shell) in shells().into_iter().enumerate() {
        let marker = format!("sleep 311.{index}");
        let script = format!("{marker} & echo started; exit 4");
        let ran = run(&shell, &ExecRequest::new(["sh", "-c", &script]), FOREVER).await;
        assert_eq!(
            (ran.code, &ran.stdout[..]),
            (Some(4), &b"started\n"[..]),
            "{}: {}",
            shell.name,
            ran.stderr
        );
        assert_gone(&marker).await;
    }
}

#[tokio::test]
async fn a_child_ignoring_term_is_killed_after_the_command() {
    for (index, shell) in shells().into_iter().enumerate() {
        let marker = format!("sleep 312.{index}");
        let script = format!("(trap '' TERM; {marker}) & echo started; exit 5");
        let ran = run(&shell, &ExecRequest::new(["sh", "-c", &script]), FOREVER).await;
        assert_eq!(
            (ran.code, &ran.stdout[..]),
            (Some(5), &b"started\n"[..]),
            "{}: {}",
            shell.name,
            ran.stderr
        );
        assert_gone(&marker).await;
    }
}

#[tokio::test]
async fn a_session_end_kills_children_that_ignore_term() {
    for (index, shell) in shells().into_iter().enumerate() {
        let marker = format!("sleep 313.{index}");
        let script = format!("(trap '' TERM; {marker}) & echo started; sleep 314.{index}");
        let ran = run(
            &shell,
            &ExecRequest::new(["sh", "-c", &script]),
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(
            (ran.code, &ran.stdout[..]),
            (Some(143), &b"started\n"[..]),
            "{}: killed by TERM: {}",
            shell.name,
            ran.stderr
        );
        assert_gone(&marker).await;
    }
}
