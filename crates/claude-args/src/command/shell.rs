//! Argv + setup steps → one POSIX `sh -c` line, quoted by `shlex`.
//!
//! Every word is quoted, and every path is written so that no shell can read it as an option
//! or look it up elsewhere: `cd -- -` means `$OLDPWD` in POSIX shells even after `--`, and a
//! relative `cd` target is searched in `$CDPATH` (and the directory found printed to stdout, in
//! front of the JSON). So relative paths are written as `./<path>`; a program name starting with
//! `-` without a `/` cannot be made safe and is refused by the options check.

use crate::delivery::PromptDelivery;
use crate::env::CREDENTIALS_FILE_IN_HOME;
use crate::{ClaudeArgsError, Result, SetupStep};

/// The shell line: `<setup steps> && cd -- <dir> && exec <argv> [< <prompt file>]`.
pub(crate) fn shell_line(
    argv: &[String],
    setup_steps: &[SetupStep],
    working_dir: Option<&str>,
    delivery: &PromptDelivery,
) -> Result<String> {
    let mut parts: Vec<String> = Vec::new();
    for step in setup_steps {
        parts.push(match step {
            SetupStep::CopyOAuthCredentials { from } => format!(
                "mkdir -p \"$HOME/.claude\" && cp {} \"$HOME/{file}\" && chmod 600 \"$HOME/{file}\"",
                quote("oauth_credentials_file", from)?,
                file = CREDENTIALS_FILE_IN_HOME,
            ),
            // `NAME="$(cat f)" && export NAME`: the assignment's status is cat's, so a missing
            // file stops the line; `export NAME="$(…)"` would hide that failure.
            SetupStep::ExportFromFile { name, path } => {
                format!("{name}=\"$(cat {})\" && export {name}", quote("credential file", path)?)
            }
        });
    }
    if let Some(dir) = working_dir {
        parts.push(format!(
            "cd -- {}",
            quote("working_dir", &literal_dir(dir))?
        ));
    }
    let program = argv.first().map(|program| literal_program(program));
    let words = program
        .as_deref()
        .into_iter()
        .chain(argv.iter().skip(1).map(String::as_str));
    let mut exec = format!(
        "exec {}",
        shlex::try_join(words).map_err(|_| ClaudeArgsError::NulByte { field: "argument" })?
    );
    if let PromptDelivery::File { path } = delivery {
        exec.push_str(" < ");
        exec.push_str(&quote("large_prompt", path)?);
    }
    parts.push(exec);
    Ok(parts.join(" && "))
}

/// A directory no shell reads as an option or looks up in `$CDPATH`: absolute paths, and relative
/// ones whose first component is `.` or `..`, stay; other relative paths get `./` in front.
fn literal_dir(path: &str) -> String {
    let first = path.split('/').next().unwrap_or_default();
    if path.starts_with('/') || first == "." || first == ".." {
        path.to_owned()
    } else {
        format!("./{path}")
    }
}

/// A program path `exec` cannot read as an option. A bare name (no `/`) is looked up in `$PATH`
/// on purpose and stays (the options check refuses one starting with `-`); a path is written
/// like a directory.
fn literal_program(path: &str) -> String {
    if path.contains('/') {
        literal_dir(path)
    } else {
        path.to_owned()
    }
}

fn quote(field: &'static str, value: &str) -> Result<String> {
    shlex::try_quote(value)
        .map(|quoted| quoted.into_owned())
        .map_err(|_| ClaudeArgsError::NulByte { field })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_a_shell_could_misread_get_a_dot_slash() {
        for (path, dir, program) in [
            ("/abs/-x", "/abs/-x", "/abs/-x"),
            ("./-", "./-", "./-"),
            ("../up", "../up", "../up"),
            ("-bin/claude", "./-bin/claude", "./-bin/claude"),
            ("bin/claude", "./bin/claude", "./bin/claude"),
            ("-", "./-", "-"),
            ("claude", "./claude", "claude"),
        ] {
            assert_eq!(literal_dir(path), dir, "{path}");
            assert_eq!(literal_program(path), program, "{path}");
        }
    }
}
