//! Snapshot tests: every case of `agentpod_podspec::matrix`, rendered at the
//! matrix's fixed time, compared with the committed YAML under `snapshots/`.
//! Review changes with `cargo insta review` (or `INSTA_UPDATE=always`).

// Helpers outside `#[test]` functions unwrap too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use agentpod_podspec::matrix::{self, MatrixCase, matrix_now};

fn assert_case(case: &MatrixCase) {
    let rendered = case.spec.render(matrix_now()).unwrap();
    insta::assert_yaml_snapshot!(case.name, rendered);
}

#[test]
fn minimal() {
    assert_case(&matrix::minimal());
}

#[test]
fn seeds_equivalent() {
    assert_case(&matrix::seeds_equivalent());
}

#[test]
fn hardened() {
    assert_case(&matrix::hardened());
}

#[test]
fn hardened_partly_off() {
    assert_case(&matrix::hardened_partly_off());
}

#[test]
fn every_volume_kind() {
    assert_case(&matrix::every_volume_kind());
}

#[test]
fn scheduling() {
    assert_case(&matrix::scheduling());
}

#[test]
fn secret_inputs() {
    assert_case(&matrix::secret_inputs());
}

#[test]
fn every_matrix_case_has_a_snapshot_test() {
    let tested = [
        "minimal",
        "seeds_equivalent",
        "hardened",
        "hardened_partly_off",
        "every_volume_kind",
        "scheduling",
        "secret_inputs",
    ];
    let names: Vec<_> = matrix::cases().iter().map(|c| c.name).collect();
    assert_eq!(names, tested);
}

#[test]
fn rendering_is_deterministic() {
    for case in matrix::cases() {
        let first = serde_json::to_string(&case.spec.render(matrix_now()).unwrap()).unwrap();
        let again =
            serde_json::to_string(&case.spec.clone().render(matrix_now()).unwrap()).unwrap();
        assert_eq!(first, again, "{}", case.name);
    }
}

#[test]
fn no_secret_value_leaks_into_the_pod() {
    let case = matrix::secret_inputs();
    let rendered = case.spec.render(matrix_now()).unwrap();
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
