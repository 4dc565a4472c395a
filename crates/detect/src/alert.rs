//! The alert model shared by every detector (and later by the last-used poller).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use trail::{EventTime, Record};

pub use crate::integrity::{IntegrityDetails, SeenBy};

/// Which detector raised an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// A canary credential was used.
    CanaryUse,
    /// An EC2 instance's role credentials were used away from the instance.
    InstanceCredentialExfiltration,
    /// An instance session called through a VPC endpoint owned by an account that is not yours.
    ForeignVpcEndpoint,
    /// A burst of AccessDenied-type errors from one principal.
    AccessDeniedBurst,
    /// A canary gained a way to act (a policy, a group, a password, a key tripkey did not
    /// make) or lost what stops it acting (its boundary or deny policy).
    CanaryDrift,
    /// AWS found a canary's key in public and quarantined it.
    CanaryExposed,
}

impl Rule {
    /// Every rule, in the order the documentation lists them.
    pub const ALL: [Rule; 6] = [
        Rule::CanaryUse,
        Rule::InstanceCredentialExfiltration,
        Rule::ForeignVpcEndpoint,
        Rule::AccessDeniedBurst,
        Rule::CanaryDrift,
        Rule::CanaryExposed,
    ];

    /// The rule id as written in output and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::CanaryUse => "canary-use",
            Rule::InstanceCredentialExfiltration => "instance-credential-exfiltration",
            Rule::ForeignVpcEndpoint => "foreign-vpc-endpoint",
            Rule::AccessDeniedBurst => "access-denied-burst",
            Rule::CanaryDrift => "canary-drift",
            Rule::CanaryExposed => "canary-exposed",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgent an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Suspicious.
    Medium,
    /// Likely compromise.
    High,
    /// A credential nobody should ever use was used.
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        })
    }
}

/// Whether an alert can still change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// Raised, and may be updated under the same dedup key (an open denial burst).
    Open,
    /// In its final form: no record that arrives within the lateness horizon can change it.
    Final,
    /// Taken back: records that arrived late showed it rested on a wrong premise (see
    /// [`Alert::withdrawn_because`]).
    Withdrawn,
}

impl AlertStatus {
    /// The status as written in output and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Final => "final",
            AlertStatus::Withdrawn => "withdrawn",
        }
    }
}

/// One alert. Alerts with the same `dedup_key` are versions of the same alert; the later one
/// replaces the earlier.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    /// Stable identity of the alert: the same detection always gets the same key, so a replay
    /// or a redelivered file never makes a second alert.
    pub dedup_key: String,
    /// The detector that raised it.
    pub rule: Rule,
    /// How urgent it is.
    pub severity: Severity,
    /// Whether it can still be updated.
    pub status: AlertStatus,
    /// One line for a person. Built from attacker-controlled text: escape it for the output.
    pub summary: String,
    /// Event time of the record that raised the alert.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub event_time: EventTime,
    /// What the triggering record says about the call.
    #[serde(flatten)]
    pub call: CallContext,
    /// Rule-specific facts.
    pub details: Details,
    /// The triggering record, unchanged.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub record: Box<RawValue>,
    /// Why the alert was withdrawn, when its status is [`AlertStatus::Withdrawn`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn_because: Option<String>,
    /// Dedup keys this alert takes the place of: late records showed that what was raised
    /// under them is this same detection (a denial burst that started earlier than first
    /// seen, or two bursts that were one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaces: Vec<String>,
}

impl Alert {
    /// The one canary the alert is about, when there is one: a canary's use, or a change to
    /// a single canary's integrity.
    pub fn canary(&self) -> Option<&str> {
        match &self.details {
            Details::Canary(canary) => Some(&canary.canary),
            Details::CanaryDrift(change) | Details::CanaryExposed(change) => {
                match change.canaries.as_slice() {
                    [only] => Some(only),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// What the alert is about: the canary's name, or the principal (a denial burst's
    /// principal key, an instance session's ARN). Repeats for one subject are grouped and
    /// rate-limited together.
    pub fn subject(&self) -> &str {
        match &self.details {
            Details::Canary(canary) => &canary.canary,
            Details::DenialBurst(burst) => &burst.principal_key,
            Details::Exfiltration(exfiltration) => &exfiltration.session_arn,
            Details::ForeignVpcEndpoint(foreign) => &foreign.session_arn,
            Details::CanaryDrift(change) | Details::CanaryExposed(change) => &change.subject,
        }
    }
}

/// The facts of the call that raised an alert, copied from the record.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallContext {
    /// The caller's ARN.
    pub principal: Option<String>,
    /// `userIdentity.type`.
    pub identity_type: Option<String>,
    /// The access key the call was signed with.
    pub access_key_id: Option<String>,
    /// The caller's account.
    pub account_id: Option<String>,
    /// `sourceIPAddress`.
    pub source_ip: Option<String>,
    /// `eventName`.
    pub event_name: String,
    /// `eventSource`.
    pub event_source: String,
    /// `awsRegion`.
    pub region: String,
    /// `userAgent`.
    pub user_agent: Option<String>,
    /// `errorCode`.
    pub error_code: Option<String>,
    /// `eventID`.
    pub event_id: Option<String>,
    /// `vpcEndpointId`.
    pub vpc_endpoint_id: Option<String>,
}

impl CallContext {
    /// Copies the call's facts out of a record.
    pub fn of(record: &Record<'_>) -> CallContext {
        let fields = &record.fields;
        let identity = &fields.user_identity;
        CallContext {
            principal: identity.arn.as_deref().map(str::to_owned),
            identity_type: identity.identity_type.as_deref().map(str::to_owned),
            access_key_id: identity.access_key_id.as_deref().map(str::to_owned),
            account_id: identity.account_id.as_deref().map(str::to_owned),
            source_ip: fields.source_ip_address.as_deref().map(str::to_owned),
            event_name: fields.event_name.to_string(),
            event_source: fields.event_source.to_string(),
            region: fields.aws_region.to_string(),
            user_agent: fields.user_agent.as_deref().map(str::to_owned),
            error_code: fields.error_code.as_deref().map(str::to_owned),
            event_id: fields.event_id.as_deref().map(str::to_owned),
            vpc_endpoint_id: fields.vpc_endpoint_id.as_deref().map(str::to_owned),
        }
    }
}

/// Rule-specific facts of an alert.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Details {
    /// A canary was used.
    Canary(CanaryDetails),
    /// Instance credentials were used away from the instance.
    Exfiltration(ExfiltrationDetails),
    /// A VPC endpoint of a foreign account carried an instance session's call.
    ForeignVpcEndpoint(ForeignVpcEndpointDetails),
    /// A burst of denials.
    DenialBurst(DenialBurstDetails),
    /// A canary gained a way to act.
    CanaryDrift(IntegrityDetails),
    /// AWS found a canary's key in public.
    CanaryExposed(IntegrityDetails),
}

/// Which canary was used and how it was recognised.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CanaryDetails {
    /// The canary's unique name.
    pub canary: String,
    /// How the record matched the canary.
    pub matched_by: CanaryMatchKind,
    /// Where the canary was planted: owner, host, location and free labels.
    pub labels: BTreeMap<String, String>,
    /// The free-text memo given when the canary was planted.
    pub memo: Option<String>,
}

/// How a record was matched to a canary.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum CanaryMatchKind {
    /// `userIdentity.accessKeyId` is the canary's long-term key.
    AccessKeyId,
    /// `userIdentity.arn` is the canary's principal ARN.
    PrincipalArn,
    /// `userIdentity.userName` is the canary user's name (in the canary's account).
    UserName,
    /// IAM reports a use of the canary's key (its last-used date), which catches calls that
    /// CloudTrail does not log.
    LastUsed,
}

impl fmt::Display for CanaryMatchKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CanaryMatchKind::AccessKeyId => "access key ID",
            CanaryMatchKind::PrincipalArn => "principal ARN",
            CanaryMatchKind::UserName => "user name",
            CanaryMatchKind::LastUsed => "IAM last-used date",
        })
    }
}

/// Why an instance session's use looks like it came from somewhere other than the instance.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ExfiltrationReason {
    /// A public IP (or a private IP without a VPC endpoint) that is not locked to the session.
    NewIp,
    /// A second private IP through a VPC endpoint.
    NewPrivateIp,
    /// A user agent outside the role's allowlist.
    UserAgentNotAllowed,
    /// Credentials delivered by IMDSv1, when configured to alert on those.
    ImdsV1Delivery,
}

/// Facts of an instance credential exfiltration alert.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExfiltrationDetails {
    /// Why the use alerted.
    pub reason: ExfiltrationReason,
    /// The role session ARN, `arn:aws:sts::A:assumed-role/ROLE/INSTANCE`.
    pub session_arn: String,
    /// The instance the credentials were issued to.
    pub instance_id: String,
    /// The IPs the session was locked to when the alert was raised.
    pub locked_ips: Vec<String>,
    /// The IP of the offending call.
    pub offending_ip: String,
    /// True when `sessionContext.ec2RoleDelivery` is "1.0": the credentials were fetched with
    /// IMDSv1, which SSRF can reach.
    pub imds_v1: bool,
}

/// Facts of a foreign VPC endpoint alert.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ForeignVpcEndpointDetails {
    /// The role session ARN.
    pub session_arn: String,
    /// The instance the credentials were issued to.
    pub instance_id: String,
    /// The account that owns the VPC endpoint.
    pub vpc_endpoint_account_id: String,
}

/// Facts of a denial burst.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DenialBurstDetails {
    /// The principal (ARN, else access key ID) the burst is counted for.
    pub principal_key: String,
    /// Denials in the burst so far.
    pub count: u64,
    /// Distinct event names denied.
    pub event_names: Vec<String>,
    /// Distinct error codes.
    pub error_codes: Vec<String>,
    /// Distinct regions.
    pub regions: Vec<String>,
    /// The first denial of the burst.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub first_time: EventTime,
    /// The denial that opened the burst.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub trigger_time: EventTime,
    /// The latest denial of the burst.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub last_time: EventTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::ReportedUse;
    use crate::Canary;

    #[test]
    fn every_rule_is_listed_once_under_its_serde_name() {
        // The match stops compiling when a rule is added, until it is given a place in ALL.
        let place = |rule: Rule| match rule {
            Rule::CanaryUse => 0,
            Rule::InstanceCredentialExfiltration => 1,
            Rule::ForeignVpcEndpoint => 2,
            Rule::AccessDeniedBurst => 3,
            Rule::CanaryDrift => 4,
            Rule::CanaryExposed => 5,
        };
        for (index, rule) in Rule::ALL.into_iter().enumerate() {
            assert_eq!(place(rule), index);
            assert_eq!(serde_json::to_value(rule).unwrap(), rule.as_str());
        }
    }

    #[test]
    fn an_alert_reads_back_as_it_was_written() {
        let canary = Canary {
            name: "svc-billing-sync".to_owned(),
            access_key_id: Some("AKIARTX3GSDS5ZZ46JLN".to_owned()),
            principal_arn: Some("arn:aws:iam::111122223333:user/svc-billing-sync".to_owned()),
            memo: Some("CI \"secret\"\n<script>".to_owned()),
            labels: BTreeMap::from([("host".to_owned(), "build-07".to_owned())]),
            former_access_key_ids: Vec::new(),
            user_name: None,
            account_id: None,
            revoked_at: None,
        };
        let alert = canary.reported_use_alert(&ReportedUse {
            access_key_id: "AKIARTX3GSDS5ZZ46JLN".to_owned(),
            at: EventTime(1_700_000_000_000),
            service: Some("sqs".to_owned()),
            region: Some("eu-west-1".to_owned()),
        });
        let written = serde_json::to_string(&alert).unwrap();
        let read: Alert = serde_json::from_str(&written).unwrap();
        assert_eq!(read.dedup_key, alert.dedup_key);
        assert_eq!(read.details, alert.details);
        assert_eq!(read.call, alert.call);
        assert_eq!(read.record.get(), alert.record.get());
        assert_eq!(serde_json::to_string(&read).unwrap(), written);
    }
}
