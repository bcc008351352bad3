//! Progress on stderr while a run waits and works.
//!
//! On a terminal: one live status line (an `indicatif` spinner with the elapsed time and the
//! pod's phase), with tool calls printed above it as they happen. Otherwise (a pipe, a CI log):
//! plain lines, each with the wall-clock time (UTC) and the time since the start.

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use agentpod_provider::AgentEvent;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

/// Characters of a tool's input or result shown on one line.
const SHOWN_CHARS: usize = 120;

/// Where progress goes.
pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    quiet: bool,
}

impl Progress {
    /// A spinner when stderr is a terminal, plain lines otherwise; nothing when `quiet`.
    pub fn new(quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            quiet,
        }
    }

    /// The current phase (replaces the status line; a plain line when not on a terminal).
    pub fn phase(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(text.to_owned()),
            None => self.line(text),
        }
    }

    /// Something that happened (a line above the status line).
    pub fn note(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => self.line(text),
        }
    }

    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let _ = writeln!(
            std::io::stderr().lock(),
            "{} +{elapsed:.1}s {text}",
            clock(SystemTime::now())
        );
    }

    /// Shows one event of the run.
    pub fn event(&self, event: &AgentEvent) {
        match event {
            AgentEvent::PodCreated { namespace, pod } => {
                self.phase(&format!("pod {namespace}/{pod} created, scheduling"));
            }
            AgentEvent::Pending { reason } => self.phase(&format!("pending: {reason}")),
            AgentEvent::Running => self.phase("running"),
            AgentEvent::ToolCall { name, input, .. } => {
                self.note(&format!("tool {name}: {}", summarise_input(input)));
            }
            AgentEvent::ToolResult {
                content, is_error, ..
            } => {
                let mark = if *is_error {
                    "tool error"
                } else {
                    "tool result"
                };
                self.note(&format!("  {mark}: {}", shorten(content)));
            }
            AgentEvent::Result => self.phase("result received"),
            _ => {}
        }
    }

    /// Removes the status line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Time since the progress started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `HH:MM:SS` (UTC).
fn clock(now: SystemTime) -> String {
    let seconds = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
        % 86_400;
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// The part of a tool's input a human recognises: the command, the file, the pattern.
fn summarise_input(input: &Value) -> String {
    for key in ["command", "file_path", "path", "pattern", "url", "query"] {
        if let Some(text) = input.get(key).and_then(Value::as_str) {
            return shorten(text);
        }
    }
    shorten(&input.to_string())
}

/// The first line, at most [`SHOWN_CHARS`] characters.
fn shorten(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or_default();
    let mut shown: String = line.chars().take(SHOWN_CHARS).collect();
    if shown.len() < line.len() || text.trim().lines().nth(1).is_some() {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_inputs_show_what_a_human_recognises() {
        assert_eq!(
            summarise_input(&serde_json::json!({"command": "ls -l\nwc"})),
            "ls -l…"
        );
        assert_eq!(summarise_input(&serde_json::json!({"x": 1})), "{\"x\":1}");
        assert_eq!(
            clock(UNIX_EPOCH + Duration::from_secs(3 * 3600 + 62)),
            "03:01:02"
        );
    }
}
