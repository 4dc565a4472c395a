//! Batches to committed alerts: detection fed by every source in turn, whose effects (alerts,
//! outbox rows, the source's checkpoint and the detectors' memory of the keys the batch
//! touched) are committed in one transaction per batch.

use std::collections::HashMap;
use std::sync::Arc;

use detect::{
    Alert, Canary, CanaryRegistry, Details, DetectConfig, DetectorState, Engine, MemoryState,
    Position, RelevanceFilter, StateKey, StoredKey,
};
use store::{AlertRow, BatchCommit, DetectorKey, DetectorWrites, Store};
use trail::{EventTime, Record, TrailObjectKey};

use crate::budget::Held;
use crate::metrics::Metrics;
use crate::PipelineError;

/// Which sinks an alert goes to (the notification routes).
pub type Route = Arc<dyn Fn(&Alert) -> Vec<String> + Send + Sync>;

/// One unit a source hands over: an S3 object, a file, a request body.
#[derive(Clone, Debug)]
pub struct Item {
    /// Where it came from (S3 key, path, `POST /ingest`), for problems and logs.
    pub name: String,
    /// Its bytes as read: gzip or not, in any shape the reader accepts.
    pub bytes: Vec<u8>,
}

/// What a source read in one go; its effects are committed together or not at all.
#[derive(Debug)]
pub struct Batch {
    /// The source's name, which keys its checkpoint and metrics.
    pub source: String,
    /// The items, in the order the source read them.
    pub items: Vec<Item>,
    /// The source's position once this batch is committed, when it keeps one.
    pub checkpoint: Option<String>,
    /// The items' bytes in the memory budget, given back when the batch is dropped.
    pub held: Held,
}

/// What one batch did.
#[derive(Clone, Debug, Default)]
pub struct Ingested {
    /// Records read.
    pub records: u64,
    /// Bytes read, before decompression.
    pub bytes: u64,
    /// Alerts raised for the first time (dedup keys): the ones notified.
    pub new_alerts: Vec<String>,
    /// Alerts of the batch, new or updated.
    pub alerts: usize,
    /// What could not be read, item by item; the rest of the batch was still used.
    pub problems: Vec<String>,
    /// The newest event time seen.
    pub newest_event: Option<EventTime>,
}

/// The default of the most one item (an S3 object, an SQS message, a POST body) may
/// decompress to (`[serve] max_item_size`): 128 MiB. CloudTrail's files are tens of MB at the
/// most, since it writes one per account and region about every five minutes; a gzip bomb
/// from the network stops here instead of taking the process's memory.
pub const DEFAULT_MAX_ITEM_SIZE: u64 = 128 * 1024 * 1024;

/// Keys due by stream time that a batch settles beside its own, at the least: enough that
/// the keys waiting to be settled never pile up faster than batches take them.
const DUE_PER_BATCH: usize = 256;

/// Keys the quiet-spell release settles in one transaction.
const QUIET_STEP: u32 = 256;

/// `serve`'s detection: batches go through detectors whose memory lives in the store, one row
/// per key. A batch loads only the keys its records touch (and a few that are due), in the
/// transaction that commits its alerts and checkpoint, so its cost does not grow with what the
/// detectors remember, and any number of workers can share one database.
pub struct Ingestor {
    store: Store,
    config: DetectConfig,
    canaries: Arc<CanaryRegistry>,
    filter: RelevanceFilter,
    /// An engine over no memory, asked which keys a record touches.
    probe: Engine<MemoryState>,
    route: Route,
    metrics: Arc<Metrics>,
    /// The source of the latest batch: alerts released when the input goes quiet are
    /// credited to it.
    last_source: Option<String>,
    /// Canaries watched beside the store's (a canaries file).
    extra_canaries: Vec<Canary>,
    /// The most one item may decompress to.
    max_item_size: u64,
    /// This worker's name in the store: its lateness counters are kept under it.
    worker: String,
    /// The sources that queue objects for any worker to read: while any of theirs wait, the
    /// input is not quiet.
    queueing_sources: Vec<String>,
    /// How long the input must be quiet for the quiet-spell release; `None`: the settle time.
    quiet: Option<std::time::Duration>,
}

/// What a quiet-spell release did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    /// The input of every worker was quiet: the decisions waiting were released, and these
    /// dedup keys are new.
    Released(Vec<String>),
    /// Some worker brought records within the quiet time, or objects still wait to be read:
    /// nothing was released; ask again after this long.
    NotQuiet(std::time::Duration),
}

/// How soon to look again while listed objects still wait to be read.
const QUIET_RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// This process's default worker name: the host and the process id.
pub fn default_worker_id() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

/// This machine's name, `localhost` when it has none that is text.
pub(crate) fn host_name() -> String {
    hostname::get()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

impl Ingestor {
    /// Detection over the store's canaries and the detectors' memory in the store, as this
    /// process's default worker ([`default_worker_id`]). The whole-state snapshot an earlier
    /// version kept is split into per-key rows, once.
    pub async fn open(
        store: Store,
        config: DetectConfig,
        route: Route,
        metrics: Arc<Metrics>,
    ) -> Result<Ingestor, PipelineError> {
        Ingestor::open_as(store, config, route, metrics, default_worker_id()).await
    }

    /// [`Ingestor::open`] as the worker `worker`, the name its position and input are kept
    /// under in the store.
    pub async fn open_as(
        store: Store,
        config: DetectConfig,
        route: Route,
        metrics: Arc<Metrics>,
        worker: String,
    ) -> Result<Ingestor, PipelineError> {
        let canaries = load_canaries(&store, &[]).await?;
        adopt_snapshot(&store, &config, &canaries, &worker).await?;
        Ok(Ingestor {
            filter: RelevanceFilter::new(canaries.clone()),
            probe: Engine::new(&config, canaries.clone(), MemoryState::default()),
            store,
            config,
            canaries,
            route,
            metrics,
            last_source: None,
            extra_canaries: Vec::new(),
            max_item_size: DEFAULT_MAX_ITEM_SIZE,
            worker,
            queueing_sources: Vec::new(),
            quiet: None,
        })
    }

    /// Decompresses one item to at most `bytes` (`[serve] max_item_size`); what is past it is
    /// dropped and reported as a problem of the item.
    pub fn limit_item_size(&mut self, bytes: u64) {
        self.max_item_size = bytes;
    }

    /// Names the sources that queue listed objects in the store for any worker to read (the
    /// S3 polling sources): the input is not quiet while any of their objects wait.
    pub fn wait_for_queued_objects_of(&mut self, sources: Vec<String>) {
        self.queueing_sources = sources;
    }

    /// Watches these canaries too, beside the store's, from now on and after every reload.
    pub async fn watch_also(&mut self, canaries: Vec<Canary>) -> Result<(), PipelineError> {
        self.extra_canaries = canaries;
        self.reload_canaries().await
    }

    /// How long the input must be quiet before decisions still waiting for their settle time
    /// are released ([`Ingestor::settle_pending`]): the settle time, unless
    /// [`Ingestor::release_after_quiet`] set another.
    pub fn quiet_time(&self) -> std::time::Duration {
        self.quiet.unwrap_or_else(|| {
            std::time::Duration::from_millis(self.config.settle.millis().max(0) as u64)
        })
    }

    /// Releases decisions still waiting for their settle time once the input has been quiet
    /// for `quiet` of wall time (`[serve] quiet`), instead of the settle time: a long
    /// event-time settle for regions that lag far behind need not hold alerts back that long
    /// when nothing comes in.
    pub fn release_after_quiet(&mut self, quiet: std::time::Duration) {
        self.quiet = Some(quiet);
    }

    /// This worker's input has been quiet for the quiet time. When every worker's has too
    /// (none brought records for that long, and no listed object waits to be read),
    /// releases what the detectors held back for records that may still have been on their
    /// way, and commits it, a few keys per transaction over the keys changed since the input
    /// was last quiet. Otherwise releases nothing and says when to ask again: an idle worker
    /// must not release keys whose records another worker is still reading.
    pub async fn settle_pending(&mut self) -> Result<Settled, PipelineError> {
        let quiet = self.quiet_time();
        let activity = self.store.input_activity(&self.queueing_sources).await?;
        if activity.objects_waiting > 0 {
            return Ok(Settled::NotQuiet(QUIET_RECHECK.min(quiet)));
        }
        if let Some(since) = activity.since_input.filter(|since| *since < quiet) {
            return Ok(Settled::NotQuiet(quiet - since));
        }
        let source = self
            .last_source
            .clone()
            .unwrap_or_else(|| "engine".to_owned());
        let mut new = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let keys = self
                .store
                .unsettled_detector_keys(after.as_deref(), QUIET_STEP)
                .await?;
            let Some(last) = keys.last() else { break };
            after = Some(last.clone());
            let step = Step {
                source: &source,
                checkpoint: None,
                keys,
                newest: None,
                due_limit: 0,
                quiet: true,
                input: false,
            };
            let (alerts, fresh) = self
                .run(step, |engine, alerts| engine.settle_pending(alerts))
                .await?;
            self.metrics.alerts_committed(&source, alerts);
            new.extend(fresh);
        }
        Ok(Settled::Released(new))
    }

    /// Reads the canaries again from the store, so ones issued since are watched too.
    pub async fn reload_canaries(&mut self) -> Result<(), PipelineError> {
        let canaries = load_canaries(&self.store, &self.extra_canaries).await?;
        self.filter = RelevanceFilter::new(canaries.clone());
        self.probe.set_canaries(canaries.clone());
        self.canaries = canaries;
        Ok(())
    }

    /// Runs a batch through the detectors and commits its alerts with the source's checkpoint
    /// and what the detectors now remember of the keys it touched. Unreadable parts of items
    /// are reported and skipped. When the commit fails nothing of the batch is kept, so it can
    /// be tried again without counting anything twice.
    pub async fn ingest(&mut self, batch: &Batch) -> Result<Ingested, PipelineError> {
        self.last_source = Some(batch.source.clone());
        let mut done = Ingested::default();
        // One item decompressed at a time, keeping only the records a detector can use: a
        // batch's memory is its largest item and its relevant records, not the sum of items.
        let mut records: Vec<Record<'static>> = Vec::new();
        for item in &batch.items {
            if TrailObjectKey::parse(&item.name).is_some_and(|key| key.is_digest) {
                continue;
            }
            done.bytes += item.bytes.len() as u64;
            let data = match trail::load_reader_within(item.bytes.as_slice(), self.max_item_size) {
                Ok(data) => data,
                Err(error) => {
                    done.problems.push(format!("{}: {error}", item.name));
                    continue;
                }
            };
            let parse_problems = trail::parse_records(&data.bytes, |_, record| {
                done.records += 1;
                done.newest_event = done.newest_event.max(Some(record.fields.event_time));
                if self.filter.is_relevant(&record) {
                    records.push(record.into_owned());
                }
            });
            let problems = data.problems.iter().map(ToString::to_string);
            let problems = problems.chain(parse_problems.iter().map(ToString::to_string));
            done.problems
                .extend(problems.map(|problem| format!("{}: {problem}", item.name)));
        }
        records.sort_by_key(|record| record.fields.event_time);
        let mut keys: Vec<String> = records
            .iter()
            .flat_map(|record| self.probe.state_keys(record))
            .map(|key| key.to_string())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let step = Step {
            source: &batch.source,
            checkpoint: batch.checkpoint.as_deref(),
            due_limit: DUE_PER_BATCH + keys.len(),
            keys,
            newest: records.last().map(|record| record.fields.event_time),
            quiet: false,
            input: done.records > 0,
        };
        let result = self
            .run(step, |engine, alerts| {
                for record in &records {
                    engine.process(record, alerts);
                }
            })
            .await;
        match result {
            Ok((alerts, new_alerts)) => {
                done.alerts = alerts;
                done.new_alerts = new_alerts;
                self.metrics.batch(&batch.source, &done, true);
                Ok(done)
            }
            Err(error) => {
                self.metrics.batch(&batch.source, &done, false);
                Err(error)
            }
        }
    }

    /// Commits alerts raised outside the trail (the last-used poller) through the same
    /// routes, dedup keys and outbox. Returns the dedup keys that are new.
    pub async fn commit_alerts(
        &mut self,
        source: &str,
        alerts: &[Alert],
    ) -> Result<Vec<String>, PipelineError> {
        let rows = self.alert_rows(alerts).await?;
        let new = self
            .store
            .commit_batch(&BatchCommit {
                source,
                checkpoint: None,
                alerts: &rows,
                at: store::now(),
            })
            .await?;
        self.metrics.alerts_committed(source, alerts.len());
        Ok(new)
    }

    /// Loads a step's keys (locked until it commits), drives an engine over them, and commits
    /// its alerts with what the engine left of those keys. Returns how many alerts the engine
    /// raised and the dedup keys that are new.
    async fn run(
        &self,
        step: Step<'_>,
        drive: impl FnOnce(&mut Engine<MemoryState>, &mut Vec<Alert>),
    ) -> Result<(usize, Vec<String>), PipelineError> {
        let (session, loaded) = self
            .store
            .begin_detection(
                &self.worker,
                &step.keys,
                step.newest,
                u32::try_from(step.due_limit).unwrap_or(u32::MAX),
            )
            .await?;
        let mut state = MemoryState::default();
        let mut unreadable = Vec::new();
        for row in &loaded.rows {
            if let Err(error) = load_row(&mut state, row) {
                // Written by another version, in another shape: what it held is relearned
                // from the records to come (a session's addresses, a principal's denials).
                tracing::warn!(key = %row.key, %error, "forgetting a detector key that cannot be read");
                unreadable.push(row.key.clone());
            }
        }
        let lateness = loaded
            .lateness
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default();
        let position = Position {
            newest: loaded.newest,
            lateness,
        };
        let mut engine = Engine::resume(&self.config, self.canaries.clone(), state, position);
        // serve shows alerts as they change: a burst's count as it grows.
        engine.raise_updates(true);
        let mut alerts = Vec::new();
        drive(&mut engine, &mut alerts);
        let position = engine.position();
        let state = engine.into_state();
        let existing: std::collections::HashSet<&str> =
            loaded.rows.iter().map(|row| row.key.as_str()).collect();
        let mut put = Vec::new();
        let mut delete = unreadable;
        for key in step.keys.iter().chain(&loaded.due) {
            let Ok(parsed) = key.parse::<StateKey>() else {
                continue;
            };
            match state.stored(&parsed) {
                Some(stored) => put.push(DetectorKey {
                    key: key.clone(),
                    value: stored.value,
                    wake_at: stored.wake_at,
                }),
                None if existing.contains(key.as_str()) => delete.push(key.clone()),
                None => {}
            }
        }
        put.sort_by(|a, b| a.key.cmp(&b.key));
        put.dedup_by(|a, b| a.key == b.key);
        delete.sort_unstable();
        delete.dedup();
        let rows = self.alert_rows(&alerts).await?;
        let lateness =
            serde_json::to_string(&position.lateness).expect("counters always serialise");
        let new = session
            .commit(
                &BatchCommit {
                    source: step.source,
                    checkpoint: step.checkpoint,
                    alerts: &rows,
                    at: store::now(),
                },
                &DetectorWrites {
                    worker: &self.worker,
                    newest: position.newest,
                    lateness: &lateness,
                    put: &put,
                    delete: &delete,
                    quiet: step.quiet,
                    input: step.input,
                },
            )
            .await?;
        Ok((alerts.len(), new))
    }

    /// The rows to commit for a batch's alerts: a burst that grew within the batch appears in
    /// several versions, of which the last is kept, with every key an earlier one replaced.
    /// An alert a suppression in force matches is marked with it, and queues no delivery.
    async fn alert_rows(&self, alerts: &[Alert]) -> Result<Vec<AlertRow>, PipelineError> {
        if alerts.is_empty() {
            return Ok(Vec::new());
        }
        let now = store::now();
        let suppressions = suppressions_in_force(&self.store, now).await?;
        let mut latest: HashMap<&str, (&Alert, Vec<String>)> = HashMap::new();
        let mut order = Vec::new();
        for alert in alerts {
            let (version, replaces) = latest.entry(&alert.dedup_key).or_insert_with(|| {
                order.push(alert.dedup_key.as_str());
                (alert, Vec::new())
            });
            *version = alert;
            replaces.extend(alert.replaces.iter().cloned());
        }
        Ok(order
            .iter()
            .map(|key| {
                let (alert, replaces) = &latest[key];
                let mut row = alert_row(alert, &self.route);
                row.replaces = replaces.clone();
                row.suppressed_by = notify::suppressed_by(&suppressions, alert, now)
                    .map(|suppression| suppression.id.clone());
                row
            })
            .collect())
    }
}

/// One transaction's worth of detection.
struct Step<'a> {
    source: &'a str,
    checkpoint: Option<&'a str>,
    /// The keys the step's records touch.
    keys: Vec<String>,
    /// The newest event time among them.
    newest: Option<EventTime>,
    /// How many due keys to settle beside them.
    due_limit: usize,
    /// The quiet-spell release.
    quiet: bool,
    /// The step's batch brought records.
    input: bool,
}

fn load_row(state: &mut MemoryState, row: &DetectorKey) -> Result<(), String> {
    let key: StateKey = row.key.parse()?;
    state
        .load(&StoredKey {
            key,
            value: row.value.clone(),
            wake_at: row.wake_at,
        })
        .map_err(|error| error.to_string())
}

/// Splits the whole-state snapshot an earlier version kept into per-key rows, once. A snapshot
/// this version cannot read is dropped: what it held is relearned from the records to come.
async fn adopt_snapshot(
    store: &Store,
    config: &DetectConfig,
    canaries: &Arc<CanaryRegistry>,
    worker: &str,
) -> Result<(), PipelineError> {
    let adopted = store
        .adopt_detector_snapshot(worker, |snapshot| {
            let engine =
                match Engine::<MemoryState>::restore(config, canaries.clone(), snapshot) {
                    Ok(engine) => engine,
                    Err(error) => {
                        tracing::warn!(%error, "the saved detector state cannot be read; starting afresh");
                        return None;
                    }
                };
            let position = engine.position();
            let state = engine.into_state();
            let keys = state
                .keys()
                .iter()
                .filter_map(|key| state.stored(key))
                .map(|stored| DetectorKey {
                    key: stored.key.to_string(),
                    value: stored.value,
                    wake_at: stored.wake_at,
                })
                .collect();
            let lateness =
                serde_json::to_string(&position.lateness).expect("counters always serialise");
            Some((keys, position.newest, lateness))
        })
        .await?;
    if let Some(keys) = adopted {
        tracing::info!(keys, "moved the detectors' saved state into per-key rows");
    }
    Ok(())
}

async fn load_canaries(
    store: &Store,
    extra: &[Canary],
) -> Result<Arc<CanaryRegistry>, PipelineError> {
    let mut canaries = registry::watch_list(store).await?;
    canaries.extend(extra.iter().cloned());
    Ok(Arc::new(CanaryRegistry::new(canaries)?))
}

/// The suppressions in force at `now`, as the routing matches them. One the store holds in a
/// shape this version cannot read (a rule it does not know) is left out and logged.
async fn suppressions_in_force(
    store: &Store,
    now: trail::EventTime,
) -> Result<Vec<notify::Suppression>, PipelineError> {
    let mut suppressions = Vec::new();
    for record in store.suppressions(now, false).await? {
        let id = record.id.clone();
        match crate::suppressions::matcher(id.clone(), &record.into()) {
            Ok(suppression) => suppressions.push(suppression),
            Err(error) => {
                tracing::warn!(suppression = %id, %error, "a suppression cannot be read by this version; it is not applied");
            }
        }
    }
    Ok(suppressions)
}

/// The canary or principal an alert is about: notifications repeat at most once per window
/// for each.
pub fn limit_key(alert: &Alert) -> String {
    let kind = match alert.details {
        Details::Canary(_) => "canary",
        _ => "principal",
    };
    format!("{kind}:{}", alert.subject())
}

fn alert_row(alert: &Alert, route: &Route) -> AlertRow {
    AlertRow {
        dedup_key: alert.dedup_key.clone(),
        rule: alert.rule.to_string(),
        severity: alert.severity.to_string(),
        status: alert.status.as_str().to_owned(),
        withdrawn_because: alert.withdrawn_because.clone(),
        replaces: alert.replaces.clone(),
        summary: alert.summary.clone(),
        event_time: alert.event_time,
        limit_key: limit_key(alert),
        body: serde_json::to_string(alert).expect("alerts always serialise"),
        sinks: route(alert),
        canary: match &alert.details {
            Details::Canary(canary) => Some(canary.canary.clone()),
            _ => None,
        },
        suppressed_by: None,
    }
}
