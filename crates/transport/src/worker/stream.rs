//! An exec whose stdout is read as it arrives.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;

use super::Worker;
use crate::exec::exec_in_pod;
use crate::{ExecOptions, ExecOutput, ExecRequest, TransportError};

/// Chunks of stdout buffered between the exec and a slow reader.
const STDOUT_BUFFER_CHUNKS: usize = 8;

/// A running exec started with [`Worker::exec_streaming`]: its stdout as a
/// stream of chunks, and its outcome. Dropping it ends the session, and the
/// remote process group is killed (as for a dropped [`Worker::exec`]).
#[derive(Debug)]
pub struct ExecStream {
    stdout: Option<ExecStdout>,
    task: AbortOnDropHandle<Result<ExecOutput, TransportError>>,
    namespace: String,
    pod: String,
}

/// The stdout of an [`ExecStream`], chunk by chunk as the command writes it.
/// While the reader lags, at most a few chunks are buffered and the exec
/// stops reading (backpressure); dropping it discards the rest.
#[derive(Debug)]
pub struct ExecStdout(mpsc::Receiver<Bytes>);

impl Stream for ExecStdout {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        self.0.poll_recv(cx)
    }
}

impl ExecStream {
    /// The stdout stream (once). Read it concurrently with [`wait`](Self::wait).
    pub fn take_stdout(&mut self) -> Option<ExecStdout> {
        self.stdout.take()
    }

    /// Waits for the command's end: its exit code and stderr (`stdout` is
    /// empty: it went to the stream).
    pub async fn wait(self) -> Result<ExecOutput, TransportError> {
        let namespace = self.namespace.clone();
        let pod = self.pod.clone();
        drop(self.stdout);
        match self.task.await {
            Ok(result) => result,
            Err(source) => Err(TransportError::TaskFailed {
                namespace,
                pod,
                source,
            }),
        }
    }
}

impl Worker {
    /// Like [`exec`](Self::exec), but returns at once with the command's
    /// stdout as a stream, for commands whose output is read as it comes
    /// (an agent's event stream). Takes the worker's exec turn (unless
    /// `options.concurrent`) for as long as the exec runs. Must be called
    /// within a tokio runtime: the session runs in a task of its own.
    pub fn exec_streaming(&self, request: &ExecRequest, options: &ExecOptions) -> ExecStream {
        let (sink, receiver) = mpsc::channel(STDOUT_BUFFER_CHUNKS);
        let worker = self.clone();
        let request = request.clone();
        let options = options.clone();
        let task = tokio::spawn(async move {
            let _turn = worker.turn(&options).await?;
            exec_in_pod(
                worker.transport.client(),
                &worker.namespace,
                &worker.name,
                &worker.container,
                &request,
                &options,
                Some(sink),
            )
            .await
        });
        ExecStream {
            stdout: Some(ExecStdout(receiver)),
            task: AbortOnDropHandle::new(task),
            namespace: self.namespace.clone(),
            pod: self.name.clone(),
        }
    }
}
