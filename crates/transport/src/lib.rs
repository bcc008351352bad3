//! Kubernetes transport for agentpod: every byte that goes to the cluster.
//!
//! It takes the pods [`agentpod_podspec`] renders and runs them, and it is
//! built around three promises:
//!
//! - **never leaks** — a run's pod and Secrets are deleted on success, error,
//!   timeout, watch failure and when the caller drops the future (a drop guard
//!   spawns the deletion); Secrets are owned by their pod, every object carries
//!   an expiry annotation and the pod an `activeDeadlineSeconds`, and a
//!   [`Reaper`] removes what a crashed process left behind;
//! - **never hangs** — a start timeout (scheduling + image pull) separate from
//!   the run timeout, and fail-fast on reasons that never resolve by
//!   themselves (ErrImagePull, InvalidImageName, Unschedulable, …) with
//!   Kubernetes' own reason and message;
//! - **never lies** — the exit code, reason and message come from the
//!   container's terminated state, the log is followed with a byte-exact tail,
//!   and a watch that loses its connection resumes without missing the end.
//!
//! One [`Transport`] (one `kube::Client`) is built from a
//! [`ClusterConnection`] and shared by cloning. Ephemeral runs go through
//! [`Transport::start`]; warm pods through [`Transport::ensure_worker`], which
//! returns a [`Worker`] to exec into. See `docs/transport.md` for the lifecycle diagram.
//!
//! ```no_run
//! use agentpod_podspec::{AgentPodSpec, PodName};
//! use agentpod_transport::{ClusterConnection, RunOptions};
//! use std::time::Duration;
//!
//! # async fn f() -> Result<(), agentpod_transport::TransportError> {
//! let transport = ClusterConnection::default().connect().await?;
//! let spec = AgentPodSpec::new("busybox:1.36")
//!     .name(PodName::generated("job"))
//!     .command(["sh", "-c", "echo working; exit 3"]);
//! let run = transport
//!     .start(spec, RunOptions::default().run_timeout(Duration::from_secs(60)))
//!     .await?;
//! let (outcome, output) = run.wait_with_output(1 << 20).await?;
//! assert_eq!(outcome.exit.code, Some(3)); // a result, not an error
//! assert_eq!(output, b"working\n");
//! # Ok(()) }
//! ```

mod bound;
mod cleanup;
mod connection;
mod create;
mod error;
mod events;
mod exec;
mod exit;
mod handle;
mod logs;
mod metrics;
mod options;
mod progress;
mod reaper;
mod retry;
mod run;
mod start;
mod watch;
mod worker;

pub use cleanup::CleanupPolicy;
pub use connection::{ClusterConnection, Transport};
pub use error::{BoxError, Result, TransportError};
pub use events::PodEvent;
pub use exec::{ExecOptions, ExecOutput, ExecRequest};
pub use exit::ExitStatus;
pub use handle::{PodSource, RunEvent, RunEvents, RunHandle, RunOutcome, RunTimings};
pub use logs::{LogStream, LogSummary};
pub use options::{NameConflict, PREVIEW_RUN_TOKEN, RunOptions};
pub use progress::PendingReason;
pub use reaper::{ReapFailure, ReapPlan, ReapReport, Reaper};
pub use retry::RetryPolicy;
pub use start::StartPolicy;
pub use worker::{
    CLAIM_ANNOTATION, ClaimState, ExecStdout, ExecStream, ListedWorker, Worker, WorkerClaim,
    WorkerHealth,
};

/// Annotation carrying a random per-run token on every object a run creates,
/// so a retried create can tell its own object from someone else's, and the
/// drop guard deletes only what this run made.
pub const RUN_TOKEN_ANNOTATION: &str = "agentpod.dev/run-token";
