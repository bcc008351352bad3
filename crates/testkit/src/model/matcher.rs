//! Conditions a rule puts on a Messages request.
//!
//! Matching reads the request through the same view the recordings expose, so
//! what a test asserts on is exactly what the rule saw.

use serde::{Deserialize, Serialize};

use super::request::MessagesView;

/// Conditions on a Messages request; every field that is set must hold.
///
/// The *prompt* is the text of the latest user message that carries text other
/// than the CLI's `<system-reminder>` blocks: the `-p` prompt on the first
/// turn, and still that prompt on turns that only send back tool results.
///
/// ```
/// use agentpod_testkit::model::Matcher;
///
/// // Turn 2 of a tool run: the CLI sent back a tool_result containing "hi".
/// let after_tool = Matcher::prompt_contains("say hi").with_tool_result_containing("hi");
/// assert_eq!(after_tool.tool_result, Some(true));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    /// The prompt contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_contains: Option<String>,
    /// The last message does (`true`) or does not (`false`) carry a `tool_result` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_result: Option<bool>,
    /// A `tool_result` in the last message contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_result_contains: Option<String>,
    /// The request offers a tool of this name (e.g. `StructuredOutput` under `--json-schema`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_offered: Option<String>,
}

impl Matcher {
    /// Matches every request.
    ///
    /// ```
    /// assert_eq!(agentpod_testkit::model::Matcher::any(), Default::default());
    /// ```
    pub fn any() -> Self {
        Self::default()
    }

    /// Matches when the prompt contains `text`.
    ///
    /// ```
    /// let m = agentpod_testkit::model::Matcher::prompt_contains("2+2");
    /// assert_eq!(m.prompt_contains.as_deref(), Some("2+2"));
    /// ```
    pub fn prompt_contains(text: impl Into<String>) -> Self {
        Self {
            prompt_contains: Some(text.into()),
            ..Self::default()
        }
    }

    /// Additionally requires that the last message carries a `tool_result`.
    ///
    /// ```
    /// let m = agentpod_testkit::model::Matcher::any().with_tool_result();
    /// assert_eq!(m.tool_result, Some(true));
    /// ```
    #[must_use]
    pub fn with_tool_result(mut self) -> Self {
        self.tool_result = Some(true);
        self
    }

    /// Additionally requires that the last message carries no `tool_result` (first turn).
    ///
    /// ```
    /// let m = agentpod_testkit::model::Matcher::any().without_tool_result();
    /// assert_eq!(m.tool_result, Some(false));
    /// ```
    #[must_use]
    pub fn without_tool_result(mut self) -> Self {
        self.tool_result = Some(false);
        self
    }

    /// Additionally requires a `tool_result` in the last message containing `text`.
    ///
    /// ```
    /// let m = agentpod_testkit::model::Matcher::any().with_tool_result_containing("hi");
    /// assert_eq!(m.tool_result_contains.as_deref(), Some("hi"));
    /// ```
    #[must_use]
    pub fn with_tool_result_containing(mut self, text: impl Into<String>) -> Self {
        self.tool_result = Some(true);
        self.tool_result_contains = Some(text.into());
        self
    }

    /// Additionally requires the request to offer the tool `name`.
    ///
    /// ```
    /// let m = agentpod_testkit::model::Matcher::any().with_tool_offered("StructuredOutput");
    /// assert_eq!(m.tool_offered.as_deref(), Some("StructuredOutput"));
    /// ```
    #[must_use]
    pub fn with_tool_offered(mut self, name: impl Into<String>) -> Self {
        self.tool_offered = Some(name.into());
        self
    }

    pub(crate) fn matches(&self, request: &MessagesView<'_>) -> bool {
        if let Some(needle) = &self.prompt_contains
            && !request
                .prompt()
                .is_some_and(|prompt| prompt.contains(needle))
        {
            return false;
        }
        let results = request.last_tool_results();
        if let Some(wanted) = self.tool_result
            && wanted == results.is_empty()
        {
            return false;
        }
        if let Some(needle) = &self.tool_result_contains
            && !results.iter().any(|result| result.content.contains(needle))
        {
            return false;
        }
        if let Some(name) = &self.tool_offered
            && !request.tool_names().iter().any(|tool| tool == name)
        {
            return false;
        }
        true
    }
}
