//! Large stream-json outputs in the CLI's shape (system init, assistant turns, result), for B5
//! (a pod printing 200 MiB) and B6 (parsing 10 MB).

use std::io::Write;
use std::path::Path;

use serde_json::json;

/// The `result` text of a generated stream.
pub const RESULT_TEXT: &str = "done";

const SESSION: &str = "5f0c1f52-6a57-4d57-9a40-0b3c3c1e9a11";

/// The `system`/`init` line.
pub fn init_line() -> String {
    json!({"type": "system", "subtype": "init", "cwd": "/home/agent", "session_id": SESSION,
        "tools": ["Bash", "Read"], "mcp_servers": [], "model": "claude-sonnet-5-5",
        "permissionMode": "default", "apiKeySource": "ANTHROPIC_API_KEY"})
    .to_string()
}

/// One turn of the agent loop, about 1 KiB: an `assistant` line (a text block and a Bash
/// `tool_use`, `stop_reason: tool_use`) and the `user` line carrying the tool's result. A long
/// run is many such turns; one endless assistant turn would not be the CLI's shape.
pub fn turn_lines(text_bytes: usize) -> (String, String) {
    let text: String = "lorem ipsum dolor sit amet "
        .chars()
        .cycle()
        .take(text_bytes)
        .collect();
    let assistant = json!({"type": "assistant", "message": {"id": "msg_1", "type": "message",
        "role": "assistant", "model": "claude-sonnet-5-5",
        "content": [{"type": "text", "text": text},
            {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 12, "output_tokens": 1}},
        "parent_tool_use_id": null, "session_id": SESSION,
        "uuid": "0b9f6f7e-8f0e-4a53-9a7d-6c1d2f3e4a5b"})
    .to_string();
    let user = json!({"type": "user", "message": {"role": "user", "content": [{"type":
        "tool_result", "tool_use_id": "toolu_1", "content": "Cargo.toml\nsrc", "is_error": false}]},
        "parent_tool_use_id": null, "session_id": SESSION,
        "uuid": "1c0a7a8f-9f1f-4b64-8b8e-7d2e3f4a5b6c"})
    .to_string();
    (assistant, user)
}

/// The final `result` line.
pub fn result_line() -> String {
    json!({"type": "result", "subtype": "success", "is_error": false, "duration_ms": 178,
        "duration_api_ms": 23, "num_turns": 1, "result": RESULT_TEXT, "stop_reason": "end_turn",
        "session_id": SESSION, "total_cost_usd": 0.000054,
        "usage": {"input_tokens": 12, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0, "output_tokens": 3},
        "permission_denials": []})
    .to_string()
}

/// The two lines of a ~1 KiB turn (joined by a newline) and how many turns make `total_bytes`.
fn turns(total_bytes: usize) -> (String, usize) {
    let (assistant, user) = turn_lines(400);
    let pair = format!("{assistant}\n{user}");
    let count = total_bytes / (pair.len() + 1);
    (pair, count)
}

/// A whole stream of about `total_bytes`, in memory (B6).
pub fn stream(total_bytes: usize) -> Vec<u8> {
    let (pair, count) = turns(total_bytes);
    let mut out = Vec::with_capacity(total_bytes + 4096);
    let _ = writeln!(out, "{}", init_line());
    for _ in 0..count {
        out.extend_from_slice(pair.as_bytes());
        out.push(b'\n');
    }
    let _ = writeln!(out, "{}", result_line());
    out
}

/// Writes a stand-in `claude` into `dir` (mounted at `mount` in the pod) that ignores its
/// arguments and prints about `total_bytes` of stream-json with busybox `yes | head`.
pub fn write_fake_claude(dir: &Path, mount: &str, total_bytes: usize) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    let (pair, count) = turns(total_bytes);
    let lines = 2 * count;
    let files = [
        ("init.jsonl", init_line()),
        ("turn.jsonl", pair),
        ("result.jsonl", result_line()),
        (
            "claude",
            format!(
                "#!/bin/sh\ncat {mount}/init.jsonl\nyes \"$(cat {mount}/turn.jsonl)\" | head -n {lines}\ncat {mount}/result.jsonl\n"
            ),
        ),
    ];
    for (name, content) in files {
        let path = dir.join(name);
        std::fs::write(&path, format!("{content}\n"))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}
