//! Canary use: every call made with a canary credential is an alert.
//!
//! Records are matched by access key ID (long-term keys only: short-term `ASIA…` IDs are not
//! unique over time), by principal ARN (IAM user, federated user, role session) and by IAM
//! user name within the canary's account.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use trail::Record;

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
}

impl Canary {
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
            if let Some(key) = canary
                .access_key_id
                .as_deref()
                .filter(|key| !key.starts_with("ASIA"))
            {
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
            let candidates = identity
                .user_name
                .as_deref()
                .and_then(|user| self.by_user_name.get(user))?;
            let caller_account = identity
                .account_id
                .as_deref()
                .or_else(|| arn_account(identity.arn.as_deref()?));
            return candidates.iter().find_map(|&index| {
                let canary = &self.canaries[index];
                let same_account = match (canary.account(), caller_account) {
                    (Some(expected), Some(actual)) => expected == actual,
                    _ => true,
                };
                same_account.then_some((canary, CanaryMatchKind::UserName))
            });
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
            record: record.raw.clone().into_owned(),
        })
    }
}

/// `s3` from `s3.amazonaws.com`, for summaries in the `service:Action` form people know.
pub(crate) fn service_name(event_source: &str) -> &str {
    event_source
        .strip_suffix(".amazonaws.com")
        .unwrap_or(event_source)
}
