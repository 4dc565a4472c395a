//! Canary use: every call made with a canary credential is an alert.
//!
//! Records are matched by access key ID (long-term keys only: short-term `ASIA…` IDs are not
//! unique over time), by principal ARN (IAM user, federated user, role session) and by IAM
//! user name within the canary's account.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use trail::{EventTime, Record};

use crate::alert::{
    Alert, AlertStatus, CallContext, CanaryDetails, CanaryMatchKind, Details, Rule, Severity,
};

/// A canary credential as the detectors know it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    /// Unique name of the canary (for issued canaries, the principal's name).
    pub name: String,
    /// The canary's access key ID.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Earlier long-term keys of the canary that may still authenticate or show up in logs
    /// (a rotated key during its grace period); a use of any of them is a use of the canary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub former_access_key_ids: Vec<String>,
    /// The canary's principal ARN: `arn:aws:iam::A:user/PATH/NAME`,
    /// `arn:aws:sts::A:federated-user/NAME` or `arn:aws:sts::A:assumed-role/ROLE/SESSION`.
    #[serde(default)]
    pub principal_arn: Option<String>,
    /// The canary IAM user's name.
    #[serde(default)]
    pub user_name: Option<String>,
    /// The account the canary lives in; taken from `principal_arn` when not given.
    #[serde(default)]
    pub account_id: Option<String>,
    /// Where the canary was planted: owner, host, location and free labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Free text shown with every alert.
    #[serde(default)]
    pub memo: Option<String>,
    /// When the canary was revoked. tripkey's cleanup then removes its deny policy and
    /// boundary, which would otherwise be drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<EventTime>,
}

impl Canary {
    /// Whether the canary may live in `account`: the same account, or either one unknown.
    pub fn may_be_in(&self, account: Option<&str>) -> bool {
        match (self.account(), account) {
            (Some(expected), Some(actual)) => expected == actual,
            _ => true,
        }
    }

    /// The canary's account: as given, else the account field of its principal ARN.
    pub fn account(&self) -> Option<&str> {
        self.account_id
            .as_deref()
            .or_else(|| arn_account(self.principal_arn.as_deref()?))
    }
}

/// The account field (the fifth) of an ARN, when it is not empty.
pub fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|account| !account.is_empty())
}

/// Why a list of canaries cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Two canaries share a name.
    #[error("two canaries are named {0:?}; canary names must be unique")]
    DuplicateName(String),
    /// Two canaries claim the same identifier, so a use could not be attributed.
    #[error("canaries {first:?} and {second:?} both claim {identifier:?}")]
    DuplicateIdentifier {
        /// The shared identifier.
        identifier: String,
        /// The first canary claiming it.
        first: String,
        /// The second canary claiming it.
        second: String,
    },
    /// A canary has nothing to match records by.
    #[error(
        "canary {0:?} has no access_key_id, principal_arn or user_name, so no record can match it"
    )]
    NothingToMatch(String),
}

/// The canaries the detectors watch for, indexed for matching.
#[derive(Clone, Debug, Default)]
pub struct CanaryRegistry {
    canaries: Vec<Canary>,
    by_access_key: HashMap<String, usize>,
    by_arn: HashMap<String, usize>,
    by_user_name: HashMap<String, Vec<usize>>,
}

impl CanaryRegistry {
    /// Indexes `canaries`, refusing duplicates that would make a match ambiguous.
    pub fn new(canaries: Vec<Canary>) -> Result<CanaryRegistry, RegistryError> {
        let mut registry = CanaryRegistry::default();
        let mut names = HashMap::new();
        for (index, canary) in canaries.iter().enumerate() {
            if names.insert(canary.name.as_str(), index).is_some() {
                return Err(RegistryError::DuplicateName(canary.name.clone()));
            }
            if canary.access_key_id.is_none()
                && canary.principal_arn.is_none()
                && canary.user_name.is_none()
            {
                return Err(RegistryError::NothingToMatch(canary.name.clone()));
            }
            let unique = |map: &mut HashMap<String, usize>, identifier: &str| match map
                .insert(identifier.to_owned(), index)
            {
                Some(first) => Err(RegistryError::DuplicateIdentifier {
                    identifier: identifier.to_owned(),
                    first: canaries[first].name.clone(),
                    second: canary.name.clone(),
                }),
                None => Ok(()),
            };
            let long_term_keys = canary
                .access_key_id
                .iter()
                .chain(&canary.former_access_key_ids)
                .filter(|key| !key.starts_with("ASIA"));
            for key in long_term_keys {
                unique(&mut registry.by_access_key, key)?;
            }
            if let Some(arn) = canary.principal_arn.as_deref() {
                unique(&mut registry.by_arn, arn)?;
            }
            if let Some(user) = canary.user_name.as_deref() {
                registry
                    .by_user_name
                    .entry(user.to_owned())
                    .or_default()
                    .push(index);
            }
        }
        registry.canaries = canaries;
        Ok(registry)
    }

    /// The canaries, in the order given.
    pub fn canaries(&self) -> &[Canary] {
        &self.canaries
    }

    /// True when there are no canaries.
    pub fn is_empty(&self) -> bool {
        self.canaries.is_empty()
    }

    /// Whether `access_key_id` is one of the canaries' long-term keys, current or former.
    pub fn is_canary_key(&self, access_key_id: &str) -> bool {
        self.by_access_key.contains_key(access_key_id)
    }

    /// The canary whose long-term key, current or former, `access_key_id` is.
    pub fn by_access_key(&self, access_key_id: &str) -> Option<&Canary> {
        let index = *self.by_access_key.get(access_key_id)?;
        Some(&self.canaries[index])
    }

    /// The IAM-user canary called `user` that may live in `account`.
    pub fn by_user_name(&self, user: &str, account: Option<&str>) -> Option<&Canary> {
        self.by_user_name
            .get(user)?
            .iter()
            .map(|&index| &self.canaries[index])
            .find(|canary| canary.may_be_in(account))
    }

    /// The canary a record's caller is, if any, and how it matched.
    pub fn match_record(&self, record: &Record<'_>) -> Option<(&Canary, CanaryMatchKind)> {
        let identity = &record.fields.user_identity;
        if let Some(&index) = identity
            .access_key_id
            .as_deref()
            .and_then(|key| self.by_access_key.get(key))
        {
            return Some((&self.canaries[index], CanaryMatchKind::AccessKeyId));
        }
        if let Some(&index) = identity.arn.as_deref().and_then(|arn| self.by_arn.get(arn)) {
            return Some((&self.canaries[index], CanaryMatchKind::PrincipalArn));
        }
        if identity.identity_type.as_deref() == Some("IAMUser") {
            let caller_account = identity
                .account_id
                .as_deref()
                .or_else(|| arn_account(identity.arn.as_deref()?));
            return self
                .by_user_name(identity.user_name.as_deref()?, caller_account)
                .map(|canary| (canary, CanaryMatchKind::UserName));
        }
        None
    }

    /// The canary-use alert for a record, if its caller is a canary.
    pub fn detect(&self, record: &Record<'_>) -> Option<Alert> {
        let (canary, matched_by) = self.match_record(record)?;
        let call = CallContext::of(record);
        let occurrence = call
            .event_id
            .clone()
            .unwrap_or_else(|| format!("{:016x}", crate::fingerprint(record.raw.get())));
        let summary = format!(
            "Canary {:?} used: {}:{} from {} in {}{}",
            canary.name,
            service_name(&call.event_source),
            call.event_name,
            call.source_ip.as_deref().unwrap_or("unknown IP"),
            call.region,
            call.error_code
                .as_deref()
                .map(|code| format!(" ({code})"))
                .unwrap_or_default(),
        );
        Some(Alert {
            dedup_key: format!("{}:{}:{occurrence}", Rule::CanaryUse, canary.name),
            rule: Rule::CanaryUse,
            severity: Severity::Critical,
            status: AlertStatus::Final,
            summary,
            event_time: record.fields.event_time,
            call,
            details: Details::Canary(CanaryDetails {
                canary: canary.name.clone(),
                matched_by,
                labels: canary.labels.clone(),
                memo: canary.memo.clone(),
            }),
            record: record.raw_one_line(),
            withdrawn_because: None,
            replaces: Vec::new(),
        })
    }
}

/// A use of a canary's key as IAM reports it (`iam:GetAccessKeyLastUsed` or the credential
/// report), rather than as CloudTrail logged it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReportedUse {
    /// The key that was used.
    pub access_key_id: String,
    /// IAM's last-used date.
    pub at: EventTime,
    /// The service called, e.g. `s3`, when IAM knows it.
    pub service: Option<String>,
    /// The region called, when IAM knows it.
    pub region: Option<String>,
}

impl Canary {
    /// The canary-use alert for a use IAM reports. The safety net for calls CloudTrail does not
    /// log: the alert has no CloudTrail record, so its `record` is what IAM said, and its dedup
    /// key names the last-used date, so each reported use alerts once.
    pub fn reported_use_alert(&self, used: &ReportedUse) -> Alert {
        let service = used.service.as_deref().unwrap_or("an unknown service");
        let region = used.region.as_deref().unwrap_or("an unknown region");
        let summary = format!(
            "Canary {:?} used: IAM reports key {} last used at {} for {service} in {region} \
             (a call CloudTrail may not log)",
            self.name, used.access_key_id, used.at
        );
        let record = serde_json::json!({ "accessKeyLastUsed": used });
        Alert {
            dedup_key: format!(
                "{}:{}:last-used:{}:{}",
                Rule::CanaryUse,
                self.name,
                used.access_key_id,
                used.at.0
            ),
            rule: Rule::CanaryUse,
            severity: Severity::Critical,
            status: AlertStatus::Final,
            summary,
            event_time: used.at,
            call: CallContext {
                principal: self.principal_arn.clone(),
                access_key_id: Some(used.access_key_id.clone()),
                account_id: self.account().map(str::to_owned),
                event_source: used
                    .service
                    .as_deref()
                    .map(|service| format!("{service}.amazonaws.com"))
                    .unwrap_or_default(),
                region: used.region.clone().unwrap_or_default(),
                ..CallContext::default()
            },
            details: Details::Canary(CanaryDetails {
                canary: self.name.clone(),
                matched_by: CanaryMatchKind::LastUsed,
                labels: self.labels.clone(),
                memo: self.memo.clone(),
            }),
            record: serde_json::value::to_raw_value(&record)
                .expect("a JSON value always serialises"),
            withdrawn_because: None,
            replaces: Vec::new(),
        }
    }
}

/// `s3` from `s3.amazonaws.com`, for summaries in the `service:Action` form people know.
pub(crate) fn service_name(event_source: &str) -> &str {
    event_source
        .strip_suffix(".amazonaws.com")
        .unwrap_or(event_source)
}
