//! Behaviour of rendered objects that snapshots show but do not explain.

use std::time::{Duration, UNIX_EPOCH};

use agentpod_podspec::{
    AgentPodSpec, COMPONENT_LABEL, EXPIRES_AT_ANNOTATION, Hardening, MANAGED_BY_LABEL,
    POD_NAME_LABEL, PodName, parse_expires_at,
};

#[test]
fn expiry_annotation_round_trips_and_is_on_both_objects() {
    let now = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let rendered = AgentPodSpec::new("img")
        .name("p")
        .secret_env("K", "v")
        .expires_after(Duration::from_secs(600))
        .render(now)
        .unwrap();
    let pod_expiry = &rendered.pod.metadata.annotations.as_ref().unwrap()[EXPIRES_AT_ANNOTATION];
    assert_eq!(pod_expiry, "2026-01-01T00:10:00Z");
    assert_eq!(
        parse_expires_at(pod_expiry).unwrap(),
        now + Duration::from_secs(600)
    );
    let secret = &rendered.secrets[0];
    assert_eq!(
        secret.metadata.annotations.as_ref().unwrap()[EXPIRES_AT_ANNOTATION],
        *pod_expiry
    );
}

#[test]
fn secret_is_labelled_like_the_pod_and_names_it() {
    let rendered = AgentPodSpec::new("img")
        .name("job-1")
        .namespace("agents")
        .label("team", "a")
        .secret_file("prompt", "hi")
        .render(UNIX_EPOCH)
        .unwrap();
    let secret = &rendered.secrets[0];
    let labels = secret.metadata.labels.as_ref().unwrap();
    assert_eq!(labels[POD_NAME_LABEL], "job-1");
    assert_eq!(labels["team"], "a");
    assert_eq!(labels[MANAGED_BY_LABEL], "agentpod");
    assert_eq!(labels[COMPONENT_LABEL], "agent-runner");
    assert_eq!(secret.metadata.namespace.as_deref(), Some("agents"));
    assert_eq!(secret.data.as_ref().unwrap()["prompt"].0, b"hi");
    let owner = rendered.pod_owner_reference("uid-1");
    assert_eq!(
        (owner.name.as_str(), owner.uid.as_str()),
        ("job-1", "uid-1")
    );
}

#[test]
fn no_inputs_means_no_secret_and_no_inputs_volume() {
    let rendered = AgentPodSpec::new("img")
        .name("p")
        .render(UNIX_EPOCH)
        .unwrap();
    assert!(rendered.secrets.is_empty());
    let volumes = rendered.pod.spec.unwrap().volumes.unwrap();
    assert!(volumes.iter().all(|v| v.name != "agentpod-inputs"));
}

#[test]
fn secret_env_only_needs_no_volume() {
    let rendered = AgentPodSpec::new("img")
        .name("p")
        .hardening(Hardening::none())
        .secret_env("API_KEY", "k")
        .render(UNIX_EPOCH)
        .unwrap();
    let spec = rendered.pod.spec.unwrap();
    assert!(spec.volumes.is_none());
    let env = spec.containers[0].env.as_ref().unwrap();
    let selector = env[0]
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(
        (selector.name.as_str(), selector.key.as_str()),
        ("p-inputs", "API_KEY")
    );
}

#[test]
fn explicit_env_wins_over_blanking() {
    let rendered = AgentPodSpec::new("img")
        .name("p")
        .hardening(Hardening::none())
        .blank_env(["A", "B", "A"])
        .env("B", "kept")
        .render(UNIX_EPOCH)
        .unwrap();
    let env = rendered.pod.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap();
    let pairs: Vec<_> = env
        .iter()
        .map(|e| (e.name.as_str(), e.value.as_deref().unwrap_or("<ref>")))
        .collect();
    assert_eq!(pairs, [("A", ""), ("B", "kept")]);
}

#[test]
fn secret_file_mode_follows_fs_group() {
    let mode = |hardening: Hardening| {
        let rendered = AgentPodSpec::new("img")
            .name("p")
            .hardening(hardening)
            .secret_file("f", "x")
            .render(UNIX_EPOCH)
            .unwrap();
        let volumes = rendered.pod.spec.unwrap().volumes.unwrap();
        let inputs = volumes
            .iter()
            .find(|v| v.name == "agentpod-inputs")
            .unwrap();
        inputs.secret.as_ref().unwrap().default_mode.unwrap()
    };
    assert_eq!(mode(Hardening::default()), 0o440);
    assert_eq!(mode(Hardening::none()), 0o444);
}

#[test]
fn generated_names_differ_per_render() {
    let spec = AgentPodSpec::new("img").name(PodName::generated("claude-code"));
    let a = spec.render(UNIX_EPOCH).unwrap();
    let b = spec.render(UNIX_EPOCH).unwrap();
    assert_ne!(a.name(), b.name());
    assert!(a.name().starts_with("claude-code-0-"));
}

#[test]
fn inputs_volume_projects_only_file_inputs() {
    let rendered = AgentPodSpec::new("img")
        .name("p")
        .secret_env("API_KEY", "k")
        .secret_file("z.json", "{}")
        .secret_file("prompt", "hi")
        .render(UNIX_EPOCH)
        .unwrap();
    let volumes = rendered.pod.spec.unwrap().volumes.unwrap();
    let inputs = volumes
        .iter()
        .find(|v| v.name == "agentpod-inputs")
        .unwrap();
    let items = inputs.secret.as_ref().unwrap().items.clone().unwrap();
    let keys: Vec<_> = items
        .iter()
        .map(|i| (i.key.as_str(), i.path.as_str()))
        .collect();
    assert_eq!(keys, [("prompt", "prompt"), ("z.json", "z.json")]);
    let data = rendered.secrets[0].data.as_ref().unwrap();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["API_KEY", "prompt", "z.json"]
    );
}
