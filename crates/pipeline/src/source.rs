//! Sources: where batches come from, and the loop that feeds them to the engine and
//! acknowledges them only once committed.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use tokio::sync::watch;
use trail::TrailObjectKey;

use crate::budget::MemoryBudget;
use crate::ingest::{Batch, Item};
use crate::metrics::Metrics;
use crate::runner::EngineHandle;

/// A batch as a source read it, with what the source needs to acknowledge it.
#[derive(Debug)]
pub struct SourceBatch {
    /// The batch for the engine.
    pub batch: Batch,
    /// Source-specific acknowledgement data (SQS receipt handles), handed to
    /// [`Source::committed`] or [`Source::abandoned`].
    pub receipts: Vec<String>,
}

/// Why a source could not read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// A place CloudTrail data comes from.
pub trait Source: Send + 'static {
    /// The source's name: keys its checkpoint and metrics.
    fn name(&self) -> &str;

    /// The next batch after `checkpoint` (the position last committed for this source), or
    /// `None` when nothing new is there yet. Each item's bytes are held in `budget` before
    /// they are read (waiting while it is spent), and the batch carries them until it is done.
    fn next_batch(
        &mut self,
        checkpoint: Option<String>,
        budget: &MemoryBudget,
    ) -> impl Future<Output = Result<Option<SourceBatch>, SourceError>> + Send;

    /// Called with the batch's receipts once its effects are committed: a queue deletes its
    /// messages here.
    fn committed(
        &mut self,
        receipts: Vec<String>,
    ) -> impl Future<Output = Result<(), SourceError>> + Send {
        let _ = receipts;
        async { Ok(()) }
    }

    /// Called with the batch's receipts when it could not be committed: it must be read
    /// again. A queue stops keeping its messages invisible here, so they come back after their
    /// visibility timeout instead of being held for as long as the process runs.
    fn abandoned(&mut self, receipts: Vec<String>) -> impl Future<Output = ()> + Send {
        let _ = receipts;
        async {}
    }

    /// How long to wait after finding nothing new.
    fn idle_wait(&self) -> Duration {
        Duration::from_secs(1)
    }
}

/// After a failure, the wait before trying again doubles up to this.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// Feeds a source's batches to the engine until `shutdown` turns true. A batch that fails
/// (reading or committing) is not acknowledged and is read again after a backoff; the
/// failure shows in the metrics.
pub async fn run_source<S: Source>(
    mut source: S,
    engine: EngineHandle,
    store: store::Store,
    metrics: Arc<Metrics>,
    budget: MemoryBudget,
    mut shutdown: watch::Receiver<bool>,
) {
    let name = source.name().to_owned();
    metrics.register(&name);
    let mut retry_wait = Duration::from_millis(500);
    while !*shutdown.borrow() {
        let wait = match step(&mut source, &engine, &store, &budget, &mut shutdown).await {
            Ok(true) => {
                retry_wait = Duration::from_millis(500);
                continue;
            }
            Ok(false) => source.idle_wait(),
            Err(error) => {
                tracing::warn!(source = %name, %error, "source failed; retrying");
                metrics.source_error(&name, &error);
                let wait = retry_wait;
                retry_wait = (retry_wait * 2).min(MAX_RETRY_WAIT);
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// One batch: read, commit, acknowledge. `Ok(false)` when there was nothing to read.
///
/// Shutdown interrupts the read (an SQS long poll lasts up to 20 s) but never a batch being
/// committed or acknowledged: a read dropped half-way acknowledges nothing, so its messages
/// or objects are read again after the restart.
async fn step<S: Source>(
    source: &mut S,
    engine: &EngineHandle,
    store: &store::Store,
    budget: &MemoryBudget,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<bool, String> {
    let checkpoint = store
        .checkpoint(source.name())
        .await
        .map_err(|e| e.to_string())?;
    let read = tokio::select! {
        read = source.next_batch(checkpoint, budget) => read.map_err(|e| e.to_string())?,
        _ = shutdown.wait_for(|stop| *stop) => return Ok(false),
    };
    let Some(read) = read else {
        return Ok(false);
    };
    let SourceBatch { batch, receipts } = read;
    let done = match engine.submit(batch).await {
        Ok(done) => done,
        Err(error) => {
            source.abandoned(receipts).await;
            return Err(error.to_string());
        }
    };
    for problem in &done.problems {
        tracing::warn!(source = %source.name(), %problem, "skipped what could not be read");
    }
    if !done.new_alerts.is_empty() {
        tracing::info!(source = %source.name(), alerts = ?done.new_alerts, "new alerts");
    }
    source
        .committed(receipts)
        .await
        .map_err(|e| e.to_string())?;
    Ok(true)
}

/// A local directory, watched for new log files (on-premises copies of a trail, the demo).
///
/// Files are taken one per batch, in order within each group: CloudTrail files by account and
/// region, ordered by delivery time from their names; other files together, ordered by
/// modification time. The checkpoint keeps the last file taken of each group, so a restart
/// takes up where it stopped and never reads a committed file again.
pub struct DirSource {
    name: String,
    root: PathBuf,
    poll: Duration,
}

impl DirSource {
    /// Watches `root`, looking for new files every `poll`.
    pub fn new(name: impl Into<String>, root: impl Into<PathBuf>, poll: Duration) -> DirSource {
        DirSource {
            name: name.into(),
            root: root.into(),
            poll,
        }
    }
}

/// A file modified this recently may still be being written: it waits for the next look.
const SETTLE: Duration = Duration::from_secs(1);

/// A file's place in its group: the group, then (time, relative path) to order by. `None` for
/// digests and for files still settling.
fn position(root: &Path, path: &Path) -> Option<(String, (i64, String))> {
    let relative = path.strip_prefix(root).ok()?.to_string_lossy().into_owned();
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    if modified.elapsed().is_ok_and(|age| age < SETTLE) {
        return None;
    }
    match TrailObjectKey::parse(&relative) {
        Some(key) if key.is_digest => None,
        Some(key) => Some((
            format!("{}/{}", key.account_id, key.region),
            (key.delivered_at.0, relative),
        )),
        None => {
            let millis = modified
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            Some((String::new(), (millis, relative)))
        }
    }
}

impl Source for DirSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn next_batch(
        &mut self,
        checkpoint: Option<String>,
        budget: &MemoryBudget,
    ) -> Result<Option<SourceBatch>, SourceError> {
        let mut done: BTreeMap<String, (i64, String)> = match checkpoint {
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                SourceError(format!(
                    "the checkpoint of source {} is damaged: {e}",
                    self.name
                ))
            })?,
            None => BTreeMap::new(),
        };
        if !self.root.is_dir() {
            return Err(SourceError(format!(
                "{} is not a directory: create it or fix the source's path",
                self.root.display()
            )));
        }
        let discovery = trail::discover(std::slice::from_ref(&self.root))
            .map_err(|e| SourceError(e.to_string()))?;
        let next = discovery
            .inputs
            .iter()
            .filter_map(|input| match &input.source {
                trail::InputSource::File(path) => {
                    let (group, at) = position(&self.root, path)?;
                    let new = done.get(&group).is_none_or(|last| at > *last);
                    new.then(|| (at, group, path.clone()))
                }
                trail::InputSource::Stdin => None,
            })
            .min();
        let Some((at, group, path)) = next else {
            return Ok(None);
        };
        let size = tokio::fs::metadata(&path).await.map_or(0, |m| m.len());
        let held = budget.hold(size).await;
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            // Gone between listing and reading: the next listing decides.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(SourceError(format!(
                    "cannot read {}: {error}",
                    path.display()
                )))
            }
        };
        done.insert(group, at.clone());
        Ok(Some(SourceBatch {
            batch: Batch {
                source: self.name.clone(),
                items: vec![Item { name: at.1, bytes }],
                checkpoint: Some(
                    serde_json::to_string(&done).expect("a map of strings serialises"),
                ),
                held,
            },
            receipts: Vec::new(),
        }))
    }

    fn idle_wait(&self) -> Duration {
        self.poll
    }
}
