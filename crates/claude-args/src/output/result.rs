//! The `result` document → [`ClaudeOutput`] or a typed run error.
//!
//! Only the fields this crate reports are read, each leniently (`#[serde(default)]`), because the
//! CLI adds fields in nearly every release; a changed type of a field we read is an error, not a
//! silent zero.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::structured::extract_json_from_text;
use super::{ClaudeOutput, PermissionDenial, RunStats, StreamEvent, TokenUsage};
use crate::ClaudeArgsError;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResultDoc {
    subtype: String,
    is_error: bool,
    result: Option<String>,
    session_id: Option<String>,
    total_cost_usd: Option<f64>,
    usage: UsageDoc,
    #[serde(rename = "modelUsage")]
    model_usage: BTreeMap<String, ModelUsageDoc>,
    num_turns: u32,
    duration_ms: u64,
    duration_api_ms: u64,
    permission_denials: Vec<PermissionDenial>,
    structured_output: Option<Value>,
    api_error_status: Option<u16>,
    api_error_type: Option<String>,
    terminal_reason: Option<String>,
    errors: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UsageDoc {
    input_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
    output_tokens: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ModelUsageDoc {
    #[serde(rename = "costUSD")]
    cost_usd: f64,
    input_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
    output_tokens: u64,
}

/// What the stream told us before the result (empty for json output).
#[derive(Debug, Default)]
pub(super) struct StreamContext {
    pub(super) init_model: Option<String>,
    pub(super) events: Vec<StreamEvent>,
    pub(super) dropped_events: usize,
}

/// Turns a result document into the run's outcome.
pub(super) fn interpret_result(
    doc: Value,
    schema_requested: bool,
    context: StreamContext,
) -> Result<ClaudeOutput, ClaudeArgsError> {
    let doc: ResultDoc =
        serde_json::from_value(doc).map_err(|source| ClaudeArgsError::InvalidResult { source })?;
    let stats = Box::new(stats(&doc, context.init_model));
    let message = failure_message(&doc);

    match doc.subtype.as_str() {
        "error_max_turns" => return Err(ClaudeArgsError::MaxTurns { message, stats }),
        "error_max_budget_usd" => return Err(ClaudeArgsError::MaxBudget { message, stats }),
        _ => {}
    }
    if doc.is_error || doc.subtype != "success" {
        let api_failure =
            doc.api_error_status.is_some() || doc.terminal_reason.as_deref() == Some("api_error");
        return Err(if api_failure {
            ClaudeArgsError::Api {
                status: doc.api_error_status,
                error_type: doc.api_error_type,
                message,
                stats,
            }
        } else {
            ClaudeArgsError::RunFailed {
                subtype: doc.subtype,
                message,
                stats,
            }
        });
    }

    let text = doc.result.unwrap_or_default();
    let structured = match doc.structured_output {
        Some(value) if !value.is_null() => Some(value),
        _ if schema_requested => extract_json_from_text(&text),
        _ => None,
    };
    if schema_requested && structured.is_none() {
        return Err(ClaudeArgsError::SchemaMissing { text, stats });
    }
    Ok(ClaudeOutput {
        text,
        structured,
        stats: *stats,
        permission_denials: doc.permission_denials,
        events: context.events,
        dropped_events: context.dropped_events,
    })
}

fn stats(doc: &ResultDoc, init_model: Option<String>) -> RunStats {
    let costliest_model = doc
        .model_usage
        .iter()
        .max_by(|a, b| a.1.cost_usd.total_cmp(&b.1.cost_usd))
        .map(|(name, _)| name.clone());
    RunStats {
        session_id: doc.session_id.clone(),
        total_cost_usd: doc.total_cost_usd.unwrap_or_default(),
        tokens: tokens(doc),
        num_turns: doc.num_turns,
        model: init_model.or(costliest_model),
        duration_ms: doc.duration_ms,
        duration_api_ms: doc.duration_api_ms,
    }
}

/// Token counts: the per-model totals when the CLI reports them, else `usage`. The CLI 2.1.328
/// reports zeros in `usage` when a run stops at the budget limit, while `modelUsage` keeps what
/// was really spent (see the `result-error-max-budget.json` fixture).
fn tokens(doc: &ResultDoc) -> TokenUsage {
    if doc.model_usage.is_empty() {
        return TokenUsage {
            input_tokens: doc.usage.input_tokens,
            cache_creation_input_tokens: doc.usage.cache_creation_input_tokens,
            cache_read_input_tokens: doc.usage.cache_read_input_tokens,
            output_tokens: doc.usage.output_tokens,
        };
    }
    doc.model_usage
        .values()
        .fold(TokenUsage::default(), |sum, model| TokenUsage {
            input_tokens: sum.input_tokens.saturating_add(model.input_tokens),
            cache_creation_input_tokens: sum
                .cache_creation_input_tokens
                .saturating_add(model.cache_creation_input_tokens),
            cache_read_input_tokens: sum
                .cache_read_input_tokens
                .saturating_add(model.cache_read_input_tokens),
            output_tokens: sum.output_tokens.saturating_add(model.output_tokens),
        })
}

/// The most specific message the document has: the result text, else the `errors` list, else
/// the subtype.
fn failure_message(doc: &ResultDoc) -> String {
    if let Some(text) = doc.result.as_deref().filter(|text| !text.is_empty()) {
        return text.to_owned();
    }
    let errors: Vec<String> = doc
        .errors
        .iter()
        .map(|error| match error {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
        .collect();
    if errors.is_empty() {
        doc.subtype.clone()
    } else {
        errors.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn interpret(doc: Value, schema: bool) -> Result<ClaudeOutput, ClaudeArgsError> {
        interpret_result(doc, schema, StreamContext::default())
    }

    #[test]
    fn is_error_wins_over_success_subtype() {
        let err = interpret(
            json!({"type":"result","subtype":"success","is_error":true,"result":"boom"}),
            false,
        )
        .unwrap_err();
        assert!(matches!(err, ClaudeArgsError::RunFailed { ref message, .. } if message == "boom"));
    }

    #[test]
    fn unknown_error_subtype_is_a_failure_with_the_errors_list() {
        let err = interpret(
            json!({"subtype":"error_during_execution","is_error":true,"errors":["a", {"x":1}]}),
            false,
        )
        .unwrap_err();
        match err {
            ClaudeArgsError::RunFailed {
                subtype, message, ..
            } => {
                assert_eq!(subtype, "error_during_execution");
                assert_eq!(message, r#"a; {"x":1}"#);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn structured_field_wins_over_text_and_null_is_absent() {
        let out = interpret(
            json!({"subtype":"success","result":"{\"a\":2}","structured_output":{"a":1}}),
            true,
        )
        .unwrap();
        assert_eq!(out.structured, Some(json!({"a":1})));
        let out = interpret(
            json!({"subtype":"success","result":"{\"a\":2}","structured_output":null}),
            true,
        )
        .unwrap();
        assert_eq!(out.structured, Some(json!({"a":2})));
    }

    #[test]
    fn text_json_is_not_taken_as_structured_without_a_schema() {
        let out = interpret(json!({"subtype":"success","result":"{\"a\":2}"}), false).unwrap();
        assert_eq!(out.structured, None);
    }

    #[test]
    fn tokens_sum_over_models_and_fall_back_to_usage() {
        let doc = json!({"subtype":"success",
            "usage":{"input_tokens":1,"output_tokens":1},
            "modelUsage":{
                "a":{"inputTokens":10,"outputTokens":2,"cacheReadInputTokens":3,"cacheCreationInputTokens":4},
                "b":{"inputTokens":5,"outputTokens":1}}});
        let tokens = interpret(doc, false).unwrap().stats.tokens;
        assert_eq!(
            tokens,
            TokenUsage {
                input_tokens: 15,
                cache_creation_input_tokens: 4,
                cache_read_input_tokens: 3,
                output_tokens: 3
            }
        );
        let doc = json!({"subtype":"success","usage":{"input_tokens":7,"output_tokens":2}});
        let tokens = interpret(doc, false).unwrap().stats.tokens;
        assert_eq!((tokens.input_tokens, tokens.output_tokens), (7, 2));
    }

    #[test]
    fn wrong_field_type_is_an_invalid_result() {
        let err = interpret(json!({"subtype":"success","num_turns":"three"}), false).unwrap_err();
        assert!(matches!(err, ClaudeArgsError::InvalidResult { .. }));
    }

    #[test]
    fn main_model_is_the_costliest_unless_the_stream_named_one() {
        let doc = json!({"subtype":"success","modelUsage":{
            "haiku":{"costUSD":0.001},"opus":{"costUSD":0.5},"sonnet":{"costUSD":0.1}}});
        assert_eq!(
            interpret(doc.clone(), false)
                .unwrap()
                .stats
                .model
                .as_deref(),
            Some("opus")
        );
        let context = StreamContext {
            init_model: Some("sonnet".into()),
            ..StreamContext::default()
        };
        let out = interpret_result(doc, false, context).unwrap();
        assert_eq!(out.stats.model.as_deref(), Some("sonnet"));
    }
}
