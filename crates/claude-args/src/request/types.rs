//! The small value types a request is made of.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ClaudeArgsError;

/// What the CLI prints (`--output-format`). Plain `text` is not offered: it cannot be parsed into
/// a typed result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputFormat {
    /// One JSON result document at the end (`json`).
    #[default]
    Json,
    /// One JSON event per line while the agent works, then the result (`stream-json`; the CLI
    /// needs `--verbose` with it, which the builder adds).
    StreamJson,
}

impl OutputFormat {
    /// The exact value passed to `--output-format`.
    pub fn as_cli_str(self) -> &'static str {
        match self {
            OutputFormat::Json => "json",
            OutputFormat::StreamJson => "stream-json",
        }
    }
}

impl FromStr for OutputFormat {
    type Err = ClaudeArgsError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "json" => Ok(OutputFormat::Json),
            "stream-json" => Ok(OutputFormat::StreamJson),
            _ => Err(ClaudeArgsError::UnknownOutputFormat {
                value: value.to_owned(),
            }),
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_cli_str())
    }
}

/// How the prompt is given to the CLI (`--input-format`).
///
/// Today only a plain text prompt (the CLI's default, so no flag is sent). Streaming input for
/// interactive sessions will be another variant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum InputFormat {
    /// One text prompt, as an argument or on stdin.
    #[default]
    Text,
}

/// A value the CLI accepts either as inline JSON or as a path to a JSON file
/// (`--mcp-config`, `--settings`, `--agents`).
///
/// Inline JSON never goes into argv: such documents commonly carry tokens, and argv ends up in
/// workload specs, exec URLs and audit logs. The built command lists it as an
/// [`InputFile`](crate::InputFile) that the caller delivers like a credential, and passes its
/// path to the CLI. `Debug` prints inline JSON as `<redacted>`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JsonOrPath {
    /// Inline JSON; must be an object.
    Json(serde_json::Value),
    /// A path the CLI reads, as the process sees it.
    Path(String),
}

impl fmt::Debug for JsonOrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonOrPath::Json(_) => f.write_str("Json(<redacted>)"),
            JsonOrPath::Path(path) => f.debug_tuple("Path").field(path).finish(),
        }
    }
}

/// Which built-in tools the CLI offers the model (`--tools`).
///
/// Unlike `allowed_tools` (which only skips the permission prompt), this removes tools from the
/// model's tool list altogether.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolSet {
    /// No built-in tools at all (`--tools=`).
    None,
    /// The CLI's default set (`--tools=default`).
    Default,
    /// Exactly these built-in tools, e.g. `Read`, `Edit` (`--tools=Read,Edit`). Names cannot be
    /// empty or contain commas or whitespace, which the CLI uses as separators.
    Only(Vec<String>),
}

/// A settings file the CLI may load (`--setting-sources`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingSource {
    /// The user's settings (`~/.claude/settings.json`).
    User,
    /// The project's shared settings (`.claude/settings.json`).
    Project,
    /// The project's local settings (`.claude/settings.local.json`).
    Local,
}

impl SettingSource {
    /// The exact value used in `--setting-sources`.
    pub fn as_cli_str(self) -> &'static str {
        match self {
            SettingSource::User => "user",
            SettingSource::Project => "project",
            SettingSource::Local => "local",
        }
    }
}

/// Characters the CLI strips from both ends of a prompt before refusing an empty one: the
/// ECMAScript `String.prototype.trim` set (white space and line terminators). Unlike Rust's
/// [`char::is_whitespace`] it includes U+FEFF and excludes U+0085; the real-CLI suite checks both
/// directions.
pub(crate) fn is_cli_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{9}'..='\u{d}'
            | ' '
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
            | '\u{feff}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_formats_parse_strictly() {
        assert_eq!(
            "stream-json".parse::<OutputFormat>().unwrap(),
            OutputFormat::StreamJson
        );
        assert!("text".parse::<OutputFormat>().is_err());
        assert_eq!(OutputFormat::StreamJson.to_string(), "stream-json");
    }

    #[test]
    fn cli_whitespace_is_the_ecmascript_trim_set() {
        for c in [
            ' ', '\t', '\n', '\r', '\u{b}', '\u{c}', '\u{a0}', '\u{feff}', '\u{3000}',
        ] {
            assert!(is_cli_whitespace(c), "{c:?}");
        }
        for c in ['\u{85}', '\u{200b}', '\u{180e}', 'a', '\0'] {
            assert!(!is_cli_whitespace(c), "{c:?}");
        }
    }
}
