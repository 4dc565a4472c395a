//! Many `serve` processes on one database: each writes a heartbeat with its counters, and a
//! singleton job (the canary chores, an S3 lister) runs on exactly one live worker at a time,
//! under a lease it renews while it lives. When that worker dies its lease runs out and the
//! next worker to try takes the job over: within one lease of the death.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use store::{LeaseKind, Store, WorkerBeat};
use tokio::sync::watch;
use trail::EventTime;

use crate::Metrics;

/// How long a job's lease lasts without renewal: the longest a job stays without a worker
/// after its worker dies.
pub const JOB_LEASE: Duration = Duration::from_secs(30);

/// How often a worker writes its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// A worker not seen for this long is shown as gone.
pub const GONE_AFTER: Duration = Duration::from_secs(60);

/// A worker not seen for this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// Who this worker is, as its heartbeats say.
#[derive(Clone, Debug)]
pub struct WorkerIdentity {
    /// Its id: the host and the process id.
    pub id: String,
    /// The host it runs on.
    pub host: String,
    /// When it started.
    pub started_at: EventTime,
}

impl WorkerIdentity {
    /// This process.
    pub fn current() -> WorkerIdentity {
        WorkerIdentity {
            id: crate::default_worker_id(),
            host: crate::ingest::host_name(),
            started_at: store::now(),
        }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Writes this worker's heartbeat every `every` until `shutdown`, then records that it
/// stopped and gives up its leases, so that another worker takes its jobs at once.
pub async fn run_heartbeat(
    store: Store,
    identity: WorkerIdentity,
    version: String,
    metrics: Arc<Metrics>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let beat = |metrics: &Metrics| {
        let sources = metrics.sources();
        WorkerBeat {
            id: identity.id.clone(),
            host: identity.host.clone(),
            pid: std::process::id(),
            version: version.clone(),
            started_at: identity.started_at,
            batches: sources.values().map(|s| s.batches).sum(),
            records: sources.values().map(|s| s.records).sum(),
            alerts: sources.values().map(|s| s.alerts).sum(),
            newest_event: sources.values().filter_map(|s| s.newest_event).max(),
        }
    };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped(&mut shutdown) => break,
        }
        let now = store::now();
        let forget_before = now.offset(-millis(FORGET_AFTER));
        if let Err(error) = store.heartbeat(&beat(&metrics), now, forget_before).await {
            tracing::warn!(%error, "cannot write this worker's heartbeat; trying again");
        }
    }
    let stopped = async {
        store
            .heartbeat(&beat(&metrics), store::now(), EventTime(0))
            .await?;
        store.worker_stopped(&identity.id, store::now()).await
    };
    if let Err(error) = stopped.await {
        tracing::warn!(%error, "cannot record that this worker stopped; its leases run out by themselves");
    }
}

/// Runs `job` whenever this worker holds the lease `name`, until `shutdown`.
///
/// The worker tries for the lease every third of `lease`; holding it, it renews it as often.
/// The job gets a stop signal that turns true when another worker took the lease, when the
/// lease is about to run out unrenewed (the database is out of reach), or at shutdown, and
/// must then return; a job that
/// returns on its own while the lease is held is started again. The lease is given up when
/// the job ends, so another worker need not wait for it to run out.
pub async fn run_singleton<F, Fut>(
    store: Store,
    name: String,
    worker: String,
    lease: Duration,
    mut job: F,
    mut shutdown: watch::Receiver<bool>,
) where
    F: FnMut(watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()>,
{
    let every = lease / 3;
    while !stop_requested(&shutdown) {
        match store
            .take_lease(&name, LeaseKind::Job, &worker, lease)
            .await
        {
            Ok(true) => {
                tracing::info!(job = %name, "this worker runs the job");
                let (stop, job_stop) = watch::channel(false);
                let running = job(job_stop);
                tokio::pin!(running);
                let mut renew = tokio::time::interval(every);
                renew.tick().await;
                let mut renewed = tokio::time::Instant::now();
                let mut stopping = false;
                loop {
                    tokio::select! {
                        _ = &mut running => break,
                        _ = renew.tick(), if !stopping => {
                            match store.take_lease(&name, LeaseKind::Job, &worker, lease).await {
                                Ok(true) => renewed = tokio::time::Instant::now(),
                                Ok(false) => {
                                    tracing::warn!(job = %name, "another worker took the job over; stopping it here");
                                    stopping = true;
                                }
                                Err(error) => {
                                    tracing::warn!(job = %name, %error, "cannot renew the job's lease");
                                    // Stop before the lease runs out: another worker may then
                                    // take the job, and it must not run twice.
                                    stopping = renewed.elapsed() + every >= lease;
                                }
                            }
                            if stopping {
                                let _ = stop.send(true);
                            }
                        }
                        _ = stopped(&mut shutdown), if !stopping => {
                            stopping = true;
                            let _ = stop.send(true);
                        }
                    }
                }
                if let Err(error) = store.release_lease(&name, &worker).await {
                    tracing::warn!(job = %name, %error, "cannot give the job's lease back; it runs out by itself");
                }
            }
            Ok(false) => {}
            Err(error) => tracing::warn!(job = %name, %error, "cannot ask for the job's lease"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopped(&mut shutdown) => {}
        }
    }
}

/// Waits until `shutdown` turns true. The watch's guard stays in here: held across an await
/// it would make the caller's future unsendable.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

fn stop_requested(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow()
}
