//! `tripkey scan`: read a pile of CloudTrail logs in parallel and run the detectors over them.
//!
//! Worker threads each read whole files (decompress, parse, and keep only the records some
//! detector can act on). The main thread takes their results in input order and feeds them to
//! the engine, whose alerts do not depend on the order (up to the lateness horizon); taking
//! them in input order also makes the run the same for any thread count.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use detect::{
    Alert, AlertStatus, CanaryRegistry, DetectConfig, Engine, MemoryState, RelevanceFilter, Rule,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use trail::{Discovery, EventTime, Input, InputSource, Record, ScanWindow};

use notify::escape::for_terminal;

/// What a scan needs.
pub struct ScanOptions {
    /// Detector settings.
    pub detect: DetectConfig,
    /// The canaries to look for.
    pub canaries: Arc<CanaryRegistry>,
    /// Worker threads reading files.
    pub threads: usize,
    /// Show a progress bar (only honoured when stderr is a terminal).
    pub progress: bool,
    /// The records kept: outside it they are dropped before detection.
    pub window: ScanWindow,
}

/// Counts of what a scan read.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ScanStats {
    /// Inputs read (files, or stdin).
    pub files: u64,
    /// Inputs with at least one problem (reported and skipped in part or whole).
    pub files_with_problems: u64,
    /// CloudTrail-Digest objects skipped.
    pub skipped_digests: u64,
    /// Files in directories skipped because they do not look like logs.
    pub skipped_other: u64,
    /// Log files not read because their name puts them outside `--since`/`--until`,
    /// `--account` or `--region`.
    pub pruned_files: u64,
    /// Folders of CloudTrail's layout not listed because the window excludes all of them.
    pub pruned_folders: u64,
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
    /// Bytes read from disk.
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

fn read_input(input: &Input, filter: &RelevanceFilter, window: &ScanWindow) -> FileOutcome {
    let mut outcome = FileOutcome {
        bytes_read: 0,
        bytes_decoded: 0,
        outside_window: 0,
        records: 0,
        relevant: Vec::new(),
        newest: None,
        problems: Vec::new(),
    };
    let loaded = match &input.source {
        InputSource::Stdin => trail::load_reader(std::io::stdin().lock()),
        InputSource::File(_) => trail::load(input),
    };
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(error) => {
            outcome.problems.push(Problem {
                file: input.name.clone(),
                location: None,
                message: format!("cannot read: {error}"),
            });
            return outcome;
        }
    };
    outcome.bytes_read = loaded.compressed_len;
    outcome.bytes_decoded = loaded.bytes.len() as u64;
    let problem = |problem: trail::ReadProblem| Problem {
        file: input.name.clone(),
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

/// Feeds file outcomes, in input order, into the engine.
struct Merger {
    engine: Engine<MemoryState>,
    fresh: Vec<Alert>,
    alerts: BTreeMap<String, Alert>,
    stats: ScanStats,
    problems: Vec<Problem>,
    progress: Option<ProgressBar>,
    total_inputs: usize,
}

impl Merger {
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
            self.report(&problem);
            self.problems.push(problem);
        }
        for record in &outcome.relevant {
            self.engine.process(record, &mut self.fresh);
        }
        if let Some(newest) = outcome.newest {
            self.engine.advance_to(newest, &mut self.fresh);
        }
        self.collect();
        if let Some(bar) = &self.progress {
            bar.inc(outcome.bytes_read);
            let seconds = bar.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!(
                "{}/{} files, {} ({:.0}/s), {:.0} MB/s decoded, {}",
                self.stats.files,
                self.total_inputs,
                crate::output::count(self.stats.records, "record"),
                self.stats.records as f64 / seconds,
                self.stats.bytes_decoded as f64 / 1e6 / seconds,
                crate::output::count(self.alerts.len() as u64, "alert")
            ));
        }
    }

    fn report(&self, problem: &Problem) {
        let line = format!(
            "warning: {}{}: {}",
            for_terminal(&problem.file),
            problem
                .location
                .as_deref()
                .map(|location| format!(": {location}"))
                .unwrap_or_default(),
            for_terminal(&problem.message)
        );
        match &self.progress {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
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

    fn finish(mut self, started: Instant) -> ScanReport {
        self.engine.finish(&mut self.fresh);
        self.collect();
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
        let mut alerts: Vec<Alert> = self.alerts.into_values().collect();
        alerts.sort_by(|a, b| (a.event_time, &a.dedup_key).cmp(&(b.event_time, &b.dedup_key)));
        let mut stats = self.stats;
        let lateness = self.engine.lateness();
        stats.out_of_order_records = lateness.out_of_order;
        stats.beyond_horizon_records = lateness.beyond_horizon;
        stats.max_lateness_seconds = lateness.max_behind_millis as f64 / 1000.0;
        stats.unplaced_denials = lateness.unplaced_denials;
        stats.seconds = started.elapsed().as_secs_f64();
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

/// Limits how many inputs are read ahead of the one the merger waits for, so that memory stays
/// bounded by a few files whatever the input size.
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

/// Scans the discovered inputs.
pub fn scan(discovery: Discovery, options: ScanOptions) -> ScanReport {
    let started = Instant::now();
    let inputs = discovery.inputs;
    let progress = (options.progress && std::io::stderr().is_terminal()).then(|| {
        let total: u64 = inputs.iter().filter_map(|input| input.size).sum();
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} read  {msg}",
            )
            .expect("the template is valid"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
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
        progress,
        total_inputs: inputs.len(),
    };
    let filter = RelevanceFilter::new(Arc::clone(&options.canaries));

    if options.threads <= 1 || inputs.len() <= 1 {
        for input in &inputs {
            merger.absorb(read_input(input, &filter, &options.window));
        }
        return merger.finish(started);
    }

    let next = AtomicUsize::new(0);
    let read_ahead = ReadAhead::new(options.threads * 2);
    let (sender, receiver) = mpsc::channel::<(usize, FileOutcome)>();
    std::thread::scope(|scope| {
        for _ in 0..options.threads {
            let sender = sender.clone();
            let (inputs, filter, next, read_ahead) = (&inputs, &filter, &next, &read_ahead);
            let window = &options.window;
            scope.spawn(move || loop {
                read_ahead.acquire();
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(input) = inputs.get(index) else {
                    read_ahead.release();
                    break;
                };
                if sender
                    .send((index, read_input(input, filter, window)))
                    .is_err()
                {
                    break;
                }
            });
        }
        drop(sender);
        let mut waiting = BTreeMap::new();
        let mut wanted = 0;
        for (index, outcome) in receiver {
            waiting.insert(index, outcome);
            while let Some(outcome) = waiting.remove(&wanted) {
                merger.absorb(outcome);
                read_ahead.release();
                wanted += 1;
            }
        }
    });
    merger.finish(started)
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
