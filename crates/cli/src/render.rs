//! `agentpod render`: the Pod and Secrets `run` would create, secret values redacted.

use std::io::Write as _;
use std::time::SystemTime;

use agentpod_podspec::RenderedPod;
use serde_json::{Value, json};

use crate::args::{RenderArgs, RenderOutput};
use crate::failure::Failure;
use crate::request;

/// What a Secret's values are replaced with.
pub const REDACTED: &str = "<redacted>";

/// The prompt used when `render` is given none (it only ends up in the redacted Secret).
const PLACEHOLDER_PROMPT: &str = "(prompt)";

/// Runs `agentpod render`.
pub fn render(args: &RenderArgs) -> Result<(), Failure> {
    let prompt = match args.prompt.as_deref() {
        None => PLACEHOLDER_PROMPT.to_owned(),
        given => request::read_prompt(given)?,
    };
    let agent = request::agent(prompt, &args.agent, &args.pod)?;
    let request = agent.request()?;
    let rendered = request::ephemeral_builder(&args.pod)?.render(&request, SystemTime::now())?;
    let objects = redacted_objects(&rendered)?;
    let text =
        match args.output {
            RenderOutput::Yaml => {
                let mut text = String::new();
                for object in &objects {
                    text.push_str("---\n");
                    text.push_str(&serde_norway::to_string(object).map_err(|error| {
                        Failure::Output(std::io::Error::other(error.to_string()))
                    })?);
                }
                text
            }
            RenderOutput::Json => {
                let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
                let mut text = serde_json::to_string_pretty(&list)
                    .map_err(|error| Failure::Output(error.into()))?;
                text.push('\n');
                text
            }
        };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// The Pod, then its Secrets with every value replaced by [`REDACTED`] (keys kept).
pub fn redacted_objects(rendered: &RenderedPod) -> Result<Vec<Value>, Failure> {
    let mut objects =
        vec![serde_json::to_value(&rendered.pod).map_err(|error| Failure::Output(error.into()))?];
    for secret in &rendered.secrets {
        let mut value =
            serde_json::to_value(secret).map_err(|error| Failure::Output(error.into()))?;
        for field in ["data", "stringData"] {
            if let Some(map) = value.get_mut(field).and_then(Value::as_object_mut) {
                for entry in map.values_mut() {
                    *entry = Value::String(REDACTED.to_owned());
                }
            }
        }
        objects.push(value);
    }
    Ok(objects)
}
