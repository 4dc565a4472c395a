//! Detector configuration: thresholds, windows, TTLs, allowlists.
//!
//! Every knob has the default DESIGN.md gives, so an empty `[detect]` table is a working
//! configuration. Durations are written as `"20m"`, `"6h"`, `"300s"`, `"1d"` or a number of
//! seconds.

use std::fmt;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A span of event time, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub i64);

impl Span {
    /// A span of `minutes` minutes.
    pub const fn minutes(minutes: i64) -> Span {
        Span(minutes * 60_000)
    }

    /// A span of `hours` hours.
    pub const fn hours(hours: i64) -> Span {
        Span(hours * 3_600_000)
    }

    /// The span in milliseconds.
    pub fn millis(self) -> i64 {
        self.0
    }
}

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {0:?}: write a number with a unit, like 300s, 5m, 6h or 1d")]
pub struct SpanParseError(String);

impl FromStr for Span {
    type Err = SpanParseError;

    fn from_str(text: &str) -> Result<Span, SpanParseError> {
        let error = || SpanParseError(text.to_owned());
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let number: i64 = number.parse().map_err(|_| error())?;
        let unit_millis = match unit.trim() {
            "" | "s" | "sec" | "secs" => 1_000,
            "ms" => 1,
            "m" | "min" | "mins" => 60_000,
            "h" | "hr" | "hrs" => 3_600_000,
            "d" | "day" | "days" => 86_400_000,
            _ => return Err(error()),
        };
        number.checked_mul(unit_millis).map(Span).ok_or_else(error)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0;
        for (unit, size) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
        ] {
            if millis != 0 && millis % size == 0 {
                return write!(f, "{}{unit}", millis / size);
            }
        }
        write!(f, "{millis}ms")
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Seconds(u64),
            Text(String),
        }
        match Written::deserialize(deserializer)? {
            Written::Seconds(seconds) => i64::try_from(seconds)
                .ok()
                .and_then(|s| s.checked_mul(1_000))
                .map(Span)
                .ok_or_else(|| serde::de::Error::custom("duration too large")),
            Written::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Configuration of all detectors (the `[detect]` table of `tripkey.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// The lateness horizon: a record that arrives no more than this far behind the newest
    /// record seen gives the alerts it would have given in event-time order. CloudTrail
    /// delivers most files about 5 minutes after the call, but a lagging region or account
    /// can be an hour behind. Later records are still used where they can be, and counted.
    pub horizon: Span,
    /// How long, in event time, an exfiltration decision waits for other addresses of the
    /// same instance that may have been used earlier but not yet delivered. Longer means
    /// fewer alerts withdrawn after the fact; shorter means faster alerts.
    pub settle: Span,
    /// Denial burst settings.
    pub denial: DenialConfig,
    /// Instance credential exfiltration settings.
    pub exfiltration: ExfiltrationConfig,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            horizon: Span::hours(2),
            settle: Span::minutes(5),
            denial: DenialConfig::default(),
            exfiltration: ExfiltrationConfig::default(),
        }
    }
}

/// Denial burst detector settings (`[detect.denial]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DenialConfig {
    /// Denials within `window` that open a burst (N).
    pub threshold: u32,
    /// The sliding window, and the quiet time that closes a burst (W).
    pub window: Span,
}

impl Default for DenialConfig {
    fn default() -> Self {
        DenialConfig {
            threshold: 5,
            window: Span::minutes(5),
        }
    }
}

/// Instance credential exfiltration detector settings (`[detect.exfiltration]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExfiltrationConfig {
    /// How long an instance session is tracked after its last AssumeRole by EC2. EC2 refreshes
    /// instance credentials well within 6 hours.
    pub ttl: Span,
    /// Networks whose addresses are always trusted (VPN, on-premises, Outposts egress).
    pub allow_cidrs: Vec<IpNet>,
    /// Your AWS accounts. A call through a VPC endpoint owned by any other account is flagged.
    /// The account of the instance's role always counts as yours.
    pub own_accounts: Vec<String>,
    /// Alert when credentials delivered by IMDSv1 (`ec2RoleDelivery` "1.0") are used, once
    /// per session. IMDSv1 is what SSRF reaches, but many fleets still use it legitimately, so
    /// this is off unless asked for, here or per role.
    pub alert_on_imds_v1: bool,
    /// Per-role settings.
    #[serde(rename = "role")]
    pub roles: Vec<RolePolicy>,
}

impl Default for ExfiltrationConfig {
    fn default() -> Self {
        ExfiltrationConfig {
            ttl: Span::hours(6),
            allow_cidrs: Vec::new(),
            own_accounts: Vec::new(),
            alert_on_imds_v1: false,
            roles: Vec::new(),
        }
    }
}

/// Settings for the sessions of one instance role (`[[detect.exfiltration.role]]`). The first
/// entry whose `role` matches applies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolePolicy {
    /// The role name or role ARN; `*` matches any run of characters.
    pub role: String,
    /// The user agents the role's credentials are expected to be used with; `*` matches any run
    /// of characters. A use with any other user agent alerts even from the instance's own IP,
    /// which is what SSRF through the instance looks like. Empty means any user agent.
    #[serde(default)]
    pub user_agents: Vec<String>,
    /// Alert on use of IMDSv1-delivered credentials of this role, whatever the global setting.
    #[serde(default)]
    pub alert_on_imds_v1: Option<bool>,
}

/// Matches `text` against `pattern`, where `*` stands for any run of characters (none
/// included) and every other character for itself. Linear in the text for each part of the
/// pattern, whatever the text holds: userAgents are the attacker's to write. The one matcher
/// for role and userAgent patterns, token label patterns and suppressions.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = parts.collect();
    let Some(last) = parts.pop() else {
        return rest.is_empty();
    };
    for part in parts {
        match rest.find(part) {
            Some(index) => rest = &rest[index + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_and_print() {
        assert_eq!("20m".parse::<Span>().unwrap(), Span::minutes(20));
        assert_eq!("6h".parse::<Span>().unwrap(), Span::hours(6));
        assert_eq!("300".parse::<Span>().unwrap(), Span::minutes(5));
        assert_eq!(Span::minutes(90).to_string(), "90m");
        assert!("5 parsecs".parse::<Span>().is_err());
        assert!("m".parse::<Span>().is_err());
    }

    #[test]
    fn config_reads_from_toml_with_defaults() {
        let config: DetectConfig = toml::from_str(
            r#"
            horizon = "3h"
            [denial]
            threshold = 15
            window = 600
            [exfiltration]
            allow_cidrs = ["203.0.113.0/24"]
            [[exfiltration.role]]
            role = "web-*"
            user_agents = ["aws-sdk-go/*"]
            "#,
        )
        .unwrap();
        assert_eq!(config.horizon, Span::hours(3));
        assert_eq!(config.settle, Span::minutes(5));
        assert_eq!(config.denial.threshold, 15);
        assert_eq!(config.denial.window, Span::minutes(10));
        assert_eq!(config.exfiltration.ttl, Span::hours(6));
        assert_eq!(config.exfiltration.roles[0].role, "web-*");
        assert!(toml::from_str::<DetectConfig>("threshhold = 3").is_err());
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("aws-sdk-go/*", "aws-sdk-go/1.44 (go1.20)"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
        assert!(!wildcard_match("abc", "abcd"));
        assert!(wildcard_match("*Linux*", "Boto3/1.2 Linux/5.10"));
        assert!(!wildcard_match("ab*ba", "aba"));
        assert!(wildcard_match("*", "laptop-42"));
        assert!(wildcard_match("*-42", "laptop-42"));
        assert!(wildcard_match("l*p*-4*", "laptop-42"));
        assert!(!wildcard_match("a*b*c", "a--c--b"));
        assert!(wildcard_match("", ""));
        assert!(!wildcard_match("", "x"));
        assert!(!wildcard_match(&"*a".repeat(30), &"a".repeat(29)));
        assert!(wildcard_match("*é*", "naïve café"));
    }
}
