//! Where each part of the request travels: argv, stdin, or an input file.
//!
//! Inline JSON documents always become input files (they commonly carry tokens, and argv ends
//! up in workload specs, exec URLs and audit logs). The prompt goes inline while its quoted form is
//! under the inline limit. Then the plan is tightened step by step while the whole `sh -c` line
//! would not fit into one argument: first the prompt moves to stdin or its file, then the larger
//! system prompt, then the other, into input files. A system prompt whose argv word alone is over
//! the per-argument limit starts in a file.

use crate::delivery::{InputFile, InputKind, LargePromptDelivery, PromptDelivery};
use crate::limits::MAX_ARGUMENT_BYTES;
use crate::request::JsonOrPath;
use crate::{BuildOptions, ClaudeArgsError, ClaudeRequest, Result};

/// The delivery decisions for one command.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    /// How the prompt travels.
    pub prompt: PromptDelivery,
    /// The input file holding `system_prompt`, once moved out of argv.
    pub system_prompt_file: Option<String>,
    /// The input file holding `append_system_prompt`, once moved out of argv.
    pub append_system_prompt_file: Option<String>,
    /// The `--mcp-config` values: given paths, or input files for inline JSON.
    pub mcp_configs: Vec<String>,
    /// The `--settings` value.
    pub settings: Option<String>,
    /// The `--agents` value.
    pub agents: Option<String>,
    /// The documents' input files.
    documents: Vec<InputFile>,
}

impl Plan {
    /// The first plan: documents in files, the prompt inline when its quoted form is small
    /// enough, system prompts in argv unless their word alone is too long.
    pub(crate) fn initial(request: &ClaudeRequest, options: &BuildOptions) -> Result<Self> {
        let dir = options.inputs_dir.trim_end_matches('/');
        let mut documents = Vec::new();
        let mut place = |value: &JsonOrPath, name: String, kind: InputKind| match value {
            JsonOrPath::Path(path) => path.clone(),
            JsonOrPath::Json(json) => {
                let path = format!("{dir}/{name}");
                documents.push(InputFile {
                    path: path.clone(),
                    kind,
                    contents: json.to_string(),
                });
                path
            }
        };
        let mcp_configs = request
            .mcp_configs
            .iter()
            .enumerate()
            .map(|(index, config)| {
                place(
                    config,
                    format!("mcp-config-{}.json", index + 1),
                    InputKind::McpConfig,
                )
            })
            .collect();
        let settings = request
            .settings
            .as_ref()
            .map(|settings| place(settings, "settings.json".into(), InputKind::Settings));
        let agents = request
            .agents
            .as_ref()
            .map(|agents| place(agents, "agents.json".into(), InputKind::Agents));

        let quoted_prompt = shlex::try_quote(&request.prompt)
            .map_err(|_| ClaudeArgsError::NulByte { field: "prompt" })?;
        let prompt = if quoted_prompt.len() <= options.inline_prompt_limit_bytes {
            PromptDelivery::Inline
        } else {
            large(options)
        };
        let word_too_long = |flag: &str, text: &Option<String>| {
            text.as_ref()
                .is_some_and(|text| flag.len() + 1 + text.len() > MAX_ARGUMENT_BYTES)
        };
        let mut plan = Plan {
            prompt,
            system_prompt_file: None,
            append_system_prompt_file: None,
            mcp_configs,
            settings,
            agents,
            documents,
        };
        if word_too_long("--system-prompt", &request.system_prompt) {
            plan.system_prompt_file = Some(format!("{dir}/system-prompt.txt"));
        }
        if word_too_long("--append-system-prompt", &request.append_system_prompt) {
            plan.append_system_prompt_file = Some(format!("{dir}/append-system-prompt.txt"));
        }
        Ok(plan)
    }

    /// Moves the next part out of the shell line; `false` when nothing is left to move.
    pub(crate) fn move_next(&mut self, request: &ClaudeRequest, options: &BuildOptions) -> bool {
        if self.prompt == PromptDelivery::Inline {
            self.prompt = large(options);
            return true;
        }
        let dir = options.inputs_dir.trim_end_matches('/');
        let system = (self.system_prompt_file.is_none())
            .then_some(request.system_prompt.as_ref().map_or(0, String::len))
            .filter(|len| *len > 0);
        let append = (self.append_system_prompt_file.is_none())
            .then_some(request.append_system_prompt.as_ref().map_or(0, String::len))
            .filter(|len| *len > 0);
        match (system, append) {
            (Some(system), Some(append)) if append > system => {
                self.append_system_prompt_file = Some(format!("{dir}/append-system-prompt.txt"));
            }
            (Some(_), _) => self.system_prompt_file = Some(format!("{dir}/system-prompt.txt")),
            (None, Some(_)) => {
                self.append_system_prompt_file = Some(format!("{dir}/append-system-prompt.txt"));
            }
            (None, None) => return false,
        }
        true
    }

    /// Every file the process must find: the prompt's, the moved system prompts', the documents'.
    pub(crate) fn input_files(&self, request: &ClaudeRequest) -> Vec<InputFile> {
        let mut files = Vec::new();
        if let PromptDelivery::File { path } = &self.prompt {
            files.push(InputFile {
                path: path.clone(),
                kind: InputKind::Prompt,
                contents: request.prompt.clone(),
            });
        }
        for (path, text, kind) in [
            (
                &self.system_prompt_file,
                &request.system_prompt,
                InputKind::SystemPrompt,
            ),
            (
                &self.append_system_prompt_file,
                &request.append_system_prompt,
                InputKind::AppendSystemPrompt,
            ),
        ] {
            if let (Some(path), Some(text)) = (path, text) {
                files.push(InputFile {
                    path: path.clone(),
                    kind,
                    contents: text.clone(),
                });
            }
        }
        files.extend(self.documents.iter().cloned());
        files
    }
}

fn large(options: &BuildOptions) -> PromptDelivery {
    match &options.large_prompt {
        LargePromptDelivery::Stdin => PromptDelivery::Stdin,
        LargePromptDelivery::File { path } => PromptDelivery::File { path: path.clone() },
    }
}
