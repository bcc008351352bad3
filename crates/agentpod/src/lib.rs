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
//! | `transport` | `transport` | kube-client, tokio |
//! | `provider` | `provider` (`Agent`, `AgentProvider`, `K8sEphemeralProvider`, `K8sPoolProvider`, `LocalProvider`) | the three layers |
//! | `full` | all of the above | |
//!
//! ```
//! use agentpod::prelude::*;
//! use std::time::SystemTime;
//!
//! // Describe the run once…
//! let request = ClaudeRequest::new("Summarise README.md").max_turns(3);
//! let command = ClaudeCommand::build(&request, &BuildOptions::default())?;
//!
//! // …and render the pod that runs it.
//! let rendered = AgentPodSpec::new("agentpod.local/claude-runner:2.1.328")
//!     .name("summarise-readme")
//!     .namespace("agents")
//!     .command(command.argv().iter().cloned())
//!     .render(SystemTime::UNIX_EPOCH)?;
//! assert_eq!(rendered.name(), "summarise-readme");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "podspec")]
#[doc(inline)]
pub use agentpod_podspec as podspec;

/// The Kubernetes object types the pods and Secrets are built from, re-exported so
/// that a program names them with exactly the version agentpod compiles against.
/// Like every library, agentpod leaves the choice of API version (a `v1_*`
/// feature of `k8s-openapi`) to the final binary.
#[cfg(feature = "podspec")]
pub use k8s_openapi;

#[cfg(feature = "claude-args")]
#[doc(inline)]
pub use agentpod_claude_args as claude_args;

#[cfg(feature = "transport")]
#[doc(inline)]
pub use agentpod_transport as transport;

#[cfg(feature = "provider")]
#[doc(inline)]
pub use agentpod_provider as provider;

/// The names most programs need, in one import.
pub mod prelude {
    #[cfg(feature = "podspec")]
    pub use agentpod_podspec::{
        AgentPodSpec, Hardening, ImagePullPolicy, PodSpecError, RenderedPod, Resources, Volume,
        VolumeMount,
    };

    #[cfg(feature = "claude-args")]
    pub use agentpod_claude_args::{
        BuildOptions, ClaudeArgsError, ClaudeCommand, ClaudeOutput, ClaudeRequest,
        CredentialSource, Credentials, OutputFormat, PermissionMode,
    };

    #[cfg(feature = "transport")]
    pub use agentpod_transport::{
        ClusterConnection, ExecOptions, ExecRequest, ExitStatus, RunEvent, RunOptions, RunOutcome,
        StartPolicy, Transport, TransportError, Worker,
    };

    #[cfg(feature = "provider")]
    pub use agentpod_provider::{
        Agent, AgentError, AgentEvent, AgentOutput, AgentProvider, AgentRun, Credential,
        K8sEphemeralProvider, K8sPoolProvider, LocalProvider, PoolOptions,
    };
}

/// Compiles and runs the example in the workspace README, so it cannot rot.
#[cfg(all(doctest, feature = "provider"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeExample;
