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

impl StateKey {
    const INSTANCE: &'static str = "instance:";
    const PRINCIPAL: &'static str = "principal:";
}

/// `instance:ID` or `principal:ARN`: the key as a database stores it.
impl std::fmt::Display for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateKey::Instance(id) => write!(f, "{}{id}", StateKey::INSTANCE),
            StateKey::Principal(arn) => write!(f, "{}{arn}", StateKey::PRINCIPAL),
        }
    }
}

impl std::str::FromStr for StateKey {
    type Err = String;

    fn from_str(text: &str) -> Result<StateKey, String> {
        if let Some(id) = text.strip_prefix(StateKey::INSTANCE) {
            Ok(StateKey::Instance(id.to_owned()))
        } else if let Some(arn) = text.strip_prefix(StateKey::PRINCIPAL) {
            Ok(StateKey::Principal(arn.to_owned()))
        } else {
            Err(format!(
                "{text:?} is not a detector state key (instance:ID or principal:ARN)"
            ))
        }
    }
}

/// One key's memory in the form a database keeps it: the detector's value as JSON, and the
/// event time at which the key is next due to be settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKey {
    /// The key.
    pub key: StateKey,
    /// What the key's detector keeps, as JSON.
    pub value: String,
    /// When the key is next due ([`DetectorState::set_wake`]); `None` when nothing is.
    pub wake_at: Option<EventTime>,
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
    /// Adds one key's memory as a database kept it ([`MemoryState::stored`]), so that a batch
    /// can run on only the keys it touches.
    pub fn load(&mut self, stored: &StoredKey) -> Result<(), serde_json::Error> {
        match &stored.key {
            StateKey::Instance(id) => {
                self.instances
                    .insert(id.clone(), serde_json::from_str(&stored.value)?);
            }
            StateKey::Principal(arn) => {
                self.principals
                    .insert(arn.clone(), serde_json::from_str(&stored.value)?);
            }
        }
        self.set_wake(&stored.key, stored.wake_at);
        Ok(())
    }

    /// The key's memory in the form a database keeps it; `None` when the detectors have
    /// forgotten the key (its row can go).
    pub fn stored(&self, key: &StateKey) -> Option<StoredKey> {
        let value = match key {
            StateKey::Instance(id) => serde_json::to_string(self.instances.get(id)?),
            StateKey::Principal(arn) => serde_json::to_string(self.principals.get(arn)?),
        }
        .expect("detector state is plain data and always serialises");
        Some(StoredKey {
            key: key.clone(),
            value,
            wake_at: self.wake_of.get(key).copied(),
        })
    }

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
