//! The provider conformance suite against `K8sEphemeralProvider` on the local cluster, with the
//! real CLI in the runner image. Settled means: no pod and no Secret of ours left.

#![allow(clippy::expect_used, reason = "a failed step should fail the test")]

use std::sync::Arc;

use agentpod_e2e::World;
use agentpod_testkit::conformance::Conformance;

#[tokio::test]
async fn cluster_provider_passes_the_conformance_suite() {
    let Some(world) = World::new(Conformance::script()).await else {
        return;
    };
    let world = Arc::new(world);
    let provider = world.provider().await;
    let watcher = world.clone();
    let report = Conformance::new(&provider, &world.endpoint)
        .settled(move || {
            let world = watcher.clone();
            async move {
                match world.leftovers().await {
                    (0, 0) => Ok(()),
                    (pods, secrets) => Err(format!("{pods} pods and {secrets} Secrets left")),
                }
            }
        })
        .run()
        .await;
    // The per-check figures, for `--nocapture` runs.
    #[allow(clippy::print_stderr, reason = "a test's report on the terminal")]
    {
        eprintln!("K8sEphemeralProvider conformance:\n{report}");
    }
    assert!(report.passed(), "{report}");
    assert_eq!(report.checks.len(), 7);
}
