//! The three POSIX shells a runner image may have, for running generated shell lines.
//!
//! A missing shell fails the test with the Debian package to install (`cargo xtask test`
//! installs them before the test step); it never skips.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// One way a runner image runs `sh -c`.
#[derive(Debug, Clone, Copy)]
pub struct Shell {
    /// Shown in failures.
    pub name: &'static str,
    program: &'static str,
    /// Words between the program and `-c`.
    prefix: &'static [&'static str],
    /// `argv[0]` the shell sees (bash behaves as POSIX `sh` when started under that name).
    arg0: &'static str,
    /// The Debian package that provides it.
    package: &'static str,
}

/// dash (Debian's `/bin/sh`), bash started as `sh`, and busybox's `sh`.
pub const SHELLS: [Shell; 3] = [
    Shell {
        name: "dash",
        program: "dash",
        prefix: &[],
        arg0: "sh",
        package: "dash",
    },
    Shell {
        name: "bash as sh",
        program: "bash",
        prefix: &[],
        arg0: "sh",
        package: "bash",
    },
    Shell {
        name: "busybox sh",
        program: "busybox",
        prefix: &["sh"],
        arg0: "busybox",
        package: "busybox-static",
    },
];

impl Shell {
    /// The shell's binary; panics (failing the test) with what to install when it is missing.
    pub fn binary(&self) -> PathBuf {
        for dir in ["/usr/bin", "/bin", "/usr/local/bin"] {
            let path = Path::new(dir).join(self.program);
            if path.is_file() {
                return path;
            }
        }
        panic!(
            "{} is needed for this test but `{}` is not installed: install the Debian package {} \
             (`cargo xtask test` installs it before the test step)",
            self.name, self.program, self.package
        );
    }

    /// A command that runs `line` with `-c`, in `cwd`, with exactly `env` (plus a `PATH`).
    pub fn command(&self, line: &str, cwd: &Path, env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(self.binary());
        command
            .arg0(self.arg0)
            .args(self.prefix)
            .arg("-c")
            .arg(line)
            .current_dir(cwd)
            .env_clear()
            .env("PATH", "/usr/bin:/bin");
        for (name, value) in env {
            command.env(name, value);
        }
        command
    }

    /// Runs `line`, writing `stdin` (or nothing) to its standard input, and returns the output.
    pub fn run(&self, line: &str, cwd: &Path, env: &[(&str, &str)], stdin: &[u8]) -> Output {
        run_with_stdin(&mut self.command(line, cwd, env), stdin)
    }
}

/// Runs a prepared command with `stdin` written to it and closed.
pub fn run_with_stdin(command: &mut Command, stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The command may not read its stdin at all; a broken pipe is fine then.
        let _ = pipe.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory named after the test.
    pub fn new(test: &str) -> Self {
        let root = std::env::temp_dir().join(format!("claude-args-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        TempDir(root)
    }

    /// Writes an executable script and returns its path.
    pub fn script(&self, relative: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.0.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
