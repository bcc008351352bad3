//! The pinned real `claude` CLI, installed into the shared cache when absent.
//!
//! Cache contract shared by every agentpod test: `npm install --prefix
//! ~/.cache/agentpod/claude-code-<version>`, done in a temporary sibling directory and renamed into
//! place, so that concurrent installers never leave a half install behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The CLI version the crate's flags are checked against.
pub const CLAUDE_CLI_VERSION: &str = "2.1.328";

/// The native binary, installing the npm package first if needed. Panics with what to fix when
/// the install is impossible: a missing CLI must fail the test, never skip it.
pub fn claude_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            install_if_absent().unwrap_or_else(|reason| {
                panic!("the real claude CLI {CLAUDE_CLI_VERSION} is needed and could not be installed: {reason}")
            })
        })
        .clone()
}

fn cache_prefix() -> Result<PathBuf, String> {
    let home =
        std::env::var_os("HOME").ok_or("HOME is not set, so the cache location is unknown")?;
    Ok(PathBuf::from(home)
        .join(".cache/agentpod")
        .join(format!("claude-code-{CLAUDE_CLI_VERSION}")))
}

fn binary_in(prefix: &Path) -> PathBuf {
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "x64"
    };
    prefix
        .join("node_modules/@anthropic-ai")
        .join(format!("claude-code-linux-{arch}"))
        .join("claude")
}

fn install_if_absent() -> Result<PathBuf, String> {
    let prefix = cache_prefix()?;
    let binary = binary_in(&prefix);
    if binary.is_file() {
        return Ok(binary);
    }
    let parent = prefix.parent().ok_or("the cache prefix has no parent")?;
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    let staging = parent.join(format!(
        ".claude-code-{CLAUDE_CLI_VERSION}.partial-{}-{nanos}",
        std::process::id()
    ));
    let output = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&staging)
        .arg(format!("@anthropic-ai/claude-code@{CLAUDE_CLI_VERSION}"))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run npm ({e}): install Node.js and npm"))?;
    if !output.status.success() || !binary_in(&staging).is_file() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(format!(
            "npm install exited with {} without producing {}: {}",
            output.status,
            binary_in(&staging).display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    if prefix.exists() && !binary.is_file() {
        // A broken earlier install (no binary): move it aside rather than fail forever.
        let aside = parent.join(format!(
            ".claude-code-{CLAUDE_CLI_VERSION}.broken-{}-{nanos}",
            std::process::id()
        ));
        let _ = std::fs::rename(&prefix, aside);
    }
    if let Err(error) = std::fs::rename(&staging, &prefix) {
        let _ = std::fs::remove_dir_all(&staging);
        // Another installer may have won the race; its install is complete.
        if !binary.is_file() {
            return Err(format!(
                "cannot move the install to {}: {error}",
                prefix.display()
            ));
        }
    }
    Ok(binary)
}
