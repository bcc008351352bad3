//! Build the exact `claude -p` command for a request, see how each input travels, and read the
//! CLI's output back as a typed result — all without running anything.
//!
//! ```sh
//! cargo run -p agentpod-examples --example claude_command
//! ```
//!
//! A transport (a pod, a container, a local process) needs exactly what this prints: the argv or
//! one `sh -c` line, the variables the process must see or must not inherit, the files it must
//! find, and where the prompt goes. Secret values never appear in any of it.

// An example program talks to its user on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use agentpod::claude_args::{
    BuildOptions, ClaudeCommand, ClaudeRequest, CredentialSource, Credentials, EnvValue,
    JsonOrPath, PermissionMode,
};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let request = ClaudeRequest::new("Review the diff in /work/change.patch")
        .max_turns(8)
        .permission_mode(PermissionMode::AcceptEdits)
        .allowed_tools(["Read", "Grep"])
        // Inline MCP configuration commonly carries a token: it travels as a file, not in argv.
        .mcp_configs([JsonOrPath::Json(json!({"mcpServers": {"tracker": {
            "type": "http",
            "url": "http://tracker.local/mcp",
            "headers": {"Authorization": "Bearer placeholder"},
        }}}))])
        .json_schema(json!({
            "type": "object",
            "properties": {"verdict": {"type": "string"}},
            "required": ["verdict"],
        }));
    let options = BuildOptions::default()
        .credentials(Credentials::default().api_key(CredentialSource::Environment))
        // The variables this process has; the CLI's own markers must not leak into the child.
        .orchestrator_env_names(
            std::env::vars_os().filter_map(|(name, _)| name.into_string().ok()),
        );
    let command = ClaudeCommand::build(&request, &options)?;

    println!("argv:");
    for word in command.argv() {
        println!("  {word}");
    }
    println!("sh -c line: {}", command.shell_line()?);
    println!("prompt travels: {:?}", command.prompt_delivery());
    for var in command.env() {
        match &var.value {
            EnvValue::Blank => println!("env {}: must be blank", var.name),
            other => println!("env {}: {other:?}", var.name),
        }
    }
    for file in command.input_files() {
        // Debug redacts the contents; a transport writes them to `path` out of band.
        println!("input file: {file:?}");
    }

    // What the CLI printed (here a captured answer) becomes a typed result or a typed error.
    let stdout = r#"{"type":"result","subtype":"success","is_error":false,"result":"","structured_output":{"verdict":"approve"},"num_turns":2,"total_cost_usd":0.0123}"#;
    let output = command.parse_output(stdout)?;
    println!("structured output: {:?}", output.structured);
    Ok(())
}
