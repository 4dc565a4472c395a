//! What to do about an alert: what it means, the first three things to check and how to
//! contain it, filled in with the alert's own values (principal, key, address, user agent,
//! where the canary was planted) so that an on-call engineer can act without looking them up.
//!
//! Every value taken from the alert may have been written by an attacker (a role session
//! name, a user agent, an IAM path). Inside the ready-to-paste commands each such value is
//! shell-quoted, so a paste runs the command and nothing else; the text is otherwise raw and
//! callers escape it for their output like any other alert text.

use std::net::IpAddr;

use serde::Serialize;
use trail::EventTime;

use crate::alert::{Alert, Details, ExfiltrationReason};
use crate::integrity::{Change, IntegrityDetails, SeenBy};

/// What to do about one alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Playbook {
    /// What the alert means, in two or three plain sentences.
    pub meaning: String,
    /// The first three things to check, most telling first.
    pub checks: Vec<Check>,
    /// How to contain it, most urgent first.
    pub contain: Vec<String>,
}

/// One thing to check, with the alert's values filled in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Check {
    /// What to check, in one line.
    pub title: String,
    /// How: where to look, or a command to paste.
    pub detail: String,
}

/// The playbook for `alert`. `placement` says in one line where the alert's canary was
/// planted (e.g. `laptop alice-mbp: ~/.aws/credentials [default]`), when the caller knows.
pub fn playbook(alert: &Alert, placement: Option<&str>) -> Playbook {
    match &alert.details {
        Details::Canary(canary) => canary_use(alert, canary, placement),
        Details::Exfiltration(details) => instance_session(
            alert,
            &InstanceFacts {
                session_arn: &details.session_arn,
                instance_id: &details.instance_id,
                offending_ip: &details.offending_ip,
            },
            exfiltration_meaning(alert, details),
            placement,
        ),
        Details::ForeignVpcEndpoint(details) => {
            let endpoint = alert.call.vpc_endpoint_id.as_deref().unwrap_or("unknown");
            let meaning = format!(
                "A call with the role credentials of instance {instance} went through VPC \
                 endpoint {endpoint}, which belongs to account {account}, not one of yours. The \
                 credentials have been taken into a network someone else controls, where a \
                 private address hides where they are used from. Assume they are stolen.",
                instance = details.instance_id,
                account = details.vpc_endpoint_account_id,
            );
            let mut playbook = instance_session(
                alert,
                &InstanceFacts {
                    session_arn: &details.session_arn,
                    instance_id: &details.instance_id,
                    offending_ip: alert.call.source_ip.as_deref().unwrap_or(""),
                },
                meaning,
                placement,
            );
            playbook.checks[1] = Check {
                title: format!(
                    "Who owns account {} and its endpoint {endpoint}",
                    details.vpc_endpoint_account_id
                ),
                detail: format!(
                    "If the account is in your organisation, add it to the accounts tripkey \
                     knows; otherwise it is an outsider's. Check: aws organizations \
                     describe-account --account-id {}. The call came from {} through it.",
                    sh(&details.vpc_endpoint_account_id),
                    address(alert),
                ),
            };
            playbook.contain.push(
                "Keep the role's credentials to your own network: condition its policies on \
                 aws:EC2InstanceSourceVPC and aws:EC2InstanceSourcePrivateIPv4, so a call from \
                 anywhere else is denied."
                    .to_owned(),
            );
            playbook
        }
        Details::DenialBurst(burst) => denial_burst(alert, burst, placement),
        Details::CanaryDrift(change) => canary_drift(alert, change, placement),
        Details::CanaryExposed(change) => canary_exposed(alert, change, placement),
    }
}

/// The facts of an instance session alert that its checks and containment use.
struct InstanceFacts<'a> {
    session_arn: &'a str,
    instance_id: &'a str,
    offending_ip: &'a str,
}

fn canary_use(
    alert: &Alert,
    details: &crate::alert::CanaryDetails,
    placement: Option<&str>,
) -> Playbook {
    let name = &details.canary;
    let meaning = format!(
        "Someone used the canary credential {name}. It was planted as bait and nothing \
         legitimate uses it, so whoever holds it found it where it was planted or in a copy \
         of that place. The canary grants no access; what matters is how it was reached."
    );
    let key = caller_key(alert);
    let planted = planted_check(name, &details.labels, placement);
    Playbook {
        meaning,
        checks: vec![
            Check {
                title: format!(
                    "Search CloudTrail for every call by {key} since {}",
                    alert.event_time
                ),
                detail: format!(
                    "{} (in the account that owns the canary, once per region the attacker \
                     may have tried; it shows management events only: data events such as S3 \
                     reads are in the trail's bucket).",
                    lookup_events(alert, Some(alert.event_time))
                ),
            },
            source_check(alert),
            planted,
        ],
        contain: vec![
            format!(
                "Revoke the canary once you have seen enough (it grants nothing, so watching \
                 longer is safe): tripkey canary revoke {} --reason 'used'; plant a new one to \
                 keep the tripwire.",
                sh(name)
            ),
            match placement {
                Some(placement) => format!(
                    "Rotate every real secret kept beside it at {placement}, and treat that \
                     host as compromised until you know how the canary was read."
                ),
                None => "Rotate every real secret kept where it was planted, and treat that \
                         host as compromised until you know how the canary was read."
                    .to_owned(),
            },
            block_address(alert),
        ],
    }
}

/// Where a canary was planted and who could read that place.
fn planted_check(
    name: &str,
    labels: &std::collections::BTreeMap<String, String>,
    placement: Option<&str>,
) -> Check {
    match placement {
        Some(placement) => Check {
            title: format!("Check where it was planted: {placement}"),
            detail: format!(
                "Who could read {placement}: logins, backups, file sync and copies of the \
                 machine, recent changes. Anything else stored there is exposed to the same \
                 person."
            ),
        },
        None => {
            let labels: Vec<String> = labels
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect();
            let labels = if labels.is_empty() {
                String::new()
            } else {
                format!(" Its labels: {}.", labels.join(", "))
            };
            Check {
                title: format!("Check where {name} was planted"),
                detail: format!(
                    "tripkey canary show {} lists where it was recorded as planted.{labels} \
                     Who could read that place: logins, backups, file sync, copies of the \
                     machine.",
                    sh(name)
                ),
            }
        }
    }
}

fn canary_drift(alert: &Alert, change: &IntegrityDetails, placement: Option<&str>) -> Playbook {
    let meaning = format!(
        "The canary {} was changed: {}. A decoy that can act is a real key in the hands of \
         whoever finds it, and nothing but tripkey should ever change one. Whoever made the \
         change holds IAM rights over it, so treat the change as an attack on the tripwire \
         until you know otherwise.",
        change.subject,
        change.describe()
    );
    let key = caller_key(alert);
    let (now_title, now_detail) = match change.change {
        Change::TrustPolicy => (
            format!("Who may assume {} now", change.subject),
            format!(
                "aws iam get-role --role-name {} --query Role.AssumeRolePolicyDocument; \
                 tripkey created it trusting only tripkey.",
                sh(change.target.as_deref().unwrap_or_default())
            ),
        ),
        Change::BoundaryPolicyChanged => (
            format!("What {} allows now", change.subject),
            format!(
                "aws iam list-policy-versions --policy-arn {}; the version tripkey made \
                 denies everything.",
                sh(&change.subject)
            ),
        ),
        _ => {
            let user = sh(&change.subject);
            (
                format!("What {} can do now", change.subject),
                format!(
                    "tripkey canary check {user} compares it with what tripkey made. By hand: \
                     aws iam list-attached-user-policies --user-name {user}; aws iam \
                     list-user-policies --user-name {user}; aws iam list-groups-for-user \
                     --user-name {user}; aws iam get-login-profile --user-name {user}; aws iam \
                     list-access-keys --user-name {user}.{}",
                    placement
                        .map(|placement| format!(" It is planted at {placement}."))
                        .unwrap_or_default()
                ),
            )
        }
    };
    let mut contain = Vec::new();
    for canary in &change.canaries {
        contain.push(format!(
            "Revoke {name} now (a decoy with powers is worse than none) and plant a new one: \
             tripkey canary revoke {name} --reason drift.",
            name = sh(canary)
        ));
    }
    contain.push(undo(change));
    contain.push(format!(
        "Find how {key} came to hold IAM rights over tripkey's canaries, and take them away \
         unless they are meant."
    ));
    let now = Check {
        title: now_title,
        detail: now_detail,
    };
    let checks = if change.seen_by == SeenBy::Cloudtrail {
        vec![
            Check {
                title: format!(
                    "Search CloudTrail for every call by {key} since {}",
                    alert.event_time.offset(-EventTime::HOUR)
                ),
                detail: format!(
                    "{} (what else the same caller changed, in IAM and elsewhere).",
                    lookup_events(alert, Some(alert.event_time.offset(-EventTime::HOUR)))
                ),
            },
            source_check(alert),
            now,
        ]
    } else {
        // The IAM check sees the change, not the call: who made it is in CloudTrail.
        let resource = change.target.as_deref().unwrap_or(&change.subject);
        vec![
            Check {
                title: format!("Find who changed {} and when", change.subject),
                detail: format!(
                    "aws cloudtrail lookup-events --region us-east-1 --lookup-attributes {} \
                     (IAM logs in us-east-1, for 90 days), then search every call by whoever \
                     made the change.",
                    sh(&format!(
                        "AttributeKey=ResourceName,AttributeValue={}",
                        change.subject
                    ))
                ),
            },
            now,
            Check {
                title: format!("Where else {resource} is used"),
                detail: "A policy, group or key given to a canary may have been given to other \
                         users the same way: list its other holders before removing it."
                    .to_owned(),
            },
        ]
    };
    Playbook {
        meaning,
        checks,
        contain,
    }
}

/// The command that undoes a drift, when the canary is kept until revoked.
fn undo(change: &IntegrityDetails) -> String {
    let user = sh(&change.subject);
    let target = sh(change.target.as_deref().unwrap_or("TARGET"));
    let command = match change.change {
        Change::AttachedPolicy => {
            format!("aws iam detach-user-policy --user-name {user} --policy-arn {target}")
        }
        Change::InlinePolicy => {
            format!("aws iam delete-user-policy --user-name {user} --policy-name {target}")
        }
        Change::Group => {
            format!("aws iam remove-user-from-group --user-name {user} --group-name {target}")
        }
        Change::LoginProfile => format!("aws iam delete-login-profile --user-name {user}"),
        Change::AccessKey => {
            format!("aws iam delete-access-key --user-name {user} --access-key-id {target}")
        }
        Change::BoundaryRemoved | Change::BoundaryReplaced => format!(
            "aws iam put-user-permissions-boundary --user-name {user} --permissions-boundary \
             arn:aws:iam::ACCOUNT:policy/{}",
            crate::integrity::BOUNDARY_POLICY_NAME
        ),
        Change::DenyPolicyDeleted => {
            "revoking is the way back: the deny policy tripkey made is gone".to_owned()
        }
        Change::TrustPolicy => format!(
            "aws iam update-assume-role-policy --role-name {target} --policy-document \
             file://trust.json, with the trust policy tripkey setup made (tripkey setup aws \
             prints it)"
        ),
        Change::BoundaryPolicyChanged => format!(
            "aws iam list-policy-versions --policy-arn {user}, then aws iam \
             set-default-policy-version --policy-arn {user} --version-id VERSION of the \
             version that denies everything"
        ),
        Change::KeyExposed => "revoking is the way back".to_owned(),
    };
    format!("Until it is revoked, undo the change: {command}.")
}

fn canary_exposed(alert: &Alert, change: &IntegrityDetails, placement: Option<&str>) -> Playbook {
    let name = &change.subject;
    let quarantine = change
        .target
        .as_deref()
        .filter(|target| target.contains(":policy/"));
    let said = match quarantine {
        Some(policy) => format!("attached {policy} to it"),
        None => "sent an AWS Health event, AWS_RISK_CREDENTIALS_EXPOSED".to_owned(),
    };
    let meaning = format!(
        "AWS found the key of canary {name} in a public place (a repository, a paste, a \
         package) and {said}. Where the canary was planted is now known to the world, so \
         uses from now on may be anyone's and no longer tell you who reached it."
    );
    let since = alert.event_time.offset(-30 * 24 * EventTime::HOUR);
    Playbook {
        meaning,
        checks: vec![
            Check {
                title: format!("Search CloudTrail for every call by {name} since {since}"),
                detail: format!(
                    "aws cloudtrail lookup-events --start-time {since} --lookup-attributes \
                     {}: calls made before the exposure was found still say who reached it.",
                    sh(&format!("AttributeKey=Username,AttributeValue={name}"))
                ),
            },
            Check {
                title: "Find where the key was published".to_owned(),
                detail: format!(
                    "AWS names the place in its Health event and its mail to the account's \
                     contacts (AWS_RISK_CREDENTIALS_EXPOSED). Search your public repositories, \
                     packages and images for {name}'s key; whatever published it published \
                     everything stored beside it."
                ),
            },
            planted_check(name, &change.labels, placement),
        ],
        contain: vec![
            format!(
                "Replace it: tripkey canary revoke {} --reason exposed, then plant a new one \
                 where it was, once the place is private again.",
                sh(name)
            ),
            "Take down the public copy, and rotate every real secret that was published with \
             it."
            .to_owned(),
            "Leave AWS's quarantine policy (AWSCompromisedKeyQuarantine…) on the user until the \
             canary is revoked: it denies the calls an attacker tries first."
                .to_owned(),
        ],
    }
}

fn exfiltration_meaning(alert: &Alert, details: &crate::alert::ExfiltrationDetails) -> String {
    let instance = &details.instance_id;
    let locked = if details.locked_ips.is_empty() {
        "no address yet".to_owned()
    } else {
        details.locked_ips.join(", ")
    };
    let first = match details.reason {
        ExfiltrationReason::NewIp | ExfiltrationReason::NewPrivateIp => format!(
            "The role credentials EC2 gave instance {instance} were used from {}, an address \
             the instance has not used (it uses {locked}).",
            details.offending_ip
        ),
        ExfiltrationReason::UserAgentNotAllowed => format!(
            "The role credentials EC2 gave instance {instance} were used with the user agent \
             {}, which none of the role's allowed clients send.",
            alert.call.user_agent.as_deref().unwrap_or("(none)")
        ),
        ExfiltrationReason::ImdsV1Delivery => format!(
            "The role credentials of instance {instance} were fetched with IMDSv1, which a \
             request forgery (SSRF) in any web application on the instance can reach."
        ),
    };
    format!(
        "{first} Someone has likely copied them, through SSRF to the metadata service or a \
         compromised workload, and uses them elsewhere. They stay valid until they expire, \
         hours from now."
    )
}

fn instance_session(
    alert: &Alert,
    facts: &InstanceFacts<'_>,
    meaning: String,
    placement: Option<&str>,
) -> Playbook {
    let key = caller_key(alert);
    let instance = sh(facts.instance_id);
    let role = role_of(facts.session_arn);
    let planted = placement
        .map(|placement| format!(" It was recorded as planted at {placement}."))
        .unwrap_or_default();
    let mut contain = Vec::new();
    if let Some(role) = role {
        contain.push(format!(
            "Revoke the role's sessions issued up to the alert (the stolen one among them): \
             {}. The instance's own calls may fail until EC2 hands it fresh credentials.",
            revoke_sessions(role, alert.event_time)
        ));
    }
    contain.push(format!(
        "Isolate the instance: snapshot its volumes for forensics, then move it to a security \
         group with no rules: aws ec2 modify-instance-attribute --instance-id {instance} \
         --groups sg-ISOLATION."
    ));
    contain.push(format!(
        "Require IMDSv2 so request forgery cannot fetch credentials again: aws ec2 \
         modify-instance-metadata-options --instance-id {instance} --http-tokens required \
         --http-put-response-hop-limit 1."
    ));
    Playbook {
        meaning,
        checks: vec![
            Check {
                title: format!("Search CloudTrail for every call by {key}"),
                detail: format!(
                    "{} finds the session's calls, the attacker's and the instance's; those \
                     from {} are the attacker's. Repeat in other regions.",
                    lookup_events(alert, None),
                    if facts.offending_ip.is_empty() {
                        address(alert)
                    } else {
                        facts.offending_ip.to_owned()
                    }
                ),
            },
            match facts.offending_ip.parse::<IpAddr>() {
                Ok(ip) => Check {
                    title: format!("Who owns {ip}"),
                    detail: format!(
                        "Is it yours (a NAT gateway, a VPN, another instance)? aws ec2 \
                         describe-addresses --filters Name=public-ip,Values={ip} and aws ec2 \
                         describe-network-interfaces --filters \
                         Name=addresses.private-ip-address,Values={ip}; else whois {ip}. User \
                         agent: {}.",
                        user_agent(alert)
                    ),
                },
                Err(_) => source_check(alert),
            },
            Check {
                title: format!("Check instance {} for how it lost them", facts.instance_id),
                detail: format!(
                    "aws ec2 describe-instances --instance-ids {instance}: is IMDSv1 allowed \
                     (MetadataOptions.HttpTokens optional)? Look for web applications that \
                     fetch URLs (SSRF), new processes and logins, and credentials in \
                     environment variables or logs.{planted}"
                ),
            },
        ],
        contain,
    }
}

fn denial_burst(
    alert: &Alert,
    burst: &crate::alert::DenialBurstDetails,
    placement: Option<&str>,
) -> Playbook {
    let principal = alert
        .call
        .principal
        .as_deref()
        .unwrap_or(&burst.principal_key);
    let meaning = format!(
        "{principal} was refused {} times in a short time, on {}. Stolen credentials being \
         probed for what they may do look like this; so does a deployment broken by a \
         permission change. Treat it as the first until you know it is the second.",
        burst.count,
        burst.event_names.join(", "),
    );
    let planted = placement
        .map(|placement| format!(" It was recorded as planted at {placement}."))
        .unwrap_or_default();
    let mut contain = Vec::new();
    let permissions = match identity(principal) {
        Identity::User(user) => format!(
            "aws iam list-attached-user-policies --user-name {user} and aws iam \
             list-user-policies --user-name {user}",
            user = sh(user)
        ),
        Identity::Role(role) => format!(
            "aws iam list-attached-role-policies --role-name {role} and aws iam \
             list-role-policies --role-name {role}",
            role = sh(role)
        ),
        Identity::Other => format!(
            "aws iam simulate-principal-policy --policy-source-arn {} --action-names ...",
            sh(principal)
        ),
    };
    contain.push(format!(
        "Find what it may do, and so what an attacker holding it can reach: {permissions}."
    ));
    match (identity(principal), alert.call.access_key_id.as_deref()) {
        (Identity::User(user), Some(key)) => contain.push(format!(
            "Disable its key (reversible, unlike deleting it): aws iam update-access-key \
             --user-name {} --access-key-id {} --status Inactive.",
            sh(user),
            sh(key)
        )),
        (Identity::Role(role), _) => contain.push(format!(
            "Revoke the role's sessions issued up to the burst's last denial: {}.",
            revoke_sessions(role, burst.last_time)
        )),
        _ => contain.push(format!(
            "Disable the credentials {principal} signs with, or deny it everything with an \
             inline policy while you look."
        )),
    }
    contain.push(block_address(alert));
    Playbook {
        meaning,
        checks: vec![
            Check {
                title: format!(
                    "Search CloudTrail for every call by {} since {}",
                    caller_key(alert),
                    burst.first_time
                ),
                detail: format!(
                    "{}: did anything succeed between the denials? Denied: {} ({}) in {}.",
                    lookup_events(alert, Some(burst.first_time)),
                    burst.event_names.join(", "),
                    burst.error_codes.join(", "),
                    burst.regions.join(", "),
                ),
            },
            source_check(alert),
            Check {
                title: format!("Ask who runs {principal}"),
                detail: format!(
                    "Did its owner deploy or change a policy around {}? A tool of theirs \
                     would use their usual address and user agent, not {} with {}.{planted}",
                    burst.first_time,
                    address(alert),
                    user_agent(alert),
                ),
            },
        ],
        contain,
    }
}

/// The check of where the call came from: an IP's owner, or the AWS service that acted.
fn source_check(alert: &Alert) -> Check {
    let agent = user_agent(alert);
    match alert.call.source_ip.as_deref() {
        Some(source) => match source.parse::<IpAddr>() {
            Ok(ip) => Check {
                title: format!("Who owns {ip}"),
                detail: format!(
                    "whois {ip}; look for it in your VPN, proxy and NAT logs and in threat \
                     intelligence; an address of a cloud provider or a VPN service usually \
                     means a rented machine. User agent: {agent}."
                ),
            },
            Err(_) => Check {
                title: format!("Which AWS service acted: {source}"),
                detail: format!(
                    "The call came from {source}, not from an address: a service acted with \
                     the credentials on someone's behalf. Find the call that set that service \
                     going (same key, a little earlier). User agent: {agent}."
                ),
            },
        },
        None => Check {
            title: "Find where the call came from".to_owned(),
            detail: format!(
                "The alert has no source address (IAM reported the use, and CloudTrail may not \
                 log such calls): look for the key in the data events and the access logs of \
                 the service it called ({}). User agent: {agent}.",
                if alert.call.event_source.is_empty() {
                    "unknown"
                } else {
                    &alert.call.event_source
                }
            ),
        },
    }
}

fn block_address(alert: &Alert) -> String {
    match alert.call.source_ip.as_deref().map(str::parse::<IpAddr>) {
        Some(Ok(ip)) => {
            format!("If {ip} is not yours, block it at your edge and look for it in other logs.")
        }
        _ => "Look for the same user agent and key in your other logs.".to_owned(),
    }
}

/// The principal's ARN, or the access key, whichever the alert has, for titles.
fn caller_key(alert: &Alert) -> String {
    alert
        .call
        .access_key_id
        .clone()
        .or_else(|| principal_arn(alert).map(str::to_owned))
        .unwrap_or_else(|| "the caller".to_owned())
}

fn principal_arn(alert: &Alert) -> Option<&str> {
    alert.call.principal.as_deref().or(match &alert.details {
        Details::Exfiltration(details) => Some(details.session_arn.as_str()),
        Details::ForeignVpcEndpoint(details) => Some(details.session_arn.as_str()),
        Details::DenialBurst(burst) => Some(burst.principal_key.as_str()),
        Details::Canary(_) | Details::CanaryDrift(_) | Details::CanaryExposed(_) => None,
    })
}

fn address(alert: &Alert) -> String {
    alert
        .call
        .source_ip
        .clone()
        .unwrap_or_else(|| "an unknown address".to_owned())
}

fn user_agent(alert: &Alert) -> String {
    alert
        .call
        .user_agent
        .clone()
        .unwrap_or_else(|| "none".to_owned())
}

/// `aws cloudtrail lookup-events` for the caller's key (its name when there is no key), in
/// the alert's region, from `since`.
fn lookup_events(alert: &Alert, since: Option<EventTime>) -> String {
    let mut command = "aws cloudtrail lookup-events".to_owned();
    if !alert.call.region.is_empty() {
        command.push_str(&format!(" --region {}", sh(&alert.call.region)));
    }
    if let Some(since) = since {
        command.push_str(&format!(" --start-time {since}"));
    }
    let attribute = match (&alert.call.access_key_id, principal_arn(alert)) {
        (Some(key), _) => Some(("AccessKeyId", key.as_str())),
        (None, Some(arn)) => arn.rsplit('/').next().map(|name| ("Username", name)),
        (None, None) => None,
    };
    if let Some((key, value)) = attribute {
        // The CLI's shorthand splits on `,` and `=`, which IAM names may hold: JSON then.
        let shorthand = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@._+-".contains(&b));
        let argument = if shorthand {
            format!("AttributeKey={key},AttributeValue={value}")
        } else {
            serde_json::json!([{"AttributeKey": key, "AttributeValue": value}]).to_string()
        };
        command.push_str(&format!(" --lookup-attributes {}", sh(&argument)));
    }
    command
}

/// The aws CLI command that denies every session of `role` issued before `before`, as the
/// IAM console's "Revoke active sessions" does.
fn revoke_sessions(role: &str, before: EventTime) -> String {
    // Written out rather than built with `json!`, which would sort `Version` last.
    let policy = format!(
        "{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Deny\",\"Action\":[\"*\"],\
         \"Resource\":[\"*\"],\"Condition\":{{\"DateLessThan\":{{\"aws:TokenIssueTime\":\
         \"{before}\"}}}}}}]}}"
    );
    format!(
        "aws iam put-role-policy --role-name {} --policy-name AWSRevokeOlderSessions \
         --policy-document {}",
        sh(role),
        sh(&policy)
    )
}

/// What kind of identity an ARN names.
enum Identity<'a> {
    /// An IAM user, by name.
    User(&'a str),
    /// A role (from a role session's ARN), by name.
    Role(&'a str),
    /// The root user, a federated user, or not an ARN.
    Other,
}

fn identity(arn: &str) -> Identity<'_> {
    let Some(resource) = arn.splitn(6, ':').nth(5) else {
        return Identity::Other;
    };
    if let Some(path) = resource.strip_prefix("user/") {
        return path
            .rsplit('/')
            .next()
            .map_or(Identity::Other, Identity::User);
    }
    match role_of(arn) {
        Some(role) => Identity::Role(role),
        None => Identity::Other,
    }
}

/// `ROLE` of `arn:aws:sts::A:assumed-role/ROLE/SESSION`.
fn role_of(session_arn: &str) -> Option<&str> {
    let resource = session_arn.splitn(6, ':').nth(5)?;
    let rest = resource.strip_prefix("assumed-role/")?;
    rest.split('/').next().filter(|role| !role.is_empty())
}

/// `value` as one shell word that reads back as exactly `value`: bare when it holds nothing
/// the shell treats specially, else single-quoted.
fn sh(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::value::RawValue;

    use super::*;
    use crate::alert::{
        AlertStatus, CallContext, CanaryDetails, CanaryMatchKind, DenialBurstDetails,
        ExfiltrationDetails, ForeignVpcEndpointDetails, Rule, Severity,
    };

    const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/web-app/i-0abc1234def567890";

    fn alert(rule: Rule, call: CallContext, details: Details) -> Alert {
        Alert {
            dedup_key: format!("{rule}:test"),
            rule,
            severity: Severity::High,
            status: AlertStatus::Final,
            summary: "test".to_owned(),
            event_time: EventTime(1_764_000_000_000),
            call,
            details,
            record: RawValue::from_string("{}".to_owned()).unwrap(),
            withdrawn_because: None,
            replaces: Vec::new(),
        }
    }

    fn every_rule() -> Vec<Alert> {
        let call = |principal: &str, key: &str, ip: &str| CallContext {
            principal: Some(principal.to_owned()),
            access_key_id: Some(key.to_owned()),
            source_ip: Some(ip.to_owned()),
            user_agent: Some("curl/8.5.0".to_owned()),
            event_name: "ListBuckets".to_owned(),
            event_source: "s3.amazonaws.com".to_owned(),
            region: "eu-west-1".to_owned(),
            ..CallContext::default()
        };
        vec![
            alert(
                Rule::CanaryUse,
                call(
                    "arn:aws:iam::111122223333:user/service/svc-billing-sync",
                    "AKIARTX3GSDS5ZZ46JLN",
                    "203.0.113.7",
                ),
                Details::Canary(CanaryDetails {
                    canary: "svc-billing-sync".to_owned(),
                    matched_by: CanaryMatchKind::AccessKeyId,
                    labels: BTreeMap::from([("host".to_owned(), "build-07".to_owned())]),
                    memo: None,
                }),
            ),
            alert(
                Rule::InstanceCredentialExfiltration,
                call(SESSION, "ASIARTX3GSDS5ZZ46JLN", "198.51.100.23"),
                Details::Exfiltration(ExfiltrationDetails {
                    reason: ExfiltrationReason::NewIp,
                    session_arn: SESSION.to_owned(),
                    instance_id: "i-0abc1234def567890".to_owned(),
                    locked_ips: vec!["54.240.197.1".to_owned()],
                    offending_ip: "198.51.100.23".to_owned(),
                    imds_v1: false,
                }),
            ),
            alert(
                Rule::ForeignVpcEndpoint,
                CallContext {
                    vpc_endpoint_id: Some("vpce-0f00d".to_owned()),
                    ..call(SESSION, "ASIARTX3GSDS5ZZ46JLN", "10.9.8.7")
                },
                Details::ForeignVpcEndpoint(ForeignVpcEndpointDetails {
                    session_arn: SESSION.to_owned(),
                    instance_id: "i-0abc1234def567890".to_owned(),
                    vpc_endpoint_account_id: "444455556666".to_owned(),
                }),
            ),
            alert(
                Rule::AccessDeniedBurst,
                call(
                    "arn:aws:iam::111122223333:user/deploy",
                    "AKIAEXAMPLEDEPLOY000",
                    "192.0.2.44",
                ),
                Details::DenialBurst(DenialBurstDetails {
                    principal_key: "arn:aws:iam::111122223333:user/deploy".to_owned(),
                    count: 7,
                    event_names: vec!["ListUsers".to_owned(), "GetSecretValue".to_owned()],
                    error_codes: vec!["AccessDenied".to_owned()],
                    regions: vec!["eu-west-1".to_owned()],
                    first_time: EventTime(1_763_999_900_000),
                    trigger_time: EventTime(1_764_000_000_000),
                    last_time: EventTime(1_764_000_050_000),
                }),
            ),
            alert(
                Rule::CanaryDrift,
                call(
                    "arn:aws:iam::111122223333:user/mallory",
                    "AKIAEXAMPLEMALLORY00",
                    "198.51.100.99",
                ),
                Details::CanaryDrift(IntegrityDetails {
                    subject: "svc-billing-sync".to_owned(),
                    canaries: vec!["svc-billing-sync".to_owned()],
                    change: crate::integrity::Change::AttachedPolicy,
                    target: Some("arn:aws:iam::aws:policy/AdministratorAccess".to_owned()),
                    seen_by: crate::SeenBy::Cloudtrail,
                    labels: BTreeMap::from([("host".to_owned(), "build-07".to_owned())]),
                    memo: None,
                }),
            ),
        ]
    }

    fn text(playbook: &Playbook) -> String {
        let mut all = playbook.meaning.clone();
        for check in &playbook.checks {
            all.push_str(&format!("\n{}\n{}", check.title, check.detail));
        }
        all.push_str(&playbook.contain.join("\n"));
        all
    }

    #[test]
    fn every_rule_has_three_checks_filled_with_its_caller_and_address() {
        for alert in every_rule() {
            let playbook = playbook(&alert, None);
            assert_eq!(playbook.checks.len(), 3, "{}", alert.rule);
            assert!(!playbook.contain.is_empty(), "{}", alert.rule);
            let key = alert.call.access_key_id.as_deref().unwrap();
            let ip = alert.call.source_ip.as_deref().unwrap();
            let first = &playbook.checks[0];
            assert!(
                first.title.contains(key) && first.detail.contains(key),
                "{}: {first:?}",
                alert.rule
            );
            assert!(
                first.detail.contains(&format!(
                    "--lookup-attributes AttributeKey=AccessKeyId,AttributeValue={key}"
                )),
                "{}: {}",
                alert.rule,
                first.detail
            );
            let second = &playbook.checks[1];
            assert!(
                second.title.contains(ip) || second.detail.contains(ip),
                "{}: {second:?}",
                alert.rule
            );
            let sentences = playbook.meaning.matches(". ").count() + 1;
            assert!((2..=3).contains(&sentences), "{}", playbook.meaning);
        }
    }

    #[test]
    fn the_placement_appears_when_given() {
        let placement = "laptop alice-mbp: ~/.aws/credentials [default]";
        for alert in every_rule() {
            let with = playbook(&alert, Some(placement));
            assert!(
                with.checks.iter().any(
                    |check| check.title.contains(placement) || check.detail.contains(placement)
                ),
                "{}: {with:?}",
                alert.rule
            );
            assert!(!text(&playbook(&alert, None)).contains(placement));
        }
        let canary = &every_rule()[0];
        assert!(playbook(canary, None).checks[2]
            .detail
            .contains("host=build-07"));
    }

    #[test]
    fn instance_alerts_say_how_to_revoke_the_roles_sessions_and_isolate() {
        for alert in &every_rule()[1..3] {
            let all = text(&playbook(alert, None));
            assert!(
                all.contains(
                    "aws iam put-role-policy --role-name web-app --policy-name AWSRevokeOlderSessions"
                ),
                "{all}"
            );
            assert!(
                all.contains("\"aws:TokenIssueTime\":\"2025-11-24T16:00:00Z\""),
                "{all}"
            );
            assert!(all.contains("--instance-id i-0abc1234def567890"), "{all}");
        }
        let canary = text(&playbook(&every_rule()[0], None));
        assert!(canary.contains("tripkey canary revoke svc-billing-sync"));
        let burst = text(&playbook(&every_rule()[3], None));
        assert!(burst
            .contains("--user-name deploy --access-key-id AKIAEXAMPLEDEPLOY000 --status Inactive"));
        assert!(burst.contains("list-attached-user-policies --user-name deploy"));
    }

    #[test]
    fn hostile_values_stay_one_shell_word() {
        let mut alert = every_rule().remove(3);
        alert.call.access_key_id = None;
        alert.call.principal =
            Some("arn:aws:sts::111122223333:assumed-role/r/x';rm -rf ~;'".to_owned());
        alert.call.region = "eu-west-1 $(id)".to_owned();
        let playbook = playbook(&alert, None);
        let detail = &playbook.checks[0].detail;
        assert!(detail.contains("--region 'eu-west-1 $(id)'"), "{detail}");
        assert!(
            detail.contains(
                r#"--lookup-attributes '[{"AttributeKey":"Username","AttributeValue":"x'\'';rm -rf ~;'\''"}]'"#
            ),
            "{detail}"
        );
        assert_eq!(sh("a'b"), r"'a'\''b'");
        assert_eq!(sh(""), "''");
        assert_eq!(sh("AKIA0"), "AKIA0");
    }

    #[test]
    fn a_use_iam_reported_has_no_address_and_says_so() {
        let mut alert = every_rule().remove(0);
        alert.call.source_ip = None;
        alert.call.region = String::new();
        let playbook = playbook(&alert, None);
        assert_eq!(playbook.checks[1].title, "Find where the call came from");
        assert!(!playbook.checks[0].detail.contains("--region"));
    }
}
