//! The provider conformance suite against `LocalProvider`: the real `claude` on loopback.

#![allow(clippy::expect_used, reason = "a failed step should fail the test")]

use agentpod_e2e::local::LocalWorld;
use agentpod_testkit::conformance::Conformance;

/// Child processes of this test process that are still alive (zombies excluded).
fn live_children() -> Vec<String> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter(|stat| {
            // "pid (comm) state ppid …": the fields after the last ')'.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest.split_whitespace().collect())
                .unwrap_or_default();
            fields.get(1) == Some(&me.as_str()) && fields.first() != Some(&"Z")
        })
        .collect()
}

#[tokio::test]
async fn local_provider_passes_the_conformance_suite() {
    let world = LocalWorld::new(Conformance::script()).await;
    let provider = world.provider();
    let report = Conformance::new(&provider, &world.endpoint)
        .settled(|| async {
            let left = live_children();
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("processes left: {left:?}"))
            }
        })
        .run()
        .await;
    // The per-check figures, for `--nocapture` runs.
    #[allow(clippy::print_stderr, reason = "a test's report on the terminal")]
    {
        eprintln!("LocalProvider conformance:\n{report}");
    }
    assert!(report.passed(), "{report}");
    assert_eq!(report.checks.len(), 7);
}

#[tokio::test]
async fn the_suite_fails_a_provider_that_runs_nothing() {
    let endpoint = agentpod_testkit::model::ModelEndpoint::start_local(Conformance::script())
        .await
        .expect("endpoint starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let fixture = dir.path().join("empty.jsonl");
    std::fs::write(&fixture, "").expect("fixture written");
    let empty = agentpod_provider::ReplayProvider::open(&fixture).expect("fixture reads");
    let report = Conformance::new(&empty, &endpoint).run().await;
    assert!(!report.passed());
    assert_eq!(report.failures().len(), 7, "{report}");
}
