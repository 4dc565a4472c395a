//! What a scan keeps: a time window, accounts and regions ([`ScanWindow`]), and how far each
//! part of CloudTrail's S3 layout can be passed over without reading it.
//!
//! CloudTrail names each file for the account and region whose activity it holds and for the
//! minute it was delivered, and puts it in a folder of the day of delivery (UTC):
//! `AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_….json.gz`.
//! A file holds events from before its delivery, so one delivered before the window starts
//! holds none of it. Events usually arrive within 15 minutes, but a region may lag: a file
//! delivered up to `margin` after the window ends may still hold events from inside it. A
//! record is kept only when its own event time, account and region are inside the window.

use std::collections::BTreeSet;

use crate::s3key::{is_account_id, TrailObjectKey};
use crate::time::EventTime;

/// One day in milliseconds.
const DAY: i64 = 86_400_000;

/// What a scan keeps. Empty account and region sets keep every account and region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanWindow {
    /// The earliest event time kept.
    pub since: Option<EventTime>,
    /// The latest event time kept.
    pub until: Option<EventTime>,
    /// The accounts kept (the account whose activity a file holds, a record's recipient).
    pub accounts: BTreeSet<String>,
    /// The regions kept.
    pub regions: BTreeSet<String>,
    /// How long after `until` a file may be delivered and still hold events from before it,
    /// in milliseconds: the lateness allowed (the detectors' horizon).
    pub margin: i64,
}

/// Where a folder sits in CloudTrail's layout, read from its path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Folder<'a> {
    /// `AWSLogs/[o-ORG/]ACCOUNT` and anything under it down to its region folders.
    Account(&'a str),
    /// `…/CloudTrail/REGION`.
    Region(&'a str, &'a str),
    /// `…/REGION/YYYY`, `…/REGION/YYYY/MM` or `…/REGION/YYYY/MM/DD`: the days it covers.
    Days(&'a str, &'a str, EventTime, EventTime),
    /// Anything else: not CloudTrail's layout, or above the account folders.
    Other,
}

impl ScanWindow {
    /// Whether the window keeps everything: no time, account or region limit.
    pub fn is_everything(&self) -> bool {
        self.since.is_none()
            && self.until.is_none()
            && self.accounts.is_empty()
            && self.regions.is_empty()
    }

    fn keeps_account(&self, account: &str) -> bool {
        self.accounts.is_empty() || self.accounts.contains(account)
    }

    fn keeps_region(&self, region: &str) -> bool {
        self.regions.is_empty() || self.regions.contains(region)
    }

    /// Whether files delivered from `from` to `to` (inclusive) may hold events in the window.
    fn keeps_deliveries(&self, from: EventTime, to: EventTime) -> bool {
        let after_start = self.since.is_none_or(|since| to >= since);
        let before_end = self
            .until
            .is_none_or(|until| from <= until.offset(self.margin));
        after_start && before_end
    }

    /// Whether a record is in the window. A record that names no account or region is kept
    /// by those limits: it cannot be shown to be outside them.
    pub fn keeps_record(
        &self,
        event_time: EventTime,
        account: Option<&str>,
        region: Option<&str>,
    ) -> bool {
        self.since.is_none_or(|since| event_time >= since)
            && self.until.is_none_or(|until| event_time <= until)
            && account.is_none_or(|account| self.keeps_account(account))
            && region.is_none_or(|region| self.keeps_region(region))
    }

    /// Whether an object named in CloudTrail's layout may hold records in the window: its
    /// account and region are kept, and it was delivered after the window started and no
    /// later than `margin` after it ended. The name gives the delivery to the minute, so a
    /// file named for the minute `since` falls in may hold records after it.
    pub fn keeps_object(&self, key: &TrailObjectKey) -> bool {
        let last_instant = key.delivered_at.offset(EventTime::MINUTE - 1);
        self.keeps_account(&key.account_id)
            && self.keeps_region(&key.region)
            && self.keeps_deliveries(key.delivered_at, last_instant)
    }

    /// Whether a folder (a local path or an S3 prefix, `/`-separated) may hold objects the
    /// window keeps: an account, region, year, month or day folder of CloudTrail's layout is
    /// passed over when the window excludes all of it. Other folders are kept.
    pub fn keeps_folder(&self, folder: &str) -> bool {
        match classify(folder) {
            Folder::Account(account) => self.keeps_account(account),
            Folder::Region(account, region) => {
                self.keeps_account(account) && self.keeps_region(region)
            }
            Folder::Days(account, region, first, last) => {
                self.keeps_account(account)
                    && self.keeps_region(region)
                    && self.keeps_deliveries(first, last.offset(DAY - 1))
            }
            Folder::Other => true,
        }
    }
}

/// Where a listing of one region folder starts and stops, as S3's `StartAfter` and a key to
/// stop at: the day folders between them are the only ones that may hold files a window
/// keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyRange {
    /// List only the keys after this one.
    pub start_after: Option<String>,
    /// Stop at the first key at or after this one.
    pub stop_at: Option<String>,
}

impl KeyRange {
    /// Whether `key` comes before the end of the range.
    pub fn is_before_end(&self, key: &str) -> bool {
        self.stop_at.as_deref().is_none_or(|stop| key < stop)
    }
}

impl ScanWindow {
    /// For a region folder of CloudTrail's layout (`…/CloudTrail/REGION`, with or without its
    /// slash), the range of its keys that may hold files the window keeps: from the day
    /// `since` falls on to the day `margin` after `until`. `None` for any other folder.
    pub fn region_range(&self, folder: &str) -> Option<KeyRange> {
        if !matches!(classify(folder), Folder::Region(..)) {
            return None;
        }
        let folder = folder.trim_end_matches('/');
        let day_path = |at: EventTime| {
            let day = at.offset(-at.millis().rem_euclid(DAY)).to_string();
            format!("{folder}/{}", day[..10].replace('-', "/"))
        };
        Some(KeyRange {
            // "…/2026/12/03" sorts before every key in "…/2026/12/03/" and after the days
            // before it.
            start_after: self.since.map(day_path),
            stop_at: self
                .until
                .map(|until| format!("{}/", day_path(until.offset(self.margin + DAY)))),
        })
    }
}

fn classify(folder: &str) -> Folder<'_> {
    let parts: Vec<&str> = folder
        .split(['/', '\\'])
        .filter(|p| !p.is_empty())
        .collect();
    let Some(logs) = parts.iter().rposition(|part| *part == "AWSLogs") else {
        return Folder::Other;
    };
    let mut rest = &parts[logs + 1..];
    if rest.first().is_some_and(|part| part.starts_with("o-")) && rest.len() > 1 {
        rest = &rest[1..];
    }
    let Some((account, below)) = rest.split_first() else {
        return Folder::Other;
    };
    if !is_account_id(account) {
        return Folder::Other;
    }
    match below {
        [] => Folder::Account(account),
        [kind, ..] if *kind != "CloudTrail" => Folder::Account(account),
        [_] => Folder::Account(account),
        [_, region] => Folder::Region(account, region),
        [_, region, dates @ ..] => match day_range(dates) {
            Some((first, last)) => Folder::Days(account, region, first, last),
            None => Folder::Region(account, region),
        },
    }
}

/// The first and last day (midnight UTC) of `YYYY`, `YYYY/MM` or `YYYY/MM/DD`.
fn day_range(dates: &[&str]) -> Option<(EventTime, EventTime)> {
    let number = |text: &str, digits: usize| {
        (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<u32>().ok())
            .flatten()
    };
    let day = |year: u32, month: u32, day: u32| {
        EventTime::parse(&format!("{year:04}-{month:02}-{day:02}T00:00:00Z")).ok()
    };
    match dates {
        [year] => {
            let year = number(year, 4)?;
            Some((day(year, 1, 1)?, day(year, 12, 31)?))
        }
        [year, month] => {
            let (year, month) = (number(year, 4)?, number(month, 2)?);
            let first = day(year, month, 1)?;
            let next = if month == 12 {
                day(year + 1, 1, 1)?
            } else {
                day(year, month + 1, 1)?
            };
            Some((first, next.offset(-DAY)))
        }
        [year, month, dd, ..] => {
            let at = day(number(year, 4)?, number(month, 2)?, number(dd, 2)?)?;
            Some((at, at))
        }
        [] => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> EventTime {
        EventTime::parse(text).unwrap()
    }

    fn one_day() -> ScanWindow {
        ScanWindow {
            since: Some(at("2026-12-03T00:00:00Z")),
            until: Some(at("2026-12-03T23:59:59Z")),
            margin: 2 * 3_600_000,
            ..ScanWindow::default()
        }
    }

    const LOGS: &str = "trail/AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1";

    #[test]
    fn a_region_is_listed_from_the_first_day_to_the_day_after_the_margin() {
        let range = one_day().region_range(&format!("{LOGS}/")).unwrap();
        assert_eq!(
            range.start_after.as_deref(),
            Some(&*format!("{LOGS}/2026/12/03"))
        );
        assert_eq!(
            range.stop_at.as_deref(),
            Some(&*format!("{LOGS}/2026/12/05/"))
        );
        assert!(format!("{LOGS}/2026/12/03/a.json.gz") > *range.start_after.as_ref().unwrap());
        assert!(format!("{LOGS}/2026/12/02/a.json.gz") < *range.start_after.as_ref().unwrap());
        assert!(range.is_before_end(&format!("{LOGS}/2026/12/04/a.json.gz")));
        assert!(!range.is_before_end(&format!("{LOGS}/2026/12/05/a.json.gz")));

        let open = ScanWindow::default().region_range(LOGS).unwrap();
        assert_eq!(open, KeyRange::default());
        assert!(open.is_before_end("zzz"));
        assert_eq!(
            one_day().region_range("trail/AWSLogs/o-abc123/111122223333"),
            None
        );
        assert_eq!(one_day().region_range(&format!("{LOGS}/2026")), None);
    }

    #[test]
    fn day_folders_outside_the_window_and_its_margin_are_passed_over() {
        let window = one_day();
        assert!(!window.keeps_folder(&format!("{LOGS}/2026/12/02")));
        assert!(window.keeps_folder(&format!("{LOGS}/2026/12/03")));
        // Files delivered in the first two hours of the next day may hold late events.
        assert!(window.keeps_folder(&format!("{LOGS}/2026/12/04")));
        assert!(!window.keeps_folder(&format!("{LOGS}/2026/12/05")));
        assert!(window.keeps_folder(&format!("{LOGS}/2026/12")));
        assert!(!window.keeps_folder(&format!("{LOGS}/2026/11")));
        assert!(!window.keeps_folder(&format!("{LOGS}/2025")));
        assert!(window.keeps_folder(LOGS));
        assert!(window.keeps_folder("some/other/folder"));
    }

    /// A record at 10:00:25 in a file delivered at 10:00:40 is named for 10:00: a window
    /// from 10:00:20 must still read that file, and no file named for a minute before.
    #[test]
    fn a_file_named_for_the_minute_the_window_starts_in_is_read() {
        let window = ScanWindow {
            since: Some(at("2026-12-03T10:00:20Z")),
            ..ScanWindow::default()
        };
        let named = |stamp: &str| {
            TrailObjectKey::parse(&format!(
                "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/12/03/111122223333_CloudTrail_eu-west-1_{stamp}_x.json.gz"
            ))
            .unwrap()
        };
        assert!(window.keeps_object(&named("20261203T1000Z")));
        assert!(!window.keeps_object(&named("20261203T0959Z")));
    }

    #[test]
    fn accounts_and_regions_prune_their_folders_and_objects() {
        let window = ScanWindow {
            accounts: ["111122223333".to_owned()].into(),
            regions: ["eu-west-1".to_owned()].into(),
            ..ScanWindow::default()
        };
        assert!(window.keeps_folder("AWSLogs/o-abc123/111122223333"));
        assert!(!window.keeps_folder("AWSLogs/o-abc123/444455556666"));
        assert!(!window.keeps_folder("AWSLogs/444455556666/CloudTrail/eu-west-1/2026"));
        assert!(!window.keeps_folder("AWSLogs/111122223333/CloudTrail/us-east-1"));
        assert!(window.keeps_folder("AWSLogs/o-abc123"));
        let key = TrailObjectKey::parse(
            "AWSLogs/111122223333/CloudTrail/us-east-1/2026/12/03/111122223333_CloudTrail_us-east-1_20261203T1005Z_x.json.gz",
        )
        .unwrap();
        assert!(!window.keeps_object(&key));
        assert!(window.keeps_record(at("2026-12-03T10:00:00Z"), None, Some("eu-west-1")));
        assert!(!window.keeps_record(at("2026-12-03T10:00:00Z"), Some("444455556666"), None));
    }

    #[test]
    fn an_object_is_kept_from_the_window_start_to_the_margin_after_its_end() {
        let window = one_day();
        let object = |stamp: &str| {
            TrailObjectKey::parse(&format!(
                "111122223333_CloudTrail_eu-west-1_{stamp}_x.json.gz"
            ))
            .unwrap()
        };
        assert!(!window.keeps_object(&object("20261202T2355Z")));
        assert!(window.keeps_object(&object("20261203T0005Z")));
        assert!(window.keeps_object(&object("20261204T0155Z")));
        assert!(!window.keeps_object(&object("20261204T0205Z")));
        assert!(window.keeps_record(at("2026-12-03T23:59:59Z"), None, None));
        assert!(!window.keeps_record(at("2026-12-04T00:00:00Z"), None, None));
        assert!(ScanWindow::default().is_everything());
        assert!(!window.is_everything());
    }
}
