//! `agentpod-model-endpoint`: the offline scripted Messages API as a process.
//!
//! Runs next to a pod (or anywhere a test cannot host the library in-process).
//! The first stdout line is the bound address (`ADDR:PORT`), so a parent can
//! start it with port 0 and read where it listens. Logs go to stderr. Recorded
//! requests are served at `GET /_agentpod/requests`. Stops on SIGINT/SIGTERM.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use agentpod_testkit::model::{ModelEndpoint, Script};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Serve a scripted Anthropic Messages API for the claude CLI.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Script file (`*.json` as JSON, anything else as YAML); without it every turn answers "OK".
    #[arg(long)]
    script: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let script = match &args.script {
        Some(path) => Script::from_file(path)?,
        None => Script::new(),
    };
    let endpoint = ModelEndpoint::start(script, args.listen).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", endpoint.local_addr())?;
    stdout.flush()?;
    drop(stdout);
    wait_for_stop_signal().await?;
    tracing::info!("stopping");
    endpoint.shutdown().await?;
    Ok(())
}

async fn wait_for_stop_signal() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}
