//! A counting proxy in front of the API server, for B2.
//!
//! ironflow-core builds its own `kube::Client` inside each call, so nothing can be hooked into
//! it; and the API server's `apiserver_request_total` metrics carry no client label, so the
//! kubelet's and the controllers' own `GET pods` cannot be told from a provider's. Instead the
//! provider is given a kubeconfig whose server is this proxy: plain HTTP on loopback, no
//! credentials. Each request is counted and logged (method, path, query), then forwarded to the
//! real API server through the harness's own client (TLS and the admin certificate), and the
//! answer streamed back (watches and log follows included).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody as BoxBody};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The requests that went through, in order: `METHOD path?query`.
#[derive(Clone, Default)]
pub struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    /// How many so far.
    pub fn count(&self) -> usize {
        self.0.lock().map(|seen| seen.len()).unwrap_or(0)
    }

    /// The requests from `from` on.
    pub fn since(&self, from: usize) -> Vec<String> {
        self.0
            .lock()
            .map(|seen| seen.get(from..).unwrap_or_default().to_vec())
            .unwrap_or_default()
    }
}

/// A running proxy (stops with the runtime).
pub struct CountingProxy {
    addr: SocketAddr,
    /// What went through.
    pub seen: Seen,
}

impl CountingProxy {
    /// Listens on a free loopback port and forwards through `client`.
    pub async fn start(client: kube::Client) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let seen = Seen::default();
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let client = client.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request| forward(client.clone(), log.clone(), request));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(CountingProxy { addr, seen })
    }

    /// A kubeconfig (YAML) whose only server is this proxy.
    pub fn kubeconfig(&self, namespace: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: proxy\n  cluster:\n    server: http://{addr}\n\
             users:\n- name: proxy\n  user: {{}}\ncontexts:\n- name: proxy\n  context:\n    cluster: proxy\n    user: proxy\n    namespace: {namespace}\n\
             current-context: proxy\n",
            addr = self.addr
        )
    }
}

type ProxyBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

async fn forward(
    client: kube::Client,
    log: Seen,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let (parts, body) = request.into_parts();
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    if let Ok(mut seen) = log.0.lock() {
        seen.push(format!("{} {target}", parts.method));
    }
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => return Ok(bad_gateway(format!("reading the request: {error}"))),
    };
    let mut outgoing = http::Request::builder().method(parts.method).uri(target);
    for (name, value) in &parts.headers {
        if !matches!(
            name.as_str(),
            "host" | "connection" | "content-length" | "transfer-encoding" | "keep-alive"
        ) {
            outgoing = outgoing.header(name, value);
        }
    }
    let outgoing = match outgoing.body(kube::client::Body::from(body.to_vec())) {
        Ok(request) => request,
        Err(error) => return Ok(bad_gateway(format!("building the request: {error}"))),
    };
    match client.send(outgoing).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let body =
                body.map_err(|error| Box::new(error) as Box<dyn std::error::Error + Send + Sync>);
            Ok(Response::from_parts(parts, BoxBody::new(body)))
        }
        Err(error) => Ok(bad_gateway(format!("forwarding: {error}"))),
    }
}

fn bad_gateway(message: String) -> Response<ProxyBody> {
    let mut response = Response::new(BoxBody::new(
        Full::new(Bytes::from(message)).map_err(|never| match never {}),
    ));
    *response.status_mut() = http::StatusCode::BAD_GATEWAY;
    response
}
