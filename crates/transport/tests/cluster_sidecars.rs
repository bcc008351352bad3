//! Runs whose pods are not the plain one-container case, against the real
//! local cluster: a sidecar that never exits, a Secret that is missing, and
//! an "infinite" run (`Duration::MAX` timeouts).
//!
//! Runs with `cargo xtask test`; skips loudly under plain `cargo test`.

#![allow(clippy::expect_used, clippy::print_stderr, reason = "test code")]

mod support;

use std::time::{Duration, Instant};

use agentpod_podspec::RenderedPod;
use agentpod_transport::{RunOptions, StartPolicy, TransportError};

fn quick() -> RunOptions {
    RunOptions::default()
        .start(StartPolicy::default().start_timeout(Duration::from_secs(60)))
        .run_timeout(Duration::from_secs(60))
}

/// Adds a container like the first one, running `script` (a mesh proxy stand-in).
fn with_sidecar(mut rendered: RenderedPod, script: &str) -> RenderedPod {
    let spec = rendered.pod.spec.as_mut().expect("pod spec");
    let mut sidecar = spec.containers[0].clone();
    sidecar.name = "sidecar".into();
    sidecar.command = Some(vec!["sh".into(), "-c".into(), script.into()]);
    sidecar.args = None;
    sidecar.env = None;
    spec.containers.push(sidecar);
    rendered
}

#[tokio::test]
async fn cluster_a_sidecar_that_keeps_running_does_not_keep_the_run_alive() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let rendered = setup
        .busybox("sidecar", "echo agent-done; exit 5")
        .render(std::time::SystemTime::now())
        .expect("render");
    let rendered = with_sidecar(rendered, "trap 'exit 0' TERM; while :; do sleep 1; done");
    let started = Instant::now();
    let (outcome, output) = setup
        .transport
        .start(rendered, quick())
        .await
        .expect("start")
        .wait_with_output(1 << 20)
        .await
        .expect("the run ends when the agent container ends");
    eprintln!(
        "sidecar run ended after {:?}: {}",
        started.elapsed(),
        outcome.exit
    );
    assert_eq!(outcome.exit.code, Some(5), "{}", outcome.exit);
    assert_eq!(String::from_utf8_lossy(&output), "agent-done\n");
    assert!(outcome.logs.expect("summary").complete);
    setup.wait_no_leftovers(Duration::from_secs(30)).await;
}

#[tokio::test]
async fn cluster_a_missing_secret_fails_fast_and_names_it() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let mut rendered = setup
        .busybox("nosecret", "echo \"$TOKEN\"")
        .secret_env("TOKEN", "x")
        .render(std::time::SystemTime::now())
        .expect("render");
    let secret = rendered.secrets.remove(0);
    let name = secret.metadata.name.expect("secret name");
    let started = Instant::now();
    let error = setup
        .transport
        .start(rendered, quick())
        .await
        .expect("start")
        .wait()
        .await
        .expect_err("the pod refers to a Secret that does not exist");
    eprintln!(
        "missing Secret failed after {:?}: {error}",
        started.elapsed()
    );
    assert!(
        matches!(&error, TransportError::CannotStart { reason, .. } if reason == "CreateContainerConfigError"),
        "{error}"
    );
    assert!(error.to_string().contains(&name), "{error}");
    assert!(!error.is_retryable());
    setup.wait_no_leftovers(Duration::from_secs(30)).await;
}

#[tokio::test]
async fn cluster_an_unbounded_run_is_accepted_by_the_api_server() {
    let Some(setup) = support::setup().await else {
        return;
    };
    let forever = RunOptions::default()
        .start(StartPolicy::default().start_timeout(Duration::MAX))
        .run_timeout(Duration::MAX)
        .expiry_margin(Duration::MAX);
    assert_eq!(forever.active_deadline_seconds(), i64::from(i32::MAX));
    let (outcome, output) = setup
        .transport
        .start(setup.busybox("forever", "echo fine"), forever)
        .await
        .expect("activeDeadlineSeconds = 2^31 - 1 passes validation")
        .wait_with_output(1 << 20)
        .await
        .expect("run");
    assert!(outcome.exit.success(), "{}", outcome.exit);
    assert_eq!(output, b"fine\n");
}
