//! Finding worker pods by label: the members of a pool, from any process.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};

use super::health::classify;
use super::objects::is_ours;
use super::{Worker, WorkerHealth};
use crate::retry::retry;
use crate::{RetryPolicy, Transport, TransportError};

/// One worker pod found by [`Transport::list_workers`]: a handle to it, the
/// pod as listed (labels, annotations such as its claim, status) and its
/// health at that moment.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ListedWorker {
    /// The handle (exec, claim, health, delete).
    pub worker: Worker,
    /// The pod as the list returned it.
    pub pod: Box<Pod>,
    /// Its health as listed.
    pub health: WorkerHealth,
}

impl Transport {
    /// Lists the worker pods in `namespace` that match `label_selector`
    /// (e.g. `agentpod.dev/pool=reviewers`); only pods with agentpod's
    /// managed-by label are returned. One API request.
    pub async fn list_workers(
        &self,
        namespace: &str,
        label_selector: &str,
        retry_policy: &RetryPolicy,
    ) -> Result<Vec<ListedWorker>, TransportError> {
        let pods: Api<Pod> = Api::namespaced(self.client(), namespace);
        let params = ListParams::default().labels(label_selector);
        let list = retry(retry_policy, "list workers", || pods.list(&params))
            .await
            .map_err(|f| f.into_error("list", "pod", namespace, label_selector))?;
        Ok(list
            .items
            .into_iter()
            .filter(|pod| is_ours(&pod.metadata))
            .filter_map(|pod| {
                let worker = self.worker_of(&pod, retry_policy.clone())?;
                let health = classify(&pod, &worker.container);
                Some(ListedWorker {
                    worker,
                    pod: Box::new(pod),
                    health,
                })
            })
            .collect())
    }

    /// A handle to an existing pod (its name, UID and first container), or
    /// `None` when the pod lacks one of them.
    pub(crate) fn worker_of(&self, pod: &Pod, retry_policy: RetryPolicy) -> Option<Worker> {
        let namespace = pod.metadata.namespace.clone()?;
        let name = pod.metadata.name.clone()?;
        let uid = pod.metadata.uid.clone()?;
        let spec = pod.spec.as_ref()?;
        let container = spec.containers.first()?.name.clone();
        let secrets = spec
            .volumes
            .iter()
            .flatten()
            .filter_map(|v| v.secret.as_ref().and_then(|s| s.secret_name.clone()))
            .collect();
        let turn = Arc::clone(&self.worker_locks().for_worker_turn(&namespace, &name));
        Some(Worker {
            transport: self.clone(),
            namespace,
            name,
            uid,
            container,
            secrets,
            turn,
            retry: retry_policy,
        })
    }
}

impl Worker {
    /// Sets annotations on the worker pod (a merge patch, no precondition):
    /// for bookkeeping that needs no compare-and-swap, such as refreshing an
    /// expiry. `Ok(false)` when the pod is gone or is another pod now.
    pub async fn annotate(
        &self,
        annotations: &std::collections::BTreeMap<String, String>,
    ) -> Result<bool, TransportError> {
        let pods: Api<Pod> = Api::namespaced(self.transport.client(), &self.namespace);
        let body = serde_json::json!({"metadata": {"uid": self.uid, "annotations": annotations}});
        let patch = Patch::Merge(&body);
        let params = PatchParams::default();
        match retry(&self.retry, "annotate worker", || {
            pods.patch(&self.name, &params, &patch)
        })
        .await
        {
            Ok(_) => Ok(true),
            Err(failed) if matches!(&failed.error, kube::Error::Api(r) if matches!(r.code, 404 | 409)) => {
                Ok(false)
            }
            Err(failed) => Err(failed.into_error("patch", "pod", &self.namespace, &self.name)),
        }
    }
}
