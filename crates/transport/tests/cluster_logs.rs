//! A pod printing 50 MB: every byte arrives exactly once, in order, while the
//! consumer's memory stays bounded. Alone in its binary so that the process's
//! peak RSS belongs to this test.
//!
//! Runs with `cargo xtask test`; skips loudly under plain `cargo test`.

#![allow(clippy::expect_used, clippy::print_stderr, reason = "test code")]

mod support;

use std::time::{Duration, Instant};

use agentpod_transport::{LogStream, RunOptions};
use futures::StreamExt;

/// Lines printed: `%08d ` (9 bytes), padding, newline — 16 kB per line (just
/// under the runtime's 16 KiB split, like a large stream-json event).
const LINES: u64 = 3_200;
const LINE_BYTES: u64 = 16_000;

/// The producer: busybox awk, fast enough that the container is done long
/// before the kubelet's 10 s log-rotation check could cut the file.
fn producer() -> String {
    let pad = LINE_BYTES - 10;
    format!(
        "awk 'BEGIN {{ p = sprintf(\"%{pad}s\", \"\"); gsub(/ /, \"x\", p); for (i = 1; i <= {LINES}; i++) printf \"%08d %s\\n\", i, p }}'"
    )
}

/// Peak resident set size of this process (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmHWM value");
    kib * 1024
}

#[tokio::test]
async fn cluster_fifty_megabytes_of_log_exactly_once_with_bounded_memory() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let expected_bytes = LINES * LINE_BYTES;
    assert!(expected_bytes > 50_000_000, "{expected_bytes}");
    let spec = setup.busybox("biglog", &producer());
    let mut run = setup
        .transport
        .start(
            spec,
            RunOptions::default().run_timeout(Duration::from_secs(240)),
        )
        .await
        .expect("start");
    let mut logs = run.take_logs().expect("log stream");
    let rss_before = peak_rss();
    let started = Instant::now();
    let consume = async {
        // Check the numbering line by line, holding only the current partial line.
        let (mut next, mut partial, mut bytes, mut largest) = (1u64, Vec::new(), 0u64, 0usize);
        while let Some(chunk) = logs.next().await {
            let chunk = chunk.expect("log chunk");
            largest = largest.max(chunk.len());
            bytes += chunk.len() as u64;
            for &byte in chunk.iter() {
                if byte == b'\n' {
                    let number = std::str::from_utf8(&partial[..8]).expect("ascii");
                    assert_eq!(
                        number,
                        format!("{next:08}"),
                        "line {next} lost or duplicated"
                    );
                    assert_eq!(partial.len() as u64, LINE_BYTES - 1, "line {next} cut");
                    next += 1;
                    partial.clear();
                } else {
                    partial.push(byte);
                }
            }
            if bytes % (8 * 1024 * 1024) < chunk.len() as u64 {
                // A slow consumer now and then: backpressure must hold, not buffer.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        (next - 1, bytes, largest)
    };
    let (outcome, (last_line, bytes, largest)) = tokio::join!(run.wait(), consume);
    let outcome = outcome.expect("run");
    let elapsed = started.elapsed();
    let growth = peak_rss().saturating_sub(rss_before);
    eprintln!(
        "streamed {bytes} bytes in {elapsed:?}; largest chunk {largest} B; peak RSS growth {} KiB; summary {:?}; {} API requests; {:?}",
        growth / 1024,
        outcome.logs,
        outcome.api_requests,
        outcome.timings
    );
    assert!(outcome.exit.success(), "{}", outcome.exit);
    assert_eq!(last_line, LINES);
    assert_eq!(bytes, expected_bytes);
    assert!(largest <= LogStream::MAX_CHUNK_BYTES);
    let summary = outcome.logs.expect("summary");
    assert!(summary.complete, "{summary:?}");
    assert_eq!(summary.bytes, expected_bytes);
    // 50 MB went through; the process grew by far less than that.
    assert!(growth < 24 * 1024 * 1024, "peak RSS grew by {growth} bytes");
}
