//! Reading the log of a pod run, with scripted log streams (no cluster).

use std::time::Duration;

use agentpod_claude_args::StreamParser;
use agentpod_transport::TransportError;
use futures::StreamExt;

use super::{LogRead, read_log};
use crate::{AgentEvent, AgentRun};

const RESULT: &str = r#"{"type":"result","subtype":"success","is_error":false,"result":"ok","num_turns":1,"total_cost_usd":0.01}"#;

/// A log that delivers `chunks`, then stays open (the container has not exited yet, so the
/// kubelet keeps the follow open).
fn open_log(
    chunks: Vec<String>,
) -> impl futures::Stream<Item = Result<Vec<u8>, TransportError>> + Unpin {
    futures::stream::iter(chunks.into_iter().map(|chunk| Ok(chunk.into_bytes())))
        .chain(futures::stream::pending())
}

/// Reads `log` like the provider does, collecting the agent events; `None` when it did not
/// return within an hour of (paused, auto-advancing) test time.
async fn read(
    log: impl futures::Stream<Item = Result<Vec<u8>, TransportError>> + Unpin + Send + 'static,
) -> (Option<LogRead>, Vec<AgentEvent>) {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let mut run = AgentRun::new(None, move |events| async move {
        let read = tokio::time::timeout(
            Duration::from_secs(3600),
            read_log(Some(log), StreamParser::new(false), &events),
        )
        .await
        .ok();
        let _ = sender.send(read);
        Err(crate::AgentError::Unsupported {
            option: "test",
            provider: "test",
            reason: "test",
        })
    });
    let events = run.take_events();
    let _ = run.output().await;
    let events = match events {
        Some(events) => events.collect().await,
        None => Vec::new(),
    };
    (receiver.await.ok().flatten(), events)
}

#[tokio::test(start_paused = true)]
async fn the_log_read_ends_at_the_result_without_waiting_for_the_log_to_end() {
    let (read, events) = read(open_log(vec![format!("{RESULT}\n")])).await;
    let Some(read) = read else {
        panic!("the log read waited for the log to end after the result had arrived");
    };
    assert!(read.broken.is_none());
    assert_eq!(events.last(), Some(&AgentEvent::Result));
    let output = read.parser.finish();
    assert!(matches!(&output, Ok(o) if o.text == "ok"), "{output:?}");
}

#[tokio::test(start_paused = true)]
async fn stderr_noise_around_the_stream_json_is_skipped() {
    // Kubernetes 1.20's logs API merges stdout and stderr: warnings before, between and
    // after the JSON lines, and a result split over two chunks.
    let assistant =
        r#"{"type":"assistant","message":{"content":[{"type":"text","text":"thinking"}]}}"#;
    let (head, rest) = RESULT.split_at(40);
    let (read, events) = read(open_log(vec![
        "npm WARN config production Use `--omit=dev` instead.\n".to_owned(),
        format!("{assistant}\nWarning: something on stderr\n{head}"),
        format!("{rest}\n(node:7) ExperimentalWarning: stderr after the result\n"),
    ]))
    .await;
    let Some(read) = read else {
        panic!("the log read did not end at the result");
    };
    assert!(
        events.contains(&AgentEvent::AssistantText {
            text: "thinking".into()
        }),
        "{events:?}"
    );
    let output = read.parser.finish();
    assert!(matches!(&output, Ok(o) if o.text == "ok"), "{output:?}");
}

#[tokio::test(start_paused = true)]
async fn a_log_without_a_result_is_read_to_its_end() {
    let log = futures::stream::iter(vec![Ok(b"error: unknown option\n".to_vec())]);
    let (read, events) = read(log).await;
    let Some(read) = read else {
        panic!("a finite log was not read to its end");
    };
    assert!(!events.contains(&AgentEvent::Result));
    assert_eq!(read.tail.text(), "error: unknown option");
    assert!(read.parser.finish().is_err());
}
