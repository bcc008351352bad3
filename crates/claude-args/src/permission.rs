//! Permission modes and effort levels as closed enums.
//!
//! Parsing is strict: an unknown string is an error instead of a silent fall-back to the default
//! mode (a typo like `acceptedits` would otherwise run with other permissions than intended), and
//! every variant maps to exactly the string the CLI expects.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ClaudeArgsError;

/// How the CLI decides whether a tool call may run (`--permission-mode`).
///
/// ```
/// use agentpod_claude_args::PermissionMode;
///
/// let mode: PermissionMode = "acceptEdits".parse().unwrap();
/// assert_eq!(mode, PermissionMode::AcceptEdits);
/// assert_eq!(mode.as_cli_str(), "acceptEdits");
/// assert!("acceptedits".parse::<PermissionMode>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PermissionMode {
    /// Ask for anything not allowed by settings (`default`; the CLI also calls it `manual`).
    Default,
    /// Accept file edits without asking (`acceptEdits`).
    AcceptEdits,
    /// Plan only, do not change anything (`plan`).
    Plan,
    /// Let the CLI's classifier decide (`auto`).
    Auto,
    /// Deny whatever would need a prompt (`dontAsk`).
    DontAsk,
    /// Skip every permission check (`bypassPermissions`); needs an explicit opt-in on the request.
    BypassPermissions,
}

impl PermissionMode {
    /// All modes, in the order the CLI documents them.
    pub const ALL: [PermissionMode; 6] = [
        PermissionMode::Default,
        PermissionMode::AcceptEdits,
        PermissionMode::Plan,
        PermissionMode::Auto,
        PermissionMode::DontAsk,
        PermissionMode::BypassPermissions,
    ];

    /// The exact value passed to `--permission-mode`.
    pub fn as_cli_str(self) -> &'static str {
        match self {
            PermissionMode::Default => "default",
            PermissionMode::AcceptEdits => "acceptEdits",
            PermissionMode::Plan => "plan",
            PermissionMode::Auto => "auto",
            PermissionMode::DontAsk => "dontAsk",
            PermissionMode::BypassPermissions => "bypassPermissions",
        }
    }
}

impl FromStr for PermissionMode {
    type Err = ClaudeArgsError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        // `manual` is the CLI's newer name for the default mode; both reach the same behaviour.
        if value == "manual" {
            return Ok(PermissionMode::Default);
        }
        PermissionMode::ALL
            .into_iter()
            .find(|mode| mode.as_cli_str() == value)
            .ok_or_else(|| ClaudeArgsError::UnknownPermissionMode {
                value: value.to_owned(),
            })
    }
}

impl TryFrom<String> for PermissionMode {
    type Error = ClaudeArgsError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<PermissionMode> for String {
    fn from(mode: PermissionMode) -> String {
        mode.as_cli_str().to_owned()
    }
}

impl fmt::Display for PermissionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_cli_str())
    }
}

/// How hard the model thinks (`--effort`).
///
/// The CLI only warns about an unknown effort and falls back to its default; the enum makes such
/// a silent downgrade impossible.
///
/// ```
/// use agentpod_claude_args::Effort;
///
/// assert_eq!("xhigh".parse::<Effort>().unwrap(), Effort::XHigh);
/// assert!("extreme".parse::<Effort>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Effort {
    /// `low`
    Low,
    /// `medium`
    Medium,
    /// `high`
    High,
    /// `xhigh`
    XHigh,
    /// `max`
    Max,
}

impl Effort {
    /// All levels, lowest first.
    pub const ALL: [Effort; 5] = [
        Effort::Low,
        Effort::Medium,
        Effort::High,
        Effort::XHigh,
        Effort::Max,
    ];

    /// The exact value passed to `--effort`.
    pub fn as_cli_str(self) -> &'static str {
        match self {
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
            Effort::XHigh => "xhigh",
            Effort::Max => "max",
        }
    }
}

impl FromStr for Effort {
    type Err = ClaudeArgsError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Effort::ALL
            .into_iter()
            .find(|effort| effort.as_cli_str() == value)
            .ok_or_else(|| ClaudeArgsError::UnknownEffort {
                value: value.to_owned(),
            })
    }
}

impl TryFrom<String> for Effort {
    type Error = ClaudeArgsError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Effort> for String {
    fn from(effort: Effort) -> String {
        effort.as_cli_str().to_owned()
    }
}

impl fmt::Display for Effort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_cli_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_round_trips_through_its_cli_string() {
        for mode in PermissionMode::ALL {
            assert_eq!(mode.as_cli_str().parse::<PermissionMode>().unwrap(), mode);
            assert_eq!(mode.to_string(), mode.as_cli_str());
        }
    }

    #[test]
    fn manual_is_the_default_mode() {
        assert_eq!(
            "manual".parse::<PermissionMode>().unwrap(),
            PermissionMode::Default
        );
    }

    #[test]
    fn unknown_and_wrongly_cased_modes_are_rejected() {
        for bad in ["", "Default", "acceptedits", "bypass", "dont-ask", " plan"] {
            let err = bad.parse::<PermissionMode>().unwrap_err();
            assert!(
                matches!(err, ClaudeArgsError::UnknownPermissionMode { ref value } if value == bad),
                "{bad:?} gave {err:?}"
            );
        }
    }

    #[test]
    fn serde_uses_the_cli_strings_and_rejects_unknown_ones() {
        let json = serde_json::to_string(&PermissionMode::AcceptEdits).unwrap();
        assert_eq!(json, "\"acceptEdits\"");
        assert!(serde_json::from_str::<PermissionMode>("\"yolo\"").is_err());
        assert_eq!(
            serde_json::from_str::<Effort>("\"high\"").unwrap(),
            Effort::High
        );
    }

    #[test]
    fn every_effort_round_trips() {
        for effort in Effort::ALL {
            assert_eq!(effort.as_cli_str().parse::<Effort>().unwrap(), effort);
        }
        assert!("HIGH".parse::<Effort>().is_err());
    }
}
