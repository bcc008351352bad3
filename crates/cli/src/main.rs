//! `agentpod`: run Claude Code agents as Kubernetes pods from the command line.
//!
//! A thin front door over `agentpod-provider`: `run` drives one agent through a provider
//! (a pod of its own, or a local process), `render` prints the objects a run would create,
//! `reap` removes what crashed runs left behind, `pool` shows and drains a warm pool. See
//! `docs/cli.md`.

mod args;
mod config;
mod failure;
mod output;
mod pool;
mod progress;
mod reap;
mod render;
mod request;
mod run;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};
use tracing_subscriber::EnvFilter;

use crate::args::{Cli, Command, RunOutput};
use crate::config::ConfigFile;
use crate::failure::{Failure, exit};

fn main() -> ExitCode {
    // clap prints help and version on stdout (exit 0) and usage errors on stderr (exit 2).
    let cli = Cli::try_parse().unwrap_or_else(|error| error.exit());
    init_tracing(cli.verbose);
    let json_errors = matches!(
        &cli.command,
        Command::Run(run) if run.output != RunOutput::Text
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = writeln!(
                std::io::stderr().lock(),
                "error: cannot start the async runtime: {error}"
            );
            return ExitCode::from(exit::INFRASTRUCTURE);
        }
    };
    let outcome = runtime.block_on(dispatch(cli));
    match outcome {
        Ok(()) => ExitCode::from(exit::SUCCESS),
        Err(failure) => {
            report(&failure, json_errors);
            ExitCode::from(failure.exit_code())
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), Failure> {
    let config = match &cli.command {
        Command::Completions { .. } => ConfigFile::default(),
        _ => ConfigFile::load(cli.config.as_deref())?,
    };
    match cli.command {
        Command::Run(mut args) => {
            config.apply_pod(&mut args.pod)?;
            config.apply_agent(&mut args.agent);
            config.apply_cluster(&mut args.cluster);
            let provider = config.provider(args.provider);
            run::run(&args, provider).await
        }
        Command::Render(mut args) => {
            config.apply_pod(&mut args.pod)?;
            config.apply_agent(&mut args.agent);
            render::render(&args)
        }
        Command::Reap(mut args) => {
            config.apply_namespace(&mut args.namespace);
            config.apply_cluster(&mut args.cluster);
            reap::reap(&args).await
        }
        Command::Pool(mut args) => {
            config.apply_namespace(&mut args.namespace);
            config.apply_cluster(args.action.cluster_mut());
            pool::pool(&args).await
        }
        Command::Completions { shell } => {
            let mut stdout = std::io::stdout().lock();
            clap_complete::generate(shell, &mut Cli::command(), "agentpod", &mut stdout);
            stdout.flush()?;
            Ok(())
        }
    }
}

/// One line on stderr (the causes are part of our errors' messages; a tail of the agent's
/// output follows on indented lines); with `-o json`/`stream-json` also a JSON error document
/// on stdout.
fn report(failure: &Failure, json: bool) {
    if json {
        let document = output::error_document(failure);
        let _ = writeln!(std::io::stdout().lock(), "{document}");
    }
    let _ = writeln!(std::io::stderr().lock(), "error: {}", failure.message());
}

/// `-v`: agentpod's crates at debug; `-vv`: everything at debug, ours at trace. Without `-v`,
/// only `RUST_LOG` turns logging on.
fn init_tracing(verbose: u8) {
    let filter = match verbose {
        0 => match EnvFilter::try_from_default_env() {
            Ok(filter) => filter,
            Err(_) => return,
        },
        1 => EnvFilter::new(
            "warn,agentpod=debug,agentpod_provider=debug,agentpod_transport=debug,agentpod_claude_args=debug,agentpod_podspec=debug",
        ),
        _ => EnvFilter::new(
            "debug,agentpod=trace,agentpod_provider=trace,agentpod_transport=trace,agentpod_claude_args=trace,agentpod_podspec=trace",
        ),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
