//! Behaviour of rendered objects that snapshots show but do not explain.

use std::time::{Duration, UNIX_EPOCH};

use agentpod_podspec::expiry::parse_expires_at;
use agentpod_podspec::labels::{
    COMPONENT_LABEL, EXPIRES_AT_ANNOTATION, MANAGED_BY_LABEL, POD_NAME_LABEL,
};
use agentpod_podspec::{AgentPodSpec, Hardening, PodName};

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

#[test]
fn rendered_pod_getters_read_back_what_the_setters_chose() {
    let rendered = AgentPodSpec::new("registry.example/claude:2.1")
        .name("getters")
        .namespace("agents")
        .container_name("reviewer")
        .render(UNIX_EPOCH)
        .unwrap();
    assert_eq!(rendered.name(), "getters");
    assert_eq!(rendered.namespace(), "agents");
    assert_eq!(rendered.container_name(), "reviewer");
    assert_eq!(rendered.image(), "registry.example/claude:2.1");
    let defaults = AgentPodSpec::new("img").render(UNIX_EPOCH).unwrap();
    assert_eq!(defaults.container_name(), "claude-code");
    assert_eq!(defaults.namespace(), "default");
}

#[test]
fn hardening_setters_set_the_field_of_the_same_name() {
    use agentpod_podspec::WritableDir;
    let none = Hardening::none();
    let home = WritableDir::new("/home/x", "1Mi")
        .size_limit("2Mi")
        .path("/home/y");
    assert_eq!(home, WritableDir::new("/home/y", "2Mi"));
    let all_on = Hardening::none()
        .run_as_non_root(true)
        .run_as_user(1)
        .run_as_group(2)
        .fs_group(3)
        .deny_privilege_escalation(true)
        .drop_all_capabilities(true)
        .seccomp_runtime_default(true)
        .disable_service_account_token(true)
        .disable_service_links(true)
        .read_only_root_filesystem(true)
        .writable_home(home.clone())
        .writable_tmp(WritableDir::new("/tmp", "1Mi"));
    assert!(all_on.run_as_non_root && all_on.deny_privilege_escalation);
    assert_eq!(
        (all_on.run_as_user, all_on.run_as_group, all_on.fs_group),
        (Some(1), Some(2), Some(3))
    );
    assert!(all_on.drop_all_capabilities && all_on.seccomp_runtime_default);
    assert!(all_on.disable_service_account_token && all_on.disable_service_links);
    assert!(all_on.read_only_root_filesystem);
    assert_eq!(all_on.writable_home, Some(home));
    assert_eq!(all_on.writable_tmp, Some(WritableDir::new("/tmp", "1Mi")));
    let back_off = all_on
        .run_as_non_root(false)
        .run_as_user(None)
        .run_as_group(None)
        .fs_group(None)
        .deny_privilege_escalation(false)
        .drop_all_capabilities(false)
        .seccomp_runtime_default(false)
        .disable_service_account_token(false)
        .disable_service_links(false)
        .read_only_root_filesystem(false)
        .writable_home(None)
        .writable_tmp(None);
    assert_eq!(back_off, none);
}
