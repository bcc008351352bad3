//! `cargo xtask`: the developer tasks of the agentpod workspace.
//!
//! Every setup step a fresh machine needs lives here so that a developer and CI
//! run exactly the same thing: `cargo xtask test` is the one test command that
//! README.md documents and `.ci/run` calls.

// A developer tool talks to its user on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

mod bench;
mod cluster;
mod test;

use clap::{Parser, Subcommand};

use cluster::layout::Layout;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "agentpod developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run the whole test pipeline: fmt, clippy, unit + doc + snapshot tests,
    /// then the cluster suite against a fresh local cluster (torn down after).
    Test,
    /// Benchmarks against ironflow-core 2.10.1 (B1–B6 of issue 13): builds `bench/`, runs
    /// them on the local cluster (under the cluster lock) and prints a table of ratios.
    Bench(bench::BenchArgs),
    /// Control the local single-node Kubernetes cluster used by the tests.
    Cluster {
        #[command(subcommand)]
        action: ClusterAction,
    },
}

#[derive(Subcommand)]
enum ClusterAction {
    /// Install/build what is missing and start a fresh cluster.
    Up,
    /// Stop the cluster and remove everything it created.
    Down,
    /// Show each daemon's state.
    Status {
        /// Instead, list anything of ours that still exists (fails if any).
        #[arg(long)]
        leftovers: bool,
    },
    /// Print `export KUBECONFIG=…` lines for a running cluster.
    Env,
}

fn main() -> anyhow::Result<()> {
    let layout = Layout::from_env();
    match Cli::parse().task {
        Task::Test => test::run(&layout),
        Task::Bench(args) => bench::run(&layout, &args),
        Task::Cluster { action } => match action {
            ClusterAction::Up => cluster::lock::acquire().and_then(|_lock| cluster::up(&layout)),
            ClusterAction::Down => {
                cluster::lock::acquire().and_then(|_lock| cluster::down(&layout))
            }
            ClusterAction::Status { leftovers } => cluster::status(&layout, leftovers),
            ClusterAction::Env => cluster::env(&layout),
        },
    }
}
