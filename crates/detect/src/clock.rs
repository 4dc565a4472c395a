//! Where the engine stands in event time, and what that allows the detectors to decide.
//!
//! The engine never reads the wall clock. Its only notion of "now" is the newest event time
//! it has seen. Records may arrive up to the lateness horizon behind that; the watermark
//! (newest − horizon) is the time before which nothing more is expected, so a decision about
//! a moment before the watermark is final.

use serde::{Deserialize, Serialize};
use trail::EventTime;

use crate::config::DetectConfig;

/// The engine's position in event time, handed to the detectors with each record.
#[derive(Clone, Copy, Debug)]
pub struct EventClock {
    /// The newest event time seen.
    pub newest: EventTime,
    horizon: i64,
    settle: i64,
    settle_everything: bool,
}

impl EventClock {
    /// A clock at `newest` with the configuration's horizon and settle time.
    pub fn new(newest: EventTime, config: &DetectConfig) -> EventClock {
        EventClock {
            newest,
            horizon: config.horizon.millis().max(0),
            settle: config.settle.millis().max(0),
            settle_everything: false,
        }
    }

    /// The same clock, but treating every pending decision as settled (the end of input, or
    /// `serve` idle for the settle time).
    pub fn settling_everything(self) -> EventClock {
        EventClock {
            settle_everything: true,
            ..self
        }
    }

    /// True when every pending decision counts as settled.
    pub fn settles_everything(&self) -> bool {
        self.settle_everything
    }

    /// The clock a key's memory is settled by. A key whose records arrive beyond the horizon
    /// (a file from another day, a region that was silent for hours) is on a late lane: it is
    /// settled by its own newest record rather than by the stream's, so that a late file is
    /// still judged whole, in its own event time, until the input goes quiet or ends.
    pub fn in_lane(&self, lane: &Lane) -> EventClock {
        match lane.newest {
            Some(newest) if lane.late && !self.settle_everything => EventClock { newest, ..*self },
            _ => *self,
        }
    }

    /// The time before which no more records are expected: newest − horizon.
    pub fn watermark(&self) -> EventTime {
        self.newest.offset(-self.horizon)
    }

    /// True when nothing that happened at or before `time` can still arrive in time, so a
    /// decision about `time` is final.
    pub fn is_final(&self, time: EventTime) -> bool {
        self.watermark() > time
    }

    /// The newest time at which a decision about `time` becomes final.
    pub fn final_at(&self, time: EventTime) -> EventTime {
        time.offset(self.horizon + 1)
    }

    /// True when a decision about `time` has waited long enough for earlier records.
    pub fn is_settled(&self, time: EventTime) -> bool {
        self.settle_everything || self.newest >= self.settled_at(time) || self.is_final(time)
    }

    /// The newest time at which a decision about `time` is settled.
    pub fn settled_at(&self, time: EventTime) -> EventTime {
        time.offset(self.settle)
    }
}

/// Where one key's own records stand: the newest, and whether the latest came beyond the
/// horizon (see [`EventClock::in_lane`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lane {
    newest: Option<EventTime>,
    late: bool,
}

impl Lane {
    /// Notes a record of the key at `time`, arriving when the stream is at `clock`.
    pub fn observe(&mut self, time: EventTime, clock: &EventClock) {
        self.late = time < clock.watermark();
        self.newest = Some(self.newest.map_or(time, |newest| newest.max(time)));
    }

    /// True when the key's latest record came beyond the horizon.
    pub fn is_late(&self) -> bool {
        self.late
    }
}

/// How late records arrived, for the scan summary, `/metrics` and `status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lateness {
    /// Records that arrived behind the newest record seen (out of event-time order).
    pub out_of_order: u64,
    /// Records that arrived more than the horizon behind the newest record seen. They were
    /// still used where they could be; the alerts they touch may differ from a punctual run.
    pub beyond_horizon: u64,
    /// The most any record arrived behind the newest record seen before it, in milliseconds.
    pub max_behind_millis: i64,
    /// Denials that came after their principal's memory of that time was settled, and so
    /// could not be counted in a burst.
    #[serde(default)]
    pub unplaced_denials: u64,
}

impl Lateness {
    /// Counts one record arriving at `time` when the newest seen before it was `newest`.
    pub fn observe(&mut self, time: EventTime, newest: Option<EventTime>, horizon_millis: i64) {
        let Some(newest) = newest else { return };
        let behind = newest.millis() - time.millis();
        if behind > 0 {
            self.out_of_order += 1;
            self.max_behind_millis = self.max_behind_millis.max(behind);
            if behind > horizon_millis {
                self.beyond_horizon += 1;
            }
        }
    }

    /// Adds another worker's counters: counts add up, the greatest lateness stays.
    pub fn add(&mut self, other: &Lateness) {
        self.out_of_order += other.out_of_order;
        self.beyond_horizon += other.beyond_horizon;
        self.max_behind_millis = self.max_behind_millis.max(other.max_behind_millis);
        self.unplaced_denials += other.unplaced_denials;
    }
}
