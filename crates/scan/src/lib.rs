//! The engine of `tripkey scan`: read CloudTrail inputs in parallel and run the detectors
//! over them.
//!
//! Inputs are local files (from [`trail::discover_within`]) and [`Remote`] inputs, which list
//! and fetch their objects themselves (S3 buckets and CloudWatch Logs groups live in
//! `tripkey-aws-sources`, so that this crate stays free of the AWS SDK). One feeder thread
//! hands every input's pieces, in a stable order, to worker threads that each read whole
//! pieces (decompress, parse, and keep only the records some detector can act on). The
//! calling thread takes their results in the feeder's order and feeds them to the engine,
//! whose alerts do not depend on the order (up to the lateness horizon); taking them in that
//! order also makes the run the same for any thread count.
//!
//! The caller sees the scan through an [`Observer`]: problems as they are met, and progress.

#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use detect::{
    Alert, AlertStatus, CanaryRegistry, DetectConfig, Engine, MemoryState, RelevanceFilter, Rule,
};
use serde::Serialize;
use trail::{Discovery, EventTime, Input, InputSource, Record, ScanWindow};

/// The most a fetched object may decompress to. CloudTrail's objects are a few megabytes; the
/// limit stops a gzip bomb planted in a bucket from taking the machine's memory.
pub const MAX_FETCHED_DECOMPRESSED: u64 = 512 << 20;

/// Pieces the feeder may queue beyond the two per reading thread.
const PIECES_QUEUED: usize = 32;

/// What a scan needs.
pub struct ScanOptions {
    /// Detector settings.
    pub detect: DetectConfig,
    /// The canaries to look for.
    pub canaries: Arc<CanaryRegistry>,
    /// Worker threads reading files.
    pub threads: usize,
    /// The records kept: outside it they are dropped before detection.
    pub window: ScanWindow,
}

/// Counts of what a scan read.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ScanStats {
    /// Inputs read: files, stdin, S3 objects and pages of log events.
    pub files: u64,
    /// Inputs with at least one problem (reported and skipped in part or whole).
    pub files_with_problems: u64,
    /// CloudTrail-Digest objects skipped.
    pub skipped_digests: u64,
    /// Files in directories skipped because they do not look like logs.
    pub skipped_other: u64,
    /// Log files and objects not read because their name puts them outside
    /// `--since`/`--until`, `--account` or `--region`.
    pub pruned_files: u64,
    /// Folders and prefixes of CloudTrail's layout not listed because the window excludes all
    /// of them.
    pub pruned_folders: u64,
    /// Objects remote inputs listed (before pruning).
    pub objects_listed: u64,
    /// Records read and dropped because they are outside the window.
    pub records_outside_window: u64,
    /// Records read.
    pub records: u64,
    /// Records some detector acted on.
    pub relevant_records: u64,
    /// Records the detectors looked at that came after a newer one (out of event-time order).
    pub out_of_order_records: u64,
    /// Of those, records more than the lateness horizon behind the newest seen before them:
    /// they were used where they could be, but the alerts they touch may differ from a run in
    /// event-time order.
    pub beyond_horizon_records: u64,
    /// Denials that came too late to be counted in their principal's bursts.
    pub unplaced_denials: u64,
    /// The most a record came behind the newest seen before it, in seconds.
    pub max_lateness_seconds: f64,
    /// Bytes read from disk or fetched.
    pub bytes_read: u64,
    /// Bytes after decompression.
    pub bytes_decoded: u64,
    /// Wall time of the scan, in seconds.
    pub seconds: f64,
    /// Alerts by rule.
    pub alerts_by_rule: BTreeMap<Rule, u64>,
    /// Canaries looked for; 0 means canary detection was off.
    pub canaries: u64,
    /// Where the canaries came from, e.g. `canaries file canaries.toml`.
    pub canary_sources: Vec<String>,
}

/// A problem found in one input; the input was skipped in part or whole.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The input's name.
    pub file: String,
    /// Where in the input, when known ("line 4", "record 7", "byte 1234").
    pub location: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// The result of a scan: alerts in their final form, ordered by event time.
pub struct ScanReport {
    /// The alerts.
    pub alerts: Vec<Alert>,
    /// What was read.
    pub stats: ScanStats,
    /// Problems met on the way.
    pub problems: Vec<Problem>,
}

/// One unit of input a worker reads whole.
pub enum Piece {
    /// A local file or stdin, read by the worker.
    Local(Input),
    /// Bytes a remote input fetched (an S3 object, a page of log events), gzipped or not.
    Fetched {
        /// Where they came from, e.g. `s3://bucket/key`.
        name: String,
        /// The bytes as fetched.
        bytes: Vec<u8>,
    },
    /// Something a remote input could not fetch: reported as a problem, and the scan goes on.
    Failed {
        /// What could not be fetched.
        name: String,
        /// Why.
        message: String,
    },
}

/// An input that lists and fetches its own pieces: an S3 prefix, a CloudWatch Logs group.
pub trait Remote: Send {
    /// The input as the user named it, e.g. `s3://bucket/AWSLogs/`.
    fn name(&self) -> &str;

    /// Hands every piece that may hold records in `window` to `feed`, in a stable order
    /// (the same listing gives the same order), and counts what it passed over. Stops early
    /// when [`Feed::send`] returns false. A failure to list is a [`Piece::Failed`] and ends
    /// only this input.
    fn fetch_into(&mut self, window: &ScanWindow, feed: &mut Feed);
}

/// Counts the feeder keeps while it lists, read by the merger.
#[derive(Default)]
struct FeedCounts {
    listed: AtomicU64,
    pruned_files: AtomicU64,
    pruned_folders: AtomicU64,
    skipped_digests: AtomicU64,
    skipped_other: AtomicU64,
    queued: AtomicU64,
}

/// Where a [`Remote`] puts its pieces, and counts what it listed and passed over.
pub struct Feed {
    sender: mpsc::SyncSender<(usize, Piece)>,
    next: usize,
    counts: Arc<FeedCounts>,
}

impl Feed {
    /// Queues a piece for the workers, waiting while they are busy (which bounds the pieces
    /// in memory). False when the scan no longer takes pieces.
    pub fn send(&mut self, piece: Piece) -> bool {
        let index = self.next;
        self.next += 1;
        self.counts.queued.fetch_add(1, Ordering::Relaxed);
        self.sender.send((index, piece)).is_ok()
    }

    /// Counts objects a listing returned.
    pub fn listed(&self, objects: u64) {
        self.counts.listed.fetch_add(objects, Ordering::Relaxed);
    }

    /// Counts objects not read because their name puts them outside the window.
    pub fn pruned_objects(&self, objects: u64) {
        self.counts
            .pruned_files
            .fetch_add(objects, Ordering::Relaxed);
    }

    /// Counts prefixes not listed because the window excludes all they hold.
    pub fn pruned_prefixes(&self, prefixes: u64) {
        self.counts
            .pruned_folders
            .fetch_add(prefixes, Ordering::Relaxed);
    }

    /// Counts digest objects passed over.
    pub fn skipped_digests(&self, objects: u64) {
        self.counts
            .skipped_digests
            .fetch_add(objects, Ordering::Relaxed);
    }

    /// Counts objects passed over because they are not logs (other extensions, Insights).
    pub fn skipped_other(&self, objects: u64) {
        self.counts
            .skipped_other
            .fetch_add(objects, Ordering::Relaxed);
    }
}

/// How far a scan has got, for a progress bar.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Pieces queued for reading so far (local files, fetched objects and pages).
    pub queued: u64,
    /// Pieces read.
    pub read: u64,
    /// Objects remote inputs listed.
    pub listed: u64,
    /// Files and objects passed over by the window.
    pub pruned: u64,
    /// Bytes read or fetched.
    pub bytes_read: u64,
    /// Bytes after decompression.
    pub bytes_decoded: u64,
    /// The size of the local files, when known (remote sizes are not known ahead).
    pub local_bytes: u64,
    /// Records read.
    pub records: u64,
    /// Alerts standing.
    pub alerts: u64,
    /// Time since the scan started.
    pub elapsed: Duration,
}

/// What the caller sees of a scan while it runs. Both methods are called from the thread that
/// called [`scan`].
pub trait Observer {
    /// A problem in one input; the input was skipped in part or whole.
    fn problem(&mut self, problem: &Problem);
    /// Called after each piece is read.
    fn progress(&mut self, progress: &Progress);
}

/// An observer that ignores everything, for callers that only want the report.
pub struct Quiet;

impl Observer for Quiet {
    fn problem(&mut self, _: &Problem) {}
    fn progress(&mut self, _: &Progress) {}
}

/// What one worker learned from one input.
struct FileOutcome {
    bytes_read: u64,
    bytes_decoded: u64,
    records: u64,
    relevant: Vec<Record<'static>>,
    newest: Option<EventTime>,
    problems: Vec<Problem>,
    outside_window: u64,
}

fn read_piece(piece: Piece, filter: &RelevanceFilter, window: &ScanWindow) -> FileOutcome {
    let mut outcome = FileOutcome {
        bytes_read: 0,
        bytes_decoded: 0,
        outside_window: 0,
        records: 0,
        relevant: Vec::new(),
        newest: None,
        problems: Vec::new(),
    };
    let (name, loaded) = match piece {
        Piece::Local(input) => {
            let loaded = match &input.source {
                InputSource::Stdin => trail::load_reader(std::io::stdin().lock()),
                InputSource::File(_) => trail::load(&input),
            };
            (input.name, loaded.map_err(|error| error.to_string()))
        }
        Piece::Fetched { name, bytes } => (
            name,
            Ok(trail::load_bytes_within(bytes, MAX_FETCHED_DECOMPRESSED)),
        ),
        Piece::Failed { name, message } => (name, Err(message)),
    };
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(error) => {
            outcome.problems.push(Problem {
                file: name,
                location: None,
                message: format!("cannot read: {error}"),
            });
            return outcome;
        }
    };
    outcome.bytes_read = loaded.compressed_len;
    outcome.bytes_decoded = loaded.bytes.len() as u64;
    let problem = |problem: trail::ReadProblem| Problem {
        file: name.clone(),
        location: match problem.location {
            trail::Location::Input => None,
            location => Some(location.to_string()),
        },
        message: problem.message,
    };
    outcome
        .problems
        .extend(loaded.problems.into_iter().map(problem));
    let mut records = 0;
    let mut newest: Option<EventTime> = None;
    let mut relevant = Vec::new();
    let mut outside_window = 0;
    let parse_problems = trail::parse_records(&loaded.bytes, |_, record| {
        records += 1;
        let fields = &record.fields;
        let time = fields.event_time;
        let account = fields.recipient_account_id.as_deref();
        if !window.keeps_record(time, account, Some(&fields.aws_region)) {
            outside_window += 1;
            return;
        }
        newest = Some(newest.map_or(time, |newest| newest.max(time)));
        if filter.is_relevant(&record) {
            relevant.push(record.into_owned());
        }
    });
    outcome
        .problems
        .extend(parse_problems.into_iter().map(problem));
    outcome.records = records;
    outcome.outside_window = outside_window;
    outcome.newest = newest;
    outcome.relevant = relevant;
    outcome
}

/// Feeds piece outcomes, in the feeder's order, into the engine.
struct Merger<'o> {
    engine: Engine<MemoryState>,
    fresh: Vec<Alert>,
    alerts: BTreeMap<String, Alert>,
    stats: ScanStats,
    problems: Vec<Problem>,
    observer: &'o mut dyn Observer,
    counts: Arc<FeedCounts>,
    local_bytes: u64,
    started: Instant,
}

impl Merger<'_> {
    fn absorb(&mut self, outcome: FileOutcome) {
        let stats = &mut self.stats;
        stats.files += 1;
        stats.records += outcome.records;
        stats.records_outside_window += outcome.outside_window;
        stats.relevant_records += outcome.relevant.len() as u64;
        stats.bytes_read += outcome.bytes_read;
        stats.bytes_decoded += outcome.bytes_decoded;
        if !outcome.problems.is_empty() {
            stats.files_with_problems += 1;
        }
        for problem in outcome.problems {
            self.observer.problem(&problem);
            self.problems.push(problem);
        }
        for record in &outcome.relevant {
            self.engine.process(record, &mut self.fresh);
        }
        if let Some(newest) = outcome.newest {
            self.engine.advance_to(newest, &mut self.fresh);
        }
        self.collect();
        let counts = &self.counts;
        self.observer.progress(&Progress {
            queued: counts.queued.load(Ordering::Relaxed),
            read: self.stats.files,
            listed: counts.listed.load(Ordering::Relaxed),
            pruned: self.stats.pruned_files + counts.pruned_files.load(Ordering::Relaxed),
            bytes_read: self.stats.bytes_read,
            bytes_decoded: self.stats.bytes_decoded,
            local_bytes: self.local_bytes,
            records: self.stats.records,
            alerts: self.alerts.len() as u64,
            elapsed: self.started.elapsed(),
        });
    }

    /// Later versions of an alert (a burst's final form) replace earlier ones, and the keys
    /// they replace; a withdrawn alert goes.
    fn collect(&mut self) {
        for alert in self.fresh.drain(..) {
            for replaced in &alert.replaces {
                self.alerts.remove(replaced);
            }
            if alert.status == AlertStatus::Withdrawn {
                self.alerts.remove(&alert.dedup_key);
            } else {
                self.alerts.insert(alert.dedup_key.clone(), alert);
            }
        }
    }

    fn finish(mut self) -> ScanReport {
        self.engine.finish(&mut self.fresh);
        self.collect();
        let mut alerts: Vec<Alert> = self.alerts.into_values().collect();
        alerts.sort_by(|a, b| (a.event_time, &a.dedup_key).cmp(&(b.event_time, &b.dedup_key)));
        let mut stats = self.stats;
        let counts = &self.counts;
        stats.objects_listed += counts.listed.load(Ordering::Relaxed);
        stats.pruned_files += counts.pruned_files.load(Ordering::Relaxed);
        stats.pruned_folders += counts.pruned_folders.load(Ordering::Relaxed);
        stats.skipped_digests += counts.skipped_digests.load(Ordering::Relaxed);
        stats.skipped_other += counts.skipped_other.load(Ordering::Relaxed);
        let lateness = self.engine.lateness();
        stats.out_of_order_records = lateness.out_of_order;
        stats.beyond_horizon_records = lateness.beyond_horizon;
        stats.max_lateness_seconds = lateness.max_behind_millis as f64 / 1000.0;
        stats.unplaced_denials = lateness.unplaced_denials;
        stats.seconds = self.started.elapsed().as_secs_f64();
        for alert in &alerts {
            *stats.alerts_by_rule.entry(alert.rule).or_default() += 1;
        }
        ScanReport {
            alerts,
            stats,
            problems: self.problems,
        }
    }
}

/// Limits how many pieces are read ahead of the one the merger waits for, so that memory stays
/// bounded by a few pieces whatever the input size.
struct ReadAhead {
    free: Mutex<usize>,
    freed: Condvar,
}

impl ReadAhead {
    fn new(slots: usize) -> ReadAhead {
        ReadAhead {
            free: Mutex::new(slots),
            freed: Condvar::new(),
        }
    }

    fn acquire(&self) {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
    }

    fn release(&self) {
        *self.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.freed.notify_one();
    }
}

/// Scans the discovered local inputs, then the remote ones, in that order.
pub fn scan(
    discovery: Discovery,
    remotes: Vec<Box<dyn Remote>>,
    options: ScanOptions,
    observer: &mut dyn Observer,
) -> ScanReport {
    let started = Instant::now();
    let counts = Arc::new(FeedCounts::default());
    let mut merger = Merger {
        engine: Engine::new(
            &options.detect,
            Arc::clone(&options.canaries),
            MemoryState::default(),
        ),
        fresh: Vec::new(),
        alerts: BTreeMap::new(),
        stats: ScanStats {
            skipped_digests: discovery.skipped_digests,
            skipped_other: discovery.skipped_other,
            pruned_files: discovery.pruned_files,
            pruned_folders: discovery.pruned_folders,
            ..ScanStats::default()
        },
        problems: Vec::new(),
        observer,
        counts: Arc::clone(&counts),
        local_bytes: discovery.inputs.iter().filter_map(|input| input.size).sum(),
        started,
    };
    let filter = RelevanceFilter::new(Arc::clone(&options.canaries));
    let threads = options.threads.max(1);
    // A local piece is a path, so a longer queue lets the feeder run ahead of the readers
    // instead of waking them file by file; fetched pieces are compressed objects of a few
    // hundred kilobytes, so the queue's share of memory stays small.
    let (piece_sender, pieces) = mpsc::sync_channel::<(usize, Piece)>(threads * 2 + PIECES_QUEUED);
    let mut feed = Feed {
        sender: piece_sender,
        next: 0,
        counts,
    };
    let window = &options.window;
    let pieces = Mutex::new(pieces);
    let read_ahead = ReadAhead::new(threads * 2);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for input in discovery.inputs {
                if !feed.send(Piece::Local(input)) {
                    return;
                }
            }
            for mut remote in remotes {
                remote.fetch_into(window, &mut feed);
            }
        });
        if threads == 1 {
            let pieces = pieces.lock().unwrap_or_else(|e| e.into_inner());
            for (_, piece) in pieces.iter() {
                merger.absorb(read_piece(piece, &filter, window));
            }
            return;
        }
        let (sender, outcomes) = mpsc::channel::<(usize, FileOutcome)>();
        for _ in 0..threads {
            let sender = sender.clone();
            let (pieces, filter, read_ahead) = (&pieces, &filter, &read_ahead);
            scope.spawn(move || loop {
                read_ahead.acquire();
                let next = pieces.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok((index, piece)) = next else {
                    read_ahead.release();
                    break;
                };
                if sender
                    .send((index, read_piece(piece, filter, window)))
                    .is_err()
                {
                    break;
                }
            });
        }
        drop(sender);
        let mut waiting = BTreeMap::new();
        let mut wanted = 0;
        for (index, outcome) in outcomes {
            waiting.insert(index, outcome);
            while let Some(outcome) = waiting.remove(&wanted) {
                merger.absorb(outcome);
                read_ahead.release();
                wanted += 1;
            }
        }
    });
    merger.finish()
}

/// Reads `--since`/`--until`: an RFC 3339 time (`2026-12-03T10:00:00Z`), a day
/// (`2026-12-03`, midnight UTC), or a span before now (`72h`, `30m`, `7d`).
pub fn parse_when(text: &str) -> Result<EventTime, String> {
    if let Ok(at) = EventTime::parse(text) {
        return Ok(at);
    }
    if let Ok(day) = EventTime::parse(&format!("{text}T00:00:00Z")) {
        return Ok(day);
    }
    match text.parse::<detect::Span>() {
        Ok(span) => Ok(EventTime::from(std::time::SystemTime::now()).offset(-span.millis())),
        Err(_) => Err(format!(
            "{text:?} is not a time: give RFC 3339 (2026-12-03T10:00:00Z), a day (2026-12-03) \
             or a span before now (72h, 30m, 7d)"
        )),
    }
}
