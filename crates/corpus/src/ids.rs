//! Identifiers and timestamps in the formats AWS writes them.

use std::fmt::Write as _;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ALNUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Mixes two words into one (SplitMix64's finaliser), so that every derived random stream
/// depends only on the corpus seed and a stable index, not on generation order or threads.
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A random stream derived from `seed` and `index`.
pub fn rng_for(seed: u64, index: u64) -> StdRng {
    StdRng::seed_from_u64(mix(seed, index))
}

/// A key ID (`AKIA`, `ASIA`) whose 16 characters after the prefix encode `account` the way
/// modern AWS keys do (bit 79 set, the account in bits 39..79), so that tools decoding the
/// account from a key see the corpus's accounts.
pub fn key_id(prefix: &str, account: u64, rng: &mut impl Rng) -> String {
    let low = u128::from(rng.random::<u64>() & ((1 << 39) - 1));
    let v = (1u128 << 79) | (u128::from(account) << 39) | low;
    let mut s = String::with_capacity(prefix.len() + 17);
    s.push_str(prefix);
    for i in (0..16).rev() {
        s.push(BASE32[((v >> (i * 5)) & 31) as usize] as char);
    }
    s
}

/// A unique ID (`AIDA…` for users, `AROA…` for roles): 21 characters that, like real ones,
/// share the account-encoding prefix with the account's access keys.
pub fn unique_id(prefix: &str, account: u64, rng: &mut impl Rng) -> String {
    let mut s = key_id(prefix, account, rng);
    s.push(BASE32[rng.random_range(0..32)] as char);
    s
}

/// A random version-4 UUID.
pub fn uuid(rng: &mut impl Rng) -> String {
    let v: u128 = rng.random();
    let v = (v & !(0xF000 << 64) | (0x4000 << 64)) & !(0xC000 << 48) | (0x8000 << 48);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        (v >> 96) as u32,
        (v >> 80) as u16,
        (v >> 64) as u16,
        (v >> 48) as u16,
        v & 0xFFFF_FFFF_FFFF
    )
}

/// `n` random lowercase hex digits.
pub fn hex(rng: &mut impl Rng, n: usize) -> String {
    let mut s = String::with_capacity(n);
    for _ in 0..n {
        s.push(char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'));
    }
    s
}

/// `n` random uppercase hex digits (S3 request IDs).
pub fn upper_hex(rng: &mut impl Rng, n: usize) -> String {
    hex(rng, n).to_ascii_uppercase()
}

/// `n` random characters of `[A-Za-z0-9]` (the random part of CloudTrail object names).
pub fn alnum(rng: &mut impl Rng, n: usize) -> String {
    (0..n)
        .map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char)
        .collect()
}

/// `n` random base64 characters (session tokens, S3's `x-amz-id-2`).
pub fn base64(rng: &mut impl Rng, n: usize) -> String {
    (0..n)
        .map(|_| BASE64[rng.random_range(0..BASE64.len())] as char)
        .collect()
}

/// `n` random base32 characters.
pub fn base32(rng: &mut impl Rng, n: usize) -> String {
    (0..n)
        .map(|_| BASE32[rng.random_range(0..32)] as char)
        .collect()
}

/// An EC2 instance ID in the long (17 hex digit) form.
pub fn instance_id(rng: &mut impl Rng) -> String {
    format!("i-0{}", hex(rng, 16))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A Unix time split into calendar fields (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    /// Year.
    pub year: i64,
    /// Month, 1–12.
    pub month: u32,
    /// Day of month, 1–31.
    pub day: u32,
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute.
    pub minute: u32,
    /// Second.
    pub second: u32,
}

impl Civil {
    /// Splits a Unix time (seconds) into UTC calendar fields.
    pub fn of(t: i64) -> Civil {
        let days = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400) as u32;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs / 60 % 60,
            second: secs % 60,
        }
    }
}

/// `2025-06-02T22:15:07Z`, CloudTrail's `eventTime` format.
pub fn iso(t: i64) -> String {
    let c = Civil::of(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` into a Unix time.
pub fn parse_iso(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    Some(days * 86_400 + i64::from(h * 3600 + mi * 60 + sec))
}

/// `20250602T2215Z`, the timestamp in CloudTrail log object names.
pub fn object_stamp(t: i64) -> String {
    let c = Civil::of(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

/// `20250602T221507Z`, the timestamp in digest object names.
pub fn digest_stamp(t: i64) -> String {
    let c = Civil::of(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// `2025/06/02`, the date folders of the S3 key layout.
pub fn date_path(t: i64) -> String {
    let c = Civil::of(t);
    format!("{:04}/{:02}/{:02}", c.year, c.month, c.day)
}

/// `Jun 3, 2025, 4:12:01 AM`, the format STS uses for credential expirations in CloudTrail.
pub fn expiration(t: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = Civil::of(t);
    let (h12, ampm) = match c.hour {
        0 => (12, "AM"),
        h @ 1..=11 => (h, "AM"),
        12 => (12, "PM"),
        h => (h - 12, "PM"),
    };
    let mut s = String::with_capacity(24);
    let _ = write!(
        s,
        "{} {}, {}, {}:{:02}:{:02} {}",
        MONTHS[(c.month - 1) as usize],
        c.day,
        c.year,
        h12,
        c.minute,
        c.second,
        ampm
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_account(key: &str) -> Option<u64> {
        let mut v: u128 = 0;
        for c in key[4..20].bytes() {
            v = v << 5 | BASE32.iter().position(|&b| b == c)? as u128;
        }
        (v >> 79 == 1).then_some(((v >> 39) & ((1 << 40) - 1)) as u64)
    }

    #[test]
    fn decodes_the_design_test_vectors() {
        assert_eq!(
            decode_account("ASIAY34FZKBOKMUTVV7A"),
            Some(609_629_065_308)
        );
        assert_eq!(
            decode_account("AKIAYVP4CIPPERUVIFXG"),
            Some(595_918_472_158)
        );
        assert_eq!(decode_account("AKIAIOSFODNN7EXAMPLE"), None);
    }

    #[test]
    fn minted_keys_encode_their_account() {
        let mut rng = rng_for(7, 7);
        for account in [1, 123_456_789_012, 999_999_999_999] {
            let key = key_id("AKIA", account, &mut rng);
            assert_eq!(key.len(), 20);
            assert_eq!(decode_account(&key), Some(account));
            assert!(matches!(key.as_bytes()[4], b'Q'..=b'Z' | b'2'..=b'6'));
        }
        assert_eq!(unique_id("AROA", 1, &mut rng).len(), 21);
    }

    #[test]
    fn formats_times() {
        let t = parse_iso("2024-02-29T23:59:58Z").unwrap();
        assert_eq!(iso(t), "2024-02-29T23:59:58Z");
        assert_eq!(object_stamp(t), "20240229T2359Z");
        assert_eq!(digest_stamp(t), "20240229T235958Z");
        assert_eq!(date_path(t + 2), "2024/03/01");
        assert_eq!(expiration(t), "Feb 29, 2024, 11:59:58 PM");
        assert_eq!(expiration(t + 2), "Mar 1, 2024, 12:00:00 AM");
        assert_eq!(parse_iso("2020-09-14T00:48:30Z"), Some(1_600_044_510));
        assert_eq!(parse_iso("2020-13-14T00:48:30Z"), None);
    }

    #[test]
    fn uuids_are_version_4() {
        let u = uuid(&mut rng_for(1, 2));
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }
}
