//! Test-only helpers for agentpod: pieces that let tests run the real `claude`
//! CLI and a real cluster without any network access beyond this machine.

pub mod cluster;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod model;
