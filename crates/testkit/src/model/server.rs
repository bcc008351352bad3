//! The HTTP side: one catch-all handler that records, matches and answers.
//!
//! A single fallback handler (instead of a route table) guarantees that every
//! request the CLI makes — including endpoints we did not foresee — is recorded
//! and answered with an Anthropic-shaped error rather than silently dropped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};

use super::reply::{Block, HttpError, Reply, StreamError};
use super::request::{MessagesView, RecordedRequest};
use super::response::AssistantMessage;
use super::script::{Rule, Script};

/// Largest request body accepted; long conversations with big tool outputs stay far below.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Headers that describe the connection rather than the request; not recorded.
const UNRECORDED_HEADERS: [&str; 4] = ["host", "connection", "content-length", "accept-encoding"];

/// Shared state of one running endpoint.
#[derive(Debug)]
pub(crate) struct EndpointState {
    script: Script,
    fallback: Rule,
    uses: Mutex<Vec<u32>>,
    requests: Mutex<Vec<RecordedRequest>>,
    next_id: AtomicU64,
}

impl EndpointState {
    pub(crate) fn new(script: Script) -> Self {
        let uses = vec![0; script.rules().len()];
        Self {
            script,
            fallback: Rule::default(),
            uses: Mutex::new(uses),
            requests: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
        }
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    pub(crate) fn clear_requests(&self) {
        lock(&self.requests).clear();
    }

    /// Picks the first matching rule with budget left and counts the use.
    fn choose(&self, request: &MessagesView<'_>) -> (Option<usize>, &Rule) {
        let mut uses = lock(&self.uses);
        for (index, rule) in self.script.rules().iter().enumerate() {
            let exhausted = rule.times.is_some_and(|limit| uses[index] >= limit);
            if !exhausted && rule.when.matches(request) {
                uses[index] += 1;
                return (Some(index), rule);
            }
        }
        (None, &self.fallback)
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// A poisoned lock only means another handler panicked; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn router(state: Arc<EndpointState>) -> Router {
    Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn handle(
    State(state): State<Arc<EndpointState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    if let Some(control) = path.strip_prefix("/_agentpod/") {
        return control_request(&state, &method, control);
    }
    let parsed_body = parse_body(&body);
    let mut recorded = RecordedRequest {
        method: method.to_string(),
        path: path.to_owned(),
        query: uri.query().map(str::to_owned),
        headers: recorded_headers(&headers),
        body: parsed_body,
        matched_rule: None,
    };
    let response = match (&method, path) {
        (&Method::HEAD | &Method::GET, "/api/hello") => StatusCode::OK.into_response(),
        (&Method::POST, "/v1/messages/count_tokens") => {
            Json(json!({"input_tokens": estimate_tokens(body.len())})).into_response()
        }
        (&Method::POST, "/v1/messages") => match recorded.body.as_ref().filter(|b| b.is_object()) {
            Some(json_body) => {
                let view = MessagesView::new(json_body);
                let (index, rule) = state.choose(&view);
                recorded.matched_rule = index;
                let plan = plan_reply(&state, rule, &view, body.len());
                tracing::info!(path, rule = ?index, streaming = view.is_streaming(), "model request");
                lock(&state.requests).push(recorded);
                return plan.into_response_after_delay().await;
            }
            None => error_response(&HttpError {
                message: Some("request body is not a JSON object".into()),
                ..HttpError::new(400)
            }),
        },
        _ => error_response(&HttpError {
            message: Some(format!(
                "the agentpod model endpoint does not serve {method} {path}"
            )),
            ..HttpError::new(404)
        }),
    };
    tracing::info!(%method, path, status = %response.status(), "request");
    lock(&state.requests).push(recorded);
    response
}

fn control_request(state: &EndpointState, method: &Method, control: &str) -> Response {
    match (method, control) {
        (&Method::GET, "requests") => Json(state.requests()).into_response(),
        (&Method::DELETE, "requests") => {
            state.clear_requests();
            StatusCode::NO_CONTENT.into_response()
        }
        _ => error_response(&HttpError {
            message: Some(format!(
                "unknown control request {method} /_agentpod/{control}; use GET or DELETE /_agentpod/requests"
            )),
            ..HttpError::new(404)
        }),
    }
}

fn parse_body(body: &Bytes) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    Some(
        serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned())),
    )
}

fn recorded_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .filter(|(name, _)| !UNRECORDED_HEADERS.contains(&name.as_str()))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn estimate_tokens(body_bytes: usize) -> u64 {
    u64::try_from(body_bytes / 4).unwrap_or(u64::MAX).max(1)
}

/// A decided answer, waiting only for its delay.
enum ReplyPlan {
    Error {
        delay: Duration,
        error: HttpError,
    },
    Garbage {
        delay: Duration,
        body: String,
    },
    Message {
        delay: Duration,
        chunk_delay: Duration,
        chunk_bytes: usize,
        streaming: bool,
        stream_error: Option<StreamError>,
        cut_after_events: Option<usize>,
        message: AssistantMessage,
    },
}

fn plan_reply(
    state: &EndpointState,
    rule: &Rule,
    view: &MessagesView<'_>,
    body_bytes: usize,
) -> ReplyPlan {
    let delay = Duration::from_millis(rule.delay_ms.unwrap_or(0));
    let blocks = match &rule.reply {
        Reply::Error(error) => {
            return ReplyPlan::Error {
                delay,
                error: error.clone(),
            };
        }
        Reply::Garbage(body) => {
            return ReplyPlan::Garbage {
                delay,
                body: body.clone(),
            };
        }
        Reply::Text(text) => vec![Block::Text(text.clone())],
        Reply::ToolUse(call) => vec![Block::ToolUse(call.clone())],
        Reply::Content(blocks) => blocks.clone(),
    };
    let model = view.model().unwrap_or("claude-agentpod-scripted");
    let message =
        AssistantMessage::build(rule, &blocks, model, estimate_tokens(body_bytes), || {
            state.next_id()
        });
    ReplyPlan::Message {
        delay,
        chunk_delay: Duration::from_millis(rule.chunk_delay_ms.unwrap_or(0)),
        chunk_bytes: rule.effective_chunk_bytes(),
        streaming: view.is_streaming(),
        stream_error: rule.stream_error.clone(),
        cut_after_events: rule.cut_after_events,
        message,
    }
}

impl ReplyPlan {
    async fn into_response_after_delay(self) -> Response {
        let delay = match &self {
            Self::Error { delay, .. }
            | Self::Garbage { delay, .. }
            | Self::Message { delay, .. } => *delay,
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match self {
            Self::Error { error, .. } => error_response(&error),
            Self::Garbage { body, .. } => (
                [(
                    axum::http::header::CONTENT_TYPE,
                    HeaderValue::from_static("text/event-stream"),
                )],
                body,
            )
                .into_response(),
            Self::Message {
                streaming: false,
                message,
                ..
            } => Json(message.to_json()).into_response(),
            Self::Message {
                chunk_delay,
                chunk_bytes,
                stream_error,
                cut_after_events,
                message,
                ..
            } => {
                let mut events = message.to_sse_events(chunk_bytes);
                if let Some(cut) = stream_error {
                    events.truncate(cut.after_events);
                    events.push(("error", cut.event_data()));
                }
                let cut_at = cut_after_events.unwrap_or(usize::MAX);
                let stream = futures::stream::iter(events.into_iter().enumerate()).then(
                    move |(index, (name, data))| async move {
                        if !chunk_delay.is_zero() {
                            tokio::time::sleep(chunk_delay).await;
                        }
                        if index >= cut_at {
                            // An error ends the body without its last chunk: hyper aborts
                            // the connection, as a dropped network would.
                            return Err(std::io::Error::other("scripted connection cut"));
                        }
                        Ok(Event::default().event(name).data(data.to_string()))
                    },
                );
                Sse::new(stream).into_response()
            }
        }
    }
}

fn error_response(error: &HttpError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({
        "type": "error",
        "error": {"type": error.effective_type(), "message": error.effective_message()},
    });
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static("request-id"),
        HeaderValue::from_static("req_agentpod_scripted"),
    );
    if let Some(retry) = error.should_retry {
        headers.insert(
            HeaderName::from_static("x-should-retry"),
            HeaderValue::from_static(if retry { "true" } else { "false" }),
        );
    }
    if let Some(seconds) = error.retry_after_secs {
        headers.insert(
            HeaderName::from_static("retry-after"),
            HeaderValue::from(seconds),
        );
    }
    response
}
