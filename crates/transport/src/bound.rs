//! A bound on every API request: the response must start within the request
//! timeout, and its body may not stall for longer than an idle timeout.
//!
//! Why: kube sets no read timeout by default (it would cut exec sessions),
//! so a half-open connection — the peer accepted and then went silent — would
//! hang a create, a cleanup delete, the final log read or a reaper sweep for
//! as long as the kernel keeps the socket, i.e. forever. The transport wraps
//! its shared client in this layer once, so every request through it is
//! bounded, whoever sends it. The resulting error is a transient one: the
//! caller's retry policy tries again on a fresh attempt.
//!
//! Long streams are told apart by their query: a watch (`watch=true`) may be
//! silent until the server closes it after its own timeout, so its idle bound
//! is that timeout plus a minute; a log follow (`follow=true`) and an exec
//! session may be silent for as long as the container is, so their bodies
//! have no idle bound (a run bounds them by its own deadlines instead).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use kube::client::Body;
use tokio::time::Sleep;

use crate::error::BoxError;
use crate::watch::WATCH_TIMEOUT_SECS;

/// Default time for the response to a request to start, and the longest
/// silence inside a response body of an ordinary (non-streaming) request.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Extra silence a watch body may have beyond the server-side watch timeout.
const WATCH_IDLE_SLACK: Duration = Duration::from_secs(60);

/// The error a request fails with when its bound passed.
#[derive(Debug, thiserror::Error)]
#[error("the API server did not answer within {timeout:?} ({what})")]
pub(crate) struct RequestTimedOut {
    pub(crate) timeout: Duration,
    pub(crate) what: &'static str,
}

/// `client` with every request bounded by `timeout` (see the module docs).
pub(crate) fn bounded_client(client: kube::Client, timeout: Duration) -> kube::Client {
    let namespace = client.default_namespace().to_owned();
    kube::Client::new(Bounded { client, timeout }, namespace)
}

#[derive(Clone)]
struct Bounded {
    client: kube::Client,
    timeout: Duration,
}

/// The idle bound of a response body to `request`, `None` for none.
fn idle_bound(request: &Request<Body>, timeout: Duration) -> Option<Duration> {
    let query = request.uri().query().unwrap_or_default();
    let path = request.uri().path();
    let has = |pair: &str| query.split('&').any(|p| p == pair);
    if has("follow=true") || path.ends_with("/exec") || path.ends_with("/attach") {
        None
    } else if has("watch=true") {
        Some(Duration::from_secs(u64::from(WATCH_TIMEOUT_SECS)).saturating_add(WATCH_IDLE_SLACK))
    } else {
        Some(timeout)
    }
}

impl tower::Service<Request<Body>> for Bounded {
    type Response = Response<IdleBody>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let client = self.client.clone();
        let timeout = self.timeout;
        let idle = idle_bound(&request, timeout);
        Box::pin(async move {
            let response = tokio::time::timeout(timeout, client.send(request))
                .await
                .map_err(|_| {
                    Box::new(RequestTimedOut {
                        timeout,
                        what: "no response",
                    }) as BoxError
                })?
                .map_err(|error| Box::new(error) as BoxError)?;
            Ok(response.map(|body| IdleBody::new(body, idle)))
        })
    }
}

/// A response body that fails when no frame arrives within `idle`.
pub(crate) struct IdleBody {
    body: Body,
    idle: Option<Duration>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl IdleBody {
    fn new(body: Body, idle: Option<Duration>) -> Self {
        Self {
            body,
            idle,
            timer: None,
        }
    }
}

impl HttpBody for IdleBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.timer = None;
                Poll::Ready(frame.map(|f| f.map_err(|e| Box::new(e) as BoxError)))
            }
            Poll::Pending => {
                let Some(idle) = this.idle else {
                    return Poll::Pending;
                };
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.timer = None;
                        Poll::Ready(Some(Err(Box::new(RequestTimedOut {
                            timeout: idle,
                            what: "the response stalled",
                        }))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str) -> Request<Body> {
        Request::get(uri).body(Body::empty()).unwrap()
    }

    #[test]
    fn streams_get_their_own_idle_bounds() {
        let t = Duration::from_secs(30);
        assert_eq!(
            idle_bound(&request("/api/v1/namespaces/n/pods/p"), t),
            Some(t)
        );
        assert_eq!(
            idle_bound(&request("/api/v1/namespaces/n/pods/p/log?follow=true"), t),
            None
        );
        assert_eq!(
            idle_bound(&request("/api/v1/namespaces/n/pods/p/log?container=c"), t),
            Some(t)
        );
        assert_eq!(
            idle_bound(&request("/api/v1/namespaces/n/pods/p/exec?command=sh"), t),
            None
        );
        assert_eq!(
            idle_bound(
                &request("/api/v1/namespaces/n/pods?watch=true&timeoutSeconds=240"),
                t
            ),
            Some(Duration::from_secs(300))
        );
    }
}
