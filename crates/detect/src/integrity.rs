//! Canary integrity: a canary must stay powerless and private. Two rules watch CloudTrail for
//! the IAM calls that would change that.
//!
//! - `canary-drift` (critical): a canary gains a way to act, or loses what stops it acting.
//!   That is a policy attached, or an inline policy put that allows anything; a group; a
//!   console password; an access key tripkey did not make; its permissions boundary removed
//!   or replaced; its deny policy deleted; the decoy role's trust policy rewritten; or the
//!   boundary policy itself given a new version. A decoy that can act is a real key in an
//!   attacker's hands.
//! - `canary-exposed` (high): AWS found the canary's key in public. It says so twice: it
//!   attaches its quarantine policy to the user (a CloudTrail record, and a holding the IAM
//!   check sees), and it sends an AWS Health event, `AWS_RISK_CREDENTIALS_EXPOSED`, which
//!   reaches tripkey through EventBridge. Where the canary was planted is now known to the
//!   world, so it must be replaced. However AWS says it, a canary is exposed once: one alert.
//!
//! tripkey's own calls are told apart by what they do, not by who made them. The inline
//! policy it puts only denies. The keys it creates are the canary's own. The boundary it sets
//! is its boundary policy. The cleanup of a revocation comes with the revocation.
//!
//! A change has one dedup key however it was seen (this CloudTrail rule, or the periodic IAM
//! check that compares a canary with what tripkey made). So the same attached policy alerts
//! once.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use trail::{EventTime, Record, HEALTH_EVENT_SOURCE};

use crate::alert::{Alert, AlertStatus, CallContext, Details, Rule, Severity};
use crate::canary::{Canary, CanaryRegistry};

/// The deny-all permissions boundary tripkey sets on every IAM-user canary. Like the other
/// names here, it is neutral on purpose: whoever can list the account's IAM resources should
/// see nothing that says "canary".
pub const BOUNDARY_POLICY_NAME: &str = "workload-baseline-boundary";
/// The decoy role that role-session canaries assume.
pub const DECOY_ROLE_NAME: &str = "deploy-readonly";
/// The inline deny-all policy every IAM-user canary carries.
pub const INLINE_POLICY_NAME: &str = "baseline";
/// The AWS Health event type of a key AWS found in public.
pub const KEY_EXPOSED_EVENT: &str = "AWS_RISK_CREDENTIALS_EXPOSED";
/// The managed policies AWS attaches to a user whose key it found in public.
pub const QUARANTINE_POLICY_NAMES: [&str; 3] = [
    "AWSCompromisedKeyQuarantine",
    "AWSCompromisedKeyQuarantineV2",
    "AWSCompromisedKeyQuarantineV3",
];

/// How long before a canary's recorded revocation its own cleanup calls may be logged: the
/// revocation is stored once IAM has done it, so its calls come first.
const REVOCATION_SLACK_MILLIS: i64 = 15 * EventTime::MINUTE;

/// The IAM calls on a user that can change what a canary user may do.
const USER_CALLS: [&str; 9] = [
    "AttachUserPolicy",
    "PutUserPolicy",
    "DeleteUserPolicy",
    "AddUserToGroup",
    "PutUserPermissionsBoundary",
    "DeleteUserPermissionsBoundary",
    "CreateLoginProfile",
    "UpdateLoginProfile",
    "CreateAccessKey",
];
/// The IAM calls on the decoy role that can change who may assume it.
const ROLE_CALLS: [&str; 1] = ["UpdateAssumeRolePolicy"];
/// The IAM calls that can change what the boundary policy allows.
const POLICY_CALLS: [&str; 2] = ["CreatePolicyVersion", "SetDefaultPolicyVersion"];

/// How an integrity change was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum SeenBy {
    /// A CloudTrail record of the call.
    Cloudtrail,
    /// The periodic IAM check that compares a canary with what tripkey made.
    IamCheck,
    /// An AWS Health event (`AWS_RISK_CREDENTIALS_EXPOSED`).
    AwsHealth,
}

/// What changed about a canary, as `canary-drift` and `canary-exposed` alerts name it.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// A managed policy was attached to the user.
    AttachedPolicy,
    /// An inline policy that allows something was put on the user.
    InlinePolicy,
    /// The user was added to a group.
    Group,
    /// The user got a console password.
    LoginProfile,
    /// An access key tripkey did not make was created for the user.
    AccessKey,
    /// The user's permissions boundary was removed.
    BoundaryRemoved,
    /// The user's permissions boundary was replaced by another policy.
    BoundaryReplaced,
    /// tripkey's deny policy was deleted from the user.
    DenyPolicyDeleted,
    /// The decoy role's trust policy was rewritten.
    TrustPolicy,
    /// The boundary policy itself was changed.
    BoundaryPolicyChanged,
    /// AWS found the key in public.
    KeyExposed,
}

impl Change {
    /// Its name in alerts and dedup keys, e.g. `attached-policy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::AttachedPolicy => "attached-policy",
            Change::InlinePolicy => "inline-policy",
            Change::Group => "group",
            Change::LoginProfile => "login-profile",
            Change::AccessKey => "access-key",
            Change::BoundaryRemoved => "boundary-removed",
            Change::BoundaryReplaced => "boundary-replaced",
            Change::DenyPolicyDeleted => "deny-policy-deleted",
            Change::TrustPolicy => "trust-policy",
            Change::BoundaryPolicyChanged => "boundary-policy-changed",
            Change::KeyExposed => "key-exposed",
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What changed, for `canary-drift` and `canary-exposed` alerts.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntegrityDetails {
    /// What the alert is about: the canary's name, or, for what several canaries share, the
    /// decoy role (`role/NAME`) or the boundary policy's ARN.
    pub subject: String,
    /// The canaries the change affects, by name.
    pub canaries: Vec<String>,
    /// What changed.
    pub change: Change,
    /// The policy, group, key or role the change names; for `key-exposed`, the quarantine
    /// policy or the Health event's ARN.
    pub target: Option<String>,
    /// How the change was seen.
    pub seen_by: SeenBy,
    /// Where the canary was planted (for a single canary).
    pub labels: std::collections::BTreeMap<String, String>,
    /// The canary's memo (for a single canary).
    pub memo: Option<String>,
}

impl IntegrityDetails {
    /// The dedup key of this change: the same for every way it is seen. An exposure's key
    /// leaves out how AWS said it, so the quarantine policy and the Health event alert once.
    pub fn dedup_key(&self, rule: Rule) -> String {
        if rule == Rule::CanaryExposed {
            return format!("{rule}:{}:{}", self.subject, self.change);
        }
        format!(
            "{rule}:{}:{}:{}",
            self.subject,
            self.change,
            self.target.as_deref().unwrap_or("-")
        )
    }

    /// The change in a few words, for summaries.
    pub fn describe(&self) -> String {
        let target = self.target.as_deref().unwrap_or("?");
        match self.change {
            Change::AttachedPolicy => format!("policy {target} attached"),
            Change::InlinePolicy => format!("inline policy {target} that allows actions put"),
            Change::Group => format!("added to group {target}"),
            Change::LoginProfile => "console password set".to_owned(),
            Change::AccessKey => format!("access key {target} created outside tripkey"),
            Change::BoundaryRemoved => "permissions boundary removed".to_owned(),
            Change::BoundaryReplaced => format!("permissions boundary replaced by {target}"),
            Change::DenyPolicyDeleted => format!("deny policy {target} deleted"),
            Change::TrustPolicy => format!("trust policy of decoy role {target} rewritten"),
            Change::BoundaryPolicyChanged => format!("boundary policy {target} changed"),
            Change::KeyExposed if target.starts_with("arn:aws:health:") => {
                "AWS found its key in public (AWS Health event)".to_owned()
            }
            Change::KeyExposed => format!("AWS found its key in public and attached {target}"),
        }
    }
}

/// True when the record is one this module reads: a successful IAM call of one of the kinds
/// that can change a canary's powers, or AWS Health's word that a key is public.
pub fn is_relevant(record: &Record<'_>) -> bool {
    let fields = &record.fields;
    if fields.event_source == HEALTH_EVENT_SOURCE {
        return fields.event_name == KEY_EXPOSED_EVENT;
    }
    fields.event_source == "iam.amazonaws.com"
        && fields.error_code.is_none()
        && [&USER_CALLS[..], &ROLE_CALLS, &POLICY_CALLS]
            .iter()
            .any(|calls| calls.contains(&&*fields.event_name))
}

/// A change and who it touches, before it becomes an alert.
struct Found<'c> {
    rule: Rule,
    change: Change,
    target: Option<String>,
    subject: String,
    canaries: Vec<&'c Canary>,
}

impl CanaryRegistry {
    /// The `canary-drift` or `canary-exposed` alerts a record raises: an IAM call on a
    /// canary, the decoy role or the boundary policy that changes what a canary may do, or an
    /// AWS Health event naming a canary's key as public.
    pub fn integrity_alerts(&self, record: &Record<'_>) -> Vec<Alert> {
        if !is_relevant(record) {
            return Vec::new();
        }
        // What these records carry is read from the raw JSON here, rather than by the reader
        // for every record: they are rare.
        let Ok(raw) = serde_json::from_str::<Value>(record.raw.get()) else {
            return Vec::new();
        };
        if record.fields.event_source == HEALTH_EVENT_SOURCE {
            return self.exposed_by_health(&raw, record);
        }
        self.iam_call_alert(&raw, record).into_iter().collect()
    }

    /// The canaries whose keys an `AWS_RISK_CREDENTIALS_EXPOSED` event names.
    fn exposed_by_health(&self, raw: &Value, record: &Record<'_>) -> Vec<Alert> {
        let entities = raw
            .pointer("/detail/affectedEntities")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let event_arn = raw
            .pointer("/detail/eventArn")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut alerts: Vec<Alert> = Vec::new();
        for entity in entities {
            let Some(canary) = entity
                .get("entityValue")
                .and_then(Value::as_str)
                .and_then(|key| self.by_access_key(key))
            else {
                continue;
            };
            if alerts.iter().any(|alert| alert.subject() == canary.name) {
                continue;
            }
            let found = Found {
                rule: Rule::CanaryExposed,
                change: Change::KeyExposed,
                target: event_arn.clone(),
                subject: canary.name.clone(),
                canaries: vec![canary],
            };
            let call = CallContext {
                access_key_id: canary.access_key_id.clone(),
                account_id: record
                    .fields
                    .recipient_account_id
                    .as_deref()
                    .map(str::to_owned),
                ..CallContext::of(record)
            };
            alerts.push(build(
                found,
                SeenBy::AwsHealth,
                call,
                record.raw_one_line(),
                record.fields.event_time,
            ));
        }
        alerts
    }

    /// The alert an IAM call raises, if it changes what a canary may do.
    fn iam_call_alert(&self, raw: &Value, record: &Record<'_>) -> Option<Alert> {
        let parameter = |name: &str| {
            raw.get("requestParameters")
                .and_then(|parameters| parameters.get(name))
                .and_then(Value::as_str)
        };
        let fields = &record.fields;
        let account = fields
            .recipient_account_id
            .as_deref()
            .or(fields.user_identity.account_id.as_deref());
        let name = &*fields.event_name;
        let found = if USER_CALLS.contains(&name) {
            let canary = self.by_user_name(parameter("userName")?, account)?;
            let (rule, change, target) = self.user_change(name, canary, raw, record)?;
            Found {
                rule,
                change,
                target,
                subject: canary.name.clone(),
                canaries: vec![canary],
            }
        } else if ROLE_CALLS.contains(&name) {
            let role = parameter("roleName")?;
            if role != DECOY_ROLE_NAME {
                return None;
            }
            let canaries = self.in_account(account, |canary| {
                canary
                    .principal_arn
                    .as_deref()
                    .is_some_and(|arn| arn.contains(&format!(":assumed-role/{role}/")))
            })?;
            Found {
                rule: Rule::CanaryDrift,
                change: Change::TrustPolicy,
                target: Some(role.to_owned()),
                subject: format!("role/{role}"),
                canaries,
            }
        } else {
            let policy = parameter("policyArn")?;
            if policy_name(policy) != BOUNDARY_POLICY_NAME {
                return None;
            }
            let canaries = self.in_account(account, |canary| canary.user_name.is_some())?;
            Found {
                rule: Rule::CanaryDrift,
                change: Change::BoundaryPolicyChanged,
                target: Some(policy.to_owned()),
                subject: policy.to_owned(),
                canaries,
            }
        };
        Some(build(
            found,
            SeenBy::Cloudtrail,
            CallContext::of(record),
            record.raw_one_line(),
            record.fields.event_time,
        ))
    }

    /// The canaries in `account` that `wanted` picks, when there are any.
    fn in_account(
        &self,
        account: Option<&str>,
        wanted: impl Fn(&Canary) -> bool,
    ) -> Option<Vec<&Canary>> {
        let canaries: Vec<&Canary> = self
            .canaries()
            .iter()
            .filter(|canary| canary.may_be_in(account) && wanted(canary))
            .collect();
        (!canaries.is_empty()).then_some(canaries)
    }

    /// What a call on a canary user changed, or `None` for tripkey's own calls.
    fn user_change(
        &self,
        name: &str,
        canary: &Canary,
        raw: &Value,
        record: &Record<'_>,
    ) -> Option<(Rule, Change, Option<String>)> {
        let parameters = raw.get("requestParameters");
        let parameter = |key: &str| {
            parameters
                .and_then(|parameters| parameters.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let revoking = canary.revoked_at.is_some_and(|revoked| {
            record.fields.event_time >= revoked.offset(-REVOCATION_SLACK_MILLIS)
        });
        let drift = |change, target| Some((Rule::CanaryDrift, change, target));
        match name {
            "AttachUserPolicy" => {
                let policy = parameter("policyArn")?;
                if QUARANTINE_POLICY_NAMES.contains(&policy_name(&policy)) {
                    Some((Rule::CanaryExposed, Change::KeyExposed, Some(policy)))
                } else {
                    drift(Change::AttachedPolicy, Some(policy))
                }
            }
            "PutUserPolicy" => {
                let document = parameter("policyDocument");
                if document.as_deref().is_some_and(only_denies) {
                    return None;
                }
                drift(Change::InlinePolicy, parameter("policyName"))
            }
            "DeleteUserPolicy" if !revoking => {
                drift(Change::DenyPolicyDeleted, parameter("policyName"))
            }
            "AddUserToGroup" => drift(Change::Group, parameter("groupName")),
            "PutUserPermissionsBoundary" => {
                let boundary = parameter("permissionsBoundary");
                if boundary
                    .as_deref()
                    .is_some_and(|arn| policy_name(arn) == BOUNDARY_POLICY_NAME)
                {
                    return None;
                }
                drift(Change::BoundaryReplaced, boundary)
            }
            "DeleteUserPermissionsBoundary" if !revoking => drift(Change::BoundaryRemoved, None),
            "CreateLoginProfile" | "UpdateLoginProfile" => drift(Change::LoginProfile, None),
            "CreateAccessKey" => {
                let key = raw
                    .pointer("/responseElements/accessKey/accessKeyId")
                    .and_then(Value::as_str);
                if key.is_some_and(|key| self.is_canary_key(key)) {
                    return None;
                }
                drift(Change::AccessKey, key.map(str::to_owned))
            }
            _ => None,
        }
    }
}

/// The name of a managed policy from its ARN (`arn:aws:iam::A:policy/PATH/NAME`).
fn policy_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Whether a policy document (as CloudTrail records it: JSON text) has only `Deny`
/// statements, as tripkey's inline policy does. Anything unreadable counts as allowing.
fn only_denies(document: &str) -> bool {
    let Ok(policy) = serde_json::from_str::<Value>(document) else {
        return false;
    };
    let statements = match policy.get("Statement") {
        Some(Value::Array(statements)) => statements.iter().collect::<Vec<_>>(),
        Some(statement @ Value::Object(_)) => vec![statement],
        _ => return false,
    };
    !statements.is_empty()
        && statements
            .iter()
            .all(|statement| statement.get("Effect").and_then(Value::as_str) == Some("Deny"))
}

/// What IAM says an IAM-user canary holds, as the periodic check reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IamHoldings {
    /// ARNs of the managed policies attached to the user.
    pub attached_policies: Vec<String>,
    /// Inline policies: (name, JSON document).
    pub inline_policies: Vec<(String, String)>,
    /// The groups the user is in.
    pub groups: Vec<String>,
    /// The permissions boundary's ARN.
    pub permissions_boundary: Option<String>,
    /// Whether the user has a console password.
    pub login_profile: bool,
    /// The IDs of the user's access keys.
    pub access_keys: Vec<String>,
}

/// One difference the periodic check found: rule, change, target, and the IAM read that
/// showed it.
type Difference = (Rule, Change, Option<String>, &'static str);

/// The integrity alerts for an IAM-user canary as IAM shows it at `at`: one for every
/// holding beyond what tripkey made (no managed policy, inline policies that only deny, no
/// group, tripkey's boundary, no console password, only keys for which `is_own_key` holds).
/// Each has the dedup key the CloudTrail rule gives the same change, so a change seen both
/// ways alerts once.
pub fn check_holdings(
    canary: &Canary,
    holdings: &IamHoldings,
    is_own_key: impl Fn(&str) -> bool,
    at: EventTime,
) -> Vec<Alert> {
    let mut found: Vec<Difference> = Vec::new();
    for policy in &holdings.attached_policies {
        let (rule, change) = if QUARANTINE_POLICY_NAMES.contains(&policy_name(policy)) {
            (Rule::CanaryExposed, Change::KeyExposed)
        } else {
            (Rule::CanaryDrift, Change::AttachedPolicy)
        };
        found.push((
            rule,
            change,
            Some(policy.clone()),
            "ListAttachedUserPolicies",
        ));
    }
    for (name, document) in &holdings.inline_policies {
        if !only_denies(document) {
            found.push((
                Rule::CanaryDrift,
                Change::InlinePolicy,
                Some(name.clone()),
                "GetUserPolicy",
            ));
        }
    }
    for group in &holdings.groups {
        found.push((
            Rule::CanaryDrift,
            Change::Group,
            Some(group.clone()),
            "ListGroupsForUser",
        ));
    }
    match &holdings.permissions_boundary {
        None => found.push((Rule::CanaryDrift, Change::BoundaryRemoved, None, "GetUser")),
        Some(boundary) if policy_name(boundary) != BOUNDARY_POLICY_NAME => found.push((
            Rule::CanaryDrift,
            Change::BoundaryReplaced,
            Some(boundary.clone()),
            "GetUser",
        )),
        Some(_) => {}
    }
    if holdings.login_profile {
        found.push((
            Rule::CanaryDrift,
            Change::LoginProfile,
            None,
            "GetLoginProfile",
        ));
    }
    for key in &holdings.access_keys {
        if !is_own_key(key) {
            found.push((
                Rule::CanaryDrift,
                Change::AccessKey,
                Some(key.clone()),
                "ListAccessKeys",
            ));
        }
    }
    let record = serde_json::json!({
        "iamCheck": { "userName": canary.user_name, "holdings": holdings }
    });
    let record = RawValue::from_string(record.to_string()).expect("serde_json writes valid JSON");
    found
        .into_iter()
        .map(|(rule, change, target, read)| {
            let call = CallContext {
                principal: canary.principal_arn.clone(),
                identity_type: Some("IAMUser".to_owned()),
                account_id: canary.account().map(str::to_owned),
                event_name: read.to_owned(),
                event_source: "iam.amazonaws.com".to_owned(),
                ..CallContext::default()
            };
            let found = Found {
                rule,
                change,
                target,
                subject: canary.name.clone(),
                canaries: vec![canary],
            };
            build(found, SeenBy::IamCheck, call, record.clone(), at)
        })
        .collect()
}

fn build(
    found: Found<'_>,
    seen_by: SeenBy,
    call: CallContext,
    record: Box<RawValue>,
    event_time: EventTime,
) -> Alert {
    let single = (found.canaries.len() == 1).then(|| found.canaries[0]);
    let details = IntegrityDetails {
        subject: found.subject,
        canaries: found
            .canaries
            .iter()
            .map(|canary| canary.name.clone())
            .collect(),
        change: found.change,
        target: found.target,
        seen_by,
        labels: single
            .map(|canary| canary.labels.clone())
            .unwrap_or_default(),
        memo: single.and_then(|canary| canary.memo.clone()),
    };
    let who = match single {
        Some(canary) => format!("Canary {:?}", canary.name),
        None => format!("{} canaries ({})", details.canaries.len(), details.subject),
    };
    let how = match seen_by {
        SeenBy::Cloudtrail => format!(
            "by {}",
            call.principal.as_deref().unwrap_or("an unknown caller")
        ),
        SeenBy::IamCheck => "(found by tripkey's IAM check)".to_owned(),
        SeenBy::AwsHealth => "(reported by AWS Health)".to_owned(),
    };
    let (severity, summary) = match found.rule {
        Rule::CanaryExposed => (
            Severity::High,
            format!("{who} exposed: {}", details.describe()),
        ),
        _ => (
            Severity::Critical,
            format!("{who} drifted: {} {how}", details.describe()),
        ),
    };
    let dedup_key = details.dedup_key(found.rule);
    let details = match found.rule {
        Rule::CanaryExposed => Details::CanaryExposed(details),
        _ => Details::CanaryDrift(details),
    };
    Alert {
        dedup_key,
        rule: found.rule,
        severity,
        status: AlertStatus::Final,
        summary,
        event_time,
        call,
        details,
        record,
        withdrawn_because: None,
        replaces: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::Change;

    #[test]
    fn a_change_is_written_and_read_by_the_name_its_dedup_key_uses() {
        let every = [
            Change::AttachedPolicy,
            Change::InlinePolicy,
            Change::Group,
            Change::LoginProfile,
            Change::AccessKey,
            Change::BoundaryRemoved,
            Change::BoundaryReplaced,
            Change::DenyPolicyDeleted,
            Change::TrustPolicy,
            Change::BoundaryPolicyChanged,
            Change::KeyExposed,
        ];
        for change in every {
            let json = serde_json::to_value(change).unwrap();
            assert_eq!(json, change.as_str());
            assert_eq!(serde_json::from_value::<Change>(json).unwrap(), change);
        }
    }
}
