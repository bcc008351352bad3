//! Test-only helpers for agentpod: pieces that let tests run the real `claude`
//! CLI and a real cluster without any network access beyond this machine.

pub mod cluster;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod model;

/// Sends the tracing output of the code under test to the test's output when `RUST_LOG` is set
/// (e.g. `RUST_LOG=agentpod_transport=debug cargo test … -- --nocapture`); does nothing
/// otherwise, and nothing when a subscriber is already installed. Call it first in a test.
pub fn trace_from_env() {
    if std::env::var_os("RUST_LOG").is_none() {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
