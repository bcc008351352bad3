//! `cargo xtask`: the developer tasks of the agentpod workspace.
//!
//! Every setup step a fresh machine needs lives here so that a developer and CI
//! run exactly the same thing: `cargo xtask test` is the one test command that
//! README.md documents and `.ci/run` calls.

// A developer tool talks to its user on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

mod test;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "agentpod developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run the whole test pipeline: fmt, clippy, unit + doc + snapshot tests.
    Test,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Test => test::run(),
    }
}
