//! Test-only helpers for agentpod: pieces that let tests run the real `claude`
//! CLI and a real cluster without any network access beyond this machine.

pub mod cluster;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod model;

/// Where the cluster phase of `cargo xtask test` collects the tracing output of every cluster
/// test (appended), so the secret-hygiene scan can search it.
pub const TRACE_FILE_ENV: &str = "AGENTPOD_TRACE_FILE";

/// What is traced into [`TRACE_FILE_ENV`] when `RUST_LOG` does not say: our crates, and the
/// kube client's requests.
const TRACE_FILE_FILTER: &str = "agentpod=debug,agentpod_podspec=debug,agentpod_claude_args=debug,\
agentpod_transport=debug,agentpod_provider=debug,agentpod_testkit=debug,kube_client=debug";

/// Sends the tracing output of the code under test somewhere it can be read:
///
/// - with [`TRACE_FILE_ENV`] set, appended to that file (filter: `RUST_LOG`, else debug for
///   our crates and the kube client) — the test command's secret-hygiene scan searches it;
/// - else with `RUST_LOG` set, to the test's output (e.g.
///   `RUST_LOG=agentpod_transport=debug cargo test … -- --nocapture`);
/// - else nowhere.
///
/// Does nothing when a subscriber is already installed. [`cluster::Cluster::connect`] calls
/// it, so every cluster test is traced; call it first in other tests.
pub fn trace_from_env() {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(TRACE_FILE_FILTER))
    };
    if let Some(path) = std::env::var_os(TRACE_FILE_ENV) {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            Ok(file) => {
                let _ = tracing_subscriber::fmt()
                    .with_env_filter(filter())
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(file))
                    .try_init();
                return;
            }
            Err(error) => {
                // A test helper: say it where the test's output shows it.
                #[allow(clippy::print_stderr, reason = "no subscriber to report through")]
                {
                    eprintln!(
                        "cannot open {}: {error}",
                        std::path::Path::new(&path).display()
                    );
                }
            }
        }
    }
    if std::env::var_os("RUST_LOG").is_none() {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
