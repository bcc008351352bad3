//! The command line: clap's derive structs, nothing else.
//!
//! Every option that shapes the pod or the connection is an `Option` here, so that
//! [`crate::config`] can tell "not given" from a value and fill it from the environment
//! (`AGENTPOD_*`, read by clap) or the config file, in that order.

use std::path::PathBuf;
use std::time::Duration;

use agentpod_claude_args::{Effort, PermissionMode};
use clap::{Args, Parser, Subcommand, ValueEnum};

macro_rules! exit_codes {
    () => {
        "Exit codes:
  0    success
  1    the agent failed (model API error, max turns, budget, structured output missing)
  2    usage error (bad flag or value, missing prompt, unreadable file, invalid request)
  3    infrastructure error (cluster unreachable or kubeconfig unusable, image pull,
       unschedulable, out of memory, pod deadline, no result from the agent)
  4    timeout (the start or run timeout expired; the pod was deleted)
  130  interrupted (Ctrl-C; the pod was deleted)"
    };
}

const ABOUT: &str = "Run Claude Code agents as Kubernetes pods.";

const LONG_ABOUT: &str = "Run Claude Code agents as Kubernetes pods.

Each `agentpod run` creates one pod (and a Secret with the prompt and credentials), waits for the
agent's answer, prints it, and deletes the pod. Progress goes to stderr, the answer to stdout.";

const EXAMPLES: &str = concat!(
    r#"Examples:
  # Ask an agent in a pod (the image must contain the claude CLI)
  export ANTHROPIC_API_KEY=...
  agentpod run --image registry.example/claude-runner:2.1.328 "What is 2 + 2?"

  # Prompt from a file or from stdin; the full typed output as JSON
  agentpod run -o json @task.md
  git diff | agentpod run --allowed-tools Read,Grep -

  # Structured output that matches a JSON schema
  agentpod run --json-schema answer.schema.json "Count the TODOs in src/"

  # Print the Pod and Secrets a run would create (no cluster needed)
  agentpod render -o yaml --label team=infra "Fix the flaky test"

  # Remove what crashed runs left behind, after showing it
  agentpod reap --namespace agents --dry-run

"#,
    exit_codes!(),
    r#"

Configuration:
  Flags win over environment variables (AGENTPOD_NAMESPACE, AGENTPOD_IMAGE,
  AGENTPOD_KUBECONFIG, ...), which win over the config file
  (~/.config/agentpod/config.toml, or --config FILE / AGENTPOD_CONFIG).
  Credentials come from ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN in the environment, or
  from an existing Secret (--api-key-secret NAME/KEY); they are never flag values."#
);

/// `agentpod`: the command line.
#[derive(Debug, Parser)]
#[command(
    name = "agentpod",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = EXAMPLES,
    after_help = "See 'agentpod --help' for examples, exit codes and configuration.",
    propagate_version = true
)]
pub struct Cli {
    /// More output on stderr: -v for agentpod's debug log, -vv for every crate's.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Config file (TOML). Default: ~/.config/agentpod/config.toml when it exists.
    #[arg(long, global = true, value_name = "FILE", env = "AGENTPOD_CONFIG")]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one agent and print its answer.
    #[command(after_long_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Print the Pod and Secrets `run` would create (secret values redacted), without a cluster.
    Render(RenderArgs),
    /// Delete pods and Secrets that crashed runs left behind (expired or killed by the cluster).
    Reap(ReapArgs),
    /// Look at or drain a warm pool of agent pods (shared by `K8sPoolProvider`s).
    Pool(PoolArgs),
    /// Print a shell completion script.
    #[command(
        after_long_help = "Example:\n  agentpod completions bash > ~/.local/share/bash-completion/completions/agentpod"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

const RUN_EXAMPLES: &str = concat!(
    "Examples:
  agentpod run --image registry.example/claude-runner:2.1.328 \"What is 2 + 2?\"
  agentpod run -o json --max-turns 4 --allowed-tools Bash @task.md
  echo \"Summarise this\" | agentpod run -
  agentpod run --provider local \"What is 2 + 2?\"     # the claude on PATH, no cluster

",
    exit_codes!()
);

/// `agentpod run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The task: text, `@FILE` to read it from a file, or `-` to read it from stdin.
    #[arg(value_name = "PROMPT")]
    pub prompt: Option<String>,

    /// Where the agent runs: `ephemeral` (a pod of its own per run) or `local` (a claude
    /// process on this machine).
    #[arg(long, value_enum, env = "AGENTPOD_PROVIDER")]
    pub provider: Option<ProviderKind>,

    /// Output on stdout: the answer as text, the full typed output as JSON, or the events as
    /// they come (one JSON object per line).
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: RunOutput,

    /// No progress on stderr (errors still go there).
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub pod: PodArgs,

    #[command(flatten)]
    pub agent: AgentArgs,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `agentpod render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The task (as for `run`); it only goes into the redacted inputs Secret, so it may be
    /// left out.
    #[arg(value_name = "PROMPT")]
    pub prompt: Option<String>,

    /// Output format: YAML documents (Pod first, then its Secrets) or a JSON `List`.
    #[arg(short, long, value_enum, default_value = "yaml")]
    pub output: RenderOutput,

    #[command(flatten)]
    pub pod: PodArgs,

    #[command(flatten)]
    pub agent: AgentArgs,
}

/// `agentpod reap`.
#[derive(Debug, Args)]
pub struct ReapArgs {
    /// Only this namespace (default: every namespace the credentials may list).
    #[arg(short, long, env = "AGENTPOD_NAMESPACE")]
    pub namespace: Option<String>,

    /// Only list what would be deleted.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `agentpod pool`.
#[derive(Debug, Args)]
pub struct PoolArgs {
    /// The pool's namespace (default: `default`).
    #[arg(short, long, global = true, env = "AGENTPOD_NAMESPACE")]
    pub namespace: Option<String>,

    /// What to do with the pool.
    #[command(subcommand)]
    pub action: PoolAction,
}

/// `agentpod pool status|drain`.
#[derive(Debug, Subcommand)]
pub enum PoolAction {
    /// Size, busy and idle pods, and per pod: health, holder, uses, age, idle time.
    Status {
        /// The pool's name (`PoolOptions::name`).
        name: String,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Stop the pool taking runs and delete its pods: idle ones at once, busy ones when their
    /// runs end (waiting at most `--wait`).
    Drain {
        /// The pool's name (`PoolOptions::name`).
        name: String,
        /// How long to wait for busy pods (e.g. `30s`, `5m`).
        #[arg(long, value_parser = parse_duration, default_value = "60s")]
        wait: Duration,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
}

impl PoolAction {
    /// The cluster flags of either action.
    pub fn cluster_mut(&mut self) -> &mut ClusterArgs {
        match self {
            Self::Status { cluster, .. } | Self::Drain { cluster, .. } => cluster,
        }
    }
}

/// Which provider runs the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// A pod of its own per run, deleted after it.
    Ephemeral,
    /// A local `claude` process (no cluster).
    Local,
}

/// What `run` prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunOutput {
    /// The answer (or the structured value as JSON, when a schema was given).
    Text,
    /// The full typed output as one JSON document.
    Json,
    /// The events as they come, one JSON object per line, the output last.
    StreamJson,
}

/// What `render` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderOutput {
    /// YAML documents separated by `---`.
    Yaml,
    /// One JSON `v1/List`.
    Json,
}

/// Options that shape the pod (shared by `run` and `render`).
#[derive(Debug, Args, Default)]
pub struct PodArgs {
    /// Container image with the claude CLI.
    #[arg(long, env = "AGENTPOD_IMAGE", help_heading = "Pod")]
    pub image: Option<String>,

    /// Namespace of the pod [default: default].
    #[arg(short, long, env = "AGENTPOD_NAMESPACE", help_heading = "Pod")]
    pub namespace: Option<String>,

    /// The claude binary in the image (a name on PATH or an absolute path) or, with
    /// `--provider local`, on this machine [default: claude].
    #[arg(long, env = "AGENTPOD_CLAUDE_PATH", help_heading = "Pod")]
    pub claude_path: Option<String>,

    /// ANTHROPIC_BASE_URL for the agent (the model API it talks to).
    #[arg(long, env = "AGENTPOD_BASE_URL", help_heading = "Pod")]
    pub base_url: Option<String>,

    /// Take ANTHROPIC_API_KEY from key KEY of the existing Secret NAME in the pod's namespace
    /// (instead of $ANTHROPIC_API_KEY).
    #[arg(long, value_name = "NAME/KEY", env = "AGENTPOD_API_KEY_SECRET", value_parser = parse_secret_ref, help_heading = "Pod")]
    pub api_key_secret: Option<SecretRef>,

    /// A label on the pod and its Secrets (repeatable).
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_pair, help_heading = "Pod")]
    pub label: Vec<(String, String)>,

    /// An environment variable for the agent (repeatable; visible in the pod spec, so not for
    /// secrets).
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_pair, help_heading = "Pod")]
    pub env: Vec<(String, String)>,

    /// An environment variable read from an existing Secret (repeatable).
    #[arg(long, value_name = "VAR=SECRET/KEY", value_parser = parse_secret_env, help_heading = "Pod")]
    pub secret_env: Vec<(String, SecretRef)>,

    /// Longest wait for the pod to start: scheduling and image pull [default: 2m].
    #[arg(long, value_name = "DURATION", env = "AGENTPOD_START_TIMEOUT", value_parser = parse_duration, help_heading = "Pod")]
    pub start_timeout: Option<Duration>,

    /// Longest the agent may run once started [default: 5m].
    #[arg(long, value_name = "DURATION", env = "AGENTPOD_RUN_TIMEOUT", value_parser = parse_duration, help_heading = "Pod")]
    pub run_timeout: Option<Duration>,
}

/// What the agent does (the claude CLI's own options).
#[derive(Debug, Args, Default)]
pub struct AgentArgs {
    /// Model alias (sonnet, opus) or full name.
    #[arg(long, env = "AGENTPOD_MODEL", help_heading = "Agent")]
    pub model: Option<String>,

    /// Model to fall back to when the main one is overloaded (repeatable).
    #[arg(long, value_name = "MODEL", help_heading = "Agent")]
    pub fallback_model: Vec<String>,

    /// Replaces the default system prompt.
    #[arg(long, value_name = "TEXT", help_heading = "Agent")]
    pub system_prompt: Option<String>,

    /// Added to the end of the system prompt.
    #[arg(long, value_name = "TEXT", help_heading = "Agent")]
    pub append_system_prompt: Option<String>,

    /// Tools that run without asking, e.g. `Read,Bash(git diff *)` (repeatable or
    /// comma-separated).
    #[arg(
        long,
        value_name = "TOOLS",
        value_delimiter = ',',
        help_heading = "Agent"
    )]
    pub allowed_tools: Vec<String>,

    /// Tools the agent may not use (repeatable or comma-separated).
    #[arg(
        long,
        value_name = "TOOLS",
        value_delimiter = ',',
        help_heading = "Agent"
    )]
    pub disallowed_tools: Vec<String>,

    /// Stop after this many turns.
    #[arg(long, value_name = "N", help_heading = "Agent")]
    pub max_turns: Option<u32>,

    /// Stop once this many dollars are spent.
    #[arg(long, value_name = "USD", help_heading = "Agent")]
    pub max_budget_usd: Option<f64>,

    /// Permission mode: default, acceptEdits, plan, auto, dontAsk, bypassPermissions.
    #[arg(long, value_name = "MODE", value_parser = parse_permission_mode, help_heading = "Agent")]
    pub permission_mode: Option<PermissionMode>,

    /// Effort level: low, medium, high, xhigh, max.
    #[arg(long, value_name = "LEVEL", value_parser = parse_effort, help_heading = "Agent")]
    pub effort: Option<Effort>,

    /// Ask for structured output matching the JSON schema in FILE (an object schema).
    #[arg(long, value_name = "FILE", help_heading = "Agent")]
    pub json_schema: Option<PathBuf>,
}

/// Which cluster (shared by `run` and `reap`).
#[derive(Debug, Args, Default)]
pub struct ClusterArgs {
    /// Kubeconfig file [default: $KUBECONFIG, ~/.kube/config, or the in-cluster service
    /// account].
    #[arg(
        long,
        value_name = "FILE",
        env = "AGENTPOD_KUBECONFIG",
        help_heading = "Cluster"
    )]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context [default: the current one].
    #[arg(long, env = "AGENTPOD_CONTEXT", help_heading = "Cluster")]
    pub context: Option<String>,
}

/// A key of an existing Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// Secret name.
    pub secret: String,
    /// Key in it.
    pub key: String,
}

/// `KEY=VALUE`.
pub fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// `NAME/KEY`.
pub fn parse_secret_ref(text: &str) -> Result<SecretRef, String> {
    match text.split_once('/') {
        Some((secret, key)) if !secret.is_empty() && !key.is_empty() && !key.contains('/') => {
            Ok(SecretRef {
                secret: secret.to_owned(),
                key: key.to_owned(),
            })
        }
        _ => Err(format!("expected SECRET/KEY, got {text:?}")),
    }
}

/// `VAR=SECRET/KEY`.
fn parse_secret_env(text: &str) -> Result<(String, SecretRef), String> {
    let (var, reference) = text
        .split_once('=')
        .filter(|(var, _)| !var.is_empty())
        .ok_or_else(|| format!("expected VAR=SECRET/KEY, got {text:?}"))?;
    let reference = parse_secret_ref(reference)
        .map_err(|_| format!("expected VAR=SECRET/KEY, got {text:?}"))?;
    Ok((var.to_owned(), reference))
}

/// A humantime duration: `90s`, `5m`, `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|error| format!("{error} (examples: 90s, 5m, 1h30m)"))
}

fn parse_permission_mode(text: &str) -> Result<PermissionMode, String> {
    text.parse::<PermissionMode>().map_err(|_| {
        let known: Vec<&str> = PermissionMode::ALL.iter().map(|m| m.as_cli_str()).collect();
        format!("unknown permission mode; use one of {}", known.join(", "))
    })
}

fn parse_effort(text: &str) -> Result<Effort, String> {
    text.parse::<Effort>().map_err(|_| {
        let known: Vec<&str> = Effort::ALL.iter().map(|e| e.as_cli_str()).collect();
        format!("unknown effort level; use one of {}", known.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn pairs_and_secret_references_parse_or_say_what_is_expected() {
        assert_eq!(parse_pair("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_pair("novalue").is_err());
        assert!(parse_pair("=x").is_err());
        assert_eq!(
            parse_secret_env("KEY=anthropic/api-key"),
            Ok((
                "KEY".into(),
                SecretRef {
                    secret: "anthropic".into(),
                    key: "api-key".into()
                }
            ))
        );
        assert!(parse_secret_env("KEY=anthropic").is_err());
        assert!(parse_secret_ref("a/b/c").is_err());
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("soon").is_err());
    }
}
