//! Counting API requests at the HTTP layer.
//!
//! Why at the HTTP layer: a count taken there includes every retry, re-watch,
//! log re-read and delete, so "requests per run" is the real load a run puts
//! on the API server, not what we think we sent.
//!
//! The shared client carries a [`CountingLayer`] for the process-wide total.
//! Because runs share that client concurrently, a per-run figure needs its
//! own view: [`scoped_client`] wraps the shared client (same connection pool,
//! same auth, same TLS) in one more counting layer for one run. That view
//! also counts the requests that failed (no answer, 5xx, 429): a run that met
//! a failing API server cleans up without relying on the garbage collector,
//! which lags behind an API server restart (see `cleanup.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{Request, Response};
use kube::client::Body;

/// A shared, cheap-to-clone request counter.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestCounter(Arc<Counts>);

#[derive(Debug, Default)]
struct Counts {
    sent: AtomicU64,
    failed: AtomicU64,
}

impl RequestCounter {
    /// Requests sent so far.
    pub(crate) fn get(&self) -> u64 {
        self.0.sent.load(Ordering::Relaxed)
    }

    /// Requests that failed so far: no answer, a 5xx or a 429. Only a
    /// [`scoped_client`] counts these.
    pub(crate) fn failed(&self) -> u64 {
        self.0.failed.load(Ordering::Relaxed)
    }

    fn increment(&self) {
        self.0.sent.fetch_add(1, Ordering::Relaxed);
    }

    fn note_failure(&self) {
        self.0.failed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Tower layer that counts every request passing through it.
#[derive(Debug, Clone)]
pub(crate) struct CountingLayer {
    counter: RequestCounter,
}

impl CountingLayer {
    /// A layer adding to `counter`.
    pub(crate) fn new(counter: RequestCounter) -> Self {
        Self { counter }
    }
}

impl<S> tower::Layer<S> for CountingLayer {
    type Service = CountingService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CountingService {
            inner,
            counter: self.counter.clone(),
        }
    }
}

/// The service produced by [`CountingLayer`].
#[derive(Debug, Clone)]
pub(crate) struct CountingService<S> {
    inner: S,
    counter: RequestCounter,
}

impl<S, B> tower::Service<Request<B>> for CountingService<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.counter.increment();
        self.inner.call(request)
    }
}

/// Adapts a [`kube::Client`] into a tower service, so another client can be
/// layered on top of it while reusing its connections; notes failed requests.
#[derive(Clone)]
struct SharedClient {
    client: kube::Client,
    counter: RequestCounter,
}

impl tower::Service<Request<Body>> for SharedClient {
    type Response = Response<Body>;
    type Error = kube::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, kube::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let (client, counter) = (self.client.clone(), self.counter.clone());
        Box::pin(async move {
            let response = client.send(request).await;
            let failed = match &response {
                Ok(response) => {
                    let status = response.status();
                    status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS
                }
                Err(_) => true,
            };
            if failed {
                counter.note_failure();
            }
            response
        })
    }
}

/// A client that sends through `shared` and counts its own requests in `counter`.
pub(crate) fn scoped_client(shared: &kube::Client, counter: RequestCounter) -> kube::Client {
    let inner = SharedClient {
        client: shared.clone(),
        counter: counter.clone(),
    };
    let service = tower::Layer::layer(&CountingLayer::new(counter), inner);
    kube::Client::new(service, shared.default_namespace().to_owned())
}
