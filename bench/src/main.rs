//! `agentpod-bench`: the cluster half of `cargo xtask bench` (B1–B5) and the table.
//!
//! Run it through `cargo xtask bench`, which builds it, runs the criterion bench for B6, takes
//! the cluster lock and passes the paths. Never asserts a timing: it measures and prints.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports on the terminal"
)]

use std::path::PathBuf;

use agentpod_bench::cluster::{self, Side, World};
use agentpod_bench::report::{self, Results};
use agentpod_bench::sides::{ClusterAt, STREAM_MOUNT, Setup};
use agentpod_bench::stream;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "agentpod-bench",
    about = "agentpod vs ironflow-core 2.10.1 on the local cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure and print the table.
    Run(RunArgs),
    /// One side of B4/B5 in a process of its own (its peak RSS is the figure).
    #[command(hide = true)]
    Child(ChildArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Timed calls per side for B1 (after one warm-up call each).
    #[arg(long, default_value_t = 20)]
    calls: usize,
    /// Calls per side through the counting proxy for B2.
    #[arg(long, default_value_t = 5)]
    b2_calls: usize,
    /// Comma-separated subset of B1,B2,B3,B4,B5,B6.
    #[arg(long, value_delimiter = ',', default_value = "B1,B2,B3,B4,B5,B6")]
    only: Vec<String>,
    /// Concurrency levels of B4.
    #[arg(long, value_delimiter = ',', default_value = "50")]
    b4_sizes: Vec<usize>,
    /// Which sides B4 runs (a quicker look at one side).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "ours,theirs")]
    b4_sides: Vec<Side>,
    /// Size of B5's stream, MiB.
    #[arg(long, default_value_t = 200)]
    b5_mib: usize,
    /// The admin kubeconfig of the local cluster.
    #[arg(long, default_value = "/var/lib/agentpod-cluster/admin.kubeconfig")]
    kubeconfig: PathBuf,
    /// Criterion's output directory (B6 figures), if B6 ran.
    #[arg(long)]
    criterion_dir: Option<PathBuf>,
    /// The commit measured, for the table.
    #[arg(long, default_value = "unknown")]
    commit: String,
    /// Also replace the table block of this document.
    #[arg(long)]
    write: Option<PathBuf>,
    /// Also write every raw figure as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ChildArgs {
    /// `b4` (trivial calls) or `b5` (the big stream).
    scenario: String,
    #[arg(long, value_enum)]
    side: Side,
    #[arg(long)]
    calls: usize,
    #[arg(long)]
    namespace: String,
    #[arg(long)]
    base_url: String,
    #[arg(long)]
    kubeconfig: PathBuf,
    #[arg(long)]
    fake_claude: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Two rustls backends are linked (see Cargo.toml): use ironflow-core's own, aws-lc-rs, so
    // its per-call TLS handshakes run as they would in its users' programs.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match Cli::parse().command {
        Command::Run(args) => run(args).await,
        Command::Child(args) => {
            let setup = Setup {
                cluster: ClusterAt::File(args.kubeconfig),
                namespace: args.namespace,
                base_url: args.base_url,
                fake_claude: args.fake_claude,
            };
            let report =
                cluster::child(args.side, args.calls, setup, args.scenario == "b5").await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let wants = |id: &str| args.only.iter().any(|o| o.eq_ignore_ascii_case(id));
    let mut results = Results {
        commit: args.commit.clone(),
        ..Results::default()
    };
    if ["B1", "B2", "B3", "B4", "B5"].iter().any(|id| wants(id)) {
        let world = World::new(&args.kubeconfig).await?;
        if wants("B1") {
            eprintln!("==> B1: {} interleaved calls per side", args.calls);
            results.b1 = cluster::b1(&world, args.calls).await?;
        }
        if wants("B2") {
            eprintln!(
                "==> B2: {} calls per side through the counting proxy",
                args.b2_calls
            );
            results.b2 = cluster::b2(&world, args.b2_calls).await?;
        }
        if wants("B3") {
            eprintln!(
                "==> B3: {} interleaved calls, warm pool and ephemeral",
                args.calls
            );
            results.b3 = cluster::b3(&world, args.calls).await?;
            world.force_clean().await?;
        }
        if wants("B4") {
            for &n in &args.b4_sizes {
                eprintln!("==> B4: {n} concurrent calls, ours then theirs");
                let mut run = async |side| {
                    if args.b4_sides.contains(&side) {
                        child_or_note(&world, side, "b4", n, None, &mut results).await
                    } else {
                        None
                    }
                };
                let ours = run(Side::Ours).await;
                let theirs = run(Side::Theirs).await;
                results.b4.push((n, ours, theirs));
            }
        }
        if wants("B5") {
            let dir =
                std::env::temp_dir().join(format!("agentpod-bench-stream-{}", std::process::id()));
            stream::write_fake_claude(&dir, STREAM_MOUNT, args.b5_mib * 1024 * 1024)?;
            eprintln!(
                "==> B5: a pod printing {} MiB of stream-json, ours then theirs",
                args.b5_mib
            );
            let ours = child_or_note(&world, Side::Ours, "b5", 1, Some(&dir), &mut results).await;
            let theirs =
                child_or_note(&world, Side::Theirs, "b5", 1, Some(&dir), &mut results).await;
            results.b5 = Some((ours, theirs));
            results.b5_mib = args.b5_mib;
            let _ = std::fs::remove_dir_all(&dir);
        }
        world.force_clean().await?;
    }
    if wants("B6") {
        match &args.criterion_dir {
            Some(dir) => match report::read_layers(dir) {
                Ok(ops) => results.b6 = ops,
                Err(error) => results
                    .notes
                    .push(format!("B6: no figures in {} ({error})", dir.display())),
            },
            None => results
                .notes
                .push("B6: not run (no --criterion-dir)".into()),
        }
    }
    let table = results.table();
    println!("{table}");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&results)?)?;
    }
    if let Some(path) = &args.write {
        report::write_into(path, &table)?;
        eprintln!("==> table written into {}", path.display());
    }
    Ok(())
}

async fn child_or_note(
    world: &World,
    side: Side,
    scenario: &str,
    calls: usize,
    fake_claude: Option<&std::path::Path>,
    results: &mut Results,
) -> Option<cluster::Concurrency> {
    match cluster::run_child(world, side, scenario, calls, fake_claude).await {
        Ok(report) => Some(report),
        Err(error) => {
            results
                .notes
                .push(format!("{scenario} {side:?} x{calls}: {error:#}"));
            let _ = world.force_clean().await;
            None
        }
    }
}
