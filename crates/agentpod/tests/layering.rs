//! The layering is the architecture: these tests keep it visible by failing
//! the build as soon as a pure layer (or the facade's default features) starts
//! to depend on an async runtime or a Kubernetes client.

use std::process::Command;

/// The normal (non-dev) dependency closure of `package` with `features`, as package names.
fn dependency_names(package: &str, features: &[&str]) -> Vec<String> {
    dependency_names_to_depth(package, features, None)
}

/// Like [`dependency_names`], limited to `depth` levels (1: direct dependencies).
fn dependency_names_to_depth(package: &str, features: &[&str], depth: Option<u32>) -> Vec<String> {
    let mut command = Command::new(env!("CARGO"));
    if let Some(depth) = depth {
        command.args(["tree", "--depth", &depth.to_string()]);
    } else {
        command.arg("tree");
    }
    command.args([
        "--offline",
        "--package",
        package,
        "--edges",
        "normal",
        "--prefix",
        "none",
        "--format",
        "{p}",
    ]);
    if !features.is_empty() {
        command.args(["--no-default-features", "--features", &features.join(",")]);
    }
    let output = match command.output() {
        Ok(output) => output,
        Err(error) => panic!("could not run cargo tree: {error}"),
    };
    assert!(
        output.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn assert_free_of(package: &str, features: &[&str], forbidden: &[&str]) {
    let names = dependency_names(package, features);
    assert!(
        names.iter().any(|name| name == package),
        "cargo tree output did not list {package} itself: {names:?}"
    );
    let found: Vec<&String> = names
        .iter()
        .filter(|name| forbidden.contains(&name.as_str()))
        .collect();
    assert!(
        found.is_empty(),
        "{package} (features {features:?}) must not depend on {found:?}; see docs/architecture.md"
    );
}

const IO_STACK: &[&str] = &["tokio", "kube", "kube-client", "hyper", "mio"];

#[test]
fn podspec_is_pure() {
    assert_free_of("agentpod-podspec", &[], IO_STACK);
}

#[test]
fn claude_args_is_pure_and_knows_nothing_of_kubernetes() {
    let mut forbidden = IO_STACK.to_vec();
    forbidden.push("k8s-openapi");
    assert_free_of("agentpod-claude-args", &[], &forbidden);
}

#[test]
fn transport_does_not_know_the_claude_cli() {
    assert_free_of("agentpod-transport", &[], &["agentpod-claude-args"]);
}

#[test]
fn facade_pure_features_do_not_compile_a_kube_client() {
    assert_free_of("agentpod", &["podspec", "claude-args"], IO_STACK);
}

#[test]
fn facade_transport_feature_brings_the_client() {
    let names = dependency_names("agentpod", &["transport"]);
    assert!(names.iter().any(|name| name == "kube-client"), "{names:?}");
}

#[test]
fn provider_glues_the_layers_and_reaches_kube_only_through_transport() {
    let all = dependency_names("agentpod-provider", &[]);
    for layer in [
        "agentpod-podspec",
        "agentpod-claude-args",
        "agentpod-transport",
    ] {
        assert!(
            all.iter().any(|name| name == layer),
            "{layer} missing: {all:?}"
        );
    }
    // The Kubernetes client and the HTTP stack come in through the transport, never directly:
    // every byte to the cluster stays the transport's.
    let direct = dependency_names_to_depth("agentpod-provider", &[], Some(1));
    let found: Vec<&String> = direct
        .iter()
        .filter(|name| ["kube", "kube-client", "hyper", "tower", "http"].contains(&name.as_str()))
        .collect();
    assert!(
        found.is_empty(),
        "agentpod-provider must reach {found:?} only through agentpod-transport"
    );
}

#[test]
fn facade_provider_feature_brings_the_provider_and_defaults_stay_without_it() {
    let with = dependency_names("agentpod", &["provider"]);
    assert!(
        with.iter().any(|name| name == "agentpod-provider"),
        "{with:?}"
    );
    let without = dependency_names("agentpod", &["podspec", "claude-args"]);
    assert!(
        !without.iter().any(|name| name == "agentpod-provider"),
        "{without:?}"
    );
}

#[test]
fn cli_drives_the_provider_and_reaches_kube_only_through_transport() {
    let all = dependency_names("agentpod-cli", &[]);
    for layer in ["agentpod-provider", "agentpod-transport"] {
        assert!(
            all.iter().any(|name| name == layer),
            "{layer} missing: {all:?}"
        );
    }
    let direct = dependency_names_to_depth("agentpod-cli", &[], Some(1));
    let found: Vec<&String> = direct
        .iter()
        .filter(|name| ["kube", "kube-client", "hyper", "tower", "http"].contains(&name.as_str()))
        .collect();
    assert!(
        found.is_empty(),
        "agentpod-cli must reach {found:?} only through agentpod-transport"
    );
}
