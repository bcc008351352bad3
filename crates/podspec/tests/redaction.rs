//! `Debug` of every public type that holds a secret value prints `<redacted>`
//! instead of it, so one `?spec` in a caller's tracing cannot leak a credential.

// Helpers outside `#[test]` functions unwrap too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::time::UNIX_EPOCH;

use agentpod_podspec::{AgentPodSpec, RenderedPod};
use k8s_openapi::ByteString;

const API_KEY: &str = "sk-ant-api03-redaction-test-key";
const OAUTH_JSON: &str = r#"{"accessToken":"sk-ant-oat01-redaction-test"}"#;

/// Every way a value can show up in `Debug` output: as text, as base64
/// (serialized `ByteString`) and as a list of byte values (`Vec<u8>`,
/// compared without whitespace so `{:#?}`'s one-byte-per-line form matches too).
fn leaks(output: &str, secret: &str) -> bool {
    let squeezed: String = output.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes: String = format!("{:?}", secret.as_bytes())
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let base64 = serde_json::to_string(&ByteString(secret.as_bytes().to_vec())).unwrap();
    output.contains(secret)
        || squeezed.contains(bytes.trim_start_matches('[').trim_end_matches(']'))
        || output.contains(base64.trim_matches('"'))
}

fn spec() -> AgentPodSpec {
    AgentPodSpec::new("img:1")
        .name("redaction")
        .secret_env("ANTHROPIC_API_KEY", API_KEY)
        .secret_file("credentials.json", OAUTH_JSON)
}

fn rendered() -> RenderedPod {
    spec().render(UNIX_EPOCH).unwrap()
}

fn assert_redacted(what: &str, compact: String, pretty: String) {
    for (form, output) in [("{:?}", &compact), ("{:#?}", &pretty)] {
        for secret in [API_KEY, OAUTH_JSON] {
            assert!(
                !leaks(output, secret),
                "{form} of {what} shows a secret value:\n{output}"
            );
        }
        assert!(
            output.contains("<redacted>"),
            "{form} of {what} should mark what it hides:\n{output}"
        );
    }
}

#[test]
fn agent_pod_spec_debug_redacts_secret_inputs() {
    let spec = spec();
    assert_redacted("AgentPodSpec", format!("{spec:?}"), format!("{spec:#?}"));
}

#[test]
fn rendered_pod_debug_redacts_secret_data() {
    let rendered = rendered();
    // The values really are in the rendered Secret: the test would see them.
    let data = rendered.secrets[0].data.as_ref().unwrap();
    assert_eq!(data["ANTHROPIC_API_KEY"].0, API_KEY.as_bytes());
    assert_redacted(
        "RenderedPod",
        format!("{rendered:?}"),
        format!("{rendered:#?}"),
    );
}

#[test]
fn debug_still_shows_what_is_not_secret() {
    let output = format!("{:?}", rendered());
    for visible in [
        "redaction-inputs",
        "ANTHROPIC_API_KEY",
        "credentials.json",
        "img:1",
    ] {
        assert!(output.contains(visible), "`{visible}` missing:\n{output}");
    }
    let output = format!("{:?}", spec());
    for visible in ["ANTHROPIC_API_KEY", "credentials.json", "img:1"] {
        assert!(output.contains(visible), "`{visible}` missing:\n{output}");
    }
}

#[test]
fn the_leak_detector_finds_each_form() {
    let bytes = format!("{:#?}", API_KEY.as_bytes());
    assert!(leaks(&bytes, API_KEY));
    assert!(leaks(&format!("x {API_KEY} y"), API_KEY));
    let base64 = serde_json::to_string(&ByteString(API_KEY.as_bytes().to_vec())).unwrap();
    assert!(leaks(&base64, API_KEY));
    assert!(!leaks("<redacted>", API_KEY));
}

#[test]
fn errors_about_secret_inputs_name_the_key_not_the_value() {
    let errors = [
        spec().secret_env("ANTHROPIC_API_KEY", "again"),
        spec().secret_file("bad/key", API_KEY),
        spec().secret_env("BAD NAME", API_KEY),
        spec().secret_file("huge", API_KEY.repeat(40_000)),
    ]
    .map(|spec| spec.render(UNIX_EPOCH).unwrap_err());
    for error in errors {
        for output in [
            format!("{error}"),
            format!("{error:?}"),
            format!("{error:#?}"),
        ] {
            assert!(!leaks(&output, API_KEY), "error shows the value: {output}");
        }
    }
}
