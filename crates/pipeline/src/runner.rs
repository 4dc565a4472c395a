//! The engine as a task: sources (and the HTTP ingest handler, and the last-used poller) send
//! it work over a channel and wait for the commit, so detection stays single-threaded and in
//! order while reading runs concurrently.

use std::sync::Arc;
use std::time::Duration;

use detect::Alert;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

use crate::ingest::{Batch, Ingested, Ingestor, Settled};
use crate::PipelineError;

/// How often the engine reads the canary inventory again, so canaries issued while `serve`
/// runs are watched within this time.
const CANARY_RELOAD: Duration = Duration::from_secs(30);

enum Job {
    Batch(Batch, oneshot::Sender<Result<Ingested, PipelineError>>),
    Alerts(
        String,
        Vec<Alert>,
        oneshot::Sender<Result<Vec<String>, PipelineError>>,
    ),
    ReloadCanaries(oneshot::Sender<Result<(), PipelineError>>),
}

/// Where work for the engine goes. Cloning it is cheap; the engine stops when every handle is
/// dropped.
#[derive(Clone)]
pub struct EngineHandle {
    jobs: mpsc::Sender<Job>,
}

impl EngineHandle {
    /// False once the engine task has ended (it panicked, or serve is stopping): nothing sent
    /// to it would be processed.
    pub fn is_running(&self) -> bool {
        !self.jobs.is_closed()
    }

    /// Runs a batch and waits until its effects are committed (or failed, and rolled back).
    pub async fn submit(&self, batch: Batch) -> Result<Ingested, PipelineError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Batch(batch, reply)).await?;
        answer.await.map_err(|_| PipelineError::Stopped)?
    }

    /// Commits alerts raised outside the trail (the last-used poller); returns the new ones.
    pub async fn commit_alerts(
        &self,
        source: &str,
        alerts: Vec<Alert>,
    ) -> Result<Vec<String>, PipelineError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Alerts(source.to_owned(), alerts, reply))
            .await?;
        answer.await.map_err(|_| PipelineError::Stopped)?
    }

    /// Reads the canary inventory again now (after issuing or revoking one).
    pub async fn reload_canaries(&self) -> Result<(), PipelineError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::ReloadCanaries(reply)).await?;
        answer.await.map_err(|_| PipelineError::Stopped)?
    }

    async fn send(&self, job: Job) -> Result<(), PipelineError> {
        self.jobs
            .send(job)
            .await
            .map_err(|_| PipelineError::Stopped)
    }
}

/// Starts the engine task. `new_alerts` is woken whenever a commit brings new alerts, so the
/// delivery loop sends them at once rather than at its next poll.
pub fn spawn_engine(
    mut ingestor: Ingestor,
    new_alerts: Arc<Notify>,
) -> (EngineHandle, JoinHandle<()>) {
    let (jobs, mut queue) = mpsc::channel::<Job>(64);
    let task = tokio::spawn(async move {
        let mut reload = tokio::time::interval(CANARY_RELOAD);
        reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        reload.tick().await;
        // When this worker's input has been quiet for the quiet time, it asks whether every
        // worker's has; if so, decisions still waiting for records that may have been on
        // their way are released.
        let mut settle_at: Option<tokio::time::Instant> = None;
        loop {
            let quiet = async {
                match settle_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                job = queue.recv() => {
                    let Some(job) = job else { break };
                    match job {
                        Job::Batch(batch, reply) => {
                            let result = ingestor.ingest(&batch).await;
                            if result.as_ref().is_ok_and(|done| !done.new_alerts.is_empty()) {
                                new_alerts.notify_one();
                            }
                            if result.as_ref().is_ok_and(|done| done.records > 0) {
                                settle_at = Some(tokio::time::Instant::now() + ingestor.quiet_time());
                            }
                            let _ = reply.send(result);
                        }
                        Job::Alerts(source, alerts, reply) => {
                            let result = ingestor.commit_alerts(&source, &alerts).await;
                            if result.as_ref().is_ok_and(|new| !new.is_empty()) {
                                new_alerts.notify_one();
                            }
                            let _ = reply.send(result);
                        }
                        Job::ReloadCanaries(reply) => {
                            let _ = reply.send(ingestor.reload_canaries().await);
                        }
                    }
                }
                () = quiet => {
                    settle_at = None;
                    match ingestor.settle_pending().await {
                        Ok(Settled::Released(new)) if !new.is_empty() => new_alerts.notify_one(),
                        Ok(Settled::Released(_)) => {}
                        Ok(Settled::NotQuiet(again)) => {
                            settle_at = Some(tokio::time::Instant::now() + again);
                        }
                        Err(error) => {
                            tracing::warn!(%error, "could not commit the alerts released after a quiet spell; trying again");
                            settle_at = Some(tokio::time::Instant::now() + ingestor.quiet_time());
                        }
                    }
                }
                _ = reload.tick() => {
                    if let Err(error) = ingestor.reload_canaries().await {
                        tracing::warn!(%error, "could not reload the canary inventory");
                    }
                }
            }
        }
    });
    (EngineHandle { jobs }, task)
}
