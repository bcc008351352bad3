//! # agentpod
//!
//! Run Claude Code agents (`claude -p …`) as Kubernetes pods and get a typed
//! result back.
//!
//! This crate is the facade over agentpod's layers, the way `kube` fronts
//! `kube-client` and `kube-runtime`. Each layer is also published on its own, so
//! a user who only renders pod specs never compiles a Kubernetes client: pick
//! layers with features.
//!
//! | feature | layer | pulls in |
//! |---|---|---|
//! | `podspec` (default) | [`podspec`] | k8s-openapi |
//! | `claude-args` (default) | [`claude_args`] | serde_json |
//!
//! ```
//! use agentpod::prelude::*;
//! ```

#[cfg(feature = "podspec")]
#[doc(inline)]
pub use agentpod_podspec as podspec;

#[cfg(feature = "claude-args")]
#[doc(inline)]
pub use agentpod_claude_args as claude_args;

/// The names most programs need, in one import.
pub mod prelude {}
