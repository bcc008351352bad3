//! Running system tools and installing the Debian packages the cluster needs.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Debian packages the cluster and the test suite need; installed when missing. The workspace
/// tests need `npm` (the real `claude` CLI) and the shells a runner image may have (`dash`,
/// `bash`, `busybox-static`), so `cargo xtask test` installs these before its test step.
const PACKAGES: &[&str] = &[
    "golang-go",
    "make",
    "rsync",
    "dpkg-dev",
    "gcc",
    "libc6-dev",
    "etcd-server",
    "containerd",
    "runc",
    "containernetworking-plugins",
    "busybox-static",
    "iproute2",
    "iptables",
    "util-linux",
    "npm",
    "dash",
    "bash",
];

/// Runs `program args…`, failing with its output when it exits non-zero.
pub fn run<I, S>(program: &str, args: I) -> anyhow::Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(program);
    command.args(args);
    output_of(&mut command)
}

/// Runs a prepared command, returning stdout; the error names the command and shows stderr.
pub fn output_of(command: &mut Command) -> anyhow::Result<String> {
    let shown = format!("{command:?}");
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {shown}"))?;
    if !output.status.success() {
        bail!(
            "{shown} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            String::from_utf8_lossy(&output.stdout).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs a long command with its output in `log`, printing a progress line
/// every 30 s; on failure the error carries the log's tail.
pub fn run_logged(command: &mut Command, what: &str, log: &Path) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("cannot start {what}"))?;
    let mut next_report = Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() >= next_report {
            eprintln!(
                "    … {what}: {} s so far (log: {})",
                started.elapsed().as_secs(),
                log.display()
            );
            next_report += Duration::from_secs(30);
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    if !status.success() {
        bail!(
            "{what} failed ({status}); last lines of {}:\n{}",
            log.display(),
            tail(log, 30)
        );
    }
    eprintln!("    {what}: done in {} s", started.elapsed().as_secs());
    Ok(())
}

/// The last `lines` lines of a text file (empty when unreadable).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Installs the missing ones of [`PACKAGES`] with apt (idempotent, no-op when all are there).
pub fn ensure_packages() -> anyhow::Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|package| !is_installed(package))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("==> installing Debian packages: {}", missing.join(" "));
    let mut update = Command::new("apt-get");
    update.args(["-q", "update"]);
    output_of(&mut update)?;
    let mut install = Command::new("apt-get");
    install
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["-q", "-y", "--no-install-recommends", "install"])
        .args(&missing);
    output_of(&mut install)?;
    Ok(())
}

fn is_installed(package: &str) -> bool {
    // Node.js may come from elsewhere with npm bundled (conflicting with Debian's npm).
    if package == "npm"
        && Command::new("npm")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    {
        return true;
    }
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("install ok installed"))
}

/// Writes `contents` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, contents: impl AsRef<[u8]>) -> anyhow::Result<()> {
    let parent = path.parent().context("path without parent")?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let staging = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&staging, contents)
        .with_context(|| format!("cannot write {}", staging.display()))?;
    std::fs::rename(&staging, path)
        .with_context(|| format!("cannot rename to {}", path.display()))?;
    Ok(())
}
