//! Denial bursts: one principal probing what a stolen key may do.
//!
//! Per principal (ARN, else access key), across regions, a burst opens when the sliding window
//! of W holds N denials, stays open while denials keep coming with gaps of at most W, and
//! closes after more than W of quiet. The bursts are defined on the principal's denials sorted
//! by event time, whatever order they arrive in: each principal keeps its denials since the
//! watermark in order, and the state of the sequence before it. A late denial is put in its
//! place and the bursts are worked out again; what changed is raised (a burst that opens),
//! updated (one that grows, or that turns out to have started earlier, under its new dedup key
//! with the old one in [`Alert::replaces`]) or withdrawn. A burst is final once the watermark
//! is past its last denial plus W.

use std::collections::{BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use trail::{EventTime, Record};

use crate::alert::{Alert, AlertStatus, CallContext, DenialBurstDetails, Details, Rule, Severity};
use crate::clock::{EventClock, Lane};
use crate::config::DenialConfig;
use crate::revision::{raise_changes, Revision};

/// True for the error codes that mean "not allowed": `AccessDenied*`, `*UnauthorizedOperation`
/// (EC2 writes `Client.UnauthorizedOperation`), `AuthorizationError`, `AuthorizationFailure`
/// and `VpceAccessDenied`.
pub fn is_denial_code(code: &str) -> bool {
    code.starts_with("AccessDenied")
        || code.ends_with("UnauthorizedOperation")
        || matches!(
            code,
            "AuthorizationError" | "AuthorizationFailure" | "VpceAccessDenied"
        )
}

/// The most denials a principal keeps in event-time order. Past it the oldest are settled
/// early, so a flood of denials costs bounded memory; a denial that arrives later than those
/// cannot be placed and is counted as such.
pub const MAX_LIVE_DENIALS: usize = 10_000;

/// One denied call, kept while late records may still arrive before it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Denial {
    /// When the call was made.
    pub time: EventTime,
    /// Orders denials of the same millisecond the same way whatever their arrival order.
    pub tiebreak: u64,
    /// The denied action.
    pub event_name: String,
    /// The error code.
    pub error_code: String,
    /// The region called.
    pub region: String,
    /// The record's event ID, to know a file delivered twice.
    pub event_id: Option<String>,
    /// The record, should it open a burst.
    pub record: Box<RawValue>,
}

impl Denial {
    fn of(record: &Record<'_>) -> Denial {
        let fields = &record.fields;
        Denial {
            time: fields.event_time,
            tiebreak: tiebreak(record),
            event_name: fields.event_name.to_string(),
            error_code: fields.error_code.as_deref().unwrap_or_default().to_owned(),
            region: fields.aws_region.to_string(),
            event_id: fields.event_id.as_deref().map(str::to_owned),
            record: record.raw_one_line(),
        }
    }

    fn position(&self) -> (EventTime, u64) {
        (self.time, self.tiebreak)
    }
}

/// A stable order for records of the same millisecond: their event ID, else their text.
pub(crate) fn tiebreak(record: &Record<'_>) -> u64 {
    match record.fields.event_id.as_deref() {
        Some(id) => crate::fingerprint(id),
        None => crate::fingerprint(record.raw.get()),
    }
}

/// A denial in a quiet principal's sliding window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct WindowMark {
    time: EventTime,
    event_name: String,
    error_code: String,
    region: String,
}

/// A burst of denials as the sorted sequence defines it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Burst {
    first_time: EventTime,
    trigger_time: EventTime,
    last_time: EventTime,
    count: u64,
    event_names: BTreeSet<String>,
    error_codes: BTreeSet<String>,
    regions: BTreeSet<String>,
    trigger_call: CallContext,
    trigger_record: Box<RawValue>,
    /// Its final form has been raised.
    #[serde(default)]
    final_raised: bool,
}

impl Burst {
    fn open(window: &VecDeque<WindowMark>, trigger: &Denial) -> Burst {
        let names = |pick: fn(&WindowMark) -> &String| -> BTreeSet<String> {
            window.iter().map(|mark| pick(mark).clone()).collect()
        };
        Burst {
            first_time: window.front().map_or(trigger.time, |mark| mark.time),
            trigger_time: trigger.time,
            last_time: trigger.time,
            count: window.len() as u64,
            event_names: names(|mark| &mark.event_name),
            error_codes: names(|mark| &mark.error_code),
            regions: names(|mark| &mark.region),
            // Read back from the record only when a burst opens: most denials never do.
            trigger_call: Record::from_raw(&trigger.record)
                .map(|record| CallContext::of(&record))
                .unwrap_or_default(),
            trigger_record: trigger.record.clone(),
            final_raised: false,
        }
    }

    fn add(&mut self, denial: &Denial) {
        self.count += 1;
        self.last_time = self.last_time.max(denial.time);
        for (set, value) in [
            (&mut self.event_names, &denial.event_name),
            (&mut self.error_codes, &denial.error_code),
            (&mut self.regions, &denial.region),
        ] {
            if !set.contains(value) {
                set.insert(value.clone());
            }
        }
    }
}

/// Where a principal's sorted sequence of denials stands: quiet (with the denials of the
/// sliding window) or in a burst.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Phase {
    Quiet(VecDeque<WindowMark>),
    InBurst(Box<Burst>),
}

impl Default for Phase {
    fn default() -> Self {
        Phase::Quiet(VecDeque::new())
    }
}

impl Phase {
    fn burst(&self) -> Option<&Burst> {
        match self {
            Phase::InBurst(burst) => Some(burst),
            Phase::Quiet(_) => None,
        }
    }
}

/// How often the replay keeps the sequence's state, so that a late denial is placed by
/// replaying from the nearest kept state before it rather than from the start.
const CHECKPOINT_EVERY: usize = 64;

/// The bursts of a stretch of the sequence: those it closed, the phase at its end, and the
/// state before every [`CHECKPOINT_EVERY`]th denial.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Replay {
    closed: Vec<Burst>,
    tip: Phase,
    #[serde(default)]
    checkpoints: Vec<Checkpoint>,
}

/// The sequence's state before the live denial at `at`: its phase and how many bursts had
/// closed.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Checkpoint {
    at: usize,
    tip: Phase,
    closed: usize,
}

/// One principal's denials: the state of the sequence before the watermark, the denials since
/// in event-time order, and the versions of its bursts already raised.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PrincipalDenials {
    /// The sequence's state after every denial folded in.
    folded: Phase,
    /// The last denial folded in (time and tiebreak): one before it can no longer be put in
    /// order.
    folded_through: Option<(EventTime, u64)>,
    /// The principal's own newest denial, and whether it came beyond the horizon.
    lane: Lane,
    /// Denials not yet folded, sorted by time and tiebreak.
    live: Vec<Denial>,
    /// The sequence from `folded` through `live`.
    replay: Replay,
    /// The latest version raised of each burst that is not yet final.
    raised: Vec<Alert>,
}

impl PrincipalDenials {
    /// False once nothing kept can matter to a later denial or alert.
    pub fn is_needed(&self) -> bool {
        !(self.live.is_empty()
            && self.raised.is_empty()
            && matches!(&self.folded, Phase::Quiet(marks) if marks.is_empty()))
    }
}

/// What placing a denial did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placed {
    /// Put in its place in the principal's sequence.
    InOrder,
    /// The same call was already counted (a file delivered twice).
    Duplicate,
    /// Older than what the principal has already settled: it could not be counted.
    TooLate,
}

/// The denial burst detector: its settings; each principal's memory is a [`PrincipalDenials`].
#[derive(Clone, Debug)]
pub struct DenialBurstDetector {
    config: DenialConfig,
}

impl DenialBurstDetector {
    /// A detector with the given threshold and window.
    pub fn new(config: DenialConfig) -> DenialBurstDetector {
        DenialBurstDetector { config }
    }

    /// The principal a denial is counted for, if the record is a denial that counts. CloudTrail
    /// log delivery and `HeadBucket` are skipped, as CIS 4.1 does.
    pub fn counted_principal<'r>(record: &'r Record<'_>) -> Option<&'r str> {
        let fields = &record.fields;
        if !is_denial_code(fields.error_code.as_deref()?)
            || fields.source_ip_address.as_deref() == Some("delivery.logs.amazonaws.com")
            || fields.event_name == "HeadBucket"
        {
            return None;
        }
        let identity = &fields.user_identity;
        identity
            .arn
            .as_deref()
            .filter(|arn| !arn.is_empty())
            .or(identity.access_key_id.as_deref())
            .filter(|principal| !principal.is_empty())
    }

    /// Places a denial in its principal's sequence and raises what changed.
    pub fn place(
        &self,
        principal: &str,
        denials: &mut PrincipalDenials,
        record: &Record<'_>,
        clock: &EventClock,
        updates: bool,
        alerts: &mut Vec<Alert>,
    ) -> Placed {
        let denial = Denial::of(record);
        if denials
            .folded_through
            .is_some_and(|through| denial.position() <= through)
        {
            return Placed::TooLate;
        }
        denials.lane.observe(denial.time, clock);
        let position = denials
            .live
            .partition_point(|kept| kept.position() < denial.position());
        if denials.live.get(position).is_some_and(|kept| {
            kept.position() == denial.position() && kept.event_id == denial.event_id
        }) {
            return Placed::Duplicate;
        }
        denials.live.insert(position, denial);
        if position + 1 == denials.live.len() {
            self.step_live(denials, position);
        } else {
            self.replay_from(denials, position);
        }
        self.settle(principal, denials, clock, updates, alerts);
        Placed::InOrder
    }

    /// Folds what the watermark has passed and raises what changed. Call it when
    /// [`Self::wake_at`] comes.
    pub fn settle(
        &self,
        principal: &str,
        denials: &mut PrincipalDenials,
        clock: &EventClock,
        updates: bool,
        alerts: &mut Vec<Alert>,
    ) {
        let watermark = clock.in_lane(&denials.lane).watermark();
        let mut fold_through = denials.live.partition_point(|kept| kept.time < watermark);
        if denials.live.len() > MAX_LIVE_DENIALS {
            // Down to three quarters, so that a flood folds in chunks, not one by one.
            fold_through = fold_through.max(denials.live.len() - MAX_LIVE_DENIALS * 3 / 4);
        }
        let mut finished = Vec::new();
        if fold_through > 0 {
            let mut folded = Replay {
                closed: Vec::new(),
                tip: std::mem::take(&mut denials.folded),
                checkpoints: Vec::new(),
            };
            for kept in denials.live.drain(..fold_through) {
                self.step(&mut folded, &kept);
                denials.folded_through = Some(kept.position());
            }
            denials.folded = folded.tip;
            // The same sequence from the same start closes the same bursts first; the
            // replay's copies know whether their final form was raised.
            finished = denials.replay.closed.drain(..folded.closed.len()).collect();
            let replay = &mut denials.replay;
            replay
                .checkpoints
                .retain(|checkpoint| checkpoint.at >= fold_through);
            for checkpoint in &mut replay.checkpoints {
                checkpoint.at -= fold_through;
                checkpoint.closed -= folded.closed.len();
            }
        }
        let window = self.config.window.millis();
        let is_over = |burst: &Burst| watermark.millis() - burst.last_time.millis() > window;
        if denials.live.is_empty()
            && matches!(&denials.folded, Phase::InBurst(burst) if is_over(burst))
        {
            // No later denial can join it: it is over, as the next denial would find.
            if let Phase::InBurst(burst) = std::mem::take(&mut denials.folded) {
                finished.push(*burst);
            }
            denials.replay = Replay::default();
        }
        if let Phase::Quiet(marks) = &mut denials.folded {
            while marks
                .front()
                .is_some_and(|mark| watermark.millis() - mark.time.millis() > window)
            {
                marks.pop_front();
            }
        }

        let mut current: Vec<Alert> = finished
            .iter()
            .filter(|burst| !burst.final_raised)
            .map(|burst| self.burst_alert(principal, burst, AlertStatus::Final))
            .collect();
        // Without updates, an open burst already raised under its key stays as raised: it is
        // not worth building again only to be compared.
        let mut unchanged = Vec::new();
        let mut raised = std::mem::take(&mut denials.raised);
        let mut still_open = |burst: &Burst, unchanged: &mut Vec<Alert>| {
            let key = burst_key(principal, burst);
            let at = raised
                .iter()
                .position(|alert| alert.dedup_key == key && alert.status == AlertStatus::Open);
            match at {
                Some(at) if !updates => {
                    unchanged.push(raised.remove(at));
                    true
                }
                _ => false,
            }
        };
        for burst in &mut denials.replay.closed {
            if burst.final_raised {
                continue;
            }
            if is_over(burst) {
                burst.final_raised = true;
                current.push(self.burst_alert(principal, burst, AlertStatus::Final));
            } else if !still_open(burst, &mut unchanged) {
                current.push(self.burst_alert(principal, burst, AlertStatus::Open));
            }
        }
        if let Phase::InBurst(burst) = &denials.replay.tip {
            if !still_open(burst, &mut unchanged) {
                current.push(self.burst_alert(principal, burst, AlertStatus::Open));
            }
        }
        denials.raised = raise_changes(
            raised,
            current,
            &Revision {
                updates,
                replaces: &|earlier, later| {
                    let (first, last) = burst_span(later);
                    let (earlier_first, earlier_last) = burst_span(earlier);
                    earlier_first <= last && first <= earlier_last
                },
                withdrawn_because: &|_| {
                    "the denials that arrived late, put in event-time order, do not make this \
                     a burst"
                        .to_owned()
                },
            },
            alerts,
        );
        denials.raised.extend(unchanged);
    }

    /// The newest event time at which [`Self::settle`] has something to do for the principal.
    pub fn wake_at(&self, denials: &PrincipalDenials, clock: &EventClock) -> Option<EventTime> {
        if denials.lane.is_late() {
            // Settled by its own records, and when the input goes quiet or ends.
            return None;
        }
        let window = self.config.window.millis();
        let fold = denials.live.first().map(|first| clock.final_at(first.time));
        let close = |burst: &Burst| clock.final_at(burst.last_time.offset(window));
        let bursts = denials
            .replay
            .closed
            .iter()
            .filter(|burst| !burst.final_raised)
            .chain(denials.replay.tip.burst())
            .chain(denials.folded.burst())
            .map(close)
            .min();
        let forget = match &denials.folded {
            Phase::Quiet(marks) => marks
                .front()
                .map(|mark| clock.final_at(mark.time.offset(window))),
            Phase::InBurst(_) => None,
        };
        [fold, bursts, forget].into_iter().flatten().min()
    }

    /// Steps the replay over the live denial at `index`, keeping a checkpoint before it when
    /// its turn comes.
    fn step_live(&self, denials: &mut PrincipalDenials, index: usize) {
        let replay = &mut denials.replay;
        if index.is_multiple_of(CHECKPOINT_EVERY) {
            replay.checkpoints.push(Checkpoint {
                at: index,
                tip: replay.tip.clone(),
                closed: replay.closed.len(),
            });
        }
        self.step(replay, &denials.live[index]);
    }

    /// Works the sequence out again from the last checkpoint at or before `position` (where a
    /// late denial was just put). Bursts whose final form was raised keep that mark.
    fn replay_from(&self, denials: &mut PrincipalDenials, position: usize) {
        let replay = &mut denials.replay;
        let kept = replay
            .checkpoints
            .partition_point(|checkpoint| checkpoint.at <= position);
        let (start, tip, closed) = match kept.checked_sub(1) {
            Some(last) => {
                let checkpoint = &replay.checkpoints[last];
                (checkpoint.at, checkpoint.tip.clone(), checkpoint.closed)
            }
            None => (0, denials.folded.clone(), 0),
        };
        replay.checkpoints.truncate(kept.saturating_sub(1));
        let finals: Vec<(EventTime, EventTime, u64)> = replay
            .closed
            .drain(closed.min(replay.closed.len())..)
            .filter(|burst| burst.final_raised)
            .map(|burst| (burst.first_time, burst.last_time, burst.count))
            .collect();
        replay.tip = tip;
        for index in start..denials.live.len() {
            self.step_live(denials, index);
        }
        for burst in &mut denials.replay.closed[closed..] {
            burst.final_raised = finals.contains(&(burst.first_time, burst.last_time, burst.count));
        }
    }

    /// One step of the sorted sequence.
    fn step(&self, replay: &mut Replay, denial: &Denial) {
        let window = self.config.window.millis();
        if let Phase::InBurst(burst) = &mut replay.tip {
            if denial.time.millis() - burst.last_time.millis() <= window {
                burst.add(denial);
                return;
            }
            if let Phase::InBurst(closed) = std::mem::take(&mut replay.tip) {
                replay.closed.push(*closed);
            }
        }
        let Phase::Quiet(marks) = &mut replay.tip else {
            unreachable!("a burst was closed above")
        };
        marks.push_back(WindowMark {
            time: denial.time,
            event_name: denial.event_name.clone(),
            error_code: denial.error_code.clone(),
            region: denial.region.clone(),
        });
        while marks
            .front()
            .is_some_and(|mark| denial.time.millis() - mark.time.millis() > window)
        {
            marks.pop_front();
        }
        let threshold = self.config.threshold.max(1) as usize;
        while marks.len() > threshold {
            marks.pop_front();
        }
        if marks.len() >= threshold {
            replay.tip = Phase::InBurst(Box::new(Burst::open(marks, denial)));
        }
    }

    fn burst_alert(&self, principal: &str, burst: &Burst, status: AlertStatus) -> Alert {
        let details = DenialBurstDetails {
            principal_key: principal.to_owned(),
            count: burst.count,
            event_names: burst.event_names.iter().cloned().collect(),
            error_codes: burst.error_codes.iter().cloned().collect(),
            regions: burst.regions.iter().cloned().collect(),
            first_time: burst.first_time,
            trigger_time: burst.trigger_time,
            last_time: burst.last_time,
        };
        let summary = format!(
            "{} denied calls by {principal} between {} and {} ({}; {})",
            burst.count,
            burst.first_time,
            burst.last_time,
            list_preview(&details.event_names),
            details.error_codes.join(", "),
        );
        Alert {
            dedup_key: burst_key(principal, burst),
            rule: Rule::AccessDeniedBurst,
            severity: Severity::Medium,
            status,
            summary,
            event_time: burst.trigger_time,
            call: burst.trigger_call.clone(),
            details: Details::DenialBurst(details),
            record: burst.trigger_record.clone(),
            withdrawn_because: None,
            replaces: Vec::new(),
        }
    }
}

/// A burst's dedup key: its principal and first denial.
fn burst_key(principal: &str, burst: &Burst) -> String {
    format!(
        "{}:{principal}:{}",
        Rule::AccessDeniedBurst,
        burst.first_time.millis()
    )
}

fn burst_span(alert: &Alert) -> (EventTime, EventTime) {
    match &alert.details {
        Details::DenialBurst(burst) => (burst.first_time, burst.last_time),
        _ => (alert.event_time, alert.event_time),
    }
}

fn list_preview(items: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        text.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    text
}
