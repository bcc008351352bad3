//! The handle to one warm worker pod.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use tokio::sync::Semaphore;

use super::health::{WorkerHealth, classify};
use crate::cleanup::delete_by_uid;
use crate::exec::exec_in_pod;
use crate::retry::retry;
use crate::{ExecOptions, ExecOutput, ExecRequest, RetryPolicy, Transport, TransportError};

/// One warm worker pod, as [`Transport::ensure_worker`] returns it: a cheap
/// handle (clone it freely) that a pool can hold, exec into, check and delete.
///
/// The handle names one pod by its UID. Execs go to the pod of that name;
/// [`health`](Self::health) tells whether it is still this pod and Ready.
/// Execs into one worker take turns (all handles to it from one
/// [`Transport`] share the turn), unless an exec opts in with
/// [`ExecOptions::concurrent`].
///
/// ```no_run
/// # async fn f(transport: agentpod_transport::Transport) -> Result<(), Box<dyn std::error::Error>> {
/// use agentpod_podspec::{AgentPodSpec, PodName, RestartPolicy};
/// use agentpod_transport::{ExecOptions, ExecRequest, StartPolicy};
/// let rendered = AgentPodSpec::new("claude-runner:2")
///     .name(PodName::explicit("claude-worker"))
///     .restart_policy(RestartPolicy::Always)
///     .command(["sh", "-c", "while :; do sleep 3600; done"])
///     .render(std::time::SystemTime::now())?;
/// let worker = transport.ensure_worker(&rendered, StartPolicy::default()).await?;
/// let request = ExecRequest::new(["sh", "-c", "wc -c"]).stdin("a prompt, never in a URL");
/// let output = worker.exec(&request, &ExecOptions::default()).await?;
/// assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "24");
/// if !worker.health().await?.is_ready() {
///     worker.delete().await?; // the next ensure_worker creates a fresh one
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Worker {
    pub(super) transport: Transport,
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) uid: String,
    pub(super) container: String,
    pub(super) secrets: Vec<String>,
    pub(super) turn: Arc<Semaphore>,
    pub(super) retry: RetryPolicy,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("uid", &self.uid)
            .field("container", &self.container)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// The worker pod's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The worker pod's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The UID of the pod this handle stands for.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// The container execs run in unless [`ExecOptions::container`] says otherwise.
    pub fn container(&self) -> &str {
        &self.container
    }

    /// Runs `request` in the worker and returns its output and exit code (a
    /// non-zero code is a result, not an error). Waits for the worker's turn
    /// first unless `options.concurrent`. Dropping the future or hitting the
    /// run timeout ends the session, and the remote process group is killed;
    /// when the command ends, whatever it left running in its group is
    /// killed too.
    pub async fn exec(
        &self,
        request: &ExecRequest,
        options: &ExecOptions,
    ) -> Result<ExecOutput, TransportError> {
        let _turn = self.turn(options).await?;
        exec_in_pod(
            self.transport.client(),
            &self.namespace,
            &self.name,
            &self.container,
            request,
            options,
            None,
        )
        .await
    }

    /// Waits for this worker's exec turn unless `options.concurrent`.
    pub(super) async fn turn(
        &self,
        options: &ExecOptions,
    ) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, TransportError> {
        if options.concurrent {
            return Ok(None);
        }
        let waited = tokio::time::timeout(
            options.queue_timeout,
            Arc::clone(&self.turn).acquire_owned(),
        )
        .await;
        match waited {
            Ok(Ok(permit)) => Ok(Some(permit)),
            // The semaphore is never closed; treat it like a busy worker.
            Ok(Err(_)) | Err(_) => Err(TransportError::WorkerBusy {
                namespace: self.namespace.clone(),
                pod: self.name.clone(),
                waited: options.queue_timeout,
            }),
        }
    }

    /// Reads the pod and says how it is doing: [`WorkerHealth::Gone`] when no
    /// pod with this name and UID exists any more.
    pub async fn health(&self) -> Result<WorkerHealth, TransportError> {
        let pods: Api<Pod> = Api::namespaced(self.transport.client(), &self.namespace);
        let current = retry(&self.retry, "get worker", || pods.get_opt(&self.name))
            .await
            .map_err(|f| f.into_error("get", "pod", &self.namespace, &self.name))?;
        Ok(match current {
            Some(pod) if pod.metadata.uid.as_deref() == Some(self.uid.as_str()) => {
                classify(&pod, &self.container)
            }
            _ => WorkerHealth::Gone,
        })
    }

    /// Deletes the worker pod (by UID: a newer pod of the same name is left
    /// alone) at once, and the Secrets it owns. Running execs end with it.
    /// Returns when the API server accepted the deletes.
    pub async fn delete(&self) -> Result<(), TransportError> {
        let pods: Api<Pod> = Api::namespaced(self.transport.client(), &self.namespace);
        delete_by_uid(&pods, "pod", &self.name, &self.uid, Some(0), &self.retry).await?;
        let secrets: Api<Secret> = Api::namespaced(self.transport.client(), &self.namespace);
        for name in &self.secrets {
            let found = retry(&self.retry, "get worker secret", || secrets.get_opt(name))
                .await
                .map_err(|f| f.into_error("get", "secret", &self.namespace, name))?;
            if let Some(secret) =
                found.filter(|s| super::objects::owned_by_uid(&s.metadata, &self.uid))
                && let Some(uid) = secret.metadata.uid.as_deref()
            {
                delete_by_uid(&secrets, "secret", name, uid, Some(0), &self.retry).await?;
            }
        }
        Ok(())
    }
}
