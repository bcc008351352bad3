//! Fuzzing the builder's validation at scale (proptest): whatever strings a caller passes for
//! names, namespace, labels, annotations, quantities and references, rendering never panics, an
//! error explains itself, and what is accepted is what Kubernetes accepts — checked against an
//! oracle written here from the API's documented grammar, independent of the crate's code.
//!
//! `AGENTPOD_FUZZ_CASES` raises the number of cases (default 512).

#![allow(clippy::unwrap_used)]

use std::time::UNIX_EPOCH;

use agentpod_podspec::{AgentPodSpec, PodName, ResourceKind, Resources};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("AGENTPOD_FUZZ_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(512)
}

/// Strings near and far from valid: good shapes, edge lengths, bad characters, garbage.
fn name_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?",
        "[a-zA-Z0-9._-]{0,20}",
        "[a-z0-9.-]{60,70}",
        "[a-z]{1,10}/[a-z]{1,10}",
        "[a-z]{1,5}(\\.[a-z]{1,5}){0,3}/[A-Za-z0-9._-]{0,70}",
        Just(String::new()),
        Just("-leading".to_owned()),
        Just("trailing-".to_owned()),
        Just("UPPER".to_owned()),
        Just("a_b".to_owned()),
        Just("é".to_owned()),
        Just("a b".to_owned()),
        Just("a\nb".to_owned()),
        Just("kubernetes.io/x".to_owned()),
        any::<String>(),
    ]
}

fn quantity() -> impl Strategy<Value = String> {
    prop_oneof![
        "[+-]?[0-9]{1,4}(\\.[0-9]{0,3})?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|n|u)?",
        "[+-]?[0-9]{0,3}\\.?[0-9]{0,3}[eE][+-]?[0-9]{0,3}",
        "[0-9.]{1,6}[a-zA-Z]{0,3}",
        Just("1e999999".to_owned()),
        Just(".".to_owned()),
        Just("".to_owned()),
        Just("1 Gi".to_owned()),
        any::<String>(),
    ]
}

/// DNS-1123 label: at most 63 of `[a-z0-9-]`, alphanumeric at both ends.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// DNS-1123 subdomain: at most 253, dot-separated DNS labels.
fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// A label value or the name part of a key: at most 63 of `[A-Za-z0-9._-]`, alphanumeric ends.
fn is_label_name(s: &str, may_be_empty: bool) -> bool {
    if s.is_empty() {
        return may_be_empty;
    }
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    s.len() <= 63
        && s.bytes().all(|b| alnum(b) || b"._-".contains(&b))
        && alnum(s.as_bytes()[0])
        && alnum(s.as_bytes()[s.len() - 1])
}

/// A label or annotation key: `[prefix/]name`, the prefix a DNS subdomain.
fn is_qualified_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_label_name(name, false),
        None => is_label_name(key, false),
    }
}

/// Kubernetes' quantity grammar: sign, digits with at most one point, then one suffix (binary
/// SI, decimal SI, or `e`/`E` with an integer exponent). Resources may not be negative.
fn is_resource_quantity(q: &str) -> bool {
    let unsigned = q.strip_prefix('+').unwrap_or(q);
    let number_end = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(number_end);
    let digits = number.chars().filter(char::is_ascii_digit).count();
    if digits == 0 || number.matches('.').count() > 1 {
        return false;
    }
    const SUFFIXES: [&str; 16] = [
        "", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
    ];
    if SUFFIXES.contains(&suffix) {
        return true;
    }
    let Some(exponent) = suffix.strip_prefix(['e', 'E']) else {
        return false;
    };
    let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    !exponent.is_empty() && exponent.len() <= 9 && exponent.bytes().all(|b| b.is_ascii_digit())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn accepted_names_and_labels_are_what_kubernetes_accepts(
        name in name_like(),
        namespace in name_like(),
        labels in proptest::collection::vec((name_like(), name_like()), 0..4),
        annotation in name_like(),
        account in name_like(),
    ) {
        let mut spec = AgentPodSpec::new("img")
            .name(PodName::explicit(name.clone()))
            .namespace(namespace.clone())
            .annotation(annotation.clone(), "v")
            .service_account(account.clone());
        for (key, value) in &labels {
            spec = spec.label(key.clone(), value.clone());
        }
        match spec.render(UNIX_EPOCH) {
            Ok(rendered) => {
                prop_assert!(is_dns_label(&name), "accepted pod name {name:?}");
                prop_assert!(is_dns_label(&namespace), "accepted namespace {namespace:?}");
                prop_assert!(is_qualified_key(&annotation), "accepted annotation key {annotation:?}");
                prop_assert!(is_dns_subdomain(&account), "accepted service account {account:?}");
                for (key, value) in rendered.pod.metadata.labels.iter().flatten() {
                    prop_assert!(is_qualified_key(key), "rendered label key {key:?}");
                    prop_assert!(is_label_name(value, true), "rendered label value {value:?}");
                }
            }
            Err(error) => {
                let text = error.to_string();
                prop_assert!(!text.is_empty() && !text.contains("Some("), "{text}");
                let all_valid = is_dns_label(&name)
                    && is_dns_label(&namespace)
                    && is_qualified_key(&annotation)
                    && is_dns_subdomain(&account)
                    && labels.iter().all(|(k, v)| is_qualified_key(k) && is_label_name(v, true));
                // Valid by the grammar but refused: only our reserved label keys may do that.
                prop_assert!(
                    !all_valid || text.contains("reserved") || text.contains("agentpod"),
                    "refused valid input {name:?} {namespace:?} {labels:?} {annotation:?} {account:?}: {text}"
                );
            }
        }
    }

    #[test]
    fn accepted_quantities_are_what_kubernetes_accepts(
        request in quantity(),
        limit in quantity(),
    ) {
        let resources = Resources::default()
            .request(ResourceKind::Memory, request.clone())
            .limit(ResourceKind::Cpu, limit.clone());
        let result = AgentPodSpec::new("img").resources(resources).render(UNIX_EPOCH);
        let valid = is_resource_quantity(&request) && is_resource_quantity(&limit);
        match result {
            Ok(_) => prop_assert!(valid, "accepted {request:?} / {limit:?}"),
            Err(error) => prop_assert!(!valid, "refused valid {request:?} / {limit:?}: {error}"),
        }
    }
}
