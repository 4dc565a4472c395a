//! Batches to committed alerts: one engine, fed by every source in turn, whose effects (alerts,
//! outbox rows, the source's checkpoint and the detectors' state) are committed in one
//! transaction per batch.

use std::collections::HashMap;
use std::sync::Arc;

use detect::{
    Alert, Canary, CanaryRegistry, Details, DetectConfig, Engine, MemoryState, RelevanceFilter,
};
use store::{AlertRow, BatchCommit, Store};
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

/// The single detection engine of `serve`, with the store it commits to.
pub struct Ingestor {
    store: Store,
    config: DetectConfig,
    engine: Engine<MemoryState>,
    /// The detectors' state as last committed (`None` before the first commit): a failed
    /// commit goes back to it without reading the store, which may be what is failing.
    committed_state: Option<String>,
    canaries: Arc<CanaryRegistry>,
    filter: RelevanceFilter,
    route: Route,
    metrics: Arc<Metrics>,
    /// The source of the latest batch: alerts released when the input goes quiet are
    /// credited to it.
    last_source: Option<String>,
    /// Canaries watched beside the store's (a canaries file).
    extra_canaries: Vec<Canary>,
    /// The most one item may decompress to.
    max_item_size: u64,
}

impl Ingestor {
    /// An engine over the store's canaries, going on from the detectors' state of the last
    /// committed batch.
    pub async fn open(
        store: Store,
        config: DetectConfig,
        route: Route,
        metrics: Arc<Metrics>,
    ) -> Result<Ingestor, PipelineError> {
        let canaries = load_canaries(&store, &[]).await?;
        let mut committed_state = store.detector_state().await?;
        let engine = match restore(&config, canaries.clone(), committed_state.as_deref()) {
            Ok(engine) => engine,
            Err(error) => {
                // Saved by an earlier version, in another shape. What it held is relearned
                // from the records to come (a session's addresses, a principal's denials).
                tracing::warn!(%error, "the saved detector state cannot be read; starting afresh");
                committed_state = None;
                restore(&config, canaries.clone(), None)?
            }
        };
        Ok(Ingestor {
            filter: RelevanceFilter::new(canaries.clone()),
            store,
            config,
            engine,
            committed_state,
            canaries,
            route,
            metrics,
            last_source: None,
            extra_canaries: Vec::new(),
            max_item_size: DEFAULT_MAX_ITEM_SIZE,
        })
    }

    /// Decompresses one item to at most `bytes` (`[serve] max_item_size`); what is past it is
    /// dropped and reported as a problem of the item.
    pub fn limit_item_size(&mut self, bytes: u64) {
        self.max_item_size = bytes;
    }

    /// Watches these canaries too, beside the store's, from now on and after every reload.
    pub async fn watch_also(&mut self, canaries: Vec<Canary>) -> Result<(), PipelineError> {
        self.extra_canaries = canaries;
        self.reload_canaries().await
    }

    /// How long the input must be quiet before decisions still waiting for their settle time
    /// are released ([`Ingestor::settle_pending`]).
    pub fn settle_time(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.config.settle.millis().max(0) as u64)
    }

    /// The input has been quiet for the settle time: releases what the detectors held back
    /// for records that may still have been on their way, and commits it. Returns the dedup
    /// keys that are new.
    pub async fn settle_pending(&mut self) -> Result<Vec<String>, PipelineError> {
        let mut alerts = Vec::new();
        self.engine.settle_pending(&mut alerts);
        let source = self
            .last_source
            .clone()
            .unwrap_or_else(|| "engine".to_owned());
        let result = self.commit(&source, None, &alerts).await;
        match result {
            Ok(new) => {
                self.metrics.alerts_committed(&source, alerts.len());
                Ok(new)
            }
            Err(error) => {
                self.rewind_to_committed()?;
                Err(error)
            }
        }
    }

    /// A commit failed: the engine goes back to the state last committed, so what it saw
    /// since can be fed again without counting anything twice.
    fn rewind_to_committed(&mut self) -> Result<(), PipelineError> {
        self.engine = restore(
            &self.config,
            self.canaries.clone(),
            self.committed_state.as_deref(),
        )?;
        Ok(())
    }

    /// Reads the canaries again from the store, so ones issued since are watched too.
    pub async fn reload_canaries(&mut self) -> Result<(), PipelineError> {
        let canaries = load_canaries(&self.store, &self.extra_canaries).await?;
        self.filter = RelevanceFilter::new(canaries.clone());
        self.engine.set_canaries(canaries.clone());
        self.canaries = canaries;
        Ok(())
    }

    /// Runs a batch through the detectors and commits its alerts with the source's checkpoint
    /// and the detectors' state. Unreadable parts of items are reported and skipped. When the
    /// commit fails, the engine goes back to the last committed state, so the batch can be
    /// tried again without counting anything twice.
    pub async fn ingest(&mut self, batch: &Batch) -> Result<Ingested, PipelineError> {
        self.last_source = Some(batch.source.clone());
        let mut done = Ingested::default();
        let mut alerts = Vec::new();
        // One item decompressed at a time: the detectors' answer does not depend on the order
        // they see records in, so a batch's memory is its largest item, not the sum.
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
            let mut records: Vec<Record<'_>> = Vec::new();
            let parse_problems = trail::parse_records(&data.bytes, |_, record| {
                done.records += 1;
                done.newest_event = done.newest_event.max(Some(record.fields.event_time));
                if self.filter.is_relevant(&record) {
                    records.push(record);
                }
            });
            let problems = data.problems.iter().map(ToString::to_string);
            let problems = problems.chain(parse_problems.iter().map(ToString::to_string));
            done.problems
                .extend(problems.map(|problem| format!("{}: {problem}", item.name)));
            records.sort_by_key(|record| record.fields.event_time);
            for record in &records {
                self.engine.process(record, &mut alerts);
            }
        }
        let result = self
            .commit(&batch.source, batch.checkpoint.as_deref(), &alerts)
            .await;
        match result {
            Ok(new_alerts) => {
                done.alerts = alerts.len();
                done.new_alerts = new_alerts;
                self.metrics.batch(&batch.source, &done, true);
                Ok(done)
            }
            Err(error) => {
                self.metrics.batch(&batch.source, &done, false);
                self.rewind_to_committed()?;
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
        let new = self.commit(source, None, alerts).await;
        if new.is_ok() {
            self.metrics.alerts_committed(source, alerts.len());
        }
        new
    }

    async fn commit(
        &mut self,
        source: &str,
        checkpoint: Option<&str>,
        alerts: &[Alert],
    ) -> Result<Vec<String>, PipelineError> {
        // A burst that grew within the batch appears in several versions: keep the last, with
        // every key an earlier version replaced.
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
        let rows: Vec<AlertRow> = order
            .iter()
            .map(|key| {
                let (alert, replaces) = &latest[key];
                let mut row = alert_row(alert, &self.route);
                row.replaces = replaces.clone();
                row
            })
            .collect();
        let state = self.engine.snapshot();
        let new = self
            .store
            .commit_batch(&BatchCommit {
                source,
                checkpoint,
                state: Some(&state),
                alerts: &rows,
                at: store::now(),
            })
            .await?;
        self.committed_state = Some(state);
        Ok(new)
    }
}

async fn load_canaries(
    store: &Store,
    extra: &[Canary],
) -> Result<Arc<CanaryRegistry>, PipelineError> {
    let mut canaries = registry::watch_list(store).await?;
    canaries.extend(extra.iter().cloned());
    Ok(Arc::new(CanaryRegistry::new(canaries)?))
}

fn restore(
    config: &DetectConfig,
    canaries: Arc<CanaryRegistry>,
    snapshot: Option<&str>,
) -> Result<Engine<MemoryState>, PipelineError> {
    let mut engine = match snapshot {
        Some(snapshot) => Engine::restore(config, canaries, snapshot)
            .map_err(|error| PipelineError::State(error.to_string()))?,
        None => Engine::new(config, canaries, MemoryState::default()),
    };
    // serve shows alerts as they change: a burst's count as it grows.
    engine.raise_updates(true);
    Ok(engine)
}

/// The canary or principal an alert is about: notifications repeat at most once per window
/// for each.
pub fn limit_key(alert: &Alert) -> String {
    match &alert.details {
        Details::Canary(canary) => format!("canary:{}", canary.canary),
        Details::DenialBurst(burst) => format!("principal:{}", burst.principal_key),
        Details::Exfiltration(exfiltration) => format!("principal:{}", exfiltration.session_arn),
        Details::ForeignVpcEndpoint(foreign) => format!("principal:{}", foreign.session_arn),
    }
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
    }
}
