//! Event time: CloudTrail's `eventTime` as milliseconds since the Unix epoch.
//!
//! Detection runs on event time only, so the parse must be exact and cheap; a hand-written
//! parser of the one format CloudTrail (and Logstash) writes avoids a date-time dependency.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// An instant in event time, in milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventTime(pub i64);

/// Why a timestamp could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {0:?}: expected RFC 3339 like 2024-08-02T08:22:51Z")]
pub struct TimeParseError(pub String);

impl EventTime {
    /// Milliseconds in one second.
    pub const SECOND: i64 = 1_000;
    /// Milliseconds in one minute.
    pub const MINUTE: i64 = 60 * Self::SECOND;
    /// Milliseconds in one hour.
    pub const HOUR: i64 = 60 * Self::MINUTE;

    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// This instant moved by `millis` (negative moves back).
    pub fn offset(self, millis: i64) -> EventTime {
        EventTime(self.0.saturating_add(millis))
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, the forms CloudTrail, CloudWatch Logs
    /// and Logstash write. A space is accepted in place of `T`.
    pub fn parse(text: &str) -> Result<EventTime, TimeParseError> {
        parse_rfc3339(text.as_bytes()).ok_or_else(|| TimeParseError(text.to_owned()))
    }
}

fn digits(bytes: &[u8], range: std::ops::Range<usize>) -> Option<i64> {
    let slice = bytes.get(range)?;
    let mut value = 0i64;
    for &b in slice {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(b - b'0');
    }
    Some(value)
}

fn parse_rfc3339(b: &[u8]) -> Option<EventTime> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(b, 0..4)?;
    let month = digits(b, 5..7)?;
    let day = digits(b, 8..10)?;
    let hour = digits(b, 11..13)?;
    let minute = digits(b, 14..16)?;
    let second = digits(b, 17..19)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // 60 is a leap second; fold it into the next second's start like most parsers do.
    if second > 60 {
        return None;
    }
    let mut pos = 19;
    let mut millis = 0i64;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            if pos - start < 3 {
                millis = millis * 10 + i64::from(b[pos] - b'0');
            }
            pos += 1;
        }
        let fraction_len = pos - start;
        if fraction_len == 0 {
            return None;
        }
        for _ in fraction_len..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match b.get(pos) {
        Some(b'Z' | b'z') if pos + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if pos + 6 == b.len() && b[pos + 3] == b':' => {
            let minutes = digits(b, pos + 1..pos + 3)? * 60 + digits(b, pos + 4..pos + 6)?;
            if sign == b'+' {
                minutes
            } else {
                -minutes
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(EventTime(seconds * 1_000 + millis))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl From<std::time::SystemTime> for EventTime {
    /// A wall-clock instant (for stamping life-cycle events, never for detection); instants
    /// before 1970 read as the epoch.
    fn from(time: std::time::SystemTime) -> EventTime {
        let since_epoch = time
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        EventTime(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for EventTime {
    /// RFC 3339 in UTC, with milliseconds only when there are some.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.div_euclid(1_000);
        let millis = self.0.rem_euclid(1_000);
        let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
        let second_of_day = seconds.rem_euclid(86_400);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            second_of_day / 3_600,
            second_of_day / 60 % 60,
            second_of_day % 60
        )?;
        if millis != 0 {
            write!(f, ".{millis:03}")?;
        }
        f.write_str("Z")
    }
}

impl Serialize for EventTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimeVisitor;
        impl Visitor<'_> for TimeVisitor {
            type Value = EventTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EventTime, E> {
                EventTime::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(TimeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cloudtrail_and_logstash_forms() {
        assert_eq!(
            EventTime::parse("1970-01-01T00:00:00Z").unwrap(),
            EventTime(0)
        );
        assert_eq!(
            EventTime::parse("2024-08-02T08:22:51Z").unwrap().millis(),
            1_722_586_971_000
        );
        assert_eq!(
            EventTime::parse("2020-09-14T00:48:30.000Z")
                .unwrap()
                .millis(),
            1_600_044_510_000
        );
        assert_eq!(
            EventTime::parse("2020-09-14T02:48:30.5+02:00")
                .unwrap()
                .millis(),
            1_600_044_510_500
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "2024-08-02",
            "2024-13-02T08:22:51Z",
            "2024-08-02T08:22:51",
            "2024-08-02T08:22:51Zjunk",
            "Sep 14, 2020, 7:01:26 AM",
        ] {
            assert!(EventTime::parse(bad).is_err(), "{bad} parsed");
        }
    }

    proptest::proptest! {
        #[test]
        fn display_round_trips(millis in -62_135_596_800_000i64..253_402_300_799_999i64) {
            let time = EventTime(millis);
            proptest::prop_assert_eq!(EventTime::parse(&time.to_string()).unwrap(), time);
        }
    }
}
