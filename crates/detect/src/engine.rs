//! The engine: runs every detector on each record, in any arrival order, over one state.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use trail::{EventTime, Record};

use crate::alert::Alert;
use crate::canary::CanaryRegistry;
use crate::clock::{EventClock, Lateness};
use crate::config::DetectConfig;
use crate::denial::{DenialBurstDetector, Placed};
use crate::exfiltration::{ExfiltrationDetector, Observation};
use crate::state::{DetectorState, MemoryState, StateKey};

/// All detectors over one state. Feed it records in any order: the alerts depend on the
/// records, not on the order they arrive in, as long as each arrives within the lateness
/// horizon of the newest one seen before it. It never reads the wall clock, so a replay gives
/// the same alerts.
pub struct Engine<S: DetectorState = MemoryState> {
    config: DetectConfig,
    canaries: Arc<CanaryRegistry>,
    exfiltration: ExfiltrationDetector,
    denials: DenialBurstDetector,
    state: S,
    newest: Option<EventTime>,
    lateness: Lateness,
    updates: bool,
}

impl<S: DetectorState> Engine<S> {
    /// An engine with the given configuration, canaries and state.
    pub fn new(config: &DetectConfig, canaries: Arc<CanaryRegistry>, state: S) -> Engine<S> {
        Engine {
            config: config.clone(),
            canaries,
            exfiltration: ExfiltrationDetector::new(config.exfiltration.clone()),
            denials: DenialBurstDetector::new(config.denial.clone()),
            state,
            newest: None,
            lateness: Lateness::default(),
            updates: false,
        }
    }

    /// Raise every change to an open alert as it happens (a burst growing), as a live service
    /// shows them, instead of only new alerts and final forms.
    pub fn raise_updates(&mut self, updates: bool) {
        self.updates = updates;
    }

    /// Runs every detector on one record, appending any alerts (new ones, revised ones and
    /// withdrawn ones).
    pub fn process(&mut self, record: &Record<'_>, alerts: &mut Vec<Alert>) {
        let time = record.fields.event_time;
        self.lateness
            .observe(time, self.newest, self.config.horizon.millis());
        self.newest = Some(self.newest.map_or(time, |newest| newest.max(time)));
        let clock = self.clock();
        if let Some(alert) = self.canaries.detect(record) {
            alerts.push(alert);
        }
        alerts.extend(self.canaries.integrity_alerts(record));
        if let Some(observation) = self.exfiltration.observe(record) {
            self.apply_exfiltration(&observation, record, &clock, alerts);
        }
        if let Some(principal) = DenialBurstDetector::counted_principal(record) {
            let mut denials = self.state.take_principal(principal).unwrap_or_default();
            let placed = self.denials.place(
                principal,
                &mut denials,
                record,
                &clock,
                self.updates,
                alerts,
            );
            if placed == Placed::TooLate {
                self.lateness.unplaced_denials += 1;
            }
            self.keep_principal(principal, denials, &clock);
        }
        self.settle_due(&clock, alerts);
    }

    /// Notes that the input has reached `time` (a file whose records were all irrelevant), so
    /// that what is due by then is settled.
    pub fn advance_to(&mut self, time: EventTime, alerts: &mut Vec<Alert>) {
        self.newest = Some(self.newest.map_or(time, |newest| newest.max(time)));
        let clock = self.clock();
        self.settle_due(&clock, alerts);
    }

    /// Releases every exfiltration decision still waiting for its settle time, and settles
    /// the keys whose records came beyond the horizon by the stream's clock: the input has gone
    /// quiet (`serve` idle for the settle time), so nothing earlier is on its way.
    pub fn settle_pending(&mut self, alerts: &mut Vec<Alert>) {
        let clock = self.clock().settling_everything();
        for key in self.state.keys() {
            self.settle_key(&key, &clock, alerts);
        }
    }

    /// The end of input: every decision is final, every burst closed; their final forms are
    /// raised.
    pub fn finish(&mut self, alerts: &mut Vec<Alert>) {
        let Some(newest) = self.newest else { return };
        let beyond_everything = self.config.horizon.millis()
            + self.config.denial.window.millis()
            + self.config.exfiltration.ttl.millis()
            + 1;
        let clock =
            EventClock::new(newest.offset(beyond_everything), &self.config).settling_everything();
        for key in self.state.keys() {
            self.settle_key(&key, &clock, alerts);
        }
    }

    /// How late records arrived, and how many denials came too late to be placed.
    pub fn lateness(&self) -> Lateness {
        self.lateness
    }

    /// The lateness counters kept in a [`Engine::snapshot`], without reading the rest.
    pub fn snapshot_lateness(snapshot: &str) -> Option<Lateness> {
        #[derive(Deserialize)]
        struct Counters {
            #[serde(default)]
            lateness: Lateness,
        }
        serde_json::from_str::<Counters>(snapshot)
            .ok()
            .map(|counters| counters.lateness)
    }

    /// The newest event time seen.
    pub fn newest(&self) -> Option<EventTime> {
        self.newest
    }

    /// The detector state.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// The keys of the state a record may read or change: what a batch must load (and lock)
    /// before the engine sees it, when the state lives in a database.
    pub fn state_keys(&self, record: &Record<'_>) -> Vec<StateKey> {
        let mut keys = Vec::new();
        if let Some(observation) = self.exfiltration.observe(record) {
            keys.push(StateKey::Instance(observation.instance_id().to_owned()));
        }
        if let Some(principal) = DenialBurstDetector::counted_principal(record) {
            keys.push(StateKey::Principal(principal.to_owned()));
        }
        keys
    }

    /// Where event time stands and how late records came: with the state, all an engine
    /// needs to go on ([`Engine::resume`]).
    pub fn position(&self) -> Position {
        Position {
            newest: self.newest,
            lateness: self.lateness,
        }
    }

    /// An engine that goes on from a position over a state: a batch's engine over the keys it
    /// loaded.
    pub fn resume(
        config: &DetectConfig,
        canaries: Arc<CanaryRegistry>,
        state: S,
        position: Position,
    ) -> Engine<S> {
        let mut engine = Engine::new(config, canaries, state);
        engine.newest = position.newest;
        engine.lateness = position.lateness;
        engine
    }

    /// The state, once the engine is done with it.
    pub fn into_state(self) -> S {
        self.state
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
            newest: self.newest,
            lateness: self.lateness,
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
        engine.newest = saved.newest;
        engine.lateness = saved.lateness;
        Ok(engine)
    }

    fn clock(&self) -> EventClock {
        EventClock::new(self.newest.unwrap_or_default(), &self.config)
    }

    fn apply_exfiltration(
        &mut self,
        observation: &Observation<'_>,
        record: &Record<'_>,
        clock: &EventClock,
        alerts: &mut Vec<Alert>,
    ) {
        let instance_id = observation.instance_id();
        if let Observation::Use { .. } = observation {
            if self
                .state
                .instance(instance_id)
                .is_some_and(|history| self.exfiltration.adds_nothing(history, record))
            {
                return;
            }
        }
        let mut history = self.state.take_instance(instance_id).unwrap_or_default();
        let keep = self.exfiltration.apply(
            observation,
            &mut history,
            record,
            clock,
            self.updates,
            alerts,
        );
        self.keep_instance(instance_id, history, keep, clock);
    }

    fn keep_instance(
        &mut self,
        instance_id: &str,
        history: crate::exfiltration::InstanceHistory,
        keep: bool,
        clock: &EventClock,
    ) {
        let key = StateKey::Instance(instance_id.to_owned());
        if keep {
            let wake = self.exfiltration.wake_at(&history, clock);
            self.state.put_instance(instance_id, history);
            self.state.set_wake(&key, wake);
        } else {
            self.state.set_wake(&key, None);
        }
    }

    fn keep_principal(
        &mut self,
        principal: &str,
        denials: crate::denial::PrincipalDenials,
        clock: &EventClock,
    ) {
        let key = StateKey::Principal(principal.to_owned());
        if denials.is_needed() {
            let wake = self.denials.wake_at(&denials, clock);
            self.state.put_principal(principal, denials);
            self.state.set_wake(&key, wake);
        } else {
            self.state.set_wake(&key, None);
        }
    }

    fn settle_due(&mut self, clock: &EventClock, alerts: &mut Vec<Alert>) {
        for key in self.state.take_due(clock.newest) {
            self.settle_key(&key, clock, alerts);
        }
    }

    fn settle_key(&mut self, key: &StateKey, clock: &EventClock, alerts: &mut Vec<Alert>) {
        match key {
            StateKey::Instance(instance_id) => {
                if let Some(mut history) = self.state.take_instance(instance_id) {
                    let keep = self
                        .exfiltration
                        .settle(&mut history, clock, self.updates, alerts);
                    self.keep_instance(instance_id, history, keep, clock);
                }
            }
            StateKey::Principal(principal) => {
                if let Some(mut denials) = self.state.take_principal(principal) {
                    self.denials
                        .settle(principal, &mut denials, clock, self.updates, alerts);
                    self.keep_principal(principal, denials, clock);
                }
            }
        }
    }
}

/// Where an engine's event time stands, and how late its records came.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The newest event time seen.
    pub newest: Option<EventTime>,
    /// How late records arrived.
    #[serde(default)]
    pub lateness: Lateness,
}

/// What an engine keeps across restarts: its state and where event time stands.
#[derive(Serialize, Deserialize)]
struct Snapshot<S> {
    state: S,
    newest: Option<EventTime>,
    #[serde(default)]
    lateness: Lateness,
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
            || crate::integrity::is_relevant(record)
    }
}
