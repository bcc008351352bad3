//! The checks a request passes before anything runs.

use serde_json::Value;

use super::{ClaudeRequest, JsonOrPath, ToolSet, is_cli_whitespace};
use crate::{ClaudeArgsError, PermissionMode, Result};

impl ClaudeRequest {
    /// Checks the combinations the CLI would refuse (or that this crate refuses for safety),
    /// before anything runs. [`ClaudeCommand::build`](crate::ClaudeCommand::build) calls it.
    ///
    /// ```
    /// use agentpod_claude_args::{ClaudeArgsError, ClaudeRequest, JsonOrPath, PermissionMode};
    /// use serde_json::json;
    ///
    /// // Bypassing permissions needs the opt-in, whether asked for by flag or by settings.
    /// let by_settings = ClaudeRequest::new("Tidy up")
    ///     .settings(JsonOrPath::Json(json!({"permissions": {"defaultMode": "bypassPermissions"}})));
    /// assert!(matches!(by_settings.validate(), Err(ClaudeArgsError::BypassPermissionsNotAllowed { .. })));
    /// assert!(by_settings.allow_bypass_permissions(true).validate().is_ok());
    ///
    /// // A prompt of whitespace is no prompt for the CLI.
    /// let blank = ClaudeRequest::new(" \n\u{a0}");
    /// assert!(matches!(blank.validate(), Err(ClaudeArgsError::EmptyPrompt)));
    /// ```
    pub fn validate(&self) -> Result<()> {
        if self.prompt.chars().all(is_cli_whitespace) {
            return Err(ClaudeArgsError::EmptyPrompt);
        }
        if !self.allow_bypass_permissions {
            if self.permission_mode == Some(PermissionMode::BypassPermissions) {
                return Err(ClaudeArgsError::BypassPermissionsNotAllowed {
                    field: "permission_mode",
                });
            }
            if let Some(JsonOrPath::Json(settings)) = &self.settings
                && settings_bypass(settings)
            {
                return Err(ClaudeArgsError::BypassPermissionsNotAllowed { field: "settings" });
            }
            if let Some(JsonOrPath::Json(agents)) = &self.agents
                && agents_bypass(agents)
            {
                return Err(ClaudeArgsError::BypassPermissionsNotAllowed { field: "agents" });
            }
        }
        if self.max_turns == Some(0) {
            return Err(ClaudeArgsError::ZeroMaxTurns);
        }
        if let Some(value) = self.max_budget_usd
            && !(value.is_finite() && value > 0.0)
        {
            return Err(ClaudeArgsError::InvalidMaxBudget { value });
        }
        if let Some(id) = &self.session_id
            && !is_uuid(id)
        {
            return Err(ClaudeArgsError::InvalidSessionId { value: id.clone() });
        }
        self.check_session_options()?;
        self.check_exclusive_options()?;
        for (field, value) in [
            ("system_prompt_file", &self.system_prompt_file),
            ("append_system_prompt_file", &self.append_system_prompt_file),
            ("model", &self.model),
            ("resume", &self.resume),
            ("name", &self.name),
            ("debug_file", &self.debug_file),
            ("working_dir", &self.working_dir),
        ] {
            non_empty(field, value.as_deref())?;
        }
        for (field, list) in [
            ("fallback_models", &self.fallback_models),
            ("allowed_tools", &self.allowed_tools),
            ("disallowed_tools", &self.disallowed_tools),
            ("add_dirs", &self.add_dirs),
            ("plugin_dirs", &self.plugin_dirs),
            ("betas", &self.betas),
        ] {
            for item in list {
                non_empty(field, Some(item))?;
            }
        }
        if let Some(model) = &self.model {
            check_model_name("model", model)?;
        }
        for model in &self.fallback_models {
            check_model_name("fallback_models", model)?;
        }
        if let Some(ToolSet::Only(names)) = &self.tools {
            check_tool_names(names)?;
        }
        for config in &self.mcp_configs {
            json_object_or_path("mcp_configs", config)?;
        }
        if let Some(settings) = &self.settings {
            json_object_or_path("settings", settings)?;
        }
        if let Some(agents) = &self.agents {
            json_object_or_path("agents", agents)?;
        }
        if let Some(schema) = &self.json_schema {
            json_object("json_schema", schema)?;
        }
        Ok(())
    }

    fn check_session_options(&self) -> Result<()> {
        if self.continue_conversation && self.resume.is_some() {
            return Err(ClaudeArgsError::ConflictingOptions {
                first: "continue_conversation",
                second: "resume",
            });
        }
        let resuming = self.resume.is_some() || self.continue_conversation;
        if self.fork_session && !resuming {
            return Err(ClaudeArgsError::ForkWithoutResume);
        }
        if self.session_id.is_some() && resuming && !self.fork_session {
            return Err(ClaudeArgsError::SessionIdWithoutFork);
        }
        Ok(())
    }

    fn check_exclusive_options(&self) -> Result<()> {
        let conflicts = [
            // The CLI accepts both and silently picks one; refuse the ambiguity.
            (
                "system_prompt",
                self.system_prompt.is_some(),
                "system_prompt_file",
                self.system_prompt_file.is_some(),
            ),
            (
                "append_system_prompt",
                self.append_system_prompt.is_some(),
                "append_system_prompt_file",
                self.append_system_prompt_file.is_some(),
            ),
            // The CLI ignores the flag with a replaced system prompt.
            (
                "exclude_dynamic_system_prompt_sections",
                self.exclude_dynamic_system_prompt_sections,
                "system_prompt",
                self.system_prompt.is_some() || self.system_prompt_file.is_some(),
            ),
            // Restricted mode refuses bypassPermissions.
            (
                "restricted",
                self.restricted,
                "permission_mode",
                self.permission_mode == Some(PermissionMode::BypassPermissions),
            ),
        ];
        for (first, first_set, second, second_set) in conflicts {
            if first_set && second_set {
                return Err(ClaudeArgsError::ConflictingOptions { first, second });
            }
        }
        Ok(())
    }
}

/// Whether inline settings switch the CLI into `bypassPermissions`: `permissions.defaultMode`,
/// the one setting the CLI 2.1.328 reads for the mode (its own refusal names it next to the two
/// flags).
fn settings_bypass(settings: &Value) -> bool {
    settings
        .pointer("/permissions/defaultMode")
        .and_then(Value::as_str)
        == Some("bypassPermissions")
}

/// Whether an inline agents object gives any agent the `bypassPermissions` mode.
fn agents_bypass(agents: &Value) -> bool {
    agents.as_object().is_some_and(|agents| {
        agents.values().any(|agent| {
            agent.get("permissionMode").and_then(Value::as_str) == Some("bypassPermissions")
        })
    })
}

fn check_tool_names(names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Err(ClaudeArgsError::InvalidValue {
            field: "tools",
            value: String::new(),
            expected: "at least one tool name (use ToolSet::None for no tools)",
        });
    }
    for name in names {
        if name.is_empty() || name.contains(',') || name.chars().any(char::is_whitespace) {
            return Err(ClaudeArgsError::InvalidValue {
                field: "tools",
                value: name.clone(),
                expected: "a tool name without commas or whitespace, such as Read or Bash",
            });
        }
    }
    Ok(())
}

/// A model name or alias (`opus`, `claude-sonnet-4-5`, `us.anthropic.claude…:0`) is one word:
/// whitespace or control characters can only be a mistake (a pasted line, a stray newline).
/// NUL is left to the NUL check every text field gets (`ClaudeArgsError::NulByte`).
fn check_model_name(field: &'static str, name: &str) -> Result<()> {
    if name
        .chars()
        .any(|c| c != '\0' && (c.is_whitespace() || c.is_control()))
    {
        return Err(ClaudeArgsError::InvalidValue {
            field,
            value: name.to_owned(),
            expected: "a model name or alias without whitespace or control characters, such as opus or claude-sonnet-4-5",
        });
    }
    Ok(())
}

fn non_empty(field: &'static str, value: Option<&str>) -> Result<()> {
    match value {
        Some("") => Err(ClaudeArgsError::EmptyValue { field }),
        _ => Ok(()),
    }
}

fn json_object_or_path(field: &'static str, value: &JsonOrPath) -> Result<()> {
    match value {
        JsonOrPath::Json(json) => json_object(field, json),
        JsonOrPath::Path(path) => non_empty(field, Some(path)),
    }
}

fn json_object(field: &'static str, value: &Value) -> Result<()> {
    let kind = match value {
        Value::Object(_) => return Ok(()),
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
    };
    Err(ClaudeArgsError::NotAJsonObject { field, kind })
}

/// `8-4-4-4-12` hexadecimal digits, the only session id form the CLI accepts.
fn is_uuid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::SettingSource;
    use serde_json::json;

    const SESSION: &str = "6593f3bc-5111-4222-b3a5-016bad56cb19";
    const OTHER_SESSION: &str = "6593f3bc-5111-4222-b3a5-016bad56cb10";

    fn request() -> ClaudeRequest {
        ClaudeRequest::new("do it")
    }

    #[test]
    fn uuid_check_accepts_only_8_4_4_4_12_hex() {
        assert!(is_uuid(SESSION));
        assert!(is_uuid("6593F3BC-5111-4222-B3A5-016BAD56CB19"));
        for bad in [
            "",
            "nope",
            "6593f3bc51114222b3a5016bad56cb19",
            "6593f3bc-5111-4222-b3a5-016bad56cb1",
            "6593f3bc-5111-4222-b3a5-016bad56cb19-0",
            "g593f3bc-5111-4222-b3a5-016bad56cb19",
        ] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }

    #[test]
    fn validation_catches_each_refused_combination() {
        type ExpectedError = fn(&ClaudeArgsError) -> bool;
        let cases: Vec<(ClaudeRequest, ExpectedError)> = vec![
            (ClaudeRequest::new(""), |e| {
                matches!(e, ClaudeArgsError::EmptyPrompt)
            }),
            (request().max_turns(0), |e| {
                matches!(e, ClaudeArgsError::ZeroMaxTurns)
            }),
            (request().max_budget_usd(0.0), |e| {
                matches!(e, ClaudeArgsError::InvalidMaxBudget { .. })
            }),
            (request().max_budget_usd(f64::NAN), |e| {
                matches!(e, ClaudeArgsError::InvalidMaxBudget { .. })
            }),
            (request().session_id("abc"), |e| {
                matches!(e, ClaudeArgsError::InvalidSessionId { .. })
            }),
            (request().fork_session(true), |e| {
                matches!(e, ClaudeArgsError::ForkWithoutResume)
            }),
            (request().resume(SESSION).session_id(OTHER_SESSION), |e| {
                matches!(e, ClaudeArgsError::SessionIdWithoutFork)
            }),
            (
                request()
                    .continue_conversation(true)
                    .session_id(OTHER_SESSION),
                |e| matches!(e, ClaudeArgsError::SessionIdWithoutFork),
            ),
            (request().continue_conversation(true).resume(SESSION), |e| {
                matches!(
                    e,
                    ClaudeArgsError::ConflictingOptions {
                        second: "resume",
                        ..
                    }
                )
            }),
            (request().allowed_tools(["Read", ""]), |e| {
                matches!(
                    e,
                    ClaudeArgsError::EmptyValue {
                        field: "allowed_tools"
                    }
                )
            }),
            (request().plugin_dirs([""]), |e| {
                matches!(
                    e,
                    ClaudeArgsError::EmptyValue {
                        field: "plugin_dirs"
                    }
                )
            }),
            (request().betas([""]), |e| {
                matches!(e, ClaudeArgsError::EmptyValue { field: "betas" })
            }),
            (request().name(""), |e| {
                matches!(e, ClaudeArgsError::EmptyValue { field: "name" })
            }),
            (request().debug_file(""), |e| {
                matches!(
                    e,
                    ClaudeArgsError::EmptyValue {
                        field: "debug_file"
                    }
                )
            }),
            (request().tools(ToolSet::Only(vec![])), |e| {
                matches!(e, ClaudeArgsError::InvalidValue { field: "tools", .. })
            }),
            (
                request().tools(ToolSet::Only(vec!["Read,Bash".into()])),
                |e| matches!(e, ClaudeArgsError::InvalidValue { field: "tools", .. }),
            ),
            (
                request().tools(ToolSet::Only(vec!["Read Bash".into()])),
                |e| matches!(e, ClaudeArgsError::InvalidValue { field: "tools", .. }),
            ),
            (request().model("opus\n--bogus"), |e| {
                matches!(e, ClaudeArgsError::InvalidValue { field: "model", .. })
            }),
            (request().model("claude opus"), |e| {
                matches!(e, ClaudeArgsError::InvalidValue { field: "model", .. })
            }),
            (request().fallback_models(["sonnet\t"]), |e| {
                matches!(
                    e,
                    ClaudeArgsError::InvalidValue {
                        field: "fallback_models",
                        ..
                    }
                )
            }),
            (request().json_schema(json!("string")), |e| {
                matches!(
                    e,
                    ClaudeArgsError::NotAJsonObject {
                        field: "json_schema",
                        kind: "a string"
                    }
                )
            }),
            (request().mcp_configs([JsonOrPath::Json(json!([1]))]), |e| {
                matches!(
                    e,
                    ClaudeArgsError::NotAJsonObject {
                        field: "mcp_configs",
                        ..
                    }
                )
            }),
            (request().system_prompt("a").system_prompt_file("/a"), |e| {
                matches!(
                    e,
                    ClaudeArgsError::ConflictingOptions {
                        second: "system_prompt_file",
                        ..
                    }
                )
            }),
            (
                request()
                    .append_system_prompt("a")
                    .append_system_prompt_file("/a"),
                |e| {
                    matches!(
                        e,
                        ClaudeArgsError::ConflictingOptions {
                            first: "append_system_prompt",
                            ..
                        }
                    )
                },
            ),
            (
                request()
                    .exclude_dynamic_system_prompt_sections(true)
                    .system_prompt_file("/a"),
                |e| {
                    matches!(
                        e,
                        ClaudeArgsError::ConflictingOptions {
                            first: "exclude_dynamic_system_prompt_sections",
                            ..
                        }
                    )
                },
            ),
            (
                request()
                    .restricted(true)
                    .permission_mode(PermissionMode::BypassPermissions)
                    .allow_bypass_permissions(true),
                |e| {
                    matches!(
                        e,
                        ClaudeArgsError::ConflictingOptions {
                            first: "restricted",
                            ..
                        }
                    )
                },
            ),
            (request().model(""), |e| {
                matches!(e, ClaudeArgsError::EmptyValue { field: "model" })
            }),
        ];
        for (request, expected) in cases {
            let err = request.validate().unwrap_err();
            assert!(expected(&err), "unexpected {err:?} for {request:?}");
        }
    }

    #[test]
    fn whitespace_only_prompts_are_empty_but_other_invisible_characters_are_not() {
        for blank in [
            " ",
            "\n",
            "\t",
            "\r\n",
            "\u{a0}",
            "\u{feff}",
            " \u{2028}\u{3000}\u{b}\u{c}",
        ] {
            assert!(
                matches!(
                    ClaudeRequest::new(blank).validate(),
                    Err(ClaudeArgsError::EmptyPrompt)
                ),
                "{blank:?}"
            );
        }
        for text in ["\u{85}", "\u{200b}", " x "] {
            assert!(ClaudeRequest::new(text).validate().is_ok(), "{text:?}");
        }
    }

    #[test]
    fn bypass_in_inline_settings_or_agents_needs_the_opt_in() {
        let refused = [
            request().permission_mode(PermissionMode::BypassPermissions),
            request().settings(JsonOrPath::Json(
                json!({"permissions": {"defaultMode": "bypassPermissions"}}),
            )),
            request().agents(JsonOrPath::Json(json!({
                "fixer": {"description": "d", "prompt": "p", "permissionMode": "bypassPermissions"}
            }))),
        ];
        for request in refused {
            assert!(
                matches!(
                    request.validate(),
                    Err(ClaudeArgsError::BypassPermissionsNotAllowed { .. })
                ),
                "{request:?}"
            );
            assert!(request.allow_bypass_permissions(true).validate().is_ok());
        }
        let harmless = request().settings(JsonOrPath::Json(
            json!({"permissions": {"defaultMode": "acceptEdits", "deny": ["bypassPermissions"]}}),
        ));
        assert!(harmless.validate().is_ok());
    }

    #[test]
    fn fork_with_resume_or_continue_and_new_session_id_is_valid() {
        let resumed = request()
            .resume(SESSION)
            .session_id(OTHER_SESSION)
            .fork_session(true);
        assert!(resumed.validate().is_ok());
        let continued = request()
            .continue_conversation(true)
            .session_id(OTHER_SESSION)
            .fork_session(true);
        assert!(continued.validate().is_ok());
    }

    #[test]
    fn request_deserializes_with_defaults_and_strict_enums() {
        let parsed: ClaudeRequest = serde_json::from_str(
            r#"{"prompt":"p","output_format":"stream-json","permission_mode":"plan","effort":"low",
                "tools":{"only":["Read"]},"setting_sources":["user","local"]}"#,
        )
        .unwrap();
        assert_eq!(parsed.permission_mode, Some(PermissionMode::Plan));
        assert_eq!(parsed.tools, Some(ToolSet::Only(vec!["Read".into()])));
        assert_eq!(
            parsed.setting_sources,
            Some(vec![SettingSource::User, SettingSource::Local])
        );
        assert!(serde_json::from_str::<ClaudeRequest>(r#"{"permission_mode":"yolo"}"#).is_err());
    }
}
