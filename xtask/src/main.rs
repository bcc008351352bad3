//! `cargo xtask`: the developer tasks of the agentpod workspace.
//!
//! Every setup step a fresh machine needs lives here so that a developer and CI
//! run exactly the same thing: `cargo xtask test` is the one test command that
//! README.md documents and `.ci/run` calls.

// A developer tool talks to its user on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

mod bench;
mod cluster;
mod demo;
mod hygiene;
mod soak;
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
    /// The main job in one command: an agent answers from a pod of the local cluster (brought
    /// up if needed), with the offline model endpoint: a question, a structured answer, a tool run.
    Demo {
        /// Leave the cluster running afterwards (when the demo started it).
        #[arg(long)]
        keep_cluster: bool,
    },
    /// Run the whole test pipeline: fmt, clippy, unit + doc + snapshot tests,
    /// then the cluster suite against a fresh local cluster (torn down after).
    Test,
    /// Benchmarks against ironflow-core 2.10.1 (B1–B6 of issue 13): builds `bench/`, runs
    /// them on the local cluster (under the cluster lock) and prints a table of ratios.
    Bench(bench::BenchArgs),
    /// The long runs: every fuzz property at scale, in release mode; `--cluster` adds the
    /// slow cluster faults (on a running local cluster).
    Soak {
        /// Cases per property.
        #[arg(long, default_value_t = 100_000)]
        cases: u32,
        /// Also run the cluster fault suite with its soak-only faults.
        #[arg(long)]
        cluster: bool,
    },
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
        Task::Demo { keep_cluster } => demo::run(&layout, &demo::DemoOptions { keep_cluster }),
        Task::Test => test::run(&layout),
        Task::Bench(args) => bench::run(&layout, &args),
        Task::Soak { cases, cluster } => soak::run(&layout, cases, cluster),
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
