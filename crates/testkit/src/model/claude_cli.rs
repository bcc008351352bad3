//! The real, pinned `claude` CLI that talks to the endpoint in tests.
//!
//! Why here: the endpoint is only proven by the real CLI, so the tests that
//! drive it need the binary, installed by the project itself following the
//! shared cache contract (install into a temp dir, rename into place, so
//! concurrent installers never leave a half install behind).

use std::ffi::OsStr;
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
        Self::ensure_installed_in(&Self::cache_dir(), OsStr::new("npm"))
    }

    /// [`ensure_installed`](Self::ensure_installed) with the npm prefix and npm program chosen.
    fn ensure_installed_in(final_dir: &Path, npm: &OsStr) -> Result<Self, ModelEndpointError> {
        let binary = Self::binary_in(final_dir);
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
        let output = StdCommand::new(npm)
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
        if let Err(error) = std::fs::rename(&staging, final_dir) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Writing an executable while another test thread spawns a process can make
    /// exec fail with "text file busy"; these tests take turns.
    static SPAWNING: Mutex<()> = Mutex::new(());

    /// A stand-in for npm that installs a fake binary the way npm lays it out.
    fn fake_npm(dir: &Path, succeed: bool) -> PathBuf {
        let script = dir.join(if succeed { "npm-ok" } else { "npm-fail" });
        let body = if succeed {
            // argv: install --no-audit --no-fund --prefix STAGING PACKAGE
            format!(
                "#!/bin/sh\nbin=\"$5/{}\"\nmkdir -p \"$(dirname \"$bin\")\" && echo fake > \"$bin\"\n",
                ClaudeCli::binary_in(Path::new(""))
                    .display()
                    .to_string()
                    .trim_start_matches('/')
            )
        } else {
            "#!/bin/sh\necho 'registry unreachable' >&2\nexit 1\n".to_owned()
        };
        std::fs::write(&script, body).unwrap();
        let status = StdCommand::new("chmod")
            .arg("+x")
            .arg(&script)
            .status()
            .unwrap();
        assert!(status.success());
        script
    }

    fn leftovers(parent: &Path) -> Vec<String> {
        std::fs::read_dir(parent)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains(".partial-"))
            .collect()
    }

    #[test]
    fn missing_cli_is_installed_through_a_staging_dir_and_renamed_into_place() {
        let _turn = SPAWNING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let root = tempfile::tempdir().unwrap();
        let final_dir = root.path().join("claude-code-x");
        let npm = fake_npm(root.path(), true);

        let cli = ClaudeCli::ensure_installed_in(&final_dir, npm.as_os_str()).unwrap();

        assert_eq!(cli.path(), ClaudeCli::binary_in(&final_dir));
        assert!(cli.path().is_file());
        assert!(leftovers(root.path()).is_empty());
        // Second call finds the cached binary and does not run npm at all.
        let again = ClaudeCli::ensure_installed_in(&final_dir, OsStr::new("/nonexistent/npm"));
        assert_eq!(again.unwrap(), cli);
    }

    #[test]
    fn failed_install_names_npm_output_and_leaves_nothing_behind() {
        let _turn = SPAWNING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let root = tempfile::tempdir().unwrap();
        let final_dir = root.path().join("claude-code-x");
        let npm = fake_npm(root.path(), false);

        let error = ClaudeCli::ensure_installed_in(&final_dir, npm.as_os_str()).unwrap_err();

        let text = error.to_string();
        assert!(text.contains("registry unreachable"), "{text}");
        assert!(!final_dir.exists());
        assert!(leftovers(root.path()).is_empty());
    }

    #[test]
    fn absent_npm_is_reported_as_such() {
        let _turn = SPAWNING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let root = tempfile::tempdir().unwrap();
        let error = ClaudeCli::ensure_installed_in(
            &root.path().join("claude-code-x"),
            OsStr::new("/nonexistent/npm"),
        )
        .unwrap_err();
        assert!(error.to_string().contains("cannot run npm"), "{error}");
    }
}
