//! A `LocalProvider` world: the pinned CLI testkit installs, the offline model endpoint on
//! loopback, a throwaway HOME.

use agentpod_provider::{LocalProvider, LocalProviderBuilder};
use agentpod_testkit::model::{ClaudeCli, ModelEndpoint, Script};

/// The API key local runs get (the endpoint accepts any).
pub const LOCAL_API_KEY: &str = "agentpod-local-key-51f0";

/// One local test's world.
pub struct LocalWorld {
    /// The scripted endpoint.
    pub endpoint: ModelEndpoint,
    /// HOME and working directory of the CLI.
    pub home: tempfile::TempDir,
    /// The pinned CLI.
    pub cli: ClaudeCli,
}

impl LocalWorld {
    /// Installs the CLI (once per machine) and starts the endpoint with `script`.
    pub async fn new(script: Script) -> LocalWorld {
        let cli = ClaudeCli::ensure_installed().expect("the pinned CLI installs");
        let endpoint = ModelEndpoint::start_local(script)
            .await
            .expect("endpoint starts");
        let home = tempfile::tempdir().expect("temp HOME");
        LocalWorld {
            endpoint,
            home,
            cli,
        }
    }

    /// A provider builder: the pinned CLI, the endpoint, the test key, no CLI retries.
    pub fn builder(&self) -> LocalProviderBuilder {
        let home = self.home.path().to_string_lossy().into_owned();
        LocalProvider::builder()
            .claude_path(self.cli.path().to_string_lossy().into_owned())
            .working_dir(home.clone())
            .api_key(LOCAL_API_KEY)
            .base_url(self.endpoint.base_url())
            .env("HOME", home)
            .env("CLAUDE_CODE_MAX_RETRIES", "0")
    }

    /// The default provider.
    pub fn provider(&self) -> LocalProvider {
        self.builder().build()
    }
}
