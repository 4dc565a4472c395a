//! Counters for `/metrics` and `tripkey status`: what each source read, how far behind it is,
//! and (from the store) alerts by rule, outbox depth and sink failures.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use store::SinkHealth;
use trail::EventTime;

use crate::budget::MemoryBudget;
use crate::ingest::Ingested;

/// What one source has done since `serve` started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStats {
    /// Batches committed.
    pub batches: u64,
    /// Batches whose commit failed (they are read again).
    pub failed_batches: u64,
    /// Records read.
    pub records: u64,
    /// Bytes read, before decompression.
    pub bytes: u64,
    /// Parts of items that could not be read.
    pub problems: u64,
    /// Alerts committed, new or updated.
    pub alerts: u64,
    /// The newest event time read: lag is now minus this.
    pub newest_event: Option<EventTime>,
    /// When the source last handed over a batch.
    pub last_batch_at: Option<EventTime>,
    /// The source's last error, cleared by its next good batch.
    pub last_error: Option<String>,
}

/// Shared counters, updated by the engine and the sources.
#[derive(Debug, Default)]
pub struct Metrics {
    sources: Mutex<BTreeMap<String, SourceStats>>,
    budget: OnceLock<MemoryBudget>,
    ingest_refused_busy: AtomicU64,
}

/// The memory budget's use, as reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryReport {
    /// The budget of input bytes in flight (`[serve] memory_budget`).
    pub budget_bytes: u64,
    /// Input bytes in flight now.
    pub held_bytes: u64,
    /// `POST /ingest` requests answered 503 because the budget was spent.
    pub ingest_refused_busy: u64,
}

impl Metrics {
    /// Declares a source, so it shows (with zeros) before its first batch.
    pub fn register(&self, source: &str) {
        self.with(source, |_| ());
    }

    fn with(&self, source: &str, change: impl FnOnce(&mut SourceStats)) {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        change(sources.entry(source.to_owned()).or_default());
    }

    pub(crate) fn batch(&self, source: &str, done: &Ingested, committed: bool) {
        self.with(source, |stats| {
            if committed {
                stats.batches += 1;
                stats.records += done.records;
                stats.bytes += done.bytes;
                stats.problems += done.problems.len() as u64;
                stats.alerts += done.alerts as u64;
                stats.newest_event = stats.newest_event.max(done.newest_event);
                stats.last_error = None;
            } else {
                stats.failed_batches += 1;
            }
            stats.last_batch_at = Some(store::now());
        });
    }

    pub(crate) fn alerts_committed(&self, source: &str, alerts: usize) {
        self.with(source, |stats| stats.alerts += alerts as u64);
    }

    /// Reports this budget's use.
    pub fn watch_budget(&self, budget: &MemoryBudget) {
        let _ = self.budget.set(budget.clone());
    }

    /// Counts a `POST /ingest` refused because the memory budget was spent.
    pub fn ingest_refused_busy(&self) {
        self.ingest_refused_busy.fetch_add(1, Ordering::Relaxed);
    }

    /// The memory budget's use now.
    pub fn memory(&self) -> MemoryReport {
        MemoryReport {
            budget_bytes: self.budget.get().map_or(0, MemoryBudget::total),
            held_bytes: self.budget.get().map_or(0, MemoryBudget::in_use),
            ingest_refused_busy: self.ingest_refused_busy.load(Ordering::Relaxed),
        }
    }

    /// Records a source's failure (listing, receiving, reading), shown until its next batch.
    pub fn source_error(&self, source: &str, error: &str) {
        self.with(source, |stats| stats.last_error = Some(error.to_owned()));
    }

    /// Every source's counters, by name.
    pub fn sources(&self) -> BTreeMap<String, SourceStats> {
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Everything `/metrics` and `tripkey status` report, gathered at one time.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    /// When it was gathered.
    pub at: EventTime,
    /// Per source counters (empty when read from the store alone, by `tripkey status`).
    pub sources: BTreeMap<String, SourceStats>,
    /// Committed checkpoints: source, position, commit time.
    pub checkpoints: Vec<(String, String, EventTime)>,
    /// Alerts by rule, all time.
    pub alerts_by_rule: Vec<(String, u64)>,
    /// Of those, the ones a suppression kept from the sinks, by rule.
    #[serde(default)]
    pub suppressed_by_rule: Vec<(String, u64)>,
    /// Delivery health by sink.
    pub sinks: Vec<SinkHealthReport>,
    /// How late the records the detectors used arrived, all time (kept with their state).
    #[serde(default)]
    pub lateness: detect::Lateness,
    /// The memory budget's use (zeros when read from the store alone).
    #[serde(default)]
    pub memory: MemoryReport,
    /// The `serve` workers sharing the database, most recently seen first.
    #[serde(default)]
    pub workers: Vec<WorkerReport>,
    /// Per source, the objects it could not read: still retried, and quarantined.
    #[serde(default)]
    pub unreadable: Vec<UnreadableCount>,
    /// Per polling source, the objects listed and not read yet (queued for any worker).
    #[serde(default)]
    pub objects_waiting: BTreeMap<String, u64>,
}

/// How many objects one source could not read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadableCount {
    /// The source.
    pub source: String,
    /// Objects tried again at later passes, with backoff.
    pub retrying: u64,
    /// Objects no longer tried until `tripkey source retry`.
    pub quarantined: u64,
}

/// A `serve` worker as reported: its last heartbeat and the jobs it holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WorkerReport {
    /// Its id: host and process id.
    pub id: String,
    /// The machine it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// The tripkey version it runs.
    pub version: String,
    /// `live` (seen lately), `stopped` (stopped cleanly) or `gone` (not seen for a minute:
    /// dead or cut off; its jobs move to a live worker when their leases run out).
    pub state: String,
    /// When it started.
    pub started_at: EventTime,
    /// Its last heartbeat.
    pub seen_at: EventTime,
    /// Batches it committed.
    pub batches: u64,
    /// Records it read.
    pub records: u64,
    /// Alerts it committed, new or updated.
    pub alerts: u64,
    /// Its last heartbeat's time minus the newest event time it had committed.
    pub lag_seconds: Option<f64>,
    /// The singleton jobs whose lease it holds (`canary-chores`, `s3:NAME`).
    pub jobs: Vec<String>,
}

impl WorkerReport {
    fn from_record(record: store::WorkerRecord, now: EventTime) -> WorkerReport {
        let gone_after = i64::try_from(crate::workers::GONE_AFTER.as_millis()).unwrap_or(i64::MAX);
        let state = if record.stopped_at.is_some() {
            "stopped"
        } else if now.0 - record.seen_at.0 > gone_after {
            "gone"
        } else {
            "live"
        };
        WorkerReport {
            id: record.beat.id,
            host: record.beat.host,
            pid: record.beat.pid,
            version: record.beat.version,
            state: state.to_owned(),
            started_at: record.beat.started_at,
            seen_at: record.seen_at,
            batches: record.beat.batches,
            records: record.beat.records,
            alerts: record.beat.alerts,
            lag_seconds: record
                .beat
                .newest_event
                .map(|newest| (record.seen_at.0 - newest.0) as f64 / 1_000.0),
            jobs: record.jobs,
        }
    }
}

/// A sink's health as reported.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SinkHealthReport {
    /// The sink.
    pub sink: String,
    /// Notifications delivered.
    pub delivered: u64,
    /// Failed attempts.
    pub failures: u64,
    /// Failures since the last success; above zero the sink is failing now.
    pub consecutive_failures: u64,
    /// Deliveries waiting.
    pub pending: u64,
    /// Deliveries refused for good.
    pub refused: u64,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// The last success.
    pub last_success_at: Option<EventTime>,
    /// The last failure.
    pub last_failure_at: Option<EventTime>,
}

impl From<SinkHealth> for SinkHealthReport {
    fn from(health: SinkHealth) -> SinkHealthReport {
        SinkHealthReport {
            sink: health.sink,
            delivered: health.delivered,
            failures: health.failures,
            consecutive_failures: health.consecutive_failures,
            pending: health.pending,
            refused: health.refused,
            last_error: health.last_error,
            last_success_at: health.last_success_at,
            last_failure_at: health.last_failure_at,
        }
    }
}

impl Report {
    /// Gathers the store's side of the report, with the live counters of this process.
    pub async fn gather(store: &store::Store, live: &Metrics) -> Result<Report, store::StoreError> {
        let at = store::now();
        Ok(Report {
            at,
            objects_waiting: store.queued_object_counts().await?.into_iter().collect(),
            unreadable: store
                .source_failure_counts()
                .await?
                .into_iter()
                .map(|(source, retrying, quarantined)| UnreadableCount {
                    source,
                    retrying,
                    quarantined,
                })
                .collect(),
            workers: store
                .workers()
                .await?
                .into_iter()
                .map(|record| WorkerReport::from_record(record, at))
                .collect(),
            sources: live.sources(),
            memory: live.memory(),
            checkpoints: store.checkpoints().await?,
            alerts_by_rule: store.alert_counts().await?,
            suppressed_by_rule: store.suppressed_alert_counts().await?,
            lateness: store.detector_lateness().await?.iter().fold(
                detect::Lateness::default(),
                |mut total, json| {
                    if let Ok(worker) = serde_json::from_str::<detect::Lateness>(json) {
                        total.add(&worker);
                    }
                    total
                },
            ),
            sinks: store
                .sink_health()
                .await?
                .into_iter()
                .map(SinkHealthReport::from)
                .collect(),
        })
    }

    /// The outbox's depth: deliveries waiting, over every sink.
    pub fn outbox_depth(&self) -> u64 {
        self.sinks.iter().map(|sink| sink.pending).sum()
    }

    /// The Prometheus text exposition format.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let per_source = |value: &dyn Fn(&SourceStats) -> f64| {
            self.sources
                .iter()
                .map(|(name, stats)| (format!("{{source=\"{}\"}}", label(name)), value(stats)))
                .collect::<Vec<_>>()
        };
        family(
            "tripkey_source_records_total",
            "counter",
            "CloudTrail records read, by source.",
            per_source(&|s| s.records as f64),
        );
        family(
            "tripkey_source_bytes_total",
            "counter",
            "Bytes read before decompression, by source.",
            per_source(&|s| s.bytes as f64),
        );
        family(
            "tripkey_source_batches_total",
            "counter",
            "Batches committed, by source.",
            per_source(&|s| s.batches as f64),
        );
        family(
            "tripkey_source_failed_batches_total",
            "counter",
            "Batches whose commit failed and that will be read again, by source.",
            per_source(&|s| s.failed_batches as f64),
        );
        family(
            "tripkey_source_read_problems_total",
            "counter",
            "Parts of objects that could not be read and were skipped, by source.",
            per_source(&|s| s.problems as f64),
        );
        let now = self.at;
        family(
            "tripkey_source_lag_seconds",
            "gauge",
            "Now minus the newest eventTime read, by source.",
            self.sources
                .iter()
                .filter_map(|(name, stats)| {
                    let newest = stats.newest_event?;
                    Some((
                        format!("{{source=\"{}\"}}", label(name)),
                        (now.0 - newest.0) as f64 / 1_000.0,
                    ))
                })
                .collect(),
        );
        let per_unreadable = |value: &dyn Fn(&UnreadableCount) -> u64| {
            self.unreadable
                .iter()
                .map(|u| {
                    (
                        format!("{{source=\"{}\"}}", label(&u.source)),
                        value(u) as f64,
                    )
                })
                .collect::<Vec<_>>()
        };
        family(
            "tripkey_source_objects_retrying",
            "gauge",
            "Objects a source could not read and tries again with backoff, by source.",
            per_unreadable(&|u| u.retrying),
        );
        family(
            "tripkey_source_objects_quarantined",
            "gauge",
            "Objects a source could not read too many times: no longer tried until tripkey source retry, by source.",
            per_unreadable(&|u| u.quarantined),
        );
        family(
            "tripkey_source_objects_waiting",
            "gauge",
            "Objects a polling source listed that no worker has read and committed yet, by source.",
            self.objects_waiting
                .iter()
                .map(|(source, count)| (format!("{{source=\"{}\"}}", label(source)), *count as f64))
                .collect(),
        );
        let lateness = &self.lateness;
        family(
            "tripkey_records_out_of_order_total",
            "counter",
            "Records the detectors used that came behind a newer one (out of event-time order).",
            vec![(String::new(), lateness.out_of_order as f64)],
        );
        family(
            "tripkey_records_beyond_horizon_total",
            "counter",
            "Records that came more than the lateness horizon behind the newest one: used where they could be, but their alerts may differ from event-time order.",
            vec![(String::new(), lateness.beyond_horizon as f64)],
        );
        family(
            "tripkey_denials_unplaced_total",
            "counter",
            "Denied calls that came too late to be counted in their principal's bursts.",
            vec![(String::new(), lateness.unplaced_denials as f64)],
        );
        family(
            "tripkey_record_lateness_max_seconds",
            "gauge",
            "The most a record came behind the newest one seen before it.",
            vec![(String::new(), lateness.max_behind_millis as f64 / 1_000.0)],
        );
        family(
            "tripkey_memory_budget_bytes",
            "gauge",
            "The budget of input bytes in flight ([serve] memory_budget).",
            vec![(String::new(), self.memory.budget_bytes as f64)],
        );
        family(
            "tripkey_memory_held_bytes",
            "gauge",
            "Input bytes in flight now: read by a source or POST /ingest and not yet committed.",
            vec![(String::new(), self.memory.held_bytes as f64)],
        );
        family(
            "tripkey_ingest_refused_busy_total",
            "counter",
            "POST /ingest requests answered 503 because the memory budget was spent.",
            vec![(String::new(), self.memory.ingest_refused_busy as f64)],
        );
        family(
            "tripkey_alerts_total",
            "counter",
            "Alerts committed, by rule.",
            self.alerts_by_rule
                .iter()
                .map(|(rule, n)| (format!("{{rule=\"{}\"}}", label(rule)), *n as f64))
                .collect(),
        );
        family(
            "tripkey_alerts_suppressed_total",
            "counter",
            "Alerts committed but kept from the sinks by a suppression, by rule.",
            self.suppressed_by_rule
                .iter()
                .map(|(rule, n)| (format!("{{rule=\"{}\"}}", label(rule)), *n as f64))
                .collect(),
        );
        family(
            "tripkey_outbox_depth",
            "gauge",
            "Deliveries waiting in the outbox, by sink.",
            self.sinks
                .iter()
                .map(|s| (format!("{{sink=\"{}\"}}", label(&s.sink)), s.pending as f64))
                .collect(),
        );
        family(
            "tripkey_sink_delivered_total",
            "counter",
            "Notifications delivered, by sink.",
            self.sinks
                .iter()
                .map(|s| {
                    (
                        format!("{{sink=\"{}\"}}", label(&s.sink)),
                        s.delivered as f64,
                    )
                })
                .collect(),
        );
        family(
            "tripkey_sink_failures_total",
            "counter",
            "Failed delivery attempts, by sink.",
            self.sinks
                .iter()
                .map(|s| {
                    (
                        format!("{{sink=\"{}\"}}", label(&s.sink)),
                        s.failures as f64,
                    )
                })
                .collect(),
        );
        family(
            "tripkey_sink_consecutive_failures",
            "gauge",
            "Failed attempts since the last success, by sink: above zero, the sink is failing.",
            self.sinks
                .iter()
                .map(|s| {
                    (
                        format!("{{sink=\"{}\"}}", label(&s.sink)),
                        s.consecutive_failures as f64,
                    )
                })
                .collect(),
        );
        family(
            "tripkey_sink_refused_total",
            "counter",
            "Deliveries a sink refused for good (kept in the outbox), by sink.",
            self.sinks
                .iter()
                .map(|s| (format!("{{sink=\"{}\"}}", label(&s.sink)), s.refused as f64))
                .collect(),
        );
        let per_worker = |value: &dyn Fn(&WorkerReport) -> Option<f64>| {
            self.workers
                .iter()
                .filter_map(|w| Some((format!("{{worker=\"{}\"}}", label(&w.id)), value(w)?)))
                .collect::<Vec<_>>()
        };
        family(
            "tripkey_worker_up",
            "gauge",
            "1 for each serve worker seen within the last minute, 0 for one stopped or gone, by worker and host.",
            self.workers
                .iter()
                .map(|w| {
                    (
                        format!("{{worker=\"{}\",host=\"{}\"}}", label(&w.id), label(&w.host)),
                        if w.state == "live" { 1.0 } else { 0.0 },
                    )
                })
                .collect(),
        );
        family(
            "tripkey_worker_batches_total",
            "counter",
            "Batches committed, by worker.",
            per_worker(&|w| Some(w.batches as f64)),
        );
        family(
            "tripkey_worker_records_total",
            "counter",
            "Records read, by worker.",
            per_worker(&|w| Some(w.records as f64)),
        );
        family(
            "tripkey_worker_lag_seconds",
            "gauge",
            "A worker's last heartbeat minus the newest event time it committed, by worker.",
            per_worker(&|w| w.lag_seconds),
        );
        family(
            "tripkey_worker_last_seen_seconds",
            "gauge",
            "Seconds since a worker's last heartbeat, by worker.",
            per_worker(&|w| Some((now.0 - w.seen_at.0) as f64 / 1_000.0)),
        );
        family(
            "tripkey_job_holder",
            "gauge",
            "1 for the worker holding each singleton job's lease, by job and worker.",
            self.workers
                .iter()
                .flat_map(|w| {
                    w.jobs.iter().map(|job| {
                        (
                            format!("{{job=\"{}\",worker=\"{}\"}}", label(job), label(&w.id)),
                            1.0,
                        )
                    })
                })
                .collect(),
        );
        out
    }
}

/// A label value escaped as the exposition format wants.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
