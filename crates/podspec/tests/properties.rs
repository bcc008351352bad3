//! Property tests: label precedence and generated-name uniqueness/validity.

// Helpers outside `#[test]` functions unwrap too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, UNIX_EPOCH};

use agentpod_podspec::consts::MAX_GENERATED_PREFIX_LEN;
use agentpod_podspec::labels::{
    COMPONENT_LABEL, COMPONENT_VALUE, MANAGED_BY_LABEL, MANAGED_BY_VALUE, merge_labels,
};
use agentpod_podspec::{AgentPodSpec, PodName};
use proptest::prelude::*;

fn generate_name(prefix: &str, now: std::time::SystemTime) -> String {
    PodName::generated(prefix).resolve(now).unwrap()
}

/// Whether `name` is accepted as an explicit pod name (a DNS-1123 label).
fn is_valid_pod_name(name: &str) -> bool {
    PodName::explicit(name).resolve(UNIX_EPOCH).is_ok()
}

/// Label keys, drawn so that provider and invocation maps often overlap and
/// sometimes collide with the fixed keys.
fn label_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-e]".prop_map(|k| format!("key-{k}")),
        "[a-z][a-z0-9]{0,5}",
        Just(MANAGED_BY_LABEL.to_owned()),
        Just(COMPONENT_LABEL.to_owned()),
    ]
}

fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(label_key(), "[a-z0-9]{1,8}", 0..8)
}

fn prefix() -> impl Strategy<Value = String> {
    let max = MAX_GENERATED_PREFIX_LEN - 2;
    proptest::string::string_regex(&format!("[a-z]([a-z0-9-]{{0,{max}}}[a-z0-9])?"))
        .unwrap_or_else(|err| panic!("prefix regex: {err}"))
}

proptest! {
    #[test]
    fn fixed_labels_beat_invocation_labels_beat_provider_defaults(
        provider in labels(),
        invocation in labels(),
    ) {
        let merged = merge_labels(&provider, &invocation);
        prop_assert_eq!(&merged[MANAGED_BY_LABEL], MANAGED_BY_VALUE);
        prop_assert_eq!(&merged[COMPONENT_LABEL], COMPONENT_VALUE);
        for (key, value) in &merged {
            if key == MANAGED_BY_LABEL || key == COMPONENT_LABEL {
                continue;
            }
            let expected = invocation.get(key).or_else(|| provider.get(key));
            prop_assert_eq!(Some(value), expected, "key {}", key);
        }
        let expected_keys: BTreeSet<&String> = provider
            .keys()
            .chain(invocation.keys())
            .collect();
        for key in expected_keys {
            prop_assert!(merged.contains_key(key));
        }
    }

    #[test]
    fn rendered_pod_applies_the_same_precedence(
        provider in labels(),
        invocation in labels(),
    ) {
        let mut spec = AgentPodSpec::new("img").name("p");
        for (k, v) in &provider {
            spec = spec.provider_label(k, v);
        }
        for (k, v) in &invocation {
            spec = spec.label(k, v);
        }
        let rendered = spec.render(UNIX_EPOCH).unwrap();
        prop_assert_eq!(
            rendered.pod.metadata.labels.unwrap(),
            merge_labels(&provider, &invocation)
        );
    }

    #[test]
    fn generated_names_are_valid_dns_labels(
        prefix in prefix(),
        millis in 0u64..=253_402_300_799_999, // up to 9999-12-31
    ) {
        let now = UNIX_EPOCH + Duration::from_millis(millis);
        let name = generate_name(&prefix, now);
        prop_assert!(is_valid_pod_name(&name), "{}", name);
        prop_assert!(name.len() <= 63);
        let expected_start = format!("{prefix}-");
        prop_assert!(name.starts_with(&expected_start));
    }

    #[test]
    fn generated_names_are_unique_within_one_millisecond(prefix in prefix()) {
        let now = UNIX_EPOCH + Duration::from_millis(1_767_225_600_000);
        let names: BTreeSet<String> =
            (0..200).map(|_| generate_name(&prefix, now)).collect();
        prop_assert_eq!(names.len(), 200);
    }
}

#[test]
fn generated_names_are_unique_across_threads_at_the_same_instant() {
    let now = UNIX_EPOCH + Duration::from_millis(1_767_225_600_000);
    let spec = AgentPodSpec::new("img").name(PodName::generated("claude-code"));
    let names: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let spec = &spec;
                scope.spawn(move || {
                    (0..2_000)
                        .map(|_| spec.render(now).unwrap().name().to_owned())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let unique: BTreeSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len());
    assert!(names.iter().all(|n| is_valid_pod_name(n)));
}
