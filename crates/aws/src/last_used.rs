use std::time::{Duration, SystemTime};

use aws_sdk_iam::primitives::{DateTime, DateTimeFormat};
use aws_sdk_iam::types::ReportStateType;

use crate::{required, system_time, AwsClients, AwsError};

/// How long to wait for IAM to generate a credential report; big accounts take minutes.
const REPORT_WAIT: Duration = Duration::from_secs(300);
/// The longest pause between two checks of whether the report is ready.
const REPORT_POLL_CAP: Duration = Duration::from_secs(5);

/// When an access key was last used, and for what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastUsed {
    /// When (IAM records it to within the hour or so; not every call updates it at once).
    pub at: SystemTime,
    /// The service called, e.g. `s3` or `sts`, when IAM knows it.
    pub service_name: Option<String>,
    /// The region called, when IAM knows it.
    pub region: Option<String>,
}

/// One user's line of the IAM credential report, as far as canary keys are concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialReportRow {
    /// The user name (`<root_account>` for the account's root user).
    pub user: String,
    /// The user's ARN.
    pub arn: String,
    /// The user's two access key slots. The report does not name the keys: tell them apart by
    /// [`KeyUsage::last_rotated`], which is the key's creation time.
    pub access_keys: [KeyUsage; 2],
}

/// One access key slot of a [`CredentialReportRow`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyUsage {
    /// Whether the slot holds an active key.
    pub active: bool,
    /// When the key in the slot was created or last rotated.
    pub last_rotated: Option<SystemTime>,
    /// Its last use, if it was ever used.
    pub last_used: Option<LastUsed>,
}

impl AwsClients {
    /// When `access_key_id` was last used (`iam:GetAccessKeyLastUsed`), or `None` if never.
    ///
    /// This catches use of a canary key in calls CloudTrail does not log. Throttling is retried
    /// with backoff (see [`crate::Backoff`]); a key that does not exist is
    /// [`AwsError::NotFound`].
    pub async fn access_key_last_used(
        &self,
        access_key_id: &str,
    ) -> Result<Option<LastUsed>, AwsError> {
        const ACTION: &str = "iam:GetAccessKeyLastUsed";
        let out = self
            .backoff
            .retry(|| async {
                self.iam
                    .get_access_key_last_used()
                    .access_key_id(access_key_id)
                    .send()
                    .await
                    .map_err(|e| self.sdk_error(ACTION, e))
            })
            .await?;
        let Some(used) = out.access_key_last_used else {
            return Ok(None);
        };
        let Some(at) = used.last_used_date else {
            return Ok(None);
        };
        Ok(Some(LastUsed {
            at: system_time(ACTION, at)?,
            service_name: known(&used.service_name),
            region: known(&used.region),
        }))
    }

    /// The IAM credential report: every user's key slots with their last use, in two calls
    /// instead of one per key, for fleets too large to poll key by key.
    ///
    /// Asks IAM to generate a fresh report (it reuses one younger than 4 hours), waits until it
    /// is complete (up to 5 minutes), then downloads and parses it.
    pub async fn credential_report(&self) -> Result<Vec<CredentialReportRow>, AwsError> {
        const GENERATE: &str = "iam:GenerateCredentialReport";
        const GET: &str = "iam:GetCredentialReport";
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(500);
        loop {
            let out = self
                .backoff
                .retry(|| async {
                    self.iam
                        .generate_credential_report()
                        .send()
                        .await
                        .map_err(|e| self.sdk_error(GENERATE, e))
                })
                .await?;
            if out.state == Some(ReportStateType::Complete) {
                break;
            }
            if started.elapsed() >= REPORT_WAIT {
                return Err(AwsError::UnexpectedResponse {
                    action: GENERATE,
                    detail: format!(
                        "the report was still being generated after {} s",
                        REPORT_WAIT.as_secs()
                    ),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(REPORT_POLL_CAP);
        }
        let report = self
            .backoff
            .retry(|| async {
                self.iam
                    .get_credential_report()
                    .send()
                    .await
                    .map_err(|e| self.sdk_error(GET, e))
            })
            .await?;
        let content = required(GET, "Content", report.content)?;
        parse_credential_report(content.as_ref())
    }
}

/// Parses an IAM credential report (CSV, as `iam:GetCredentialReport` returns it).
///
/// Columns are found by name, so a report with more or reordered columns still parses. Dates
/// IAM has none for (`N/A`, `no_information`, `not_supported`) are `None`.
pub fn parse_credential_report(csv: &[u8]) -> Result<Vec<CredentialReportRow>, AwsError> {
    let bad = |detail: String| AwsError::UnexpectedResponse {
        action: "iam:GetCredentialReport",
        detail,
    };
    let mut reader = csv::Reader::from_reader(csv);
    let headers = reader
        .headers()
        .map_err(|e| bad(format!("unreadable header line: {e}")))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| bad(format!("no column {name:?} in the report")))
    };
    let user = column("user")?;
    let arn = column("arn")?;
    let slot = |n: u8| -> Result<[usize; 5], AwsError> {
        Ok([
            column(&format!("access_key_{n}_active"))?,
            column(&format!("access_key_{n}_last_rotated"))?,
            column(&format!("access_key_{n}_last_used_date"))?,
            column(&format!("access_key_{n}_last_used_service"))?,
            column(&format!("access_key_{n}_last_used_region"))?,
        ])
    };
    let slots = [slot(1)?, slot(2)?];

    let mut rows = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| bad(format!("line {}: {e}", line + 2)))?;
        let field = |i: usize| record.get(i).unwrap_or("");
        let date =
            |i: usize| report_date(field(i)).map_err(|e| bad(format!("line {}: {e}", line + 2)));
        let mut access_keys: [KeyUsage; 2] = Default::default();
        for (usage, [active, rotated, used, service, region]) in access_keys.iter_mut().zip(slots) {
            usage.active = field(active).eq_ignore_ascii_case("true");
            usage.last_rotated = date(rotated)?;
            usage.last_used = date(used)?.map(|at| LastUsed {
                at,
                service_name: known(field(service)),
                region: known(field(region)),
            });
        }
        rows.push(CredentialReportRow {
            user: field(user).to_owned(),
            arn: field(arn).to_owned(),
            access_keys,
        });
    }
    Ok(rows)
}

/// IAM's placeholders for "no value", in GetAccessKeyLastUsed and the credential report.
fn known(value: &str) -> Option<String> {
    match value {
        "" | "N/A" | "no_information" | "not_supported" => None,
        v => Some(v.to_owned()),
    }
}

fn report_date(value: &str) -> Result<Option<SystemTime>, String> {
    if known(value).is_none() {
        return Ok(None);
    }
    let at = DateTime::from_str(value, DateTimeFormat::DateTimeWithOffset)
        .map_err(|e| format!("bad date {value:?}: {e}"))?;
    SystemTime::try_from(at)
        .map(Some)
        .map_err(|e| format!("date {value:?} out of range: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real report's shape (as IAM and moto produce it): root, a used key, an unused one.
    const REPORT: &str = "\
user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated
<root_account>,arn:aws:iam::123456789012:root,2020-01-01T00:00:00+00:00,not_supported,2024-05-01T10:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A
build-agent,arn:aws:iam::123456789012:user/service/build-agent,2024-03-01T09:00:00+00:00,false,N/A,N/A,N/A,false,true,2024-03-01T09:00:05+00:00,2024-06-02T13:14:00+00:00,eu-west-1,sqs,true,2024-06-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A
reporting,arn:aws:iam::123456789012:user/reporting,2024-03-01T09:00:00+00:00,false,N/A,N/A,N/A,false,true,2024-03-01T09:00:05+00:00,2024-06-02T13:14:00+00:00,not_supported,not_supported,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A
";

    fn at(s: &str) -> SystemTime {
        SystemTime::try_from(DateTime::from_str(s, DateTimeFormat::DateTimeWithOffset).unwrap())
            .unwrap()
    }

    #[test]
    fn parses_key_slots_and_last_use() {
        let rows = parse_credential_report(REPORT.as_bytes()).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].user, "<root_account>");
        assert_eq!(
            rows[0].access_keys,
            [KeyUsage::default(), KeyUsage::default()]
        );

        let agent = &rows[1];
        assert_eq!(
            agent.arn,
            "arn:aws:iam::123456789012:user/service/build-agent"
        );
        assert_eq!(
            agent.access_keys[0],
            KeyUsage {
                active: true,
                last_rotated: Some(at("2024-03-01T09:00:05+00:00")),
                last_used: Some(LastUsed {
                    at: at("2024-06-02T13:14:00Z"),
                    service_name: Some("sqs".into()),
                    region: Some("eu-west-1".into()),
                }),
            }
        );
        assert!(agent.access_keys[1].active);
        assert_eq!(agent.access_keys[1].last_used, None);

        // moto leaves service and region as not_supported: the date still counts.
        let used = rows[2].access_keys[0].last_used.as_ref().unwrap();
        assert_eq!(
            (used.service_name.as_deref(), used.region.as_deref()),
            (None, None)
        );
    }

    #[test]
    fn columns_are_found_by_name() {
        let reordered = "\
arn,access_key_2_last_used_service,user,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_service,access_key_1_last_used_region,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region
arn:aws:iam::1:user/x,s3,x,false,N/A,N/A,N/A,N/A,true,2024-01-01T00:00:00+00:00,2024-01-02T00:00:00+00:00,us-east-1
";
        let rows = parse_credential_report(reordered.as_bytes()).unwrap();
        let used = rows[0].access_keys[1].last_used.as_ref().unwrap();
        assert_eq!(used.service_name.as_deref(), Some("s3"));
        assert_eq!(used.at, at("2024-01-02T00:00:00Z"));
    }

    #[test]
    fn malformed_reports_are_errors() {
        let missing = parse_credential_report(b"user,arn\nx,y\n")
            .unwrap_err()
            .to_string();
        assert!(missing.contains("access_key_1_active"), "{missing}");
        let bad_date = REPORT.replace("2024-06-02T13:14:00+00:00", "yesterday");
        let err = parse_credential_report(bad_date.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && err.contains("yesterday"), "{err}");
    }
}
