//! Invalid configurations are refused with the right typed error and a
//! message that names the culprit.

// Helpers outside `#[test]` functions unwrap too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, UNIX_EPOCH};

use agentpod_podspec::{
    AgentPodSpec, Hardening, PodName, PodSpecError, ResourceKind, Resources, Volume, VolumeMount,
    WritableDir,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

fn base() -> AgentPodSpec {
    AgentPodSpec::new("img:1").name("pod")
}

fn error_of(spec: AgentPodSpec) -> PodSpecError {
    spec.render(UNIX_EPOCH).unwrap_err()
}

#[test]
fn empty_image() {
    assert!(matches!(
        error_of(AgentPodSpec::new("  ").name("p")),
        PodSpecError::EmptyImage
    ));
}

#[test]
fn names() {
    let long = "a".repeat(64);
    let err = error_of(base().name(long.as_str()));
    assert!(matches!(
        &err,
        PodSpecError::InvalidName {
            field: "pod name",
            ..
        }
    ));
    assert!(err.to_string().contains("at most 63"), "{err}");
    assert!(base().name("a".repeat(63)).render(UNIX_EPOCH).is_ok());
    assert!(matches!(
        error_of(base().namespace("Agents")),
        PodSpecError::InvalidName {
            field: "namespace",
            ..
        }
    ));
    assert!(matches!(
        error_of(base().container_name("claude_code")),
        PodSpecError::InvalidName {
            field: "container name",
            ..
        }
    ));
    assert!(matches!(
        error_of(base().name(PodName::generated("Bad"))),
        PodSpecError::InvalidName {
            field: "name prefix",
            ..
        }
    ));
    assert!(matches!(
        error_of(base().service_account("sa_1")),
        PodSpecError::InvalidName { .. }
    ));
    assert!(matches!(
        error_of(base().image_pull_secret("")),
        PodSpecError::InvalidName { .. }
    ));
    assert!(matches!(
        error_of(base().runtime_class("gVisor")),
        PodSpecError::InvalidName {
            field: "runtimeClassName",
            ..
        }
    ));
    assert!(matches!(
        error_of(base().priority_class("high priority")),
        PodSpecError::InvalidName {
            field: "priorityClassName",
            ..
        }
    ));
}

#[test]
fn labels_and_annotations() {
    let err = error_of(base().label("bad key", "v"));
    assert!(matches!(
        err,
        PodSpecError::InvalidMetadataKey { kind: "label", .. }
    ));
    let err = error_of(base().provider_label("ok", "-bad"));
    assert!(matches!(err, PodSpecError::InvalidLabelValue { .. }));
    let err = error_of(base().node_selector("pool", "a b"));
    assert!(matches!(
        err,
        PodSpecError::InvalidLabelValue {
            kind: "nodeSelector",
            ..
        }
    ));
    let err = error_of(base().annotation("agentpod.dev/expires-at", "never"));
    assert!(matches!(err, PodSpecError::ReservedAnnotation { .. }));
    let err = error_of(base().annotation("x/y/z", "v"));
    assert!(matches!(
        err,
        PodSpecError::InvalidMetadataKey {
            kind: "annotation",
            ..
        }
    ));
    // Annotation values are free text.
    assert!(
        base()
            .annotation("note", "any text: / ok")
            .render(UNIX_EPOCH)
            .is_ok()
    );
}

#[test]
fn quantities() {
    let err = error_of(base().resources(Resources::default().limit(ResourceKind::Cpu, "half")));
    assert!(matches!(&err, PodSpecError::InvalidQuantity { field, .. } if field == "cpu limit"));
    assert!(
        err.to_string().contains("500m"),
        "message shows an example: {err}"
    );
    let err = error_of(
        base().resources(
            Resources::default()
                .request(ResourceKind::EphemeralStorage, "2Gi")
                .limit(ResourceKind::EphemeralStorage, "1Gi"),
        ),
    );
    assert!(matches!(
        err,
        PodSpecError::RequestExceedsLimit {
            resource: "ephemeral-storage",
            ..
        }
    ));
    let err = error_of(base().volume(Volume::empty_dir("e").size_limit("-1Gi")));
    assert!(matches!(err, PodSpecError::InvalidQuantity { .. }));
}

#[test]
fn env() {
    assert!(matches!(
        error_of(base().env("1X", "v")),
        PodSpecError::InvalidEnvName { .. }
    ));
    assert!(matches!(
        error_of(base().blank_env(["OK", "NOT OK"])),
        PodSpecError::InvalidEnvName { .. }
    ));
    assert!(matches!(
        error_of(base().env("A", "1").env_from_secret("A", "s", "k")),
        PodSpecError::DuplicateEnv { .. }
    ));
    let err = error_of(base().env("HOME", "/root"));
    assert!(err.to_string().contains("writable_home"), "{err}");
    assert!(
        base()
            .hardening(Hardening::none())
            .env("HOME", "/root")
            .render(UNIX_EPOCH)
            .is_ok()
    );
    assert!(matches!(
        error_of(base().env("TOKEN", "x").secret_env("TOKEN", "y")),
        PodSpecError::DuplicateEnv { .. }
    ));
}

#[test]
fn volumes_and_mounts() {
    let err = error_of(
        base()
            .volume(Volume::empty_dir("data"))
            .volume(Volume::host_path("data", "/srv")),
    );
    assert!(matches!(&err, PodSpecError::DuplicateVolume { name } if name == "data"));
    assert!(matches!(
        error_of(base().volume(Volume::empty_dir("agentpod-home"))),
        PodSpecError::ReservedVolumeName { .. }
    ));
    assert!(matches!(
        error_of(base().mount(VolumeMount::new("nope", "/x"))),
        PodSpecError::UnknownVolume { .. }
    ));
    let err = error_of(
        base()
            .volume(Volume::empty_dir("a"))
            .volume(Volume::empty_dir("b"))
            .mount(VolumeMount::new("a", "/data"))
            .mount(VolumeMount::new("b", "/data/")),
    );
    assert!(
        matches!(&err, PodSpecError::MountPathClash { path, first, second, .. }
            if path == "/data" && first == "a" && second == "b"),
        "{err}"
    );
    let err = error_of(
        base()
            .volume(Volume::empty_dir("t"))
            .mount(VolumeMount::new("t", "/tmp")),
    );
    assert!(err.to_string().contains("Hardening"), "{err}");
    assert!(matches!(
        error_of(
            base()
                .volume(Volume::empty_dir("a"))
                .mount(VolumeMount::new("a", "rel"))
        ),
        PodSpecError::InvalidPath {
            field: "mount path",
            ..
        }
    ));
    assert!(matches!(
        error_of(
            base()
                .volume(Volume::empty_dir("a"))
                .mount(VolumeMount::new("a", "/x").sub_path("../etc"))
        ),
        PodSpecError::InvalidPath {
            field: "subPath",
            ..
        }
    ));
    assert!(matches!(
        error_of(base().working_dir("work")),
        PodSpecError::InvalidPath {
            field: "working dir",
            ..
        }
    ));
    // The inputs volume only exists when there are file inputs.
    assert!(matches!(
        error_of(base().mount(VolumeMount::new("agentpod-inputs", "/i"))),
        PodSpecError::UnknownVolume { .. }
    ));
}

#[test]
fn bounds_and_owners() {
    assert!(matches!(
        error_of(base().active_deadline_seconds(-5)),
        PodSpecError::OutOfRange {
            field: "activeDeadlineSeconds",
            value: -5,
            ..
        }
    ));
    assert!(matches!(
        error_of(base().active_deadline_seconds(0)),
        PodSpecError::OutOfRange { .. }
    ));
    assert!(matches!(
        error_of(base().termination_grace_period_seconds(-1)),
        PodSpecError::OutOfRange { .. }
    ));
    assert!(
        base()
            .termination_grace_period_seconds(0)
            .render(UNIX_EPOCH)
            .is_ok()
    );
    let err = error_of(base().owner_reference(OwnerReference {
        api_version: "v1".into(),
        kind: "Pod".into(),
        name: "owner".into(),
        ..OwnerReference::default()
    }));
    assert!(matches!(
        err,
        PodSpecError::InvalidOwnerReference {
            index: 0,
            field: "uid"
        }
    ));
}

#[test]
fn hardening_values() {
    let hardening = Hardening::default().writable_home(WritableDir::new("/home/agent", "big"));
    assert!(matches!(
        error_of(base().hardening(hardening)),
        PodSpecError::InvalidQuantity { .. }
    ));
}

#[test]
fn secret_inputs() {
    assert!(matches!(
        error_of(base().secret_file("a/b", "x")),
        PodSpecError::InvalidSecretKey { .. }
    ));
    assert!(matches!(
        error_of(base().secret_env("BAD NAME", "x")),
        PodSpecError::InvalidEnvName { .. }
    ));
    assert!(matches!(
        error_of(base().secret_file("p", "1").secret_file("p", "2")),
        PodSpecError::DuplicateSecretKey { .. }
    ));
    assert!(matches!(
        error_of(base().secret_file("big", vec![b'x'; 2 * 1024 * 1024])),
        PodSpecError::SecretTooLarge { .. }
    ));
    assert!(matches!(
        error_of(base().secret_file("p", "1").inputs_dir("inputs")),
        PodSpecError::InvalidPath {
            field: "inputs dir",
            ..
        }
    ));
}

#[test]
fn time_out_of_range() {
    let before_epoch = UNIX_EPOCH - Duration::from_secs(1);
    assert!(matches!(
        AgentPodSpec::new("img").render(before_epoch),
        Err(PodSpecError::TimeOutOfRange { .. })
    ));
    assert!(matches!(
        base()
            .expires_after(Duration::MAX)
            .render(UNIX_EPOCH + Duration::from_secs(1)),
        Err(PodSpecError::TimeOutOfRange { .. })
    ));
}

#[test]
fn causes_are_kept_as_sources() {
    use std::error::Error as _;
    let err = agentpod_podspec::expiry::parse_expires_at("tomorrow").unwrap_err();
    assert!(matches!(err, PodSpecError::InvalidExpiry { .. }), "{err:?}");
    let source = err.source().expect("the parse error is kept");
    assert!(source.source().is_some(), "jiff's error is kept under ours");
    let err = agentpod_podspec::expiry::parse_expires_at("1969-12-31T23:59:59Z").unwrap_err();
    assert!(err.source().is_some(), "{err}");
    let err = error_of(
        AgentPodSpec::new("img")
            .name("p")
            .expires_after(Duration::MAX),
    );
    assert!(err.to_string().contains("beyond year 9999"), "{err}");
}

#[test]
fn results_use_the_crate_alias() {
    fn render(spec: &AgentPodSpec) -> agentpod_podspec::Result<String> {
        Ok(spec.render(UNIX_EPOCH)?.name().to_owned())
    }
    assert_eq!(render(&base()).unwrap(), "pod");
}
