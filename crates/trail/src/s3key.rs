//! The S3 key layout CloudTrail delivers log files under.
//!
//! ```text
//! [PREFIX/]AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_RAND.json.gz
//! [PREFIX/]AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail-Digest/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail-Digest_REGION_TRAIL_HOMEREGION_YYYYMMDDTHHMMSSZ.json.gz
//! ```
//!
//! The file name alone carries the account, region and delivery time, so a file copied out of
//! its folders still parses; the organisation ID only appears in the folders.

use crate::time::EventTime;

/// What the S3 key of a CloudTrail log file (or digest file) says about it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrailObjectKey {
    /// The organisation (`o-…`) for organisation trails, when the key still has its folders.
    pub organization_id: Option<String>,
    /// The account whose activity the file holds (a member account for organisation trails).
    pub account_id: String,
    /// The region whose activity the file holds.
    pub region: String,
    /// When CloudTrail delivered the file (the `_YYYYMMDDTHHMMZ_` part; seconds for digests),
    /// which is minutes after the events in it.
    pub delivered_at: EventTime,
    /// A `CloudTrail-Digest` file: integrity hashes, no records.
    pub is_digest: bool,
}

impl TrailObjectKey {
    /// Reads an S3 key, a local path mirroring one, or just the file name. Returns `None` for
    /// names that do not follow CloudTrail's layout (so callers fall back to other ordering).
    pub fn parse(key_or_path: &str) -> Option<TrailObjectKey> {
        let components: Vec<&str> = key_or_path
            .split(['/', '\\'])
            .filter(|component| !component.is_empty())
            .collect();
        let (file_name, folders) = components.split_last()?;
        let stem = file_name
            .strip_suffix(".json.gz")
            .or_else(|| file_name.strip_suffix(".json"))?;

        let mut parts = stem.split('_');
        let account_id = parts.next().filter(|part| is_account_id(part))?;
        let is_digest = match parts.next()? {
            "CloudTrail" => false,
            "CloudTrail-Digest" => true,
            _ => return None,
        };
        let region = parts.next().filter(|part| is_region(part))?;
        let rest: Vec<&str> = parts.collect();
        // Log files: TIMESTAMP_RANDOM. Digest files: TRAIL_HOMEREGION_TIMESTAMP, and trail
        // names may contain underscores, so the timestamp is found from the end.
        let timestamp = if is_digest {
            rest.last()?
        } else {
            rest.first()?
        };
        let delivered_at = parse_compact_timestamp(timestamp)?;

        Some(TrailObjectKey {
            organization_id: organization_id(folders, account_id),
            account_id: account_id.to_owned(),
            region: region.to_owned(),
            delivered_at,
            is_digest,
        })
    }
}

/// The `o-…` folder between `AWSLogs` and the account folder of an organisation trail.
fn organization_id(folders: &[&str], account_id: &str) -> Option<String> {
    let aws_logs = folders.iter().rposition(|folder| *folder == "AWSLogs")?;
    match folders.get(aws_logs + 1..aws_logs + 3)? {
        [org, account] if is_organization_id(org) && *account == account_id => {
            Some((*org).to_owned())
        }
        _ => None,
    }
}

pub(crate) fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

fn is_organization_id(text: &str) -> bool {
    text.strip_prefix("o-").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

fn is_region(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `YYYYMMDDTHHMMZ` (log files) or `YYYYMMDDTHHMMSSZ` (digest files).
fn parse_compact_timestamp(text: &str) -> Option<EventTime> {
    let b = text.as_bytes();
    let seconds = match b.len() {
        14 => "00",
        16 => text.get(13..15)?,
        _ => return None,
    };
    if b[8] != b'T' || b[b.len() - 1] != b'Z' {
        return None;
    }
    let date = text.get(0..8)?;
    let time = text.get(9..13)?;
    if !date.bytes().chain(time.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{seconds}Z",
        &date[0..4],
        &date[4..6],
        &date[6..8],
        &time[0..2],
        &time[2..4]
    );
    EventTime::parse(&rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(text: &str) -> EventTime {
        EventTime::parse(text).unwrap()
    }

    #[test]
    fn parses_a_full_account_trail_key() {
        let key = TrailObjectKey::parse(
            "AWSLogs/123456789012/CloudTrail/us-east-1/2024/08/02/123456789012_CloudTrail_us-east-1_20240802T0825Z_AbCdEf0123456789.json.gz",
        )
        .unwrap();
        assert_eq!(
            key,
            TrailObjectKey {
                organization_id: None,
                account_id: "123456789012".into(),
                region: "us-east-1".into(),
                delivered_at: time("2024-08-02T08:25:00Z"),
                is_digest: false,
            }
        );
    }

    #[test]
    fn parses_organisation_trails_with_a_bucket_prefix() {
        let key = TrailObjectKey::parse(
            "s3://logs-bucket/some/prefix/AWSLogs/o-a1b2c3d4e5/210987654321/CloudTrail/eu-west-3/2023/12/31/210987654321_CloudTrail_eu-west-3_20231231T2355Z_0123456789abcdef.json.gz",
        )
        .unwrap();
        assert_eq!(key.organization_id.as_deref(), Some("o-a1b2c3d4e5"));
        assert_eq!(key.account_id, "210987654321");
        assert_eq!(key.region, "eu-west-3");
        assert_eq!(key.delivered_at, time("2023-12-31T23:55:00Z"));
    }

    #[test]
    fn parses_a_bare_file_name_and_a_windows_path() {
        let key =
            TrailObjectKey::parse("111122223333_CloudTrail_ap-southeast-2_20200914T0105Z_x.json")
                .unwrap();
        assert_eq!(key.account_id, "111122223333");
        assert_eq!(key.organization_id, None);
        let key = TrailObjectKey::parse(
            r"C:\logs\AWSLogs\o-zz99\111122223333\CloudTrail\us-west-2\2020\09\14\111122223333_CloudTrail_us-west-2_20200914T0105Z_x.json.gz",
        )
        .unwrap();
        assert_eq!(key.organization_id.as_deref(), Some("o-zz99"));
        assert_eq!(key.region, "us-west-2");
    }

    #[test]
    fn parses_digest_keys_whose_trail_names_hold_underscores() {
        let key = TrailObjectKey::parse(
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2017/11/06/111122223333_CloudTrail-Digest_us-east-2_my_org_trail_us-east-1_20171106T193506Z.json.gz",
        )
        .unwrap();
        assert!(key.is_digest);
        assert_eq!(key.region, "us-east-2");
        assert_eq!(key.delivered_at, time("2017-11-06T19:35:06Z"));
    }

    #[test]
    fn an_organisation_folder_for_another_account_is_not_taken() {
        let key = TrailObjectKey::parse(
            "AWSLogs/o-abc/999999999999/CloudTrail/us-east-1/2024/01/01/123456789012_CloudTrail_us-east-1_20240101T0000Z_r.json.gz",
        )
        .unwrap();
        assert_eq!(key.organization_id, None);
    }

    #[test]
    fn rejects_other_names() {
        for name in [
            "",
            "aws.credential-access.ec2-get-password-data.json",
            "123456789012_CloudTrail_us-east-1_20240802T0825Z_r.txt",
            "12345678901_CloudTrail_us-east-1_20240802T0825Z_r.json.gz",
            "123456789012_CloudTrail-Insight_us-east-1_20240802T0825Z_r.json.gz",
            "123456789012_CloudTrail_us-east-1_20241302T0825Z_r.json.gz",
            "123456789012_CloudTrail_us-east-1_2024-08-02_r.json.gz",
            "123456789012_CloudTrail_US-EAST-1_20240802T0825Z_r.json.gz",
            "123456789012_CloudTrail_us-east-1.json.gz",
        ] {
            assert_eq!(TrailObjectKey::parse(name), None, "{name}");
        }
    }
}
