//! Pure Claude Code CLI protocol (work in progress).
