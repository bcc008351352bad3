//! Side-by-side benchmarks of agentpod against ironflow-core 2.10.1: the cluster scenarios
//! (B1, B2, B4, B5) driven by the `agentpod-bench` binary, the pure layers (B6) by the
//! criterion bench `layers`, and the table both feed. See docs/performance.md.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports on the terminal"
)]

pub mod alloc;
pub mod cluster;
pub mod containerd;
pub mod proxy;
pub mod report;
pub mod sides;
pub mod stream;
