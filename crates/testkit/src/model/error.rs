//! Errors of the model endpoint and of the real-CLI helper.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can go wrong starting, scripting or stopping a
/// [`ModelEndpoint`](super::ModelEndpoint), or preparing the real `claude` CLI.
///
/// ```
/// let error = agentpod_testkit::model::Script::from_json_str("{").unwrap_err();
/// assert!(matches!(error, agentpod_testkit::model::ModelEndpointError::ScriptParse { .. }));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum ModelEndpointError {
    /// The listening socket could not be bound.
    #[error(
        "model endpoint cannot listen on {addr}: {source}; use port 0 or a free port on an address of this host or network namespace"
    )]
    Bind {
        /// Requested address.
        addr: SocketAddr,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server stopped with an I/O error or its task failed.
    #[error("model endpoint on {addr} failed while serving: {reason}")]
    Serve {
        /// Address the endpoint listened on.
        addr: SocketAddr,
        /// What failed.
        reason: String,
    },
    /// A script file could not be read.
    #[error("cannot read model script {path}: {source}")]
    ScriptRead {
        /// Script file.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A script was not valid; `reason` names the offending field or line.
    #[error(
        "invalid model script ({origin}): {reason}; see docs/testing.md, section \"Offline model endpoint\""
    )]
    ScriptParse {
        /// File path or "JSON text"/"YAML text".
        origin: String,
        /// Parser message.
        reason: String,
    },
    /// The pinned `claude` CLI is missing and could not be installed into the cache.
    #[error("cannot provide the claude CLI {version} at {path}: {reason}")]
    ClaudeCliInstall {
        /// Pinned CLI version.
        version: &'static str,
        /// Where the binary is expected.
        path: PathBuf,
        /// What failed and what to do.
        reason: String,
    },
}
