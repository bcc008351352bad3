//! The front door: describe an agent run, then run it on a provider.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::time::Duration;

use agentpod_claude_args::{
    ClaudeRequest, Effort, JsonOrPath, OutputFormat, PermissionMode, ToolSet,
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::{AgentError, AgentOutput, AgentProvider, AgentRun, Result};

/// One agent run, described: the task, the model, the tools, the limits.
///
/// `Agent` is a builder: private fields, `#[must_use]` setters that only record values, and
/// [`request`](Self::request) validates everything at once. [`run`](Self::run) and
/// [`start`](Self::start) validate and hand the [`AgentRequest`] to a provider. What the
/// builder does stays available on its own: [`claude_request`](Self::claude_request) is the
/// [`ClaudeRequest`] that `agentpod-claude-args` turns into a command, and
/// [`from_claude_request`](Self::from_claude_request) accepts every CLI option it knows.
///
/// ```no_run
/// use agentpod_provider::{Agent, ClusterConnection, K8sEphemeralProvider};
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Review { approve: bool, comments: Vec<String> }
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let provider = K8sEphemeralProvider::builder("registry.example/claude-runner:2.1.328")
///     .api_key_from_secret("anthropic", "api-key")
///     .connect(ClusterConnection::default())
///     .await?;
/// let review = Agent::new("Review the last commit")
///     .model("sonnet")
///     .max_turns(8)
///     .output::<Review>()
///     .run(&provider)
///     .await?;
/// let verdict = review.structured.expect("typed output is always present");
/// println!("approve: {}, cost ${:.4}", verdict.approve, review.cost_usd);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Agent<T = serde_json::Value> {
    claude: ClaudeRequest,
    labels: BTreeMap<String, String>,
    start_timeout: Option<Duration>,
    run_timeout: Option<Duration>,
    output_type: Option<OutputType>,
    _output: PhantomData<fn() -> T>,
}

#[derive(Debug, Clone)]
struct OutputType {
    name: &'static str,
    schema: serde_json::Value,
}

impl Agent {
    /// An agent for this prompt, every option left to the CLI's and the provider's defaults.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self::from_claude_request(ClaudeRequest::new(prompt))
    }

    /// An agent for a fully built [`ClaudeRequest`] (every CLI option the protocol crate knows).
    /// The output format is always stream-json (events are parsed as they arrive).
    pub fn from_claude_request(request: ClaudeRequest) -> Self {
        Agent {
            claude: request,
            labels: BTreeMap::new(),
            start_timeout: None,
            run_timeout: None,
            output_type: None,
            _output: PhantomData,
        }
    }
}

impl<T> Agent<T> {
    /// `--system-prompt`: replaces the default system prompt.
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.claude.system_prompt = Some(prompt.into());
        self
    }

    /// `--append-system-prompt`: added to the end of the system prompt.
    pub fn append_system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.claude.append_system_prompt = Some(prompt.into());
        self
    }

    /// `--model`: an alias (`sonnet`, `opus`) or a full model name.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.claude.model = Some(model.into());
        self
    }

    /// `--fallback-model`: models to try, in order, when the main one is busy.
    pub fn fallback_models<I, S>(mut self, models: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.claude.fallback_models = models.into_iter().map(Into::into).collect();
        self
    }

    /// `--tools`: which built-in tools exist at all.
    pub fn tools(mut self, tools: ToolSet) -> Self {
        self.claude.tools = Some(tools);
        self
    }

    /// `--allowedTools`: tools (or patterns like `Bash(git *)`) that run without asking.
    pub fn allowed_tools<I, S>(mut self, tools: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.claude.allowed_tools = tools.into_iter().map(Into::into).collect();
        self
    }

    /// `--disallowedTools`.
    pub fn disallowed_tools<I, S>(mut self, tools: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.claude.disallowed_tools = tools.into_iter().map(Into::into).collect();
        self
    }

    /// `--max-turns` (at least 1).
    pub fn max_turns(mut self, turns: u32) -> Self {
        self.claude.max_turns = Some(turns);
        self
    }

    /// `--max-budget-usd` (finite, above 0).
    pub fn max_budget_usd(mut self, usd: f64) -> Self {
        self.claude.max_budget_usd = Some(usd);
        self
    }

    /// `--permission-mode`. `BypassPermissions` also needs the opt-in on a
    /// [`ClaudeRequest`] (see [`from_claude_request`](Agent::from_claude_request)).
    pub fn permission_mode(mut self, mode: PermissionMode) -> Self {
        self.claude.permission_mode = Some(mode);
        self
    }

    /// `--effort`.
    pub fn effort(mut self, effort: Effort) -> Self {
        self.claude.effort = Some(effort);
        self
    }

    /// `--mcp-config`, one per call: inline JSON (delivered like a credential) or a path.
    pub fn mcp_config(mut self, config: JsonOrPath) -> Self {
        self.claude.mcp_configs.push(config);
        self
    }

    /// `--settings`: inline JSON (delivered like a credential) or a path.
    pub fn settings(mut self, settings: JsonOrPath) -> Self {
        self.claude.settings = Some(settings);
        self
    }

    /// A label for the run's objects (the pod and its Secrets), one per call.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Longest wait for the agent to start (scheduling, image pull). Default: the provider's.
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = Some(timeout);
        self
    }

    /// Longest the agent may run once started. Default: the provider's.
    pub fn run_timeout(mut self, timeout: Duration) -> Self {
        self.run_timeout = Some(timeout);
        self
    }

    /// Ask for structured output of type `U`: its JSON schema (from `schemars`) goes to the CLI
    /// (`--json-schema`), and [`run`](Self::run) deserialises the answer into `U`. The schema
    /// must describe a JSON object (a struct or a map).
    pub fn output<U: JsonSchema + DeserializeOwned>(self) -> Agent<U> {
        let mut schema = schemars::schema_for!(U).to_value();
        if let Some(object) = schema.as_object_mut() {
            // The CLI validates answers with a draft-07 validator that does not know the
            // 2020-12 meta-schema schemars names; the keyword carries no constraint.
            object.remove("$schema");
        }
        Agent {
            claude: self.claude,
            labels: self.labels,
            start_timeout: self.start_timeout,
            run_timeout: self.run_timeout,
            output_type: Some(OutputType {
                name: std::any::type_name::<U>(),
                schema,
            }),
            _output: PhantomData,
        }
    }

    /// The protocol request this agent sends (stream-json output, the schema of
    /// [`output`](Self::output) included).
    pub fn claude_request(&self) -> ClaudeRequest {
        let mut claude = self.claude.clone();
        claude.output_format = OutputFormat::StreamJson;
        if let Some(output) = &self.output_type {
            claude.json_schema = Some(output.schema.clone());
        }
        claude
    }

    /// Validates everything and returns the request a provider runs.
    pub fn request(&self) -> Result<AgentRequest> {
        if let Some(output) = &self.output_type
            && output.schema.get("type").and_then(|t| t.as_str()) != Some("object")
        {
            return Err(AgentError::InvalidOutputType {
                type_name: output.name,
                reason: "its JSON schema is not an object schema; wrap it in a struct",
            });
        }
        let claude = self.claude_request();
        claude
            .validate()
            .map_err(|source| AgentError::InvalidRequest { source })?;
        Ok(AgentRequest {
            claude,
            labels: self.labels.clone(),
            start_timeout: self.start_timeout,
            run_timeout: self.run_timeout,
        })
    }

    /// Starts the run on `provider` and returns it at once: follow its events, await its
    /// output (untyped; see [`AgentOutput::into_typed`]).
    pub async fn start<P: AgentProvider + ?Sized>(&self, provider: &P) -> Result<AgentRun> {
        let request = self.request()?;
        provider.start(&request).await
    }

    /// Runs the agent on `provider` and returns its output, the structured answer
    /// deserialised into `T`.
    pub async fn run<P: AgentProvider + ?Sized>(&self, provider: &P) -> Result<AgentOutput<T>>
    where
        T: DeserializeOwned,
    {
        let request = self.request()?;
        provider.run(&request).await?.into_typed()
    }
}

/// A validated agent run, as providers receive it. Built by [`Agent::request`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AgentRequest {
    claude: ClaudeRequest,
    labels: BTreeMap<String, String>,
    start_timeout: Option<Duration>,
    run_timeout: Option<Duration>,
}

impl AgentRequest {
    /// The protocol request: what the CLI should do.
    pub fn claude(&self) -> &ClaudeRequest {
        &self.claude
    }

    /// Labels for the run's objects.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// The start timeout asked for, if any (else the provider's default).
    pub fn start_timeout(&self) -> Option<Duration> {
        self.start_timeout
    }

    /// The run timeout asked for, if any (else the provider's default).
    pub fn run_timeout(&self) -> Option<Duration> {
        self.run_timeout
    }

    /// Every field as JSON, for record/replay keys (see `replay`).
    pub(crate) fn key_document(&self) -> serde_json::Value {
        let millis = |timeout: Option<Duration>| {
            timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX))
        };
        serde_json::json!({
            // Cannot fail: every map in a `ClaudeRequest` has string keys.
            "claude": serde_json::to_value(&self.claude).unwrap_or(serde_json::Value::Null),
            "labels": self.labels,
            "start_timeout_ms": millis(self.start_timeout),
            "run_timeout_ms": millis(self.run_timeout),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, JsonSchema)]
    #[allow(dead_code, reason = "only the schema is used")]
    struct Answer {
        answer: u32,
        unit: String,
    }

    #[test]
    fn typed_output_sends_an_object_schema_without_meta_schema() {
        let request = Agent::new("count").output::<Answer>().request();
        let Ok(request) = request else {
            panic!("valid request refused: {request:?}");
        };
        let Some(schema) = request.claude().json_schema.clone() else {
            panic!("no schema sent");
        };
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["required"], serde_json::json!(["answer", "unit"]));
        assert!(schema.get("$schema").is_none());
        assert_eq!(request.claude().output_format, OutputFormat::StreamJson);
    }

    #[test]
    fn a_non_object_output_type_is_refused() {
        let error = Agent::new("list").output::<Vec<u32>>().request();
        assert!(matches!(error, Err(AgentError::InvalidOutputType { .. })));
    }

    #[test]
    fn invalid_values_are_refused_before_any_provider_is_asked() {
        for agent in [
            Agent::new(" \n"),
            Agent::new("x").max_turns(0),
            Agent::new("x").max_budget_usd(-1.0),
            Agent::new("x").model(""),
        ] {
            let error = agent.request();
            assert!(
                matches!(&error, Err(e @ AgentError::InvalidRequest { .. }) if e.is_invalid_input()),
                "{error:?}"
            );
        }
    }
}
