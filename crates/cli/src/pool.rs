//! `agentpod pool status|drain NAME`: look at and empty a warm pool that `K8sPoolProvider`s
//! (in any process) share, from its pods alone.

use std::io::Write as _;

use agentpod_provider::{drain_pool, pool_status};

use crate::args::{PoolAction, PoolArgs};
use crate::failure::Failure;
use crate::request;

/// Runs `agentpod pool …`.
pub async fn pool(args: &PoolArgs) -> Result<(), Failure> {
    let cluster = match &args.action {
        PoolAction::Status { cluster, .. } | PoolAction::Drain { cluster, .. } => cluster,
    };
    let transport = request::connection(cluster).connect().await?;
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| agentpod_podspec::consts::DEFAULT_NAMESPACE.to_owned());
    match &args.action {
        PoolAction::Status { name, .. } => {
            let status = pool_status(&transport, &namespace, name).await?;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{status}")?;
            stdout.flush()?;
        }
        PoolAction::Drain { name, wait, .. } => {
            let report = drain_pool(&transport, &namespace, name, *wait).await?;
            let mut stdout = std::io::stdout().lock();
            writeln!(
                stdout,
                "pool {name} in {namespace}: deleted {} pod(s), {} still busy",
                report.deleted.len(),
                report.still_busy.len()
            )?;
            for pod in &report.deleted {
                writeln!(stdout, "  deleted pod/{pod}")?;
            }
            for pod in &report.still_busy {
                writeln!(
                    stdout,
                    "  busy pod/{pod}: takes no new run, deleted when its run ends"
                )?;
            }
            stdout.flush()?;
        }
    }
    Ok(())
}
