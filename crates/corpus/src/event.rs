//! One planned CloudTrail record: who called what, when, where from, and how it ended. The
//! rest of the record (IDs, request details) is drawn when it is rendered.

use crate::catalog::Api;
use crate::world::{Actor, SourceIp, REGIONS};

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Success.
    Ok,
    /// Denied because no policy allows it.
    Denied,
    /// Denied by an explicit deny (the canaries' deny-all policy).
    DeniedExplicit,
    /// The resource does not exist.
    NotFound,
    /// Throttled.
    Throttled,
}

impl Outcome {
    /// True for the outcomes the denial-burst detector counts.
    pub fn is_denial(self) -> bool {
        matches!(self, Outcome::Denied | Outcome::DeniedExplicit)
    }
}

/// The call went through a VPC endpoint (source is the instance's private address).
pub const VIA_VPCE: u8 = 1;
/// Ground truth: the first call of an instance-credential exfiltration alert.
pub const EXPECT_EXFILTRATION: u8 = 2;
/// Ground truth: the first denial of a denial-burst alert.
pub const EXPECT_BURST: u8 = 4;

/// One planned record.
#[derive(Clone, Debug)]
pub struct Event {
    /// Event time, Unix seconds.
    pub time: i64,
    /// Who called.
    pub actor: Actor,
    /// What was called.
    pub api: Api,
    /// The account whose trail records the call.
    pub account: u16,
    /// The region the call went to (index into [`REGIONS`]).
    pub region: u8,
    /// How it ended.
    pub outcome: Outcome,
    /// `VIA_VPCE`, `EXPECT_*` bits.
    pub flags: u8,
    /// A source other than the actor's usual one (an attacker, a new address).
    pub ip: Option<SourceIp>,
    /// A user agent other than the actor's usual one.
    pub agent: Option<&'static str>,
    /// The call signs with the credentials the actor held this many seconds earlier (a stolen
    /// instance key stays valid after the instance has fetched fresh ones).
    pub key_lag: u32,
    /// API-specific subject: the instance an `AssociateAddress` or `AssumeRole` is for, the
    /// user an IAM call is about, the session an `AssumeRole` starts.
    pub arg: u32,
    /// The planted episode this record belongs to (0 = background).
    pub episode: u16,
    /// How late the file holding this record is delivered, in percent of the corpus's
    /// lateness (`--max-lateness`); 0 for the usual delivery.
    pub late_percent: u8,
}

impl Event {
    /// A successful call by `actor` in `account`; IAM and other global calls land in
    /// `us-east-1` whatever `region` says.
    pub fn new(time: i64, actor: Actor, api: Api, account: usize, region: u8) -> Event {
        debug_assert!((region as usize) < REGIONS.len());
        Event {
            time,
            actor,
            api,
            account: account as u16,
            region: if api.spec().global {
                crate::world::US_EAST_1
            } else {
                region
            },
            outcome: Outcome::Ok,
            flags: 0,
            ip: None,
            agent: None,
            key_lag: 0,
            arg: 0,
            episode: 0,
            late_percent: 0,
        }
    }

    /// Sets the outcome.
    pub fn outcome(mut self, outcome: Outcome) -> Event {
        self.outcome = outcome;
        self
    }

    /// Sets the source address.
    pub fn ip(mut self, ip: SourceIp) -> Event {
        self.ip = Some(ip);
        self
    }

    /// Sets the user agent.
    pub fn agent(mut self, agent: &'static str) -> Event {
        self.agent = Some(agent);
        self
    }

    /// Sets the API-specific subject.
    pub fn arg(mut self, arg: usize) -> Event {
        self.arg = arg as u32;
        self
    }

    /// Has the file holding this record delivered `percent` of the corpus's lateness late.
    pub fn late(mut self, percent: u8) -> Event {
        self.late_percent = percent;
        self
    }

    /// Adds flag bits.
    pub fn flag(mut self, bits: u8) -> Event {
        self.flags |= bits;
        self
    }

    /// The time whose credentials sign the call.
    pub fn key_time(&self) -> i64 {
        self.time - i64::from(self.key_lag)
    }
}
