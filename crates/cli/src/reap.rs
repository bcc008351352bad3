//! `agentpod reap`: delete what crashed runs left behind, after listing it.

use std::io::Write as _;

use agentpod_transport::Reaper;

use crate::args::ReapArgs;
use crate::failure::Failure;
use crate::request;

/// Runs `agentpod reap`. Lists the expired (or cluster-killed) pods and Secrets first, then
/// deletes them unless `--dry-run`; objects of ours without a readable expiry are only named.
pub async fn reap(args: &ReapArgs) -> Result<(), Failure> {
    let transport = request::connection(&args.cluster).connect().await?;
    let mut reaper = Reaper::new(transport);
    if let Some(namespace) = &args.namespace {
        reaper = reaper.namespace(namespace.clone());
    }
    let plan = reaper.plan().await?;
    let mut stdout = std::io::stdout().lock();
    let scope = args
        .namespace
        .as_deref()
        .map(|ns| format!("namespace {ns}"))
        .unwrap_or_else(|| "all namespaces".to_owned());
    if plan.pods.is_empty() && plan.secrets.is_empty() {
        writeln!(stdout, "nothing to reap in {scope}")?;
    } else {
        let verb = if args.dry_run {
            "would delete"
        } else {
            "deleting"
        };
        writeln!(
            stdout,
            "{verb} {} pod(s) and {} secret(s) in {scope}:",
            plan.pods.len(),
            plan.secrets.len()
        )?;
        for pod in &plan.pods {
            writeln!(stdout, "  pod/{pod}")?;
        }
        for secret in &plan.secrets {
            writeln!(stdout, "  secret/{secret}")?;
        }
    }
    for object in &plan.skipped_unparseable {
        writeln!(
            stdout,
            "  skipped {object}: its expiry annotation is missing or unreadable"
        )?;
    }
    stdout.flush()?;
    drop(stdout);
    if args.dry_run || (plan.pods.is_empty() && plan.secrets.is_empty()) {
        return Ok(());
    }
    let report = reaper.sweep().await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "deleted {} pod(s) and {} secret(s)",
        report.deleted_pods.len(),
        report.deleted_secrets.len()
    )?;
    if let Some(first) = report.failed.first() {
        for failure in &report.failed {
            writeln!(
                stdout,
                "  could not delete {}: {}",
                failure.object, failure.error
            )?;
        }
        return Err(Failure::Infrastructure(format!(
            "{} object(s) could not be deleted (first {}: {})",
            report.failed.len(),
            first.object,
            first.error
        )));
    }
    Ok(())
}
