//! Instance credential exfiltration (Will Bengtson, "Detecting Credential Compromise in AWS").
//!
//! EC2 fetches an instance role's credentials with `sts:AssumeRole` from
//! `ec2.amazonaws.com`, naming the session after the instance. Each such record covers the
//! session for the TTL; the first address the session calls from (first by event time) locks
//! it, and a call from a new public address is an alert unless the instance was given a new
//! address (a credit) before it. The numbered steps are those of DESIGN.md.
//!
//! Records arrive in any order. Each instance keeps, per session and coverage period, the
//! first use of each address and of each flagged trait (user agent, IMDSv1, a foreign VPC
//! endpoint), the coverage its AssumeRole records give, and its credits. From these the
//! decisions are worked out again whenever something new arrives, in event-time order, and
//! compared with the alerts raised: a new alert waits for the settle time, a changed one is
//! revised, and one that rested on a wrong premise (the address was in fact the first, or a
//! credit explains it) is withdrawn. Decisions about moments before the watermark are final.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use trail::{EventTime, Record};

use crate::alert::{
    Alert, AlertStatus, CallContext, Details, ExfiltrationDetails, ExfiltrationReason,
    ForeignVpcEndpointDetails, Rule, Severity,
};
use crate::canary::{arn_account, service_name};
use crate::clock::{EventClock, Lane};
use crate::config::{wildcard_match, ExfiltrationConfig, RolePolicy};
use crate::denial::tiebreak;
use crate::revision::{raise_changes, Revision};

/// The most addresses (and flagged traits) a session keeps per coverage period. An instance
/// calls from one or two; past the cap, further ones are not kept (nor judged).
pub const MAX_ADDRESSES_PER_SESSION: usize = 32;

/// The most first uses a session keeps while no AssumeRole record covers them: one per
/// address, trait and minute, for the horizon (a late AssumeRole may yet cover any minute of
/// it). Past the cap, further ones are not kept.
pub const MAX_UNCOVERED_USES_PER_SESSION: usize = 1024;

/// The most credits an instance keeps unsettled.
pub const MAX_CREDITS_PER_INSTANCE: usize = 64;

/// Everything the detector keeps about one instance (its id is the role session name).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct InstanceHistory {
    /// IP-change credits (successful `AssociateAddress`, `AttachNetworkInterface`) since
    /// `credit_base.as_of`, sorted.
    credits: Vec<EventTime>,
    /// The credit counter as it stood at `as_of`, with the credits before folded in.
    credit_base: CreditCounter,
    /// The instance's role sessions by session ARN.
    sessions: BTreeMap<String, SessionHistory>,
    /// The latest version raised of each alert that is not yet final.
    raised: Vec<Alert>,
    /// The instance's own newest record, and whether it came beyond the horizon.
    #[serde(default)]
    lane: Lane,
}

/// Step 9's credits in the order DESIGN.md counts them: each grant adds one unused credit (or
/// starts again at one once the earlier ones lapsed) and moves the lapse to TTL after it.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct CreditCounter {
    unused: u32,
    lapses_at: Option<EventTime>,
    as_of: Option<EventTime>,
}

impl CreditCounter {
    fn grant(&mut self, at: EventTime, ttl: i64) {
        self.unused = match self.lapses_at {
            Some(lapses) if lapses >= at => self.unused + 1,
            _ => 1,
        };
        self.lapses_at = Some(at.offset(ttl));
    }

    fn take(&mut self, at: EventTime) -> bool {
        let available = self.unused > 0 && self.lapses_at.is_some_and(|lapses| lapses >= at);
        if available {
            self.unused -= 1;
        }
        available
    }
}

/// One role session of an instance.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct SessionHistory {
    /// The role's ARN, from the AssumeRole record.
    role_arn: Option<String>,
    /// The periods EC2's AssumeRole records cover, merged and sorted: each record covers the
    /// TTL after it, and a record within an earlier one's TTL extends that period (a refresh
    /// keeps the locked addresses).
    coverage: Vec<Period>,
    /// The first use of each address and flagged trait, per period.
    uses: Vec<FirstUse>,
    /// The alerts raised in their final form (by discriminator: an address or trait), with
    /// their time: a session alerts once per address or trait, even in a later period.
    #[serde(default)]
    alerted: BTreeMap<String, EventTime>,
}

/// How long a session remembers the alerts it raised, so as not to raise them again.
const ALERT_MEMORY_MILLIS: i64 = 24 * EventTime::HOUR;

/// A stretch of event time during which the session's credentials are known to be an
/// instance's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Period {
    start: EventTime,
    end: EventTime,
}

/// What a first use is the first use of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Trait {
    /// An address (steps 6–9).
    Address,
    /// A flagged trait (step 11, and a VPC endpoint of a foreign account), with its alert's
    /// discriminator.
    Flag(Flag),
}

/// A trait of a call that alerts whatever the address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Flag {
    /// A user agent outside the role's allowlist (its fingerprint).
    UserAgent(u64),
    /// Credentials delivered by IMDSv1.
    ImdsV1,
    /// A VPC endpoint of an account that is not yours.
    ForeignEndpoint(String),
}

impl Flag {
    fn discriminator(&self) -> String {
        match self {
            Flag::UserAgent(fingerprint) => format!("user-agent:{fingerprint:016x}"),
            Flag::ImdsV1 => "imds-v1".to_owned(),
            Flag::ForeignEndpoint(account) => format!("vpce-account:{account}"),
        }
    }
}

/// The earliest call seen with one address or flagged trait in one period (`period` is its
/// start). While no AssumeRole record covers it (`period` is `None`), the earliest in each
/// minute is kept: periods start on a whole minute, so a late AssumeRole finds the first use
/// it covers exactly.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct FirstUse {
    what: Trait,
    ip: IpAddr,
    period: Option<EventTime>,
    time: EventTime,
    tiebreak: u64,
    /// The call came through a VPC endpoint (step 8).
    via_endpoint: bool,
    /// The call and record, for the alert; dropped once the decision is final.
    call: Option<CallContext>,
    record: Option<Box<RawValue>>,
    imds_v1: bool,
    /// The decision, once it is final.
    decided: Option<Decision>,
}

impl FirstUse {
    fn position(&self) -> (EventTime, u64) {
        (self.time, self.tiebreak)
    }

    /// What the alert of this first use is about, in its dedup key.
    fn discriminator(&self) -> String {
        match &self.what {
            Trait::Address => format!("ip:{}", self.ip),
            Trait::Flag(flag) => flag.discriminator(),
        }
    }

    /// True when both are candidates for the first use of the same thing: the same trait (and
    /// address) in the same period, or in the same minute while uncovered.
    fn is_first_use_of_same(&self, other: &FirstUse) -> bool {
        self.what == other.what
            && self.period == other.period
            && (self.what != Trait::Address || self.ip == other.ip)
            && (self.period.is_some() || minute_of(self.time) == minute_of(other.time))
    }
}

/// The start of the minute `time` falls in.
fn minute_of(time: EventTime) -> EventTime {
    EventTime(time.millis().div_euclid(EventTime::MINUTE) * EventTime::MINUTE)
}

/// What became of a first use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Decision {
    /// The address was locked (step 6, or 8).
    Lock,
    /// The address was locked with a credit (step 9).
    LockWithCredit,
    /// It alerted (step 9, 8, or 11).
    Alert,
}

/// A call made with role session credentials, as the detector reads it.
struct SessionCall<'r> {
    session_arn: &'r str,
    ip: IpAddr,
    time: EventTime,
    tiebreak: u64,
    via_endpoint: bool,
    flags: Vec<Flag>,
    record: &'r Record<'r>,
}

/// What a record means to this detector.
pub enum Observation<'r> {
    /// An AssumeRole by EC2 (step 1), covering the session from its time.
    Seed {
        /// The instance.
        instance_id: &'r str,
        /// The session it covers.
        session_arn: String,
        /// The instance's role.
        role_arn: &'r str,
    },
    /// A credit for the instance (step 9).
    Credit {
        /// The instance.
        instance_id: &'r str,
    },
    /// A call with role session credentials from an address (steps 3–11).
    Use {
        /// The instance the session would belong to: the session name.
        instance_id: &'r str,
    },
}

impl<'r> Observation<'r> {
    /// The instance the record is about.
    pub fn instance_id(&self) -> &'r str {
        match self {
            Observation::Seed { instance_id, .. }
            | Observation::Credit { instance_id }
            | Observation::Use { instance_id } => instance_id,
        }
    }
}

/// The exfiltration detector: configuration plus the rules; each instance's memory is an
/// [`InstanceHistory`].
#[derive(Clone, Debug)]
pub struct ExfiltrationDetector {
    config: ExfiltrationConfig,
}

impl ExfiltrationDetector {
    /// A detector with the given settings.
    pub fn new(config: ExfiltrationConfig) -> ExfiltrationDetector {
        ExfiltrationDetector { config }
    }

    /// True when the record can matter to this detector: a seed, a credit grant, or a call
    /// made with role session credentials.
    pub fn is_relevant(record: &Record<'_>) -> bool {
        instance_session_call(record).is_some() || is_seed_shape(record) || is_credit_shape(record)
    }

    /// What the record is to this detector, and which instance it is about.
    pub fn observe<'r>(&self, record: &'r Record<'_>) -> Option<Observation<'r>> {
        if let Some(seed) = seed(record) {
            return Some(seed);
        }
        if let Some(instance_id) = credit_grant(record) {
            return Some(Observation::Credit { instance_id });
        }
        instance_session_call(record).map(|instance_id| Observation::Use { instance_id })
    }

    /// True when the record would change nothing the instance already knows: a call from an
    /// address (with traits) already seen earlier in its period. Most calls are; this lets
    /// the engine skip them without touching the state.
    pub fn adds_nothing(&self, history: &InstanceHistory, record: &Record<'_>) -> bool {
        let Some(call) = self.session_call(record) else {
            return true;
        };
        let Some(session) = history.sessions.get(call.session_arn) else {
            return false;
        };
        let period = session.period_of(call.time);
        let known = |what: &Trait| {
            session.uses.iter().any(|seen| {
                seen.what == *what
                    && seen.period == period
                    && (*what != Trait::Address || seen.ip == call.ip)
                    && (period.is_some() || minute_of(seen.time) == minute_of(call.time))
                    && seen.position() <= (call.time, call.tiebreak)
            })
        };
        known(&Trait::Address)
            && call
                .flags
                .iter()
                .all(|flag| known(&Trait::Flag(flag.clone())))
    }

    /// Adds what the record tells about the instance, works the decisions out again and
    /// raises what changed. Returns whether the instance still needs its memory.
    pub fn apply(
        &self,
        observation: &Observation<'_>,
        history: &mut InstanceHistory,
        record: &Record<'_>,
        clock: &EventClock,
        updates: bool,
        alerts: &mut Vec<Alert>,
    ) -> bool {
        let time = record.fields.event_time;
        history.lane.observe(time, clock);
        match observation {
            Observation::Seed {
                session_arn,
                role_arn,
                ..
            } => {
                let session = history.sessions.entry(session_arn.clone()).or_default();
                session.role_arn = Some((*role_arn).to_owned());
                session.cover(time, self.config.ttl.millis());
            }
            Observation::Credit { .. } => {
                if history.credit_base.as_of.is_none_or(|as_of| time >= as_of) {
                    let at = history.credits.partition_point(|credit| *credit <= time);
                    history.credits.insert(at, time);
                    if history.credits.len() > MAX_CREDITS_PER_INSTANCE {
                        let oldest = history.credits.remove(0);
                        history.credit_base.grant(oldest, self.config.ttl.millis());
                    }
                }
            }
            Observation::Use { .. } => {
                if let Some(call) = self.session_call(record) {
                    history
                        .sessions
                        .entry(call.session_arn.to_owned())
                        .or_default()
                        .add_use(&call);
                }
            }
        }
        self.settle(history, clock, updates, alerts)
    }

    /// Works the instance's decisions out again, raises what changed, freezes what the
    /// watermark has passed and forgets what can no longer matter. Returns whether the
    /// instance still needs its memory. Call it when [`Self::wake_at`] comes.
    pub fn settle(
        &self,
        history: &mut InstanceHistory,
        clock: &EventClock,
        updates: bool,
        alerts: &mut Vec<Alert>,
    ) -> bool {
        let clock = &clock.in_lane(&history.lane);
        let watermark = clock.watermark();
        let walk = self.walk(history, clock);
        let mut current = Vec::new();
        for outcome in &walk.alerts {
            let first_use = &history.sessions[&outcome.session_arn].uses[outcome.use_index];
            let key = outcome.dedup_key(first_use);
            let raised_before = history.raised.iter().any(|alert| alert.dedup_key == key);
            if raised_before || clock.is_settled(first_use.time) {
                if let Some(alert) = self.alert(outcome, first_use, clock) {
                    current.push(alert);
                }
            }
        }
        let reasons = &walk.withdrawal_reasons;
        history.raised = raise_changes(
            std::mem::take(&mut history.raised),
            current,
            &Revision {
                updates,
                replaces: &|_, _| false,
                withdrawn_because: &|alert| {
                    reasons.get(&alert.dedup_key).cloned().unwrap_or_else(|| {
                        "records that arrived late show the instance's first address was not \
                         what this alert assumed"
                            .to_owned()
                    })
                },
            },
            alerts,
        );

        for (session_arn, decisions) in walk.decisions {
            let session = history
                .sessions
                .get_mut(&session_arn)
                .expect("decisions are of kept sessions");
            for (index, decision) in decisions {
                let first_use = &mut session.uses[index];
                if first_use.decided.is_none() && clock.is_final(first_use.time) {
                    first_use.decided = Some(decision);
                    first_use.call = None;
                    first_use.record = None;
                    if decision == Decision::Alert {
                        session
                            .alerted
                            .entry(first_use.discriminator())
                            .or_insert(first_use.time);
                    }
                }
            }
        }
        history.credit_base = walk.base;
        history.credits.retain(|credit| *credit >= watermark);
        for session in history.sessions.values_mut() {
            session.coverage.retain(|period| period.end >= watermark);
            session
                .alerted
                .retain(|_, time| time.offset(ALERT_MEMORY_MILLIS) >= watermark);
            let coverage = &session.coverage;
            session.uses.retain(|first_use| match first_use.period {
                Some(start) => coverage.iter().any(|period| period.start == start),
                None => first_use.time >= watermark,
            });
        }
        history.sessions.retain(|_, session| {
            !session.coverage.is_empty() || !session.uses.is_empty() || !session.alerted.is_empty()
        });
        let credits_matter = !history.credits.is_empty()
            || history
                .credit_base
                .lapses_at
                .is_some_and(|lapses| lapses >= watermark && history.credit_base.unused > 0);
        !history.sessions.is_empty() || credits_matter || !history.raised.is_empty()
    }

    /// The newest event time at which [`Self::settle`] has something to do for the instance.
    pub fn wake_at(&self, history: &InstanceHistory, clock: &EventClock) -> Option<EventTime> {
        if history.lane.is_late() {
            // Settled by its own records, and when the input goes quiet or ends.
            return None;
        }
        let mut wake: Option<EventTime> = None;
        let mut at = |time: EventTime| wake = Some(wake.map_or(time, |wake| wake.min(time)));
        for session in history.sessions.values() {
            for period in &session.coverage {
                at(clock.final_at(period.end));
            }
            for time in session.alerted.values() {
                at(clock.final_at(time.offset(ALERT_MEMORY_MILLIS)));
            }
            for first_use in session.uses.iter().filter(|u| u.decided.is_none()) {
                at(clock.final_at(first_use.time));
                if !clock.is_settled(first_use.time) {
                    at(clock.settled_at(first_use.time));
                }
            }
        }
        for credit in &history.credits {
            at(clock.final_at(*credit));
        }
        if let Some(lapses) = history.credit_base.lapses_at {
            if history.credit_base.unused > 0 {
                at(clock.final_at(lapses));
            }
        }
        for alert in &history.raised {
            at(clock.final_at(alert.event_time));
        }
        wake
    }

    /// Steps 6–9 and 11 over the instance's first uses in event-time order, from the credit
    /// counter as it stood at the watermark last time.
    fn walk(&self, history: &InstanceHistory, clock: &EventClock) -> Walk {
        let ttl = self.config.ttl.millis();
        let watermark = clock.watermark();
        let mut order: Vec<(&str, usize, (EventTime, u64))> = Vec::new();
        for (session_arn, session) in &history.sessions {
            for (index, first_use) in session.uses.iter().enumerate() {
                if first_use.period.is_some() {
                    order.push((session_arn, index, first_use.position()));
                }
            }
        }
        order.sort_by(|a, b| (a.2, a.0, a.1).cmp(&(b.2, b.0, b.1)));

        let mut walk = Walk {
            base: history.credit_base,
            ..Walk::default()
        };
        let mut counter = history.credit_base;
        let counted_from = counter.as_of;
        let mut credits = history.credits.iter().peekable();
        let mut locked: BTreeMap<(&str, EventTime), Vec<IpAddr>> = BTreeMap::new();
        let mut alerted: BTreeSet<(&str, String)> = history
            .sessions
            .iter()
            .flat_map(|(session_arn, session)| {
                session
                    .alerted
                    .keys()
                    .map(move |discriminator| (session_arn.as_str(), discriminator.clone()))
            })
            .collect();
        let mut based = false;
        let mut rebase = |counter: &CreditCounter, walk: &mut Walk, before: EventTime| {
            if !based && before >= watermark {
                walk.base = CreditCounter {
                    as_of: Some(watermark.max(counter.as_of.unwrap_or(watermark))),
                    ..*counter
                };
                based = true;
            }
        };
        for (session_arn, index, (time, _)) in order {
            while let Some(credit) = credits.next_if(|credit| **credit <= time) {
                rebase(&counter, &mut walk, *credit);
                counter.grant(*credit, ttl);
            }
            rebase(&counter, &mut walk, time);
            let session = &history.sessions[session_arn];
            let first_use = &session.uses[index];
            let period = first_use.period.expect("only covered uses are walked");
            let counts_credit = counted_from.is_none_or(|from| time >= from);
            let locks = locked.entry((session_arn, period)).or_default();
            let decision = match (&first_use.what, first_use.decided) {
                (_, Some(decided)) => {
                    if decided == Decision::LockWithCredit && counts_credit {
                        counter.unused = counter.unused.saturating_sub(1);
                    }
                    decided
                }
                (Trait::Address, None) => {
                    if locks.is_empty() {
                        Decision::Lock
                    } else if is_private(first_use.ip) && first_use.via_endpoint {
                        if locks.iter().any(|locked| is_private(*locked)) {
                            Decision::Alert
                        } else {
                            Decision::Lock
                        }
                    } else if counts_credit && counter.take(time) {
                        Decision::LockWithCredit
                    } else {
                        Decision::Alert
                    }
                }
                (Trait::Flag(_), None) => Decision::Alert,
            };
            let locked_before = locks.clone();
            if matches!(decision, Decision::Lock | Decision::LockWithCredit) {
                locks.push(first_use.ip);
            }
            walk.decisions
                .entry(session_arn.to_owned())
                .or_default()
                .push((index, decision));
            if decision == Decision::Alert {
                let discriminator = first_use.discriminator();
                // One alert per session and address (or trait): the earliest, even when it
                // is already final.
                let first_alert = alerted.insert((session_arn, discriminator));
                if first_alert && first_use.decided.is_none() {
                    walk.alerts.push(Outcome {
                        session_arn: session_arn.to_owned(),
                        use_index: index,
                        locked_before,
                        reason: match &first_use.what {
                            Trait::Address
                                if is_private(first_use.ip) && first_use.via_endpoint =>
                            {
                                ExfiltrationReason::NewPrivateIp
                            }
                            Trait::Address => ExfiltrationReason::NewIp,
                            Trait::Flag(Flag::UserAgent(_)) => {
                                ExfiltrationReason::UserAgentNotAllowed
                            }
                            Trait::Flag(Flag::ImdsV1) => ExfiltrationReason::ImdsV1Delivery,
                            Trait::Flag(Flag::ForeignEndpoint(_)) => ExfiltrationReason::NewIp,
                        },
                        role_arn: session.role_arn.clone().unwrap_or_default(),
                        instance_id: instance_of(session_arn).to_owned(),
                    });
                }
            } else if first_use.what == Trait::Address {
                let reason = match decision {
                    Decision::Lock => Some(format!(
                        "a call from {} at {time} that arrived late shows it was the session's first address",
                        first_use.ip
                    )),
                    Decision::LockWithCredit => Some(format!(
                        "an AssociateAddress or AttachNetworkInterface that arrived late gave the instance a new address before {} was first used at {time}",
                        first_use.ip
                    )),
                    _ => None,
                };
                if let Some(reason) = reason {
                    let key = format!(
                        "{}:{session_arn}:ip:{}",
                        Rule::InstanceCredentialExfiltration,
                        first_use.ip
                    );
                    walk.withdrawal_reasons.entry(key).or_insert(reason);
                }
            }
        }
        for credit in credits {
            rebase(&counter, &mut walk, *credit);
            counter.grant(*credit, ttl);
        }
        rebase(&counter, &mut walk, EventTime(i64::MAX));
        walk
    }

    /// Steps 3–5 and the traits step 11 looks at: the call, if it is one this detector judges.
    fn session_call<'r>(&self, record: &'r Record<'r>) -> Option<SessionCall<'r>> {
        let fields = &record.fields;
        if fields.user_identity.identity_type.as_deref() != Some("AssumedRole") {
            return None;
        }
        let session_arn = fields.user_identity.arn.as_deref()?;
        // Step 4: a service name instead of an IP is AWS acting for you.
        let ip = fields
            .source_ip_address
            .as_deref()
            .and_then(|text| text.parse::<IpAddr>().ok())?;
        // Step 5.
        if self.config.allow_cidrs.iter().any(|net| net.contains(&ip)) {
            return None;
        }
        let mut flags = Vec::new();
        let role_account = arn_account(session_arn).unwrap_or_default();
        if let Some(endpoint_account) = fields.vpc_endpoint_account_id.as_deref() {
            let ours = endpoint_account == role_account
                || self
                    .config
                    .own_accounts
                    .iter()
                    .any(|account| account == endpoint_account);
            if !ours {
                flags.push(Flag::ForeignEndpoint(endpoint_account.to_owned()));
            }
        }
        // Step 11, judged from the call itself so that it does not depend on whether the
        // AssumeRole record has arrived: the role is the session's issuer (its ARN has the
        // role's path), else the one the session ARN names.
        let role_arn = match fields.user_identity.session_issuer_arn() {
            Some(issuer) => issuer.to_owned(),
            None => role_arn_of(session_arn),
        };
        let policy = self.role_policy(&role_arn);
        let user_agent = fields.user_agent.as_deref().unwrap_or("");
        if policy.is_some_and(|policy| {
            !policy.user_agents.is_empty()
                && !policy
                    .user_agents
                    .iter()
                    .any(|pattern| wildcard_match(pattern, user_agent))
        }) {
            flags.push(Flag::UserAgent(crate::fingerprint(user_agent)));
        }
        let alert_on_imds_v1 = policy
            .and_then(|policy| policy.alert_on_imds_v1)
            .unwrap_or(self.config.alert_on_imds_v1);
        if alert_on_imds_v1 && fields.user_identity.ec2_role_delivery() == Some("1.0") {
            flags.push(Flag::ImdsV1);
        }
        Some(SessionCall {
            session_arn,
            ip,
            time: fields.event_time,
            tiebreak: tiebreak(record),
            via_endpoint: fields.vpc_endpoint_id.is_some(),
            flags,
            record,
        })
    }

    fn role_policy(&self, role_arn: &str) -> Option<&RolePolicy> {
        let role_name = role_arn.rsplit('/').next().unwrap_or(role_arn);
        self.config.roles.iter().find(|role| {
            wildcard_match(&role.role, role_name) || wildcard_match(&role.role, role_arn)
        })
    }

    /// Step 10: the alert for an outcome, or `None` when its call is no longer kept.
    fn alert(&self, outcome: &Outcome, first_use: &FirstUse, clock: &EventClock) -> Option<Alert> {
        let call = first_use.call.clone()?;
        let record = first_use.record.clone()?;
        let session_arn = outcome.session_arn.as_str();
        let status = if clock.is_final(first_use.time) {
            AlertStatus::Final
        } else {
            AlertStatus::Open
        };
        let ip = first_use.ip;
        if let Trait::Flag(Flag::ForeignEndpoint(endpoint_account)) = &first_use.what {
            return Some(Alert {
                dedup_key: outcome.dedup_key(first_use),
                rule: Rule::ForeignVpcEndpoint,
                severity: Severity::Medium,
                status,
                summary: format!(
                    "Role credentials of instance {} called {}:{} through a VPC endpoint of account {endpoint_account}, which is not one of yours",
                    outcome.instance_id,
                    service_name(&call.event_source),
                    call.event_name,
                ),
                event_time: first_use.time,
                details: Details::ForeignVpcEndpoint(ForeignVpcEndpointDetails {
                    session_arn: session_arn.to_owned(),
                    instance_id: outcome.instance_id.clone(),
                    vpc_endpoint_account_id: endpoint_account.clone(),
                }),
                call,
                record,
                withdrawn_because: None,
                replaces: Vec::new(),
            });
        }
        let role_name = outcome.role_arn.rsplit('/').next().unwrap_or_default();
        let role_name = if role_name.is_empty() {
            session_arn.rsplit('/').nth(1).unwrap_or_default()
        } else {
            role_name
        };
        let why = match outcome.reason {
            ExfiltrationReason::NewIp | ExfiltrationReason::NewPrivateIp => format!(
                "used from {ip}, away from its locked IPs {}",
                join_ips(&outcome.locked_before)
            ),
            ExfiltrationReason::UserAgentNotAllowed => format!(
                "used from {ip} with user agent {:?}, not allowed for the role",
                call.user_agent.as_deref().unwrap_or("")
            ),
            ExfiltrationReason::ImdsV1Delivery => {
                format!("fetched through IMDSv1 (reachable by SSRF) and used from {ip}")
            }
        };
        Some(Alert {
            dedup_key: outcome.dedup_key(first_use),
            rule: Rule::InstanceCredentialExfiltration,
            severity: Severity::High,
            status,
            summary: format!(
                "Role credentials of instance {} ({role_name}) {why}: {}:{}{}",
                outcome.instance_id,
                service_name(&call.event_source),
                call.event_name,
                if first_use.imds_v1 {
                    " (delivered by IMDSv1)"
                } else {
                    ""
                },
            ),
            event_time: first_use.time,
            details: Details::Exfiltration(ExfiltrationDetails {
                reason: outcome.reason,
                session_arn: session_arn.to_owned(),
                instance_id: outcome.instance_id.clone(),
                locked_ips: outcome
                    .locked_before
                    .iter()
                    .map(IpAddr::to_string)
                    .collect(),
                offending_ip: ip.to_string(),
                imds_v1: first_use.imds_v1,
            }),
            call,
            record,
            withdrawn_because: None,
            replaces: Vec::new(),
        })
    }
}

/// The decisions of one pass over an instance's first uses.
#[derive(Default)]
struct Walk {
    /// Each session's decisions, by index into its uses.
    decisions: BTreeMap<String, Vec<(usize, Decision)>>,
    /// The alerts that stand, in event-time order.
    alerts: Vec<Outcome>,
    /// Why an address that alerted before no longer does, by the alert's dedup key.
    withdrawal_reasons: BTreeMap<String, String>,
    /// The credit counter at the watermark.
    base: CreditCounter,
}

/// An alert the walk found.
struct Outcome {
    session_arn: String,
    use_index: usize,
    locked_before: Vec<IpAddr>,
    reason: ExfiltrationReason,
    role_arn: String,
    instance_id: String,
}

impl Outcome {
    fn dedup_key(&self, first_use: &FirstUse) -> String {
        let rule = match &first_use.what {
            Trait::Flag(Flag::ForeignEndpoint(_)) => Rule::ForeignVpcEndpoint,
            _ => Rule::InstanceCredentialExfiltration,
        };
        format!("{rule}:{}:{}", self.session_arn, first_use.discriminator())
    }
}

impl SessionHistory {
    /// The period covering `time`, by its start.
    fn period_of(&self, time: EventTime) -> Option<EventTime> {
        self.coverage
            .iter()
            .find(|period| period.start <= time && time <= period.end)
            .map(|period| period.start)
    }

    /// Steps 1–2: an AssumeRole at `time` covers from the start of its minute to the TTL
    /// after it, joining any period it overlaps; uses now covered move into their period.
    fn cover(&mut self, time: EventTime, ttl: i64) {
        let mut period = Period {
            start: minute_of(time),
            end: time.offset(ttl),
        };
        self.coverage.retain(|other| {
            let joins = other.start <= period.end && period.start <= other.end;
            if joins {
                period.start = period.start.min(other.start);
                period.end = period.end.max(other.end);
            }
            !joins
        });
        let at = self
            .coverage
            .partition_point(|other| other.start < period.start);
        self.coverage.insert(at, period);
        self.regroup();
    }

    /// Puts each first use in the period that now covers it, keeping the earliest of two that
    /// meet in one period.
    fn regroup(&mut self) {
        let uses = std::mem::take(&mut self.uses);
        for mut first_use in uses {
            let period = match first_use.period {
                Some(start) => self.period_of(start),
                None => self.period_of(first_use.time),
            };
            first_use.period = period;
            self.merge(first_use);
        }
    }

    fn add_use(&mut self, call: &SessionCall<'_>) {
        let period = self.period_of(call.time);
        let imds_v1 = call.record.fields.user_identity.ec2_role_delivery() == Some("1.0");
        let what =
            std::iter::once(Trait::Address).chain(call.flags.iter().cloned().map(Trait::Flag));
        for what in what {
            self.merge(FirstUse {
                what,
                ip: call.ip,
                period,
                time: call.time,
                tiebreak: call.tiebreak,
                via_endpoint: call.via_endpoint,
                call: Some(CallContext::of(call.record)),
                record: Some(call.record.raw_one_line()),
                imds_v1,
                decided: None,
            });
        }
    }

    /// Keeps the earlier of a first use and the one already kept for the same thing.
    fn merge(&mut self, first_use: FirstUse) {
        let same = self
            .uses
            .iter_mut()
            .find(|kept| kept.is_first_use_of_same(&first_use));
        match same {
            Some(kept) => {
                if first_use.position() < kept.position() && kept.decided.is_none() {
                    *kept = first_use;
                }
            }
            None => {
                let in_period = self
                    .uses
                    .iter()
                    .filter(|kept| kept.period == first_use.period)
                    .count();
                let cap = match first_use.period {
                    Some(_) => MAX_ADDRESSES_PER_SESSION,
                    None => MAX_UNCOVERED_USES_PER_SESSION,
                };
                if in_period < cap {
                    self.uses.push(first_use);
                }
            }
        }
    }
}

/// The instance whose role session made the call, when the caller is a role session named
/// like an instance: EC2 names an instance profile's session after the instance, so no other
/// session (Lambda, SSO, a person's) can be one the detector tracks.
fn instance_session_call<'r>(record: &'r Record<'_>) -> Option<&'r str> {
    let identity = &record.fields.user_identity;
    if identity.identity_type.as_deref() != Some("AssumedRole") {
        return None;
    }
    let session_name = identity.arn.as_deref()?.rsplit('/').next()?;
    is_instance_id(session_name).then_some(session_name)
}

/// `i-` and hexadecimal digits, as EC2 writes instance IDs (8 or 17 digits today).
fn is_instance_id(name: &str) -> bool {
    name.strip_prefix("i-").is_some_and(|digits| {
        !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_hexdigit())
    })
}

/// The instance a role session ARN names: its session name.
fn instance_of(session_arn: &str) -> &str {
    session_arn.rsplit('/').next().unwrap_or(session_arn)
}

fn join_ips(ips: &[IpAddr]) -> String {
    let list: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
    format!("[{}]", list.join(", "))
}

fn is_seed_shape(record: &Record<'_>) -> bool {
    let fields = &record.fields;
    fields.event_name == "AssumeRole"
        && fields.event_source == "sts.amazonaws.com"
        && fields.source_ip_address.as_deref() == Some("ec2.amazonaws.com")
}

/// Step 1: the session an EC2 AssumeRole record covers. A failed call issued nothing.
fn seed<'r>(record: &'r Record<'_>) -> Option<Observation<'r>> {
    if !is_seed_shape(record) || record.fields.error_code.is_some() {
        return None;
    }
    let parameters = &record.fields.request_parameters;
    let role_arn = parameters.role_arn.as_deref()?;
    let instance_id = parameters.role_session_name.as_deref()?;
    Some(Observation::Seed {
        session_arn: session_arn(role_arn, instance_id)?,
        instance_id,
        role_arn,
    })
}

/// `arn:PARTITION:iam::ACCOUNT:role/ROLE` for a session ARN
/// `arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION` (the role's path is not in it).
fn role_arn_of(session_arn: &str) -> String {
    let mut parts = session_arn.splitn(6, ':');
    let partition = parts.nth(1).unwrap_or("aws");
    let account = parts.nth(2).unwrap_or_default();
    let role_name = session_arn.rsplit('/').nth(1).unwrap_or_default();
    format!("arn:{partition}:iam::{account}:role/{role_name}")
}

/// `arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION` for a role ARN
/// `arn:PARTITION:iam::ACCOUNT:role/PATH/ROLE`.
pub fn session_arn(role_arn: &str, session_name: &str) -> Option<String> {
    let mut parts = role_arn.splitn(6, ':');
    let (
        Some("arn"),
        Some(partition),
        Some(_service),
        Some(_region),
        Some(account),
        Some(resource),
    ) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    )
    else {
        return None;
    };
    let role_name = resource
        .rsplit('/')
        .next()
        .filter(|name| !name.is_empty())?;
    Some(format!(
        "arn:{partition}:sts::{account}:assumed-role/{role_name}/{session_name}"
    ))
}

fn is_credit_shape(record: &Record<'_>) -> bool {
    let fields = &record.fields;
    fields.event_source == "ec2.amazonaws.com"
        && matches!(
            fields.event_name.as_ref(),
            "AssociateAddress" | "AttachNetworkInterface"
        )
}

/// Step 9's credit: the instance a successful address or interface change names.
fn credit_grant<'r>(record: &'r Record<'_>) -> Option<&'r str> {
    if !is_credit_shape(record) || record.fields.error_code.is_some() {
        return None;
    }
    record.fields.request_parameters.instance_id.as_deref()
}

/// RFC 1918, carrier-grade NAT (100.64.0.0/10) and IPv6 unique local addresses (fc00::/7).
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [first, second, ..] = v4.octets();
            v4.is_private() || (first == 100 && (64..128).contains(&second))
        }
        IpAddr::V6(v6) => v6.segments()[0] & 0xfe00 == 0xfc00,
    }
}
