//! The engine: runs every detector on each record, in event-time order, over one state.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use trail::{EventTime, Record};

use crate::alert::Alert;
use crate::canary::CanaryRegistry;
use crate::config::DetectConfig;
use crate::denial::DenialBurstDetector;
use crate::exfiltration::ExfiltrationDetector;
use crate::state::{DetectorState, MemoryState};

/// How often, in event time, the engine expires old state and closes quiet bursts.
const SWEEP_INTERVAL_MILLIS: i64 = 60_000;

/// All detectors over one state. Feed it records in event-time order (see
/// [`crate::ReorderBuffer`]); it never reads the wall clock, so a replay gives the same alerts.
pub struct Engine<S: DetectorState = MemoryState> {
    canaries: Arc<CanaryRegistry>,
    exfiltration: ExfiltrationDetector,
    denials: DenialBurstDetector,
    state: S,
    clock: Option<EventTime>,
    next_sweep: Option<EventTime>,
}

impl<S: DetectorState> Engine<S> {
    /// An engine with the given configuration, canaries and state.
    pub fn new(config: &DetectConfig, canaries: Arc<CanaryRegistry>, state: S) -> Engine<S> {
        Engine {
            canaries,
            exfiltration: ExfiltrationDetector::new(config.exfiltration.clone()),
            denials: DenialBurstDetector::new(config.denial.clone()),
            state,
            clock: None,
            next_sweep: None,
        }
    }

    /// Runs every detector on one record, appending any alerts.
    pub fn process(&mut self, record: &Record<'_>, alerts: &mut Vec<Alert>) {
        self.advance_to(record.fields.event_time, alerts);
        if let Some(alert) = self.canaries.detect(record) {
            alerts.push(alert);
        }
        self.exfiltration.process(record, &mut self.state, alerts);
        self.denials.process(record, &mut self.state, alerts);
    }

    /// Moves event time forward (it never moves back), expiring state and closing bursts that
    /// have gone quiet.
    pub fn advance_to(&mut self, now: EventTime, alerts: &mut Vec<Alert>) {
        let now = self.clock.map_or(now, |clock| clock.max(now));
        self.clock = Some(now);
        let next_sweep = *self
            .next_sweep
            .get_or_insert(now.offset(SWEEP_INTERVAL_MILLIS));
        if now >= next_sweep {
            self.exfiltration.expire(now, &mut self.state);
            self.denials.expire(now, &mut self.state, alerts);
            self.next_sweep = Some(now.offset(SWEEP_INTERVAL_MILLIS));
        }
    }

    /// The end of input: closes every open burst so its final form is emitted.
    pub fn finish(&mut self, alerts: &mut Vec<Alert>) {
        self.denials.finish(&mut self.state, alerts);
    }

    /// The detector state.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// Replaces the canaries to look for (one was issued or revoked while running).
    pub fn set_canaries(&mut self, canaries: Arc<CanaryRegistry>) {
        self.canaries = canaries;
    }

    /// The state and event-time position as JSON, for [`Engine::restore`] after a restart.
    pub fn snapshot(&self) -> String
    where
        S: Serialize,
    {
        serde_json::to_string(&Snapshot {
            state: &self.state,
            clock: self.clock,
            next_sweep: self.next_sweep,
        })
        .expect("detector state is plain data and always serialises")
    }

    /// An engine that goes on from a [`Engine::snapshot`].
    pub fn restore(
        config: &DetectConfig,
        canaries: Arc<CanaryRegistry>,
        snapshot: &str,
    ) -> Result<Engine<S>, serde_json::Error>
    where
        S: DeserializeOwned,
    {
        let saved: Snapshot<S> = serde_json::from_str(snapshot)?;
        let mut engine = Engine::new(config, canaries, saved.state);
        engine.clock = saved.clock;
        engine.next_sweep = saved.next_sweep;
        Ok(engine)
    }
}

/// What an engine keeps across restarts: its state and where event time stands.
#[derive(Serialize, Deserialize)]
struct Snapshot<S> {
    state: S,
    clock: Option<EventTime>,
    next_sweep: Option<EventTime>,
}

/// Decides, without state, whether a record can matter to any detector, so that parallel
/// readers can drop the rest before they reach the ordered, single-threaded engine.
#[derive(Clone)]
pub struct RelevanceFilter {
    canaries: Arc<CanaryRegistry>,
}

impl RelevanceFilter {
    /// A filter for the given canaries.
    pub fn new(canaries: Arc<CanaryRegistry>) -> RelevanceFilter {
        RelevanceFilter { canaries }
    }

    /// True when some detector may act on the record.
    pub fn is_relevant(&self, record: &Record<'_>) -> bool {
        ExfiltrationDetector::is_relevant(record)
            || DenialBurstDetector::counted_principal(record).is_some()
            || self.canaries.match_record(record).is_some()
    }
}
