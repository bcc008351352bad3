//! Helpers shared by the test files that run the binary.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should fail the test"
)]

/// Starts `command` with stderr piped; once a stderr line contains `ready`, calls `before` and
/// sends SIGINT. Returns the exit code and the whole stderr.
pub fn interrupt_when(
    mut command: std::process::Command,
    ready: &str,
    before: impl FnOnce(),
) -> (Option<i32>, String) {
    use std::io::BufRead as _;
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut seen = String::new();
    let mut lines = std::io::BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line.expect("stderr line");
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(ready) {
            break;
        }
    }
    before();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    for line in lines {
        seen.push_str(&line.expect("stderr line"));
        seen.push('\n');
    }
    let code = child.wait().expect("waits").code();
    (code, seen)
}
