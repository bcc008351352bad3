//! Snapshot tests: every case of `tests/cases`, rendered at the cases' fixed
//! time, compared with the committed YAML under `snapshots/`.
//! Review changes with `cargo insta review` (or `INSTA_UPDATE=always`).

// Helpers outside `#[test]` functions unwrap too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod cases;

use cases::{Case, render_time};

fn assert_case(case: &Case) {
    let rendered = case.spec.render(render_time()).unwrap();
    insta::assert_yaml_snapshot!(case.name, rendered);
}

#[test]
fn minimal() {
    assert_case(&cases::minimal());
}

#[test]
fn unhardened_with_host_paths() {
    assert_case(&cases::unhardened_with_host_paths());
}

#[test]
fn hardened() {
    assert_case(&cases::hardened());
}

#[test]
fn hardened_partly_off() {
    assert_case(&cases::hardened_partly_off());
}

#[test]
fn every_volume_kind() {
    assert_case(&cases::every_volume_kind());
}

#[test]
fn scheduling() {
    assert_case(&cases::scheduling());
}

#[test]
fn secret_inputs() {
    assert_case(&cases::secret_inputs());
}

#[test]
fn every_case_has_a_snapshot_test() {
    let tested = [
        "minimal",
        "unhardened_with_host_paths",
        "hardened",
        "hardened_partly_off",
        "every_volume_kind",
        "scheduling",
        "secret_inputs",
    ];
    let names: Vec<_> = cases::all().iter().map(|c| c.name).collect();
    assert_eq!(names, tested);
}

#[test]
fn every_case_is_named_after_its_pod() {
    for case in cases::all() {
        let rendered = case.spec.render(render_time()).unwrap();
        assert_eq!(rendered.name(), case.name.replace('_', "-"));
    }
}

#[test]
fn rendering_is_deterministic() {
    for case in cases::all() {
        let first = serde_json::to_string(&case.spec.render(render_time()).unwrap()).unwrap();
        let again =
            serde_json::to_string(&case.spec.clone().render(render_time()).unwrap()).unwrap();
        assert_eq!(first, again, "{}", case.name);
    }
}

#[test]
fn no_secret_value_leaks_into_the_pod() {
    let case = cases::secret_inputs();
    let rendered = case.spec.render(render_time()).unwrap();
    let pod = serde_json::to_string(&rendered.pod).unwrap();
    for needle in ["sk-ant-api03", "sk-ant-oat01", "Refactor the parser"] {
        assert!(!pod.contains(needle), "pod spec contains `{needle}`");
    }
    let secret = serde_json::to_string(&rendered.secrets).unwrap();
    assert!(
        !secret.contains("sk-ant-api03"),
        "data must be base64, not stringData"
    );
}
