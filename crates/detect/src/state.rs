//! The stateful detectors' memory, behind a trait so that the same detectors run on an
//! in-memory table (`scan`) and on a database-backed one (`serve`, which must survive restarts).
//!
//! Values are plain data (serde) so that a database implementation can store them as they are.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use trail::EventTime;

use crate::alert::CallContext;

/// What is known about one EC2 instance's role session (a row of the instance credential
/// table).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceSession {
    /// The instance the credentials were issued to (the AssumeRole session name).
    pub instance_id: String,
    /// The instance role's ARN.
    pub role_arn: String,
    /// When the row stops being trusted unless EC2 assumes the role again.
    pub expires_at: EventTime,
    /// The IPs the session is locked to.
    pub locked_ips: Vec<IpAddr>,
    /// Discriminators of alerts already raised for this session, so that repeated calls from
    /// the same address raise one alert rather than one per call.
    pub alerted: BTreeSet<String>,
}

/// IP-change credits of one instance: each successful `AssociateAddress` or
/// `AttachNetworkInterface` naming the instance lets its session take one new public IP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpChangeCredits {
    /// Credits not yet used.
    pub unused: u32,
    /// When unused credits lapse.
    pub expires_at: EventTime,
}

/// One denial remembered in a principal's sliding window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenialMark {
    /// When the denied call was made.
    pub time: EventTime,
    /// The denied action.
    pub event_name: String,
    /// The error code.
    pub error_code: String,
    /// The region called.
    pub region: String,
}

/// An open (or just closed) burst of denials from one principal.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Burst {
    /// The first denial of the burst.
    pub first_time: EventTime,
    /// The denial that opened the burst.
    pub trigger_time: EventTime,
    /// The latest denial of the burst.
    pub last_time: EventTime,
    /// Denials in the burst.
    pub count: u64,
    /// Distinct denied actions.
    pub event_names: BTreeSet<String>,
    /// Distinct error codes.
    pub error_codes: BTreeSet<String>,
    /// Distinct regions.
    pub regions: BTreeSet<String>,
    /// The call that opened the burst.
    pub trigger_call: CallContext,
    /// The record that opened the burst.
    pub trigger_record: Box<RawValue>,
}

/// A principal's denial history: the sliding window, and the burst it is in, if any.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DenialTrack {
    /// Recent denials, oldest first, at most the threshold's worth.
    pub window: VecDeque<DenialMark>,
    /// The burst in progress.
    pub burst: Option<Burst>,
}

impl DenialTrack {
    /// The time of the newest denial seen.
    pub fn last_time(&self) -> Option<EventTime> {
        let window_last = self.window.back().map(|mark| mark.time);
        let burst_last = self.burst.as_ref().map(|burst| burst.last_time);
        window_last.max(burst_last)
    }
}

/// Storage for the stateful detectors. Keys are session ARNs, instance IDs and principal keys.
pub trait DetectorState {
    /// The instance session row for a role session ARN.
    fn instance_session(&self, session_arn: &str) -> Option<&InstanceSession>;
    /// Inserts or replaces a session row.
    fn put_instance_session(&mut self, session_arn: &str, session: InstanceSession);
    /// Drops every session row for which `keep` returns false.
    fn retain_instance_sessions(&mut self, keep: &mut dyn FnMut(&str, &InstanceSession) -> bool);

    /// The IP-change credits of an instance.
    fn ip_change_credits(&self, instance_id: &str) -> Option<&IpChangeCredits>;
    /// Inserts or replaces an instance's credits.
    fn put_ip_change_credits(&mut self, instance_id: &str, credits: IpChangeCredits);
    /// Drops every credit entry for which `keep` returns false.
    fn retain_ip_change_credits(&mut self, keep: &mut dyn FnMut(&str, &IpChangeCredits) -> bool);

    /// A principal's denial track.
    fn denial_track(&self, principal: &str) -> Option<&DenialTrack>;
    /// Inserts or replaces a principal's denial track.
    fn put_denial_track(&mut self, principal: &str, track: DenialTrack);
    /// Removes and returns a principal's denial track.
    fn remove_denial_track(&mut self, principal: &str) -> Option<DenialTrack>;
    /// The principals whose newest denial is older than `before`.
    fn denial_principals_idle_since(&self, before: EventTime) -> Vec<String>;
    /// Every principal with a denial track.
    fn denial_principals(&self) -> Vec<String>;
}

/// Detector state held in memory, for `scan` and tests; `serve` persists it as JSON with each
/// committed batch.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MemoryState {
    sessions: HashMap<String, InstanceSession>,
    credits: HashMap<String, IpChangeCredits>,
    denials: HashMap<String, DenialTrack>,
}

impl DetectorState for MemoryState {
    fn instance_session(&self, session_arn: &str) -> Option<&InstanceSession> {
        self.sessions.get(session_arn)
    }

    fn put_instance_session(&mut self, session_arn: &str, session: InstanceSession) {
        self.sessions.insert(session_arn.to_owned(), session);
    }

    fn retain_instance_sessions(&mut self, keep: &mut dyn FnMut(&str, &InstanceSession) -> bool) {
        self.sessions.retain(|arn, session| keep(arn, session));
    }

    fn ip_change_credits(&self, instance_id: &str) -> Option<&IpChangeCredits> {
        self.credits.get(instance_id)
    }

    fn put_ip_change_credits(&mut self, instance_id: &str, credits: IpChangeCredits) {
        self.credits.insert(instance_id.to_owned(), credits);
    }

    fn retain_ip_change_credits(&mut self, keep: &mut dyn FnMut(&str, &IpChangeCredits) -> bool) {
        self.credits
            .retain(|instance, credits| keep(instance, credits));
    }

    fn denial_track(&self, principal: &str) -> Option<&DenialTrack> {
        self.denials.get(principal)
    }

    fn put_denial_track(&mut self, principal: &str, track: DenialTrack) {
        self.denials.insert(principal.to_owned(), track);
    }

    fn remove_denial_track(&mut self, principal: &str) -> Option<DenialTrack> {
        self.denials.remove(principal)
    }

    fn denial_principals_idle_since(&self, before: EventTime) -> Vec<String> {
        self.denials
            .iter()
            .filter(|(_, track)| track.last_time().is_none_or(|last| last < before))
            .map(|(principal, _)| principal.clone())
            .collect()
    }

    fn denial_principals(&self) -> Vec<String> {
        self.denials.keys().cloned().collect()
    }
}
