//! Helpers shared by the testkit's endpoint and CLI tests.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use agentpod_testkit::model::{ModelEndpoint, Script};

/// The endpoint serving `script` on loopback; a failed start fails the test.
pub async fn serve(script: Script) -> ModelEndpoint {
    match ModelEndpoint::start_local(script).await {
        Ok(endpoint) => endpoint,
        Err(error) => panic!("the model endpoint must start: {error}"),
    }
}

/// `claude` arguments of a one-shot JSON run: `-p <prompt> --output-format
/// json` followed by `extra`.
pub fn json_args<'a>(prompt: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["-p", prompt, "--output-format", "json"];
    args.extend_from_slice(extra);
    args
}

/// The last non-blank line of `text` (where the CLI prints its result).
pub fn last_line(text: &str) -> Option<&str> {
    text.lines().rev().find(|line| !line.trim().is_empty())
}
