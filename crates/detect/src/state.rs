//! The stateful detectors' memory, behind a trait so that the same detectors run on an
//! in-memory table (`scan`) and on a database-backed one.
//!
//! Memory is kept per key: an instance (its role session name) for the exfiltration
//! detector, a principal for denial bursts. Each key also has a wake time: the newest event
//! time at which its detector has something to settle (a decision to release, a burst to
//! close, memory to forget), so that advancing event time touches only the keys that are due.
//! Values are plain data (serde) so that a database implementation can store them as they are.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use trail::EventTime;

use crate::denial::PrincipalDenials;
use crate::exfiltration::InstanceHistory;

/// A key of the detectors' memory.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum StateKey {
    /// An instance, by its id (the role session name of its credentials).
    Instance(String),
    /// A principal whose denials are counted.
    Principal(String),
}

/// Storage for the stateful detectors.
pub trait DetectorState {
    /// What is kept about an instance.
    fn instance(&self, instance_id: &str) -> Option<&InstanceHistory>;
    /// Removes and returns what is kept about an instance, to change it.
    fn take_instance(&mut self, instance_id: &str) -> Option<InstanceHistory>;
    /// Keeps an instance's memory.
    fn put_instance(&mut self, instance_id: &str, history: InstanceHistory);
    /// Removes and returns a principal's denials, to change them.
    fn take_principal(&mut self, principal: &str) -> Option<PrincipalDenials>;
    /// Keeps a principal's denials.
    fn put_principal(&mut self, principal: &str, denials: PrincipalDenials);
    /// Sets (or, with `None`, clears) the newest event time at which a key must be settled.
    fn set_wake(&mut self, key: &StateKey, at: Option<EventTime>);
    /// Removes and returns the keys whose wake time is at or before `newest`, earliest first.
    fn take_due(&mut self, newest: EventTime) -> Vec<StateKey>;
    /// Every key with memory.
    fn keys(&self) -> Vec<StateKey>;
}

/// Detector state held in memory, for `scan` and tests; `serve` persists it as JSON with each
/// committed batch.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(from = "SavedState")]
pub struct MemoryState {
    instances: HashMap<String, InstanceHistory>,
    principals: HashMap<String, PrincipalDenials>,
    wakes: BTreeSet<(EventTime, StateKey)>,
    #[serde(skip_serializing)]
    wake_of: HashMap<StateKey, EventTime>,
}

/// [`MemoryState`] as saved: the wake index is rebuilt from the wakes.
#[derive(Deserialize)]
struct SavedState {
    instances: HashMap<String, InstanceHistory>,
    principals: HashMap<String, PrincipalDenials>,
    wakes: BTreeSet<(EventTime, StateKey)>,
}

impl From<SavedState> for MemoryState {
    fn from(saved: SavedState) -> MemoryState {
        let wake_of = saved
            .wakes
            .iter()
            .map(|(at, key)| (key.clone(), *at))
            .collect();
        MemoryState {
            instances: saved.instances,
            principals: saved.principals,
            wakes: saved.wakes,
            wake_of,
        }
    }
}

impl MemoryState {
    /// Instances and principals kept.
    pub fn len(&self) -> usize {
        self.instances.len() + self.principals.len()
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl DetectorState for MemoryState {
    fn instance(&self, instance_id: &str) -> Option<&InstanceHistory> {
        self.instances.get(instance_id)
    }

    fn take_instance(&mut self, instance_id: &str) -> Option<InstanceHistory> {
        self.instances.remove(instance_id)
    }

    fn put_instance(&mut self, instance_id: &str, history: InstanceHistory) {
        self.instances.insert(instance_id.to_owned(), history);
    }

    fn take_principal(&mut self, principal: &str) -> Option<PrincipalDenials> {
        self.principals.remove(principal)
    }

    fn put_principal(&mut self, principal: &str, denials: PrincipalDenials) {
        self.principals.insert(principal.to_owned(), denials);
    }

    fn set_wake(&mut self, key: &StateKey, at: Option<EventTime>) {
        if let Some(previous) = self.wake_of.remove(key) {
            self.wakes.remove(&(previous, key.clone()));
        }
        if let Some(at) = at {
            self.wake_of.insert(key.clone(), at);
            self.wakes.insert((at, key.clone()));
        }
    }

    fn take_due(&mut self, newest: EventTime) -> Vec<StateKey> {
        let mut due = Vec::new();
        while let Some((at, _)) = self.wakes.first() {
            if *at > newest {
                break;
            }
            let (_, key) = self.wakes.pop_first().expect("looked at above");
            self.wake_of.remove(&key);
            due.push(key);
        }
        due
    }

    fn keys(&self) -> Vec<StateKey> {
        let mut keys: Vec<StateKey> = self
            .instances
            .keys()
            .map(|id| StateKey::Instance(id.clone()))
            .chain(
                self.principals
                    .keys()
                    .map(|principal| StateKey::Principal(principal.clone())),
            )
            .collect();
        keys.sort();
        keys
    }
}
