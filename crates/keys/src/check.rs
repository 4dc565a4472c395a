//! The offline checks an attacker runs on a found credential, run by tripkey on its own canary.
//!
//! Before touching a key, a careful attacker decodes its account and compares it with the
//! published canary-vendor list, checks that the key and secret look like AWS's, and reads the
//! principal name (from an error message of an unlogged call) for tell-tale words, UUIDs and
//! randomness. [`canary_check`] does all of that with whatever is known of a canary and says
//! what the attacker would conclude.

use std::fmt;

use crate::account::{AccountDecode, AccountId};
use crate::heuristics::{check_name, shannon_entropy, ENTROPY_THRESHOLD};
use crate::id::AccessKeyId;
use crate::secret::looks_like_secret_access_key;
use crate::stealth::{is_known_canary_vendor_account, CANARY_VENDOR_ACCOUNTS};

/// What is known of a canary; every field is optional and only what is given is checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct CanaryFacts<'a> {
    /// The access key ID.
    pub key_id: Option<&'a str>,
    /// The account the canary was issued from.
    pub account: Option<AccountId>,
    /// The user, federated user or role session name.
    pub name: Option<&'a str>,
    /// The IAM path.
    pub path: Option<&'a str>,
    /// The principal ARN, as an error message or `GetCallerIdentity` shows it.
    pub principal_arn: Option<&'a str>,
    /// The secret access key; only its format is checked, and it never appears in the report.
    pub secret_access_key: Option<&'a str>,
}

/// What a check looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckSubject {
    /// The account, against the published canary-vendor list.
    Account,
    /// The access key ID's format.
    KeyId,
    /// The secret access key's format.
    Secret,
    /// A user, role, federated user or session name.
    Name,
    /// The IAM path.
    Path,
    /// The principal ARN as a whole.
    PrincipalArn,
}

impl fmt::Display for CheckSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            CheckSubject::Account => "account",
            CheckSubject::KeyId => "key ID",
            CheckSubject::Secret => "secret",
            CheckSubject::Name => "name",
            CheckSubject::Path => "path",
            CheckSubject::PrincipalArn => "principal ARN",
        })
    }
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// An attacker's tool would take the credential for a canary (or for a fake).
    Flagged,
    /// The check found nothing.
    Passed,
    /// Worth knowing, but not something tools flag.
    Note,
}

/// One check and its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub subject: CheckSubject,
    /// How it came out.
    pub outcome: Outcome,
    /// A sentence saying what was found and what an attacker would make of it.
    pub detail: String,
}

/// The result of [`canary_check`].
///
/// [`fmt::Display`] gives one line per check and the verdict last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Every check that ran, in the order it ran.
    pub checks: Vec<Check>,
}

impl CheckReport {
    /// Whether any check would give the canary away.
    pub fn flagged(&self) -> bool {
        self.checks
            .iter()
            .any(|check| check.outcome == Outcome::Flagged)
    }

    /// "an attacker's offline tools would flag this as a canary: yes/no, because …".
    pub fn verdict(&self) -> String {
        let with = |outcome| {
            self.checks
                .iter()
                .filter(|check| check.outcome == outcome)
                .map(|check| check.detail.as_str())
                .collect::<Vec<_>>()
        };
        let head = "an attacker's offline tools would flag this as a canary";
        if self.flagged() {
            return format!("{head}: yes, because {}", with(Outcome::Flagged).join("; "));
        }
        let passed = with(Outcome::Passed);
        if passed.is_empty() {
            return format!("{head}: no, but nothing about it was given to check");
        }
        format!("{head}: no, because {}", passed.join("; "))
    }

    /// The verdict in one line, naming the subjects that give the canary away without
    /// repeating the details the per-check lines already gave.
    pub fn conclusion(&self) -> String {
        let flagged: Vec<String> = self
            .checks
            .iter()
            .filter(|check| check.outcome == Outcome::Flagged)
            .map(|check| check.subject.to_string())
            .collect();
        let passed = self
            .checks
            .iter()
            .filter(|check| check.outcome == Outcome::Passed)
            .count();
        if !flagged.is_empty() {
            return format!(
                "an attacker's offline tools would flag this as a canary ({} of {} checks: {})",
                flagged.len(),
                self.checks.len(),
                flagged.join(", ")
            );
        }
        if passed == 0 {
            return "nothing about it was given to check".to_owned();
        }
        format!(
            "an attacker's offline tools would not flag this as a canary ({passed} check{} \
             passed)",
            if passed == 1 { "" } else { "s" }
        )
    }

    fn push(&mut self, subject: CheckSubject, outcome: Outcome, detail: String) {
        self.checks.push(Check {
            subject,
            outcome,
            detail,
        });
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            let mark = match check.outcome {
                Outcome::Flagged => "FLAG",
                Outcome::Passed => "ok",
                Outcome::Note => "note",
            };
            writeln!(f, "{mark:<4}  {:<13}  {}", check.subject, check.detail)?;
        }
        write!(f, "verdict: {}", self.conclusion())
    }
}

/// Runs the offline fingerprinting checks on what is known of a canary.
///
/// - **Account**: every account known (given, decoded from the key ID, read from the ARN)
///   against [`CANARY_VENDOR_ACCOUNTS`]; accounts that disagree are flagged, because a real
///   key always decodes to its own account.
/// - **Key ID**: valid, an access key (`AKIA`/`ASIA`), and in the modern format whose fifth
///   character (Q–Z or 2–7) marks an encoded account. A legacy key is a note.
/// - **Secret**: 40 characters of `[A-Za-z0-9+/]`.
/// - **Names and path**: [`check_name`] on the name, the path, and every name in the ARN.
pub fn canary_check(facts: &CanaryFacts<'_>) -> CheckReport {
    // Accounts are checked first and reported first, but the key ID is one of their sources.
    let mut report = CheckReport { checks: Vec::new() };
    let mut formats = CheckReport { checks: Vec::new() };
    let mut accounts: Vec<(AccountId, &str)> = Vec::new();
    accounts.extend(facts.account.map(|account| (account, "given")));
    if let Some(key_id) = facts.key_id {
        accounts.extend(check_key_id(&mut formats, key_id).map(|a| (a, "from the key ID")));
    }
    if let Some(secret) = facts.secret_access_key {
        if looks_like_secret_access_key(secret) {
            formats.push(
                CheckSubject::Secret,
                Outcome::Passed,
                "the secret has the format of a real one (40 characters of [A-Za-z0-9+/])".into(),
            );
        } else {
            formats.push(
                CheckSubject::Secret,
                Outcome::Flagged,
                "the secret is not 40 characters of [A-Za-z0-9+/], so a secret scanner's \
                 format check rejects it and the credential looks fake"
                    .into(),
            );
        }
    }
    let mut names: Vec<(&str, String)> = Vec::new();
    names.extend(facts.name.map(|name| ("the name", name.to_owned())));
    let mut paths: Vec<String> = Vec::new();
    paths.extend(facts.path.map(str::to_owned));
    if let Some(arn) = facts.principal_arn {
        match parse_principal_arn(arn) {
            Some(principal) => {
                accounts.push((principal.account, "from the principal ARN"));
                paths.extend(principal.path);
                names.extend(principal.names);
            }
            None => formats.push(
                CheckSubject::PrincipalArn,
                Outcome::Note,
                format!(
                    "{arn:?} is not an IAM user or role, federated user or assumed-role ARN, \
                     so the names in it were not checked"
                ),
            ),
        }
    }
    check_accounts(&mut report, &accounts);
    report.checks.append(&mut formats.checks);
    let mut seen: Vec<&str> = Vec::new();
    for (label, name) in &names {
        if !seen.contains(&name.as_str()) {
            seen.push(name);
            check_text(&mut report, CheckSubject::Name, label, name);
        }
    }
    paths.dedup();
    for path in &paths {
        check_text(&mut report, CheckSubject::Path, "the path", path);
    }
    report
}

fn check_key_id(report: &mut CheckReport, key_id: &str) -> Option<AccountId> {
    let id = match AccessKeyId::parse(key_id) {
        Ok(id) => id,
        Err(error) => {
            report.push(
                CheckSubject::KeyId,
                Outcome::Flagged,
                format!(
                    "the key ID is not one AWS could have issued ({error}), so an attacker \
                     takes it for a fake"
                ),
            );
            return None;
        }
    };
    let kind = id.kind();
    if !kind.is_access_key() {
        report.push(
            CheckSubject::KeyId,
            Outcome::Flagged,
            format!(
                "{id} is an {} ({}), not an access key, so it cannot sign a request and looks \
                 planted",
                kind.description(),
                kind.prefix()
            ),
        );
    }
    match id.account() {
        AccountDecode::Legacy => {
            report.push(
                CheckSubject::KeyId,
                Outcome::Note,
                format!(
                    "{id} is a legacy key ID with no account encoded: account lists cannot flag \
                     it, but AWS issues only account-encoded IDs today, so a key said to be \
                     recent stands out"
                ),
            );
            None
        }
        AccountDecode::Account(account) => {
            if kind.is_access_key() {
                let fifth = &id.as_str()[4..5];
                report.push(
                    CheckSubject::KeyId,
                    Outcome::Passed,
                    format!(
                        "{id} is a {} in the current format (fifth character {fifth}, one of \
                         Q-Z or 2-7, marks an encoded account)",
                        kind.description()
                    ),
                );
            }
            Some(account)
        }
    }
}

fn check_accounts(report: &mut CheckReport, accounts: &[(AccountId, &str)]) {
    if accounts.is_empty() {
        report.push(
            CheckSubject::Account,
            Outcome::Note,
            "no account is known, so the canary-vendor list could not be checked".into(),
        );
        return;
    }
    let mut distinct: Vec<AccountId> = accounts.iter().map(|&(account, _)| account).collect();
    distinct.sort_unstable();
    distinct.dedup();
    for account in &distinct {
        let sources = accounts
            .iter()
            .filter(|(a, _)| a == account)
            .map(|&(_, source)| source)
            .collect::<Vec<_>>()
            .join(", ");
        if is_known_canary_vendor_account(account) {
            report.push(
                CheckSubject::Account,
                Outcome::Flagged,
                format!(
                    "account {account} ({sources}) is on the published canary-vendor list \
                     (TruffleHog's pkg/detectors/aws/access_keys/canary.go), which TruffleHog \
                     and others check without calling AWS"
                ),
            );
        } else {
            report.push(
                CheckSubject::Account,
                Outcome::Passed,
                format!(
                    "account {account} ({sources}) is not among the {} published canary-vendor \
                     accounts",
                    CANARY_VENDOR_ACCOUNTS.len()
                ),
            );
        }
    }
    if distinct.len() > 1 {
        let listed = accounts
            .iter()
            .map(|(account, source)| format!("{account} {source}"))
            .collect::<Vec<_>>()
            .join(", ");
        report.push(
            CheckSubject::Account,
            Outcome::Flagged,
            format!(
                "the accounts disagree ({listed}): a real key always decodes to its own \
                 account, so the credential looks fabricated"
            ),
        );
    }
}

fn check_text(report: &mut CheckReport, subject: CheckSubject, label: &str, text: &str) {
    let findings = check_name(text);
    if findings.is_empty() {
        report.push(
            subject,
            Outcome::Passed,
            format!(
                "{label} {text:?} has no canary words, no UUID and {:.2} bits of entropy per \
                 character (flagged above {ENTROPY_THRESHOLD})",
                shannon_entropy(text)
            ),
        );
    }
    for finding in findings {
        report.push(
            subject,
            Outcome::Flagged,
            format!("{label} {text:?} {finding}"),
        );
    }
}

struct Principal {
    account: AccountId,
    path: Option<String>,
    names: Vec<(&'static str, String)>,
}

/// Reads the account, path and names from an IAM user or role ARN, a federated user ARN or an
/// assumed-role ARN, e.g. `arn:aws:iam::123456789012:user/ops/svc-billing-sync-07`.
fn parse_principal_arn(arn: &str) -> Option<Principal> {
    let mut fields = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some(service), Some(""), Some(account), Some(resource)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return None;
    };
    let account: AccountId = account.parse().ok()?;
    let (kind, rest) = resource.split_once('/')?;
    let principal = |path, names| {
        Some(Principal {
            account,
            path,
            names,
        })
    };
    match (service, kind) {
        ("iam", "user" | "role") => {
            let (path, name) = match rest.rsplit_once('/') {
                Some((middle, name)) => (format!("/{middle}/"), name),
                None => ("/".to_owned(), rest),
            };
            let label = if kind == "user" {
                "the user name in the ARN"
            } else {
                "the role name in the ARN"
            };
            principal(Some(path), vec![(label, name.to_owned())])
        }
        ("sts", "federated-user") if !rest.contains('/') => principal(
            None,
            vec![("the federated user name in the ARN", rest.to_owned())],
        ),
        ("sts", "assumed-role") => {
            let (role, session) = rest.split_once('/')?;
            principal(
                None,
                vec![
                    ("the role name in the ARN", role.to_owned()),
                    ("the session name in the ARN", session.to_owned()),
                ],
            )
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes(report: &CheckReport, subject: CheckSubject) -> Vec<Outcome> {
        report
            .checks
            .iter()
            .filter(|check| check.subject == subject)
            .map(|check| check.outcome)
            .collect()
    }

    #[test]
    fn a_well_made_canary_passes_every_check() {
        let report = canary_check(&CanaryFacts {
            key_id: Some("ASIAY34FZKBOKMUTVV7A"),
            account: Some("609629065308".parse().unwrap()),
            name: Some("svc-billing-sync-07"),
            path: Some("/service/"),
            principal_arn: Some("arn:aws:iam::609629065308:user/service/svc-billing-sync-07"),
            secret_access_key: Some("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        });
        assert!(!report.flagged(), "{report}");
        assert_eq!(outcomes(&report, CheckSubject::Account), [Outcome::Passed]);
        assert_eq!(outcomes(&report, CheckSubject::KeyId), [Outcome::Passed]);
        assert_eq!(outcomes(&report, CheckSubject::Secret), [Outcome::Passed]);
        // The ARN repeats the name and path, which are checked once each.
        assert_eq!(outcomes(&report, CheckSubject::Name), [Outcome::Passed]);
        assert_eq!(outcomes(&report, CheckSubject::Path), [Outcome::Passed]);
        let verdict = report.verdict();
        assert!(
            verdict.starts_with("an attacker's offline tools would flag this as a canary: no, because account 609629065308 (given, from the key ID, from the principal ARN) is not among the 26"),
            "{verdict}"
        );
        assert!(
            report.checks[1].detail.contains("fifth character Y"),
            "{report}"
        );
    }

    #[test]
    fn a_vendor_key_with_a_canary_name_is_flagged_for_both() {
        let report = canary_check(&CanaryFacts {
            key_id: Some("AKIASP2TPHJSQH3FJRUX"),
            principal_arn: Some(
                "arn:aws:iam::171436882533:user/canarytokens.com@@kz9r8ouqnhve4zs1yi4bzspzz",
            ),
            ..CanaryFacts::default()
        });
        assert!(report.flagged());
        assert_eq!(outcomes(&report, CheckSubject::Account), [Outcome::Flagged]);
        assert!(outcomes(&report, CheckSubject::Name).contains(&Outcome::Flagged));
        let verdict = report.verdict();
        assert!(
            verdict.contains(": yes, because account 171436882533"),
            "{verdict}"
        );
        assert!(verdict.contains("TruffleHog's pkg/detectors/aws/access_keys/canary.go"));
        assert!(verdict.contains("contains \"canarytoken\""), "{verdict}");
    }

    #[test]
    fn disagreeing_accounts_look_fabricated() {
        let report = canary_check(&CanaryFacts {
            key_id: Some("ASIAY34FZKBOKMUTVV7A"),
            account: Some("123456789012".parse().unwrap()),
            ..CanaryFacts::default()
        });
        assert_eq!(
            outcomes(&report, CheckSubject::Account),
            [Outcome::Passed, Outcome::Passed, Outcome::Flagged]
        );
        assert!(report
            .verdict()
            .contains("the accounts disagree (123456789012 given, 609629065308 from the key ID)"));
    }

    #[test]
    fn key_formats() {
        let check = |key_id| {
            canary_check(&CanaryFacts {
                key_id: Some(key_id),
                ..CanaryFacts::default()
            })
        };
        let legacy = check("AKIAIOSFODNN7EXAMPLE");
        assert_eq!(outcomes(&legacy, CheckSubject::KeyId), [Outcome::Note]);
        assert_eq!(outcomes(&legacy, CheckSubject::Account), [Outcome::Note]);
        assert!(!legacy.flagged());
        assert!(legacy
            .verdict()
            .ends_with("no, but nothing about it was given to check"));
        let invalid = check("AKIA0W5KI69TY8X86BGT");
        assert_eq!(outcomes(&invalid, CheckSubject::KeyId), [Outcome::Flagged]);
        assert!(invalid.checks[1].detail.contains("'0' at index 4"));
        let role = check("AROA5FLZVX4OAMSW6BCRH");
        assert_eq!(outcomes(&role, CheckSubject::KeyId), [Outcome::Flagged]);
        assert!(role.checks[1]
            .detail
            .contains("IAM role ID (AROA), not an access key"));
    }

    #[test]
    fn secrets_are_checked_but_never_shown() {
        let secret = "not-a-secret";
        let report = canary_check(&CanaryFacts {
            secret_access_key: Some(secret),
            ..CanaryFacts::default()
        });
        assert_eq!(outcomes(&report, CheckSubject::Secret), [Outcome::Flagged]);
        assert!(!report.to_string().contains(secret));
    }

    #[test]
    fn names_in_sts_arns_are_checked() {
        let report = canary_check(&CanaryFacts {
            principal_arn: Some("arn:aws:sts::609629065308:assumed-role/decoy-role/j.morrison"),
            ..CanaryFacts::default()
        });
        assert_eq!(
            outcomes(&report, CheckSubject::Name),
            [Outcome::Flagged, Outcome::Passed]
        );
        let report = canary_check(&CanaryFacts {
            principal_arn: Some("arn:aws:sts::609629065308:federated-user/priya.raman4"),
            ..CanaryFacts::default()
        });
        assert!(!report.flagged(), "{report}");
        assert_eq!(outcomes(&report, CheckSubject::Name), [Outcome::Passed]);
    }

    #[test]
    fn unreadable_arns_are_noted() {
        for arn in [
            "arn:aws:s3:::bucket",
            "arn:aws:iam::6096290653:user/x",
            "user/x",
        ] {
            let report = canary_check(&CanaryFacts {
                principal_arn: Some(arn),
                ..CanaryFacts::default()
            });
            assert_eq!(
                outcomes(&report, CheckSubject::PrincipalArn),
                [Outcome::Note],
                "{arn}"
            );
        }
    }

    #[test]
    fn paths_are_read_from_user_arns() {
        let principal =
            parse_principal_arn("arn:aws:iam::609629065308:user/division/team/bob").unwrap();
        assert_eq!(principal.path.as_deref(), Some("/division/team/"));
        assert_eq!(principal.names[0].1, "bob");
        let principal = parse_principal_arn("arn:aws:iam::609629065308:user/bob").unwrap();
        assert_eq!(principal.path.as_deref(), Some("/"));
    }

    #[test]
    fn the_report_reads_line_by_line() {
        let report = canary_check(&CanaryFacts {
            name: Some("honeyuser"),
            ..CanaryFacts::default()
        });
        let text = report.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("note  account"), "{text}");
        assert!(
            lines[1].starts_with("FLAG  name           the name \"honeyuser\" contains"),
            "{text}"
        );
        assert_eq!(
            lines[2],
            "verdict: an attacker's offline tools would flag this as a canary (1 of 2 checks: name)"
        );
        assert_eq!(
            text.matches("the name \"honeyuser\" contains").count(),
            1,
            "each reason is given once: {text}"
        );
    }
}
