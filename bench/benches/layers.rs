//! B6: the pure layers, ours and ironflow-core's, doing the same job: render a pod spec, build
//! the CLI's argv, parse 10 MB of stream-json. Criterion times each op; a counting global
//! allocator counts allocations and bytes per op, written next to criterion's output for
//! `agentpod-bench run --criterion-dir` to put into the table.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    missing_docs,
    reason = "a benchmark: a failed step should stop it"
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, SystemTime};

use agentpod_bench::alloc::{self, CountingAllocator};
use agentpod_bench::report::{ALLOCS_FILE, LayerOp};
use agentpod_bench::stream;
use agentpod_claude_args::{
    BuildOptions, ClaudeCommand, ClaudeRequest, OutputFormat, StreamParser,
};
use agentpod_podspec::AgentPodSpec;
use criterion::{Criterion, criterion_group};
use ironflow_core::prelude::AgentConfig;
use ironflow_core::providers::claude::common as their_cli;
use ironflow_core::providers::claude::k8s::common as their_pod;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const IMAGE: &str = "registry.example/claude-runner:2.1.328";
const PROMPT: &str = "Review the last commit and list every function whose error handling changed.";
const TOOLS: [&str; 3] = ["Read", "Grep", "Bash(git diff *)"];

/// Ours: the hardened preset (the default), the same labels, env and command as theirs.
fn render_ours() -> impl Sized {
    AgentPodSpec::new(IMAGE)
        .name("agent-19b2c3d4e5f-1a2b3c4d")
        .namespace("agents")
        .command(["sh", "-c", "exec claude -p \"$(cat /inputs/prompt)\""])
        .label("team", "platform")
        .env("ANTHROPIC_BASE_URL", "http://model.internal")
        .render(SystemTime::UNIX_EPOCH)
        .expect("renders")
        .pod
}

fn render_theirs() -> impl Sized {
    let labels = BTreeMap::from([("team".to_owned(), "platform".to_owned())]);
    let env = [(
        "ANTHROPIC_BASE_URL".to_owned(),
        "http://model.internal".to_owned(),
    )];
    their_pod::build_pod_spec(&their_pod::PodConfig {
        name: "claude-code-19b2c3d4e5f-1a2b3c4d",
        image: IMAGE,
        command: vec!["sh".into(), "-c".into(), "exec claude -p 'prompt'".into()],
        namespace: "agents",
        resources: &their_pod::K8sResources::default(),
        service_account: None,
        restart_policy: "Never",
        image_pull_policy: &their_pod::ImagePullPolicy::IfNotPresent,
        env_vars: &env,
        image_pull_secrets: &[],
        extra_labels: &labels,
        volumes: &[],
    })
    .expect("builds")
}

fn argv_ours() -> Vec<String> {
    let request = ClaudeRequest::new(PROMPT)
        .model("sonnet")
        .allowed_tools(TOOLS)
        .max_turns(8)
        .output_format(OutputFormat::StreamJson);
    let command = ClaudeCommand::build(&request, &BuildOptions::default()).expect("builds");
    command.sh_c_argv().expect("a shell line")
}

fn argv_theirs() -> Vec<String> {
    let mut config = AgentConfig::new(PROMPT);
    config.allowed_tools = TOOLS.iter().map(|t| (*t).to_owned()).collect();
    config.max_turns = Some(8);
    config.verbose = true;
    let args = their_cli::build_args(&config).expect("builds");
    vec![
        "sh".into(),
        "-c".into(),
        their_cli::build_shell_command("claude", &args),
    ]
}

/// Ours as the provider reads a log: 64 KiB chunks, events taken after each.
fn parse_ours(input: &[u8]) -> usize {
    let mut parser = StreamParser::new(false);
    let mut events = 0;
    for chunk in input.chunks(64 * 1024) {
        parser.feed(chunk);
        events += parser.take_events().len();
    }
    let output = parser.finish().expect("a result");
    assert_eq!(output.text, stream::RESULT_TEXT);
    events
}

/// Theirs as its provider does: the whole log as one string, parsed at the end.
fn parse_theirs(input: &str) -> usize {
    let mut config = AgentConfig::new(PROMPT);
    config.verbose = true;
    let output = their_cli::parse_stream_response(input, &config, 0).expect("a result");
    output.debug_messages.map_or(0, |m| m.len())
}

fn layers(c: &mut Criterion) {
    let big = stream::stream(10 * 1000 * 1000);
    let big_str = String::from_utf8(big.clone()).expect("utf-8");

    let mut group = c.benchmark_group("render_pod_spec");
    group.bench_function("ours", |b| b.iter(|| black_box(render_ours())));
    group.bench_function("ironflow", |b| b.iter(|| black_box(render_theirs())));
    group.finish();

    let mut group = c.benchmark_group("build_argv");
    group.bench_function("ours", |b| b.iter(|| black_box(argv_ours())));
    group.bench_function("ironflow", |b| b.iter(|| black_box(argv_theirs())));
    group.finish();

    let mut group = c.benchmark_group("parse_10mb_stream_json");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("ours", |b| {
        b.iter(|| black_box(parse_ours(black_box(&big))))
    });
    group.bench_function("ironflow", |b| {
        b.iter(|| black_box(parse_theirs(black_box(&big_str))))
    });
    group.finish();
}

/// Allocations per op, measured outside criterion (its own bookkeeping would count too).
fn allocations() -> Vec<LayerOp> {
    let big = stream::stream(10 * 1000 * 1000);
    let big_str = String::from_utf8(big.clone()).expect("utf-8");
    let op = |name: &str, ours: (f64, f64), theirs: (f64, f64)| LayerOp {
        op: name.to_owned(),
        ns: (None, None),
        allocs: (ours.0, theirs.0),
        bytes: (ours.1, theirs.1),
    };
    vec![
        op(
            "render_pod_spec",
            alloc::per_op(1000, render_ours),
            alloc::per_op(1000, render_theirs),
        ),
        op(
            "build_argv",
            alloc::per_op(1000, argv_ours),
            alloc::per_op(1000, argv_theirs),
        ),
        op(
            "parse_10mb_stream_json",
            alloc::per_op(3, || parse_ours(&big)),
            alloc::per_op(3, || parse_theirs(&big_str)),
        ),
    ]
}

criterion_group!(benches, layers);

fn main() {
    let ops = allocations();
    for op in &ops {
        println!(
            "{}: allocations per op ours {:.0} ({:.0} bytes), ironflow {:.0} ({:.0} bytes)",
            op.op, op.allocs.0, op.bytes.0, op.allocs.1, op.bytes.1
        );
    }
    // Criterion's directory: `$CARGO_TARGET_DIR/criterion` (what criterion itself uses).
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| "target".into(), std::path::PathBuf::from);
    let dir = target.join("criterion");
    std::fs::create_dir_all(&dir).expect("criterion dir");
    std::fs::write(
        dir.join(ALLOCS_FILE),
        serde_json::to_string_pretty(&ops).expect("json"),
    )
    .expect("written");
    benches();
    Criterion::default().configure_from_args().final_summary();
}
