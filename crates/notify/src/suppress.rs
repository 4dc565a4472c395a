//! Suppression: alerts a suppression matches are stored, counted, shown and audited as usual,
//! but not notified. Never silent: a suppressed alert carries the suppression's id wherever
//! it is shown.
//!
//! Canary-use and canary-drift alerts are what tripkey exists for. A suppression matches them
//! only when an admin said so explicitly (`covers_canaries`, which the audit log records);
//! otherwise it passes over them, and one that names either rule is refused.

use std::net::IpAddr;

use detect::config::wildcard_match;
use detect::{Alert, Rule};
use ipnet::IpNet;
use trail::EventTime;

/// The rules a suppression matches only with `covers_canaries`.
pub const PROTECTED_RULES: [Rule; 2] = [Rule::CanaryUse, Rule::CanaryDrift];

/// One suppression. Every condition given must hold; at least one is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppression {
    /// Its id, shown on every alert it suppresses.
    pub id: String,
    /// Only alerts of this rule.
    pub rule: Option<Rule>,
    /// Only alerts whose principal ARN, access key or subject is this, exactly.
    pub principal: Option<String>,
    /// Only calls from an address in this network.
    pub source_cidr: Option<IpNet>,
    /// Only calls whose userAgent matches this pattern (`*` matches any run of characters).
    pub user_agent: Option<String>,
    /// Why, for whoever reads the alert later.
    pub reason: String,
    /// When it stops matching.
    pub expires_at: EventTime,
    /// Whether it may match canary-use and canary-drift alerts (an admin's explicit choice).
    pub covers_canaries: bool,
}

/// Why a suppression cannot be made as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuppressionError {
    /// It has no condition, so it would match everything.
    #[error("a suppression needs at least one of a rule, a principal, a source CIDR or a user agent pattern")]
    NoCondition,
    /// It has no reason.
    #[error(
        "give a reason: whoever reads a suppressed alert later needs to know why it was not sent"
    )]
    NoReason,
    /// It names a protected rule without the admin's explicit consent.
    #[error("{0} alerts mean a canary was used or gained powers; suppressing them needs an admin and --include-canaries (`include_canaries` in the API, the canary box on the dashboard), which the audit log records")]
    Protected(Rule),
    /// It would be over before it starts.
    #[error("the suppression would expire at {0}, which has passed: give a span such as 24h, or a later time")]
    Expired(EventTime),
}

impl Suppression {
    /// Checks it can be made at `now`.
    pub fn validate(&self, now: EventTime) -> Result<(), SuppressionError> {
        if self.rule.is_none()
            && self.principal.is_none()
            && self.source_cidr.is_none()
            && self.user_agent.is_none()
        {
            return Err(SuppressionError::NoCondition);
        }
        if self.reason.trim().is_empty() {
            return Err(SuppressionError::NoReason);
        }
        if let Some(rule) = self.rule.filter(|rule| PROTECTED_RULES.contains(rule)) {
            if !self.covers_canaries {
                return Err(SuppressionError::Protected(rule));
            }
        }
        if self.expires_at <= now {
            return Err(SuppressionError::Expired(self.expires_at));
        }
        Ok(())
    }

    /// Whether it suppresses `alert` at `now`.
    pub fn matches(&self, alert: &Alert, now: EventTime) -> bool {
        if now >= self.expires_at
            || (PROTECTED_RULES.contains(&alert.rule) && !self.covers_canaries)
        {
            return false;
        }
        let call = &alert.call;
        self.rule.is_none_or(|rule| rule == alert.rule)
            && self.principal.as_deref().is_none_or(|principal| {
                call.principal.as_deref() == Some(principal)
                    || call.access_key_id.as_deref() == Some(principal)
                    || alert.subject() == principal
            })
            && self.source_cidr.is_none_or(|network| {
                call.source_ip
                    .as_deref()
                    .and_then(|ip| ip.parse::<IpAddr>().ok())
                    .is_some_and(|ip| network.contains(&ip))
            })
            && self.user_agent.as_deref().is_none_or(|pattern| {
                call.user_agent
                    .as_deref()
                    .is_some_and(|agent| wildcard_match(pattern, agent))
            })
    }
}

/// The first of `suppressions` that suppresses `alert` at `now`.
pub fn suppressed_by<'s>(
    suppressions: &'s [Suppression],
    alert: &Alert,
    now: EventTime,
) -> Option<&'s Suppression> {
    suppressions
        .iter()
        .find(|suppression| suppression.matches(alert, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn burst() -> Alert {
        let mut alert = crate::sample_notification(EventTime(1_764_000_000_000)).alert;
        alert.rule = Rule::AccessDeniedBurst;
        alert.call.source_ip = Some("10.1.2.3".to_owned());
        alert.call.user_agent = Some("aws-sdk-go/1.44.0 (terraform-provider-aws)".to_owned());
        alert
    }

    fn suppression() -> Suppression {
        Suppression {
            id: "sup-1".to_owned(),
            rule: Some(Rule::AccessDeniedBurst),
            principal: None,
            source_cidr: None,
            user_agent: None,
            reason: "terraform plan in CI probes what it may read".to_owned(),
            expires_at: EventTime(1_764_000_000_000 + EventTime::HOUR),
            covers_canaries: false,
        }
    }

    #[test]
    fn every_condition_given_must_hold() {
        let now = EventTime(1_764_000_000_000);
        let alert = burst();
        assert!(suppression().matches(&alert, now));
        let cidr = Suppression {
            source_cidr: Some("10.0.0.0/8".parse().unwrap()),
            user_agent: Some("*terraform-provider-aws*".to_owned()),
            ..suppression()
        };
        assert!(cidr.matches(&alert, now));
        let elsewhere = Suppression {
            source_cidr: Some("192.168.0.0/16".parse().unwrap()),
            ..cidr.clone()
        };
        assert!(!elsewhere.matches(&alert, now));
        let other_agent = Suppression {
            user_agent: Some("aws-cli/*".to_owned()),
            ..cidr.clone()
        };
        assert!(!other_agent.matches(&alert, now));
        let principal = Suppression {
            principal: Some("arn:aws:iam::111122223333:user/svc-reporting-export".to_owned()),
            ..suppression()
        };
        assert!(principal.matches(&alert, now));
        assert!(!suppression().matches(&alert, EventTime(1_764_000_000_000 + EventTime::HOUR)));
    }

    #[test]
    fn canary_alerts_need_the_admins_explicit_flag() {
        let now = EventTime(1_764_000_000_000);
        let mut canary = burst();
        canary.rule = Rule::CanaryUse;
        let any_rule = Suppression {
            rule: None,
            principal: Some("arn:aws:iam::111122223333:user/svc-reporting-export".to_owned()),
            ..suppression()
        };
        assert!(
            !any_rule.matches(&canary, now),
            "passed over without the flag"
        );
        let named = Suppression {
            rule: Some(Rule::CanaryUse),
            ..any_rule.clone()
        };
        assert_eq!(
            named.validate(now),
            Err(SuppressionError::Protected(Rule::CanaryUse))
        );
        let consented = Suppression {
            covers_canaries: true,
            ..named
        };
        assert_eq!(consented.validate(now), Ok(()));
        assert!(consented.matches(&canary, now));
    }

    #[test]
    fn a_suppression_without_condition_or_reason_or_time_is_refused() {
        let now = EventTime(1_764_000_000_000);
        let nothing = Suppression {
            rule: None,
            ..suppression()
        };
        assert_eq!(nothing.validate(now), Err(SuppressionError::NoCondition));
        let reasonless = Suppression {
            reason: " ".to_owned(),
            ..suppression()
        };
        assert_eq!(reasonless.validate(now), Err(SuppressionError::NoReason));
        let over = Suppression {
            expires_at: now,
            ..suppression()
        };
        assert_eq!(over.validate(now), Err(SuppressionError::Expired(now)));
    }
}
