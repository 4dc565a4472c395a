//! The detection core of tripkey: canary use, instance credential exfiltration, denial
//! bursts and canary integrity (drift and exposure).
//!
//! Pure: it takes CloudTrail [`trail::Record`]s, in any arrival order, and returns [`Alert`]s.
//! It does no I/O and never reads the wall clock: the alerts are a function of the records
//! (up to the lateness horizon, see docs/detection-order.md), so replaying old logs gives the
//! alerts the live run gave. Stateful detectors keep their memory behind [`DetectorState`].

#![warn(missing_docs)]

pub mod alert;
pub mod canary;
pub mod clock;
pub mod config;
pub mod denial;
pub mod engine;
pub mod exfiltration;
pub mod integrity;
pub mod playbook;
pub(crate) mod revision;
pub mod state;

pub use alert::{
    Alert, AlertStatus, CallContext, CanaryDetails, CanaryMatchKind, DenialBurstDetails, Details,
    ExfiltrationDetails, ExfiltrationReason, ForeignVpcEndpointDetails, IntegrityDetails, Rule,
    SeenBy, Severity,
};
pub use canary::{Canary, CanaryRegistry, RegistryError, ReportedUse};
pub use clock::{EventClock, Lane, Lateness};
pub use config::{DetectConfig, Span};
pub use engine::{Engine, Position, RelevanceFilter};
pub use playbook::{playbook, Check, Playbook};
pub use state::{DetectorState, MemoryState, StateKey, StoredKey};

/// A stable 64-bit FNV-1a hash, for dedup keys that must not change between runs or versions
/// (std's hasher is randomly seeded and may change).
pub fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
