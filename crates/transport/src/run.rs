//! An ephemeral run: create, watch, stream logs, read the exit, clean up.
//!
//! [`Transport::start`] creates the objects (guarded from the first request)
//! and spawns one driver task that owns everything else: the watch, the log
//! follower and the cleanup guard. The [`RunHandle`] returned to the caller
//! aborts that task when dropped, which drops the guard, which deletes the
//! pod and its Secrets in the background. Every exit path of the driver —
//! result, fail-fast error, timeout, watch failure — deletes before it reports.
//!
//! A caller that has what it needs before the container ended (an agent's
//! result line) hands the run over with [`RunHandle::finish_in_background`]:
//! the driver stops reading the log, keeps its one watch until the pod
//! reached a terminal phase (at most [`CleanupPolicy::linger`]), and then
//! deletes with one request (see `cleanup.rs`). Dropping instead deletes at
//! once, which for a pod that is still running costs a graceful and a forced
//! delete.
//!
//! [`CleanupPolicy::linger`]: crate::CleanupPolicy::linger

use std::time::{Duration, SystemTime};

use agentpod_podspec::RenderedPod;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

use crate::cleanup::{CleanupGuard, CleanupTarget, DeleteMode};
use crate::create::{Bounds, CreateFailure, Ownership, create_all, new_token, stamp};
use crate::handle::{PodSource, RunEvent, RunEvents, RunHandle, RunOutcome, RunTimings};
use crate::logs::{LogFollower, LogSink, LogSummary, channel};
use crate::metrics::{RequestCounter, scoped_client};
use crate::progress::Progress;
use crate::start::{StartWait, Started, deadline_after, fresh_read};
use crate::watch::{PodUpdate, PodWatch};
use crate::{ExitStatus, NameConflict, RunOptions, Transport, TransportError};

impl Transport {
    /// Creates the pod's Secrets and the pod, then drives the run in a
    /// background task. Errors here are creation failures; everything after
    /// arrives through [`RunHandle::wait`].
    ///
    /// ```no_run
    /// # async fn f(transport: agentpod_transport::Transport) -> Result<(), agentpod_transport::TransportError> {
    /// use agentpod_podspec::AgentPodSpec;
    /// use agentpod_transport::RunOptions;
    /// let spec = AgentPodSpec::new("busybox").command(["sh", "-c", "echo hi; exit 3"]);
    /// let run = transport.start(spec, RunOptions::default()).await?;
    /// let (outcome, output) = run.wait_with_output(1 << 20).await?;
    /// assert_eq!(outcome.exit.code, Some(3));
    /// assert_eq!(output, b"hi\n");
    /// # Ok(()) }
    /// ```
    pub async fn start(
        &self,
        source: impl Into<PodSource>,
        options: RunOptions,
    ) -> Result<RunHandle, TransportError> {
        let source = source.into();
        let started = Instant::now();
        let requests = RequestCounter::default();
        let client = scoped_client(&self.client(), requests.clone());
        let (rendered, guard, pod) = self.create(&client, &source, &options).await?;
        let container = options
            .container
            .clone()
            .or_else(|| {
                rendered
                    .pod
                    .spec
                    .as_ref()?
                    .containers
                    .first()
                    .map(|c| c.name.clone())
            })
            .unwrap_or_default();
        let (event_sender, events) = mpsc::unbounded_channel();
        let (log_sink, logs) = if options.follow_logs {
            let (sink, stream) = channel(options.log_buffer_chunks);
            (Some(sink), Some(stream))
        } else {
            (None, None)
        };
        let namespace = rendered.namespace().to_owned();
        let name = rendered.name().to_owned();
        let (release, released) = watch::channel(false);
        let driver = Driver {
            api: Api::namespaced(client, &namespace),
            namespace: namespace.clone(),
            pod_name: name.clone(),
            container,
            options,
            events: event_sender,
            log_sink,
            log_cut: watch::channel(false).0,
            requests: requests.clone(),
            started,
            ever_running: false,
            released,
            watch_interrupted: false,
        };
        let task = tokio::spawn(driver.drive(pod, guard));
        Ok(RunHandle {
            namespace,
            pod: name,
            task: AbortOnDropHandle::new(task),
            events: Some(RunEvents(events)),
            logs,
            requests,
            release,
        })
    }

    /// Renders, stamps and creates, regenerating the name on conflicts if allowed.
    async fn create(
        &self,
        client: &kube::Client,
        source: &PodSource,
        options: &RunOptions,
    ) -> Result<(RenderedPod, CleanupGuard, Pod), TransportError> {
        let attempts = match (options.name_conflict, source) {
            (NameConflict::Regenerate { attempts }, PodSource::Spec(_)) => attempts.max(1),
            _ => 1,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut rendered = source.render()?;
            validate(&rendered)?;
            let token = new_token()?;
            let bounds = Bounds {
                active_deadline_seconds: options.active_deadline_seconds(),
                expires_at: expiry_from(SystemTime::now(), options.expiry_after()),
            };
            stamp(&mut rendered, &token, Some(&bounds))?;
            let target = CleanupTarget::for_rendered(
                client.clone(),
                &rendered,
                &token,
                options.cleanup.clone(),
                options.start.retry.clone(),
            );
            let mut guard = CleanupGuard::new(target, self.tracker().clone());
            let created = create_all(
                client,
                &rendered,
                &token,
                &options.start.retry,
                &mut guard,
                Ownership::FirstSecret,
            )
            .await;
            match created {
                Ok(pod) => return Ok((rendered, guard, pod)),
                Err(CreateFailure::Conflict { kind, name }) => {
                    guard.run_now(DeleteMode::Immediate).await;
                    if attempt >= attempts {
                        return Err(TransportError::NameConflict {
                            kind,
                            namespace: rendered.namespace().to_owned(),
                            name,
                            hint: match source {
                                PodSource::Rendered(_) => {
                                    "pass the AgentPodSpec with a generated name (PodName::generated) so the transport can pick another, or delete the object"
                                }
                                PodSource::Spec(_) => {
                                    "use a generated name (PodName::generated) or delete the object"
                                }
                            },
                        });
                    }
                    tracing::info!(%name, kind, "name taken; rendering again under a new name");
                }
                Err(CreateFailure::Failed(error)) => {
                    guard.run_now(DeleteMode::Immediate).await;
                    return Err(error);
                }
            }
        }
    }
}

/// `now + after`, capped a century ahead (an "infinite" run never expires in
/// practice, and the annotation stays a valid timestamp).
fn expiry_from(now: SystemTime, after: Duration) -> SystemTime {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(after.min(CENTURY)).unwrap_or(now)
}

fn validate(rendered: &RenderedPod) -> Result<(), TransportError> {
    let invalid = |reason: &str| {
        Err(TransportError::InvalidPod {
            reason: reason.to_owned(),
        })
    };
    if rendered.name().is_empty() {
        return invalid("the pod has no name");
    }
    if rendered.namespace().is_empty() {
        return invalid("the pod has no namespace");
    }
    if rendered
        .pod
        .spec
        .as_ref()
        .is_none_or(|s| s.containers.is_empty())
    {
        return invalid("the pod has no containers");
    }
    if rendered
        .secrets
        .iter()
        .any(|s| s.metadata.name.as_deref().unwrap_or("").is_empty())
    {
        return invalid("a Secret has no name");
    }
    Ok(())
}

/// State of the background task of one run.
struct Driver {
    api: Api<Pod>,
    namespace: String,
    pod_name: String,
    container: String,
    options: RunOptions,
    events: mpsc::UnboundedSender<RunEvent>,
    log_sink: Option<LogSink>,
    /// Tells the log follower to stop: the drain timeout passed.
    log_cut: watch::Sender<bool>,
    requests: RequestCounter,
    started: Instant,
    ever_running: bool,
    /// Becomes `true` when the caller handed the run over
    /// ([`RunHandle::finish_in_background`]).
    released: watch::Receiver<bool>,
    /// The pod's watch broke, failed to open or lost its place.
    watch_interrupted: bool,
}

/// Where the watch loop ended.
struct Finished {
    /// How to delete: `Terminal` when the pod reached `Succeeded`/`Failed`.
    mode: DeleteMode,
    exit: ExitStatus,
    logs: Option<AbortOnDropHandle<LogSummary>>,
    terminated: watch::Sender<bool>,
    timings: RunTimings,
    resyncs: u32,
}

impl Driver {
    async fn drive(
        mut self,
        pod: Pod,
        mut guard: CleanupGuard,
    ) -> Result<RunOutcome, TransportError> {
        let _ = self.events.send(RunEvent::Created {
            pod: self.pod_name.clone(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
        });
        let finished = self.watch_until_finished(pod).await;
        if self.watch_interrupted || self.requests.failed() > 0 {
            // The API server failed during the run; after a restart the
            // controller manager's informers back off, and the garbage
            // collector may take a minute to delete what the first Secret
            // owns. Delete every object directly instead.
            tracing::debug!(pod = %self.pod_name, "the API server failed during the run; deleting each object");
            guard.delete_each();
        }
        match finished {
            Ok(finished) => {
                guard.set_mode(finished.mode);
                let _ = finished.terminated.send(true);
                let logs = match finished.logs {
                    Some(task) => self.drain(task).await,
                    None => None,
                };
                guard.run_now(finished.mode).await;
                let mut timings = finished.timings;
                timings.total = self.started.elapsed();
                Ok(RunOutcome {
                    namespace: self.namespace,
                    pod: self.pod_name,
                    exit: finished.exit,
                    logs,
                    api_requests: self.requests.get(),
                    watch_resyncs: finished.resyncs,
                    timings,
                })
            }
            Err(error) => {
                let mode = if self.ever_running {
                    DeleteMode::Graceful
                } else {
                    DeleteMode::Immediate
                };
                tracing::debug!(pod = %self.pod_name, %error, "run failed; deleting");
                guard.run_now(mode).await;
                Err(error)
            }
        }
    }

    async fn watch_until_finished(&mut self, pod: Pod) -> Result<Finished, TransportError> {
        let version = pod.metadata.resource_version.clone().unwrap_or_default();
        let mut watch = PodWatch::new(self.api.clone(), &self.namespace, &self.pod_name, &version);
        let finished = self.follow_pod(pod, &mut watch).await;
        self.watch_interrupted = watch.interrupted();
        finished
    }

    async fn follow_pod(
        &mut self,
        pod: Pod,
        watch: &mut PodWatch,
    ) -> Result<Finished, TransportError> {
        let (terminated, terminated_rx) = watch::channel(false);
        let api = self.api.clone();
        let (namespace, pod_name, container) = (
            self.namespace.clone(),
            self.pod_name.clone(),
            self.container.clone(),
        );
        let start = self.options.start.clone();
        let mut last: Option<Progress> = None;
        let mut released = self.released.clone();
        let start_wait = StartWait {
            api: &api,
            watch,
            namespace: &namespace,
            pod: &pod_name,
            container: &container,
            policy: &start,
            deadline: deadline_after(self.started, start.start_timeout),
        }
        .run(pod, |progress| {
            self.on_change(progress);
            last = Some(progress.clone());
        });
        // Handed over before the container ran: nothing to wait for.
        let started = tokio::select! {
            started = start_wait => Some(started?),
            () = was_released(&mut released) => None,
        };
        let Some(started) = started else {
            return Err(self.lingered());
        };
        let mut pod = match started {
            Started::Running(pod) | Started::Finished(pod) => *pod,
            Started::Gone(progress) => return Err(self.vanished(&progress)),
        };
        let mut running_since: Option<Instant> = None;
        let mut run_deadline: Option<Instant> = None;
        let mut linger_deadline: Option<Instant> = None;
        let mut logs: Option<AbortOnDropHandle<LogSummary>> = None;
        loop {
            let progress = Progress::of(&pod, &self.container);
            if last.as_ref() != Some(&progress) {
                self.on_change(&progress);
                last = Some(progress.clone());
            }
            let now = Instant::now();
            if let Progress::Finished(exit) = &progress {
                if logs.is_none() {
                    logs = self.follow_logs(terminated_rx.clone());
                }
                let _ = terminated.send(true);
                let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
                return Ok(Finished {
                    mode: match phase {
                        Some("Succeeded" | "Failed") => DeleteMode::Terminal,
                        _ => DeleteMode::Immediate,
                    },
                    exit: exit.clone(),
                    logs,
                    terminated,
                    timings: RunTimings {
                        start: running_since.map(|at| at - self.started),
                        run: running_since.map(|at| now - at),
                        total: Duration::ZERO,
                    },
                    resyncs: watch.resyncs(),
                });
            }
            let deadline = match run_deadline {
                Some(deadline) => deadline,
                None => {
                    running_since = Some(now);
                    logs = self.follow_logs(terminated_rx.clone());
                    *run_deadline.insert(deadline_after(now, self.options.run_timeout))
                }
            };
            let deadline = linger_deadline.map_or(deadline, |linger| linger.min(deadline));
            tokio::select! {
                () = was_released(&mut released), if linger_deadline.is_none() => {
                    // The caller has what it needs: read no more of the log,
                    // and give the container a moment to end by itself.
                    logs = None;
                    self.log_sink = None;
                    linger_deadline = Some(deadline_after(Instant::now(), self.options.cleanup.linger));
                }
                update = watch.next() => match update? {
                    PodUpdate::Changed(next) => pod = *next,
                    PodUpdate::Deleted(last_state) => {
                        if matches!(Progress::of(&last_state, &self.container), Progress::Finished(_)) {
                            pod = *last_state;
                        } else {
                            return Err(self.vanished(&progress));
                        }
                    }
                    PodUpdate::Gone => return Err(self.vanished(&progress)),
                },
                () = tokio::time::sleep_until(deadline) => {
                    if linger_deadline.is_some_and(|linger| linger <= deadline) {
                        return Err(self.lingered());
                    }
                    // The watch may be stuck on a half-open connection while
                    // the pod finished: look once more before calling it late.
                    match fresh_read(&self.api, &self.pod_name, &self.options.start.retry).await {
                        Some(fresh) if matches!(Progress::of(&fresh, &self.container), Progress::Finished(_)) => {
                            pod = fresh;
                        }
                        _ => {
                            return Err(TransportError::RunTimeout {
                                namespace: self.namespace.clone(),
                                pod: self.pod_name.clone(),
                                timeout: self.options.run_timeout,
                            });
                        }
                    }
                }
            }
        }
    }

    /// Waits for the log follower to finish, at most the drain timeout; then
    /// cuts it off (its stream ends with `LogDrainTimeout`). Without the bound
    /// a caller that took the log but reads it only after `wait()` would wait
    /// forever: the follower waits for the reader, `wait()` for the follower.
    /// A run handed over meanwhile (`finish_in_background`) stops reading
    /// at once: nobody reads the log any more.
    async fn drain(&self, mut task: AbortOnDropHandle<LogSummary>) -> Option<LogSummary> {
        let mut released = self.released.clone();
        let drained = tokio::select! {
            drained = tokio::time::timeout(self.options.log_drain_timeout, &mut task) => drained,
            () = was_released(&mut released) => return None, // dropping `task` aborts it
        };
        match drained {
            Ok(summary) => summary.ok(),
            Err(_) => {
                tracing::debug!(pod = %self.pod_name, "log not consumed in time; cutting it off");
                let _ = self.log_cut.send(true);
                task.await.ok()
            }
        }
    }

    /// Emits the event for a new state. A container that ran between two
    /// snapshots still ran: report Running before its end so the order holds.
    fn on_change(&mut self, progress: &Progress) {
        if let Progress::Finished(exit) = progress
            && exit.code.is_some()
            && !matches!(
                exit.reason.as_deref(),
                Some("StartError" | "ContainerCannotRun")
            )
            && !self.ever_running
        {
            self.ever_running = true;
            self.emit(&Progress::Running);
        }
        if *progress == Progress::Running {
            self.ever_running = true;
        }
        self.emit(progress);
    }

    fn emit(&self, progress: &Progress) {
        let event = match progress {
            Progress::Pending(reason) => RunEvent::Pending(reason.clone()),
            Progress::Running => RunEvent::Running,
            Progress::Finished(exit) => RunEvent::Finished(exit.clone()),
        };
        tracing::debug!(pod = %self.pod_name, ?event, "run event");
        let _ = self.events.send(event);
    }

    fn follow_logs(
        &mut self,
        terminated: watch::Receiver<bool>,
    ) -> Option<AbortOnDropHandle<LogSummary>> {
        let sink = self.log_sink.take()?;
        let follower = LogFollower {
            api: self.api.clone(),
            namespace: self.namespace.clone(),
            pod: self.pod_name.clone(),
            container: self.container.clone(),
            sink,
            terminated,
            cut: self.log_cut.subscribe(),
            drain_timeout: self.options.log_drain_timeout,
        };
        Some(AbortOnDropHandle::new(tokio::spawn(follower.run())))
    }

    /// What a run handed over with `finish_in_background` ends with when it
    /// did not end by itself within the linger. Nobody receives it (the
    /// handle is gone); it only shapes the cleanup (like a dropped run).
    fn lingered(&self) -> TransportError {
        TransportError::RunTimeout {
            namespace: self.namespace.clone(),
            pod: self.pod_name.clone(),
            timeout: self.options.cleanup.linger,
        }
    }

    fn vanished(&self, progress: &Progress) -> TransportError {
        TransportError::PodVanished {
            namespace: self.namespace.clone(),
            pod: self.pod_name.clone(),
            last_state: progress.to_string(),
        }
    }
}

/// Resolves once the run was handed over; never if it was not (a dropped
/// handle aborts the driver anyway).
async fn was_released(released: &mut watch::Receiver<bool>) {
    if released.wait_for(|released| *released).await.is_err() {
        std::future::pending::<()>().await;
    }
}
