//! Instance credential exfiltration (Will Bengtson, "Detecting Credential Compromise in AWS").
//!
//! EC2 fetches an instance role's credentials with `sts:AssumeRole` from
//! `ec2.amazonaws.com`, naming the session after the instance. Each such record seeds a row for
//! the session; the first IP the session calls from locks it, and a call from a new public IP
//! is an alert unless the instance was just given a new address. The numbered steps below are
//! those of DESIGN.md.

use std::net::IpAddr;

use trail::{EventTime, Record};

use crate::alert::{
    Alert, AlertStatus, CallContext, Details, ExfiltrationDetails, ExfiltrationReason,
    ForeignVpcEndpointDetails, Rule, Severity,
};
use crate::canary::{arn_account, service_name};
use crate::config::{wildcard_match, ExfiltrationConfig, RolePolicy};
use crate::state::{DetectorState, InstanceSession, IpChangeCredits};

/// The exfiltration detector: configuration plus the rules; its memory is a [`DetectorState`].
#[derive(Clone, Debug)]
pub struct ExfiltrationDetector {
    config: ExfiltrationConfig,
}

/// The session a seeding AssumeRole record creates.
struct Seed<'r> {
    session_arn: String,
    instance_id: &'r str,
    role_arn: &'r str,
}

impl ExfiltrationDetector {
    /// A detector with the given settings.
    pub fn new(config: ExfiltrationConfig) -> ExfiltrationDetector {
        ExfiltrationDetector { config }
    }

    /// True when the record can matter to this detector: a seed, a credit grant, or a call
    /// made with role session credentials.
    pub fn is_relevant(record: &Record<'_>) -> bool {
        let fields = &record.fields;
        fields.user_identity.identity_type.as_deref() == Some("AssumedRole")
            || is_seed_shape(record)
            || is_credit_shape(record)
    }

    /// Runs steps 1–11 on one record, in event-time order.
    pub fn process(
        &self,
        record: &Record<'_>,
        state: &mut dyn DetectorState,
        alerts: &mut Vec<Alert>,
    ) {
        let now = record.fields.event_time;
        if let Some(seed) = seed(record) {
            self.apply_seed(&seed, now, state);
            return;
        }
        if let Some(instance_id) = credit_grant(record) {
            let credits = match state.ip_change_credits(instance_id) {
                Some(credits) if credits.expires_at >= now => credits.unused + 1,
                _ => 1,
            };
            state.put_ip_change_credits(
                instance_id,
                IpChangeCredits {
                    unused: credits,
                    expires_at: now.offset(self.config.ttl.millis()),
                },
            );
            return;
        }
        if record.fields.user_identity.identity_type.as_deref() == Some("AssumedRole") {
            self.judge_session_use(record, state, alerts);
        }
    }

    /// Forgets sessions and credits whose TTL has passed.
    pub fn expire(&self, now: EventTime, state: &mut dyn DetectorState) {
        state.retain_instance_sessions(&mut |_, session| session.expires_at >= now);
        state.retain_ip_change_credits(&mut |_, credits| credits.expires_at >= now);
    }

    /// Steps 1 and 2: a new row, or a refreshed TTL that keeps the locked IPs.
    fn apply_seed(&self, seed: &Seed<'_>, now: EventTime, state: &mut dyn DetectorState) {
        let expires_at = now.offset(self.config.ttl.millis());
        let session = match state.instance_session(&seed.session_arn) {
            Some(existing) if existing.expires_at >= now => InstanceSession {
                expires_at: existing.expires_at.max(expires_at),
                ..existing.clone()
            },
            _ => InstanceSession {
                instance_id: seed.instance_id.to_owned(),
                role_arn: seed.role_arn.to_owned(),
                expires_at,
                locked_ips: Vec::new(),
                alerted: Default::default(),
            },
        };
        state.put_instance_session(&seed.session_arn, session);
    }

    /// Steps 3–11 for a call made with role session credentials.
    fn judge_session_use(
        &self,
        record: &Record<'_>,
        state: &mut dyn DetectorState,
        alerts: &mut Vec<Alert>,
    ) {
        let fields = &record.fields;
        let now = fields.event_time;
        let Some(session_arn) = fields.user_identity.arn.as_deref() else {
            return;
        };
        // Step 3: no row, no decision.
        let Some(row) = state.instance_session(session_arn) else {
            return;
        };
        if row.expires_at < now {
            return;
        }
        // Step 4: a service name instead of an IP is AWS acting for you.
        let Some(ip) = fields
            .source_ip_address
            .as_deref()
            .and_then(|text| text.parse::<IpAddr>().ok())
        else {
            return;
        };
        // Step 5.
        if self.config.allow_cidrs.iter().any(|net| net.contains(&ip)) {
            return;
        }
        let session_use = SessionUse {
            record,
            session_arn,
            ip,
        };
        let mut session = row.clone();
        let mut changed = false;
        let role_account = arn_account(&session.role_arn).unwrap_or_default();

        if let Some(endpoint_account) = fields.vpc_endpoint_account_id.as_deref() {
            let ours = endpoint_account == role_account
                || self
                    .config
                    .own_accounts
                    .iter()
                    .any(|a| a == endpoint_account);
            let discriminator = format!("vpce-account:{endpoint_account}");
            if !ours && session.alerted.insert(discriminator.clone()) {
                changed = true;
                alerts.push(self.foreign_endpoint_alert(
                    &session_use,
                    &session,
                    endpoint_account,
                    &discriminator,
                ));
            }
        }

        // Step 11: the role's user agent allowlist, and IMDSv1 delivery.
        let policy = self.role_policy(&session.role_arn);
        let user_agent = fields.user_agent.as_deref().unwrap_or("");
        let allowed = policy.is_none_or(|policy| {
            policy.user_agents.is_empty()
                || policy
                    .user_agents
                    .iter()
                    .any(|pattern| wildcard_match(pattern, user_agent))
        });
        if !allowed {
            changed |= self.alert_once(
                &session_use,
                &mut session,
                ExfiltrationReason::UserAgentNotAllowed,
                format!("user-agent:{:016x}", crate::fingerprint(user_agent)),
                alerts,
            );
        }
        let alert_on_imds_v1 = policy
            .and_then(|policy| policy.alert_on_imds_v1)
            .unwrap_or(self.config.alert_on_imds_v1);
        if alert_on_imds_v1 && fields.user_identity.ec2_role_delivery() == Some("1.0") {
            changed |= self.alert_once(
                &session_use,
                &mut session,
                ExfiltrationReason::ImdsV1Delivery,
                "imds-v1".to_owned(),
                alerts,
            );
        }

        let verdict = if session.locked_ips.is_empty() {
            // Step 6.
            Verdict::Lock
        } else if session.locked_ips.contains(&ip) {
            // Step 7.
            Verdict::Fine
        } else if is_private(ip) && fields.vpc_endpoint_id.is_some() {
            // Step 8.
            if session.locked_ips.iter().any(|locked| is_private(*locked)) {
                Verdict::Alert(ExfiltrationReason::NewPrivateIp)
            } else {
                Verdict::Lock
            }
        } else {
            // Step 9; a private IP without a VPC endpoint is judged the same way.
            let credit = state
                .ip_change_credits(&session.instance_id)
                .filter(|credits| credits.unused > 0 && credits.expires_at >= now)
                .cloned();
            match credit {
                Some(credits) => {
                    state.put_ip_change_credits(
                        &session.instance_id,
                        IpChangeCredits {
                            unused: credits.unused - 1,
                            ..credits
                        },
                    );
                    Verdict::Lock
                }
                None => Verdict::Alert(ExfiltrationReason::NewIp),
            }
        };
        match verdict {
            Verdict::Fine => {}
            Verdict::Lock => {
                session.locked_ips.push(ip);
                changed = true;
            }
            Verdict::Alert(reason) => {
                changed |= self.alert_once(
                    &session_use,
                    &mut session,
                    reason,
                    format!("ip:{ip}"),
                    alerts,
                );
            }
        }
        if changed {
            state.put_instance_session(session_arn, session);
        }
    }

    fn role_policy(&self, role_arn: &str) -> Option<&RolePolicy> {
        let role_name = role_arn.rsplit('/').next().unwrap_or(role_arn);
        self.config.roles.iter().find(|role| {
            wildcard_match(&role.role, role_name) || wildcard_match(&role.role, role_arn)
        })
    }

    /// Raises an exfiltration alert unless the session already raised one for the same
    /// discriminator (address, user agent, IMDSv1); returns whether it did.
    fn alert_once(
        &self,
        call: &SessionUse<'_, '_>,
        session: &mut InstanceSession,
        reason: ExfiltrationReason,
        discriminator: String,
        alerts: &mut Vec<Alert>,
    ) -> bool {
        if session.alerted.contains(&discriminator) {
            return false;
        }
        alerts.push(self.exfiltration_alert(call, session, reason, &discriminator));
        session.alerted.insert(discriminator);
        true
    }

    /// Step 10.
    fn exfiltration_alert(
        &self,
        session_use: &SessionUse<'_, '_>,
        session: &InstanceSession,
        reason: ExfiltrationReason,
        discriminator: &str,
    ) -> Alert {
        let SessionUse {
            record,
            session_arn,
            ip,
        } = *session_use;
        let call = CallContext::of(record);
        let imds_v1 = record.fields.user_identity.ec2_role_delivery() == Some("1.0");
        let role_name = session.role_arn.rsplit('/').next().unwrap_or_default();
        let why = match reason {
            ExfiltrationReason::NewIp | ExfiltrationReason::NewPrivateIp => format!(
                "used from {ip}, away from its locked IPs {}",
                join_ips(&session.locked_ips)
            ),
            ExfiltrationReason::UserAgentNotAllowed => format!(
                "used from {ip} with user agent {:?}, not allowed for the role",
                call.user_agent.as_deref().unwrap_or("")
            ),
            ExfiltrationReason::ImdsV1Delivery => {
                format!("fetched through IMDSv1 (reachable by SSRF) and used from {ip}")
            }
        };
        Alert {
            dedup_key: format!(
                "{}:{session_arn}:{discriminator}",
                Rule::InstanceCredentialExfiltration
            ),
            rule: Rule::InstanceCredentialExfiltration,
            severity: Severity::High,
            status: AlertStatus::Final,
            summary: format!(
                "Role credentials of instance {} ({role_name}) {why}: {}:{}{}",
                session.instance_id,
                service_name(&call.event_source),
                call.event_name,
                if imds_v1 {
                    " (delivered by IMDSv1)"
                } else {
                    ""
                },
            ),
            event_time: record.fields.event_time,
            details: Details::Exfiltration(ExfiltrationDetails {
                reason,
                session_arn: session_arn.to_owned(),
                instance_id: session.instance_id.clone(),
                locked_ips: session.locked_ips.iter().map(IpAddr::to_string).collect(),
                offending_ip: ip.to_string(),
                imds_v1,
            }),
            call,
            record: record.raw_one_line(),
        }
    }

    fn foreign_endpoint_alert(
        &self,
        session_use: &SessionUse<'_, '_>,
        session: &InstanceSession,
        endpoint_account: &str,
        discriminator: &str,
    ) -> Alert {
        let SessionUse {
            record,
            session_arn,
            ..
        } = *session_use;
        let call = CallContext::of(record);
        Alert {
            dedup_key: format!("{}:{session_arn}:{discriminator}", Rule::ForeignVpcEndpoint),
            rule: Rule::ForeignVpcEndpoint,
            severity: Severity::Medium,
            status: AlertStatus::Final,
            summary: format!(
                "Role credentials of instance {} called {}:{} through a VPC endpoint of account {endpoint_account}, which is not one of yours",
                session.instance_id,
                service_name(&call.event_source),
                call.event_name,
            ),
            event_time: record.fields.event_time,
            details: Details::ForeignVpcEndpoint(ForeignVpcEndpointDetails {
                session_arn: session_arn.to_owned(),
                instance_id: session.instance_id.clone(),
                vpc_endpoint_account_id: endpoint_account.to_owned(),
            }),
            call,
            record: record.raw_one_line(),
        }
    }
}

/// One call made with an instance session's credentials, as the alerts describe it.
struct SessionUse<'r, 'a> {
    record: &'r Record<'a>,
    session_arn: &'r str,
    ip: IpAddr,
}

enum Verdict {
    Fine,
    Lock,
    Alert(ExfiltrationReason),
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

/// Step 1: the session an EC2 AssumeRole record creates. A failed call issued nothing.
fn seed<'r>(record: &'r Record<'_>) -> Option<Seed<'r>> {
    if !is_seed_shape(record) || record.fields.error_code.is_some() {
        return None;
    }
    let parameters = &record.fields.request_parameters;
    let role_arn = parameters.role_arn.as_deref()?;
    let instance_id = parameters.role_session_name.as_deref()?;
    Some(Seed {
        session_arn: session_arn(role_arn, instance_id)?,
        instance_id,
        role_arn,
    })
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
