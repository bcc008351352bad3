//! The real, pinned `claude` CLI that talks to the endpoint in tests.
//!
//! Why here: the endpoint is only proven by the real CLI, so the tests that
//! drive it need the binary, installed by the project itself following the
//! shared cache contract (install into a temp dir, rename into place, so
//! concurrent installers never leave a half install behind).

use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::ModelEndpointError;

/// The CLI version every agentpod test runs.
pub const CLAUDE_CLI_VERSION: &str = "2.1.328";

/// The cached real `claude` binary.
///
/// ```no_run
/// use agentpod_testkit::model::ClaudeCli;
/// let cli = ClaudeCli::ensure_installed().unwrap();
/// assert!(cli.path().ends_with("claude"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaudeCli {
    path: PathBuf,
}

impl ClaudeCli {
    /// `~/.cache/agentpod/claude-code-<version>`, the npm `--prefix` of the cached install.
    ///
    /// ```
    /// let dir = agentpod_testkit::model::ClaudeCli::cache_dir();
    /// assert!(dir.ends_with("claude-code-2.1.328"));
    /// ```
    pub fn cache_dir() -> PathBuf {
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
        home.join(".cache/agentpod")
            .join(format!("claude-code-{CLAUDE_CLI_VERSION}"))
    }

    /// Where the native binary sits inside an npm prefix.
    ///
    /// ```
    /// let path = agentpod_testkit::model::ClaudeCli::binary_in(std::path::Path::new("/p"));
    /// assert!(path.starts_with("/p/node_modules/@anthropic-ai"));
    /// ```
    pub fn binary_in(prefix: &Path) -> PathBuf {
        let arch = match std::env::consts::ARCH {
            "aarch64" => "arm64",
            _ => "x64",
        };
        prefix
            .join("node_modules/@anthropic-ai")
            .join(format!("claude-code-linux-{arch}"))
            .join("claude")
    }

    /// Returns the cached CLI, installing it with `npm` first when absent.
    ///
    /// Blocks while `npm install` runs (tens of seconds, once per machine).
    /// Fails with [`ModelEndpointError::ClaudeCliInstall`] naming the step when
    /// `npm` is missing or the install does not produce the binary.
    ///
    /// ```no_run
    /// let cli = agentpod_testkit::model::ClaudeCli::ensure_installed().unwrap();
    /// ```
    pub fn ensure_installed() -> Result<Self, ModelEndpointError> {
        let final_dir = Self::cache_dir();
        let binary = Self::binary_in(&final_dir);
        if binary.is_file() {
            return Ok(Self { path: binary });
        }
        let fail = |reason: String| ModelEndpointError::ClaudeCliInstall {
            version: CLAUDE_CLI_VERSION,
            path: binary.clone(),
            reason,
        };
        let parent = final_dir
            .parent()
            .ok_or_else(|| fail("the cache directory has no parent".into()))?;
        std::fs::create_dir_all(parent)
            .map_err(|e| fail(format!("cannot create {}: {e}", parent.display())))?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let staging = parent.join(format!(
            ".claude-code-{CLAUDE_CLI_VERSION}.partial-{}-{nanos}",
            std::process::id()
        ));
        tracing::info!(staging = %staging.display(), "installing the claude CLI with npm");
        let output = StdCommand::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&staging)
            .arg(format!("@anthropic-ai/claude-code@{CLAUDE_CLI_VERSION}"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| fail(format!("cannot run npm ({e}); install Node.js and npm")));
        let output = match output {
            Ok(output) => output,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(error);
            }
        };
        if !output.status.success() || !Self::binary_in(&staging).is_file() {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(fail(format!(
                "npm install exited with {} without producing the binary: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        if let Err(error) = std::fs::rename(&staging, &final_dir) {
            let _ = std::fs::remove_dir_all(&staging);
            // Another installer may have won the race; its install is complete.
            if !binary.is_file() {
                return Err(fail(format!(
                    "cannot move the install into {}: {error}",
                    final_dir.display()
                )));
            }
        }
        Ok(Self { path: binary })
    }

    /// The binary's path.
    ///
    /// ```no_run
    /// let cli = agentpod_testkit::model::ClaudeCli::ensure_installed().unwrap();
    /// println!("{}", cli.path().display());
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A `claude` command wired to the endpoint at `base_url`, isolated in `home`.
    ///
    /// The environment is cleared except `PATH` (so the Bash tool finds a
    /// shell); `HOME` and the working directory are `home`; the API key is a
    /// dummy; API retries are disabled so scripted errors end the run at once;
    /// non-essential traffic (telemetry, update checks) is switched off.
    /// Add `-p …` and output flags yourself.
    ///
    /// ```no_run
    /// # async fn demo(endpoint: agentpod_testkit::model::ModelEndpoint) {
    /// let cli = agentpod_testkit::model::ClaudeCli::ensure_installed().unwrap();
    /// let home = std::env::temp_dir();
    /// let output = cli
    ///     .command(&endpoint.base_url(), &home)
    ///     .args(["-p", "what is 2+2", "--output-format", "json"])
    ///     .output()
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub fn command(&self, base_url: &str, home: &Path) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.path);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("ANTHROPIC_BASE_URL", base_url)
            .env("ANTHROPIC_API_KEY", "agentpod-test-key")
            .env("CLAUDE_CODE_MAX_RETRIES", "0")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .current_dir(home)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }
}
