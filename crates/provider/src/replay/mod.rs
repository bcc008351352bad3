//! Record any provider's runs into reviewable fixture files, and replay them without a cluster,
//! a CLI or a model.
//!
//! A fixture file is JSON lines. Each recorded run is a `request` line (the request's key, the
//! pod the run reported, and `shows`: the request's fields that are not at their default), one `event` line per
//! [`AgentEvent`] in order, and an `output` or `error` line:
//!
//! ```text
//! {"request":{"key":"5f1c…","shows":{"claude":{"output_format":"stream-json","prompt":"what is 2+2"}}}}
//! {"event":{"type":"running"}}
//! {"event":{"type":"assistant_text","text":"4"}}
//! {"event":{"type":"result"}}
//! {"output":{"text":"4","structured":null,"cost_usd":0.0001,…}}
//! ```
//!
//! **The key** is a SHA-256 over the canonical JSON (object keys sorted at every level) of every
//! field of the [`AgentRequest`]: the whole protocol request, labels and timeouts. Any change to
//! the request changes it; map order never does.
//!
//! **Secrets stay out**: credentials are the provider's, not the request's, so they are in
//! neither the key nor the file; inline `--mcp-config`, `--settings` and `--agents` JSON (which
//! may hold tokens) appear in the summary as their hash only; and
//! [`RecordingProvider::redact`] replaces any further known secret in every written line.
//!
//! Recorded outcomes are outputs, the agent's own failures (`Api`, `MaxTurns`, `MaxBudget`,
//! `SchemaMissing`, `RunFailed`) and `RunTimeout`; infrastructure failures are returned but not
//! recorded. When a request is recorded twice, replay serves the later recording.

mod fixture;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;

use crate::{AgentError, AgentEvent, AgentOutput, AgentProvider, AgentRequest, AgentRun, Result};
use fixture::{Line, RecordedError, RecordedOutput, RecordedRequest};

/// A provider that runs every request on `P` and appends the run (events and outcome) to a
/// fixture file, for [`ReplayProvider`] to serve later.
///
/// ```no_run
/// use agentpod_provider::{Agent, LocalProvider, RecordingProvider};
///
/// # async fn f() -> agentpod_provider::Result<()> {
/// let recorder = RecordingProvider::create(LocalProvider::builder().build(), "tests/fixtures/review.jsonl")?
///     .redact(std::env::var("ANTHROPIC_API_KEY").unwrap_or_default());
/// let output = Agent::new("Review the last commit").run(&recorder).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RecordingProvider<P> {
    inner: P,
    sink: Arc<Sink>,
    redactions: Arc<Vec<String>>,
}

#[derive(Debug)]
struct Sink {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl<P: AgentProvider> RecordingProvider<P> {
    /// Records `inner`'s runs into `path`, appending to the file (created if missing).
    pub fn create(inner: P, path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| fixture_error(&path, None, source))?;
        Ok(RecordingProvider {
            inner,
            sink: Arc::new(Sink {
                path,
                file: Mutex::new(file),
            }),
            redactions: Arc::new(Vec::new()),
        })
    }

    /// A secret (an API key, a token) to replace with `[redacted]` wherever it would appear in
    /// the file, e.g. in a tool's output. Empty values are ignored.
    #[must_use]
    pub fn redact(mut self, secret: impl Into<String>) -> Self {
        let secret = secret.into();
        if !secret.is_empty() {
            Arc::make_mut(&mut self.redactions).push(secret);
        }
        self
    }

    /// The provider that runs the requests.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The fixture file.
    pub fn path(&self) -> &Path {
        &self.sink.path
    }
}

impl Sink {
    /// Appends one run, all lines in one write so concurrent runs never interleave.
    fn write(&self, lines: &[Line], redactions: &[String]) -> Result<()> {
        let mut text = String::new();
        for line in lines {
            let json = serde_json::to_string(line)
                .map_err(|source| fixture_error(&self.path, None, source))?;
            text.push_str(&json);
            text.push('\n');
        }
        for secret in redactions {
            text = text.replace(secret.as_str(), "[redacted]");
        }
        let mut file = self
            .file
            .lock()
            .map_err(|_| fixture_error(&self.path, None, "a recording thread panicked"))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|source| fixture_error(&self.path, None, source))
    }
}

#[async_trait]
impl<P: AgentProvider> AgentProvider for RecordingProvider<P> {
    async fn start(&self, request: &AgentRequest) -> Result<AgentRun> {
        let head = RecordedRequest {
            key: fixture::request_key(request),
            pod: None,
            shows: fixture::request_summary(request),
        };
        let mut run = self.inner.start(request).await?;
        let head = RecordedRequest {
            pod: run.pod().map(str::to_owned),
            ..head
        };
        let pod = head.pod.clone();
        let inner_events = run.take_events();
        let sink = self.sink.clone();
        let redactions = self.redactions.clone();
        Ok(AgentRun::new(pod, move |events| async move {
            let forward = async {
                let mut seen = Vec::new();
                if let Some(mut inner_events) = inner_events {
                    while let Some(event) = inner_events.next().await {
                        seen.push(event.clone());
                        events.send(event).await;
                    }
                }
                seen
            };
            let (seen, outcome) = tokio::join!(forward, run.output());
            let end = match &outcome {
                Ok(output) => Some(Line::Output(Box::new(RecordedOutput::from(output)))),
                Err(error) => RecordedError::from_error(error).map(Line::Error),
            };
            match end {
                Some(end) => {
                    let mut lines = vec![Line::Request(head)];
                    lines.extend(seen.into_iter().map(Line::Event));
                    lines.push(end);
                    sink.write(&lines, &redactions)?;
                }
                None => tracing::warn!(
                    fixture = %sink.path.display(),
                    "not recording a run that failed outside the agent"
                ),
            }
            outcome
        }))
    }
}

/// A provider that serves the runs of a fixture file written by [`RecordingProvider`]: the
/// same events and the same output (or error) for the same request, with no cluster, no CLI
/// and no model. A request the file does not hold is [`AgentError::ReplayMiss`], never a call.
#[derive(Debug, Clone)]
pub struct ReplayProvider {
    path: Arc<PathBuf>,
    runs: Arc<HashMap<String, Recorded>>,
}

#[derive(Debug)]
struct Recorded {
    pod: Option<String>,
    events: Vec<AgentEvent>,
    outcome: Outcome,
}

#[derive(Debug)]
enum Outcome {
    Output(Box<RecordedOutput>),
    Error(RecordedError),
}

impl ReplayProvider {
    /// Reads a fixture file; a line that is not a fixture line is [`AgentError::Fixture`]
    /// naming the file and line.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let text =
            std::fs::read_to_string(&path).map_err(|source| fixture_error(&path, None, source))?;
        let runs = parse(&path, &text)?;
        Ok(ReplayProvider {
            path: Arc::new(path),
            runs: Arc::new(runs),
        })
    }

    /// How many distinct requests the file holds.
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// True when the file holds no run.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The key a request has in fixture files (for tooling and error messages).
    pub fn key_of(request: &AgentRequest) -> String {
        fixture::request_key(request)
    }
}

fn parse(path: &Path, text: &str) -> Result<HashMap<String, Recorded>> {
    let mut runs = HashMap::new();
    let mut open: Option<(RecordedRequest, Vec<AgentEvent>)> = None;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(raw)
            .map_err(|source| fixture_error(path, Some(number), source))?;
        let outcome = match (line, open.as_mut()) {
            (Line::Request(head), None) => {
                open = Some((head, Vec::new()));
                continue;
            }
            (Line::Event(event), Some((_, events))) => {
                events.push(event);
                continue;
            }
            (Line::Output(output), Some(_)) => Outcome::Output(output),
            (Line::Error(error), Some(_)) => Outcome::Error(error),
            (Line::Request(_), Some(_)) => {
                return Err(fixture_error(
                    path,
                    Some(number),
                    "a request line before the previous run's output or error line",
                ));
            }
            (_, None) => {
                return Err(fixture_error(
                    path,
                    Some(number),
                    "an event, output or error line outside a run (no request line before it)",
                ));
            }
        };
        if let Some((head, events)) = open.take() {
            runs.insert(
                head.key,
                Recorded {
                    pod: head.pod,
                    events,
                    outcome,
                },
            );
        }
    }
    if open.is_some() {
        return Err(fixture_error(
            path,
            None,
            "the last run has no output or error line",
        ));
    }
    Ok(runs)
}

#[async_trait]
impl AgentProvider for ReplayProvider {
    async fn start(&self, request: &AgentRequest) -> Result<AgentRun> {
        let key = fixture::request_key(request);
        let Some(recorded) = self.runs.get(&key) else {
            return Err(AgentError::ReplayMiss {
                key,
                prompt: fixture::shorten(&request.claude().prompt),
                fixture: self.path.as_ref().clone(),
            });
        };
        let recorded_events = recorded.events.clone();
        let outcome = match &recorded.outcome {
            Outcome::Output(output) => Ok(AgentOutput::from((**output).clone())),
            Outcome::Error(error) => Err(error.clone().into_error()),
        };
        Ok(AgentRun::new(
            recorded.pod.clone(),
            move |events| async move {
                for event in recorded_events {
                    events.send(event).await;
                }
                outcome
            },
        ))
    }
}

fn fixture_error(
    path: &Path,
    line: Option<usize>,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> AgentError {
    AgentError::Fixture {
        path: path.to_owned(),
        line,
        source: source.into(),
    }
}
