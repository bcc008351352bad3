//! Request + plan → argv, one `--flag=value` word per value, each word checked on the way in.

use super::options::check_nul;
use super::plan::Plan;
use crate::delivery::PromptDelivery;
use crate::limits::MAX_ARGUMENT_BYTES;
use crate::request::ToolSet;
use crate::{ClaudeArgsError, ClaudeRequest, OutputFormat, Result};

/// Collects `--flag` and `--flag=value` words.
struct Argv(Vec<String>);

impl Argv {
    fn flag(&mut self, flag: &'static str, set: bool) {
        if set {
            self.0.push(flag.to_owned());
        }
    }

    fn value(&mut self, flag: &'static str, field: &'static str, value: &str) -> Result<()> {
        check_nul(field, value)?;
        let word = format!("{flag}={value}");
        if word.len() > MAX_ARGUMENT_BYTES {
            return Err(ClaudeArgsError::ArgumentTooLong {
                what: flag.to_owned(),
                bytes: word.len(),
                limit: MAX_ARGUMENT_BYTES,
            });
        }
        self.0.push(word);
        Ok(())
    }

    fn optional(
        &mut self,
        flag: &'static str,
        field: &'static str,
        value: Option<&str>,
    ) -> Result<()> {
        value.map_or(Ok(()), |value| self.value(flag, field, value))
    }

    fn each(&mut self, flag: &'static str, field: &'static str, values: &[String]) -> Result<()> {
        values
            .iter()
            .try_for_each(|value| self.value(flag, field, value))
    }
}

/// The argv for this request under this plan (`argv[0]` is the binary as configured).
pub(crate) fn build_argv(
    request: &ClaudeRequest,
    claude_path: &str,
    plan: &Plan,
) -> Result<Vec<String>> {
    let mut argv = Argv(vec![claude_path.to_owned(), "-p".to_owned()]);
    argv.value(
        "--output-format",
        "output_format",
        request.output_format.as_cli_str(),
    )?;
    // `-p` with stream-json is refused without --verbose.
    argv.flag(
        "--verbose",
        request.output_format == OutputFormat::StreamJson,
    );
    argv.optional("--model", "model", request.model.as_deref())?;
    if !request.fallback_models.is_empty() {
        argv.value(
            "--fallback-model",
            "fallback_models",
            &request.fallback_models.join(","),
        )?;
    }
    match (&plan.system_prompt_file, &request.system_prompt) {
        (Some(path), _) => argv.value("--system-prompt-file", "system_prompt", path)?,
        (None, text) => argv.optional("--system-prompt", "system_prompt", text.as_deref())?,
    }
    argv.optional(
        "--system-prompt-file",
        "system_prompt_file",
        request.system_prompt_file.as_deref(),
    )?;
    match (
        &plan.append_system_prompt_file,
        &request.append_system_prompt,
    ) {
        (Some(path), _) => {
            argv.value("--append-system-prompt-file", "append_system_prompt", path)?;
        }
        (None, text) => argv.optional(
            "--append-system-prompt",
            "append_system_prompt",
            text.as_deref(),
        )?,
    }
    argv.optional(
        "--append-system-prompt-file",
        "append_system_prompt_file",
        request.append_system_prompt_file.as_deref(),
    )?;
    argv.flag(
        "--exclude-dynamic-system-prompt-sections",
        request.exclude_dynamic_system_prompt_sections,
    );
    match &request.tools {
        None => {}
        Some(ToolSet::None) => argv.value("--tools", "tools", "")?,
        Some(ToolSet::Default) => argv.value("--tools", "tools", "default")?,
        Some(ToolSet::Only(names)) => argv.value("--tools", "tools", &names.join(","))?,
    }
    argv.each("--allowedTools", "allowed_tools", &request.allowed_tools)?;
    argv.each(
        "--disallowedTools",
        "disallowed_tools",
        &request.disallowed_tools,
    )?;
    if let Some(turns) = request.max_turns {
        argv.value("--max-turns", "max_turns", &turns.to_string())?;
    }
    if let Some(budget) = request.max_budget_usd {
        // f64's Display never uses an exponent, which the CLI's number parser needs.
        argv.value("--max-budget-usd", "max_budget_usd", &budget.to_string())?;
    }
    argv.each("--mcp-config", "mcp_configs", &plan.mcp_configs)?;
    argv.flag("--strict-mcp-config", request.strict_mcp_config);
    argv.flag("--bare", request.bare);
    argv.flag("--restricted", request.restricted);
    argv.flag("--safe-mode", request.safe_mode);
    if let Some(sources) = &request.setting_sources {
        let joined: Vec<&str> = sources.iter().map(|source| source.as_cli_str()).collect();
        argv.value("--setting-sources", "setting_sources", &joined.join(","))?;
    }
    argv.optional("--settings", "settings", plan.settings.as_deref())?;
    argv.optional("--agents", "agents", plan.agents.as_deref())?;
    argv.each("--plugin-dir", "plugin_dirs", &request.plugin_dirs)?;
    argv.flag("--disable-slash-commands", request.disable_slash_commands);
    if let Some(mode) = request.permission_mode {
        argv.value("--permission-mode", "permission_mode", mode.as_cli_str())?;
    }
    if let Some(schema) = &request.json_schema {
        argv.value("--json-schema", "json_schema", &schema.to_string())?;
    }
    argv.flag("--continue", request.continue_conversation);
    argv.optional("--resume", "resume", request.resume.as_deref())?;
    argv.optional("--session-id", "session_id", request.session_id.as_deref())?;
    argv.flag("--fork-session", request.fork_session);
    argv.flag("--no-session-persistence", request.no_session_persistence);
    argv.optional("--name", "name", request.name.as_deref())?;
    if let Some(effort) = request.effort {
        argv.value("--effort", "effort", effort.as_cli_str())?;
    }
    argv.each("--add-dir", "add_dirs", &request.add_dirs)?;
    argv.each("--betas", "betas", &request.betas)?;
    argv.optional("--debug-file", "debug_file", request.debug_file.as_deref())?;
    let mut argv = argv.0;
    if plan.prompt == PromptDelivery::Inline {
        argv.push("--".to_owned());
        argv.push(request.prompt.clone());
    }
    Ok(argv)
}
