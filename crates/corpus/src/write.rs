//! Delivery: records go into gzip objects per account and region, one about every five
//! minutes, each holding what CloudTrail delivered in that interval. An object is named about
//! five minutes after the calls it holds, sometimes fifteen, never twenty, so a file holds
//! calls from several minutes, slightly out of order, and a call can land in a later file than
//! a call made after it. Hourly digest objects sit beside the logs, as in a real trail bucket.
//!
//! With a lateness of L minutes, delivery also lags as real organisation trails do: one
//! stream (an account's region) falls behind by L for an hour, and one file in twenty comes
//! late by up to L on its own, so files land interleaved across accounts and regions in no
//! useful order. A file is named, and so sorted, by when it was delivered. Planted episodes
//! may ask for their records' files to come a given share of L late (see `plan`).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use rand::Rng;
use serde_json::json;

use crate::ids;
use crate::plan::Plan;
use crate::render;
use crate::world::REGIONS;

const DELIVERY_STREAM: u64 = 0x6465_6c69_7665_7279;
const FILE_STREAM: u64 = 0x6669_6c65_0000_0000;
const DIGEST_STREAM: u64 = 0x6469_6765_7374_0000;
const LATE_STREAM: u64 = 0x6c61_7465_0000_0000;
/// The share of files that come late on their own, with a lateness set.
const LATE_FILE_SHARE: f64 = 0.05;
/// How long the lagging stream lags.
const LAG_INTERVALS: i64 = 3_600 / INTERVAL;
/// CloudTrail splits busy intervals into several objects.
const MAX_RECORDS_PER_FILE: usize = 2500;
const INTERVAL: i64 = 300;

/// What was written.
#[derive(Debug, Default)]
pub struct Stats {
    /// Log objects.
    pub files: usize,
    /// Digest objects.
    pub digests: usize,
    /// Records.
    pub records: u64,
    /// Uncompressed bytes of the log objects.
    pub bytes: u64,
    /// Compressed bytes of the log objects.
    pub gz_bytes: u64,
}

struct LogFile {
    account: usize,
    region: u8,
    delivered: i64,
    /// Range into the delivery-ordered list of record indices.
    records: std::ops::Range<usize>,
    path: PathBuf,
    key: String,
    oldest: i64,
    newest: i64,
}

/// How late delivery may be beyond CloudTrail's usual minutes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lateness {
    /// The most a file is delayed, in seconds; 0 for punctual delivery.
    pub max_secs: i64,
}

impl Lateness {
    /// The extra delay of the file of `stream` for `interval`: the lagging stream's hour, a
    /// file in twenty, or none.
    fn delay(self, seed: u64, stream: usize, interval: i64, lag: Option<(usize, i64)>) -> i64 {
        if self.max_secs <= 0 {
            return 0;
        }
        if let Some((lag_stream, lag_start)) = lag {
            if stream == lag_stream && (lag_start..lag_start + LAG_INTERVALS).contains(&interval) {
                return self.max_secs;
            }
        }
        let key = ids::mix(stream as u64, interval as u64);
        let rng = &mut ids::rng_for(ids::mix(seed, LATE_STREAM), key);
        if rng.random::<f64>() < LATE_FILE_SHARE {
            rng.random_range(self.max_secs.min(INTERVAL)..=self.max_secs)
        } else {
            0
        }
    }
}

/// Writes the corpus under `out/AWSLogs/`, with `jobs` threads.
pub fn write_corpus(
    plan: &Plan,
    out: &Path,
    seed: u64,
    jobs: usize,
    lateness: Lateness,
) -> Result<Stats> {
    let (order, files) = deliver(plan, out, seed, lateness);
    let mut dirs: Vec<&Path> = files.iter().filter_map(|f| f.path.parent()).collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }

    let next = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    let gz_bytes = AtomicU64::new(0);
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                let mut json = Vec::new();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(k) else { break };
                    json.clear();
                    json.extend_from_slice(b"{\"Records\":[");
                    for (n, &ord) in order[file.records.clone()].iter().enumerate() {
                        if n > 0 {
                            json.push(b',');
                        }
                        render::write_record(&mut json, &plan.world, &plan.events[ord], seed, ord);
                    }
                    json.extend_from_slice(b"]}");
                    match gzip_to(&file.path, &json) {
                        Ok(compressed) => {
                            bytes.fetch_add(json.len() as u64, Ordering::Relaxed);
                            gz_bytes.fetch_add(compressed, Ordering::Relaxed);
                        }
                        Err(e) => {
                            if let Ok(mut slot) = failure.lock() {
                                slot.get_or_insert(e);
                            }
                            next.store(files.len(), Ordering::Relaxed);
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    let digests = write_digests(plan, out, seed, &files)?;
    Ok(Stats {
        files: files.len(),
        digests,
        records: plan.events.len() as u64,
        bytes: bytes.into_inner(),
        gz_bytes: gz_bytes.into_inner(),
    })
}

fn gzip_to(path: &Path, data: &[u8]) -> Result<u64> {
    let mut gz = GzEncoder::new(Vec::with_capacity(data.len() / 8), Compression::default());
    gz.write_all(data)?;
    let compressed = gz.finish()?;
    fs::write(path, &compressed).with_context(|| format!("writing {}", path.display()))?;
    Ok(compressed.len() as u64)
}

fn prefix(plan: &Plan, account: usize) -> String {
    format!(
        "AWSLogs/{}/{}",
        plan.world.org_id, plan.world.accounts[account].id
    )
}

/// Assigns every record a delivery time and groups records into objects. Returns record
/// indices in object order and the objects, sorted by delivery time.
fn deliver(plan: &Plan, out: &Path, seed: u64, lateness: Lateness) -> (Vec<usize>, Vec<LogFile>) {
    let streams = REGIONS.len();
    let phase = |stream: usize| {
        (ids::mix(ids::mix(seed, DELIVERY_STREAM), stream as u64) % INTERVAL as u64) as i64
    };
    // (stream, interval, jittered event time, ord): sorting groups each interval's records
    // and leaves them only roughly in event-time order, as CloudTrail writes them.
    let mut keyed: Vec<(usize, i64, i64, usize)> = plan
        .events
        .iter()
        .enumerate()
        .map(|(ord, ev)| {
            let rng = &mut ids::rng_for(ids::mix(seed, DELIVERY_STREAM), ord as u64);
            // The object is named after the end of the interval the record is delivered
            // in, up to five minutes after the delay below: about five minutes in all,
            // sometimes 15, rarely just under 20 (DESIGN.md's reorder window).
            let roll: f64 = rng.random();
            let delay = if roll < 0.90 {
                rng.random_range(0..180)
            } else if roll < 0.985 {
                rng.random_range(180..600)
            } else {
                rng.random_range(600..840)
            };
            let stream = ev.account as usize * streams + ev.region as usize;
            let interval = (ev.time + delay - phase(stream)).div_euclid(INTERVAL);
            let jitter = ev.time + rng.random_range(-20..=20);
            (stream, interval, jitter, ord)
        })
        .collect();
    keyed.sort_unstable();
    // The stream that lags: the one of the record in the middle of the corpus, for the hour
    // from its interval on.
    let lag = keyed.get(keyed.len() / 2).map(|k| (k.0, k.1));

    let mut files = Vec::new();
    let mut start = 0;
    while start < keyed.len() {
        let (stream, interval, _, _) = keyed[start];
        let end = start
            + keyed[start..]
                .iter()
                .take_while(|k| k.0 == stream && k.1 == interval)
                .count();
        let chunks = (end - start).div_ceil(MAX_RECORDS_PER_FILE);
        let per_chunk = (end - start).div_ceil(chunks);
        for (c, lo) in (start..end).step_by(per_chunk).enumerate() {
            let hi = (lo + per_chunk).min(end);
            let account = stream / streams;
            let region = (stream % streams) as u8;
            let delivered = (interval + 1) * INTERVAL
                + phase(stream)
                + 20 * c as i64
                + lateness.delay(seed, stream, interval, lag);
            let times = keyed[lo..hi].iter().map(|k| plan.events[k.3].time);
            let (oldest, newest) =
                times.fold((i64::MAX, i64::MIN), |(a, b), t| (a.min(t), b.max(t)));
            let planted_late = keyed[lo..hi]
                .iter()
                .map(|k| lateness.max_secs * i64::from(plan.events[k.3].late_percent) / 100)
                .max()
                .unwrap_or(0);
            let delivered = delivered
                .max((interval + 1) * INTERVAL + phase(stream) + 20 * c as i64 + planted_late);
            files.push(LogFile {
                account,
                region,
                delivered,
                records: lo..hi,
                path: PathBuf::new(),
                key: String::new(),
                oldest,
                newest,
            });
        }
        start = end;
    }
    let order: Vec<usize> = keyed.iter().map(|k| k.3).collect();
    files.sort_by_key(|f| (f.delivered, f.account, f.region));
    for (k, f) in files.iter_mut().enumerate() {
        let rng = &mut ids::rng_for(ids::mix(seed, FILE_STREAM), k as u64);
        let account = &plan.world.accounts[f.account].id;
        let region = REGIONS[f.region as usize];
        f.key = format!(
            "{}/CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{}_{}.json.gz",
            prefix(plan, f.account),
            ids::date_path(f.delivered),
            ids::object_stamp(f.delivered),
            ids::alnum(rng, 16)
        );
        f.path = out.join(&f.key);
    }
    (order, files)
}

/// Hourly digests per account and region, chained like CloudTrail's, listing the hour's log
/// objects. A scanner must skip them.
fn write_digests(plan: &Plan, out: &Path, seed: u64, files: &[LogFile]) -> Result<usize> {
    let bucket = format!("northwind-org-trail-{}", &plan.world.org_id[2..]);
    let mut streams: Vec<(usize, u8)> = files.iter().map(|f| (f.account, f.region)).collect();
    streams.sort_unstable();
    streams.dedup();
    let last_delivery = files.iter().map(|f| f.delivered).max().unwrap_or(plan.end);
    let mut written = 0;
    for (n, &(account, region)) in streams.iter().enumerate() {
        let rng = &mut ids::rng_for(ids::mix(seed, DIGEST_STREAM), n as u64);
        let account_id = &plan.world.accounts[account].id;
        let region_name = REGIONS[region as usize];
        let mut previous: Option<(String, String, String)> = None;
        let mut hour = plan.start.div_euclid(3600) * 3600;
        while hour < last_delivery {
            let end = hour + 3600;
            let delivered = end + rng.random_range(300..900);
            let listed: Vec<&LogFile> = files
                .iter()
                .filter(|f| f.account == account && f.region == region)
                .filter(|f| f.delivered >= hour && f.delivered < end)
                .collect();
            let key = format!(
                "{}/CloudTrail-Digest/{region_name}/{}/{account_id}_CloudTrail-Digest_{region_name}_{}_us-east-1_{}.json.gz",
                prefix(plan, account),
                ids::date_path(delivered),
                plan.world.trail,
                ids::digest_stamp(delivered)
            );
            let log_files: Vec<_> = listed
                .iter()
                .map(|f| {
                    json!({
                        "s3Bucket": bucket,
                        "s3Object": f.key,
                        "hashValue": ids::hex(rng, 64),
                        "hashAlgorithm": "SHA-256",
                        "newestEventTime": ids::iso(f.newest),
                        "oldestEventTime": ids::iso(f.oldest),
                    })
                })
                .collect();
            let oldest = listed.iter().map(|f| f.oldest).min();
            let newest = listed.iter().map(|f| f.newest).max();
            let signature = ids::hex(rng, 512);
            let digest = json!({
                "awsAccountId": account_id,
                "digestStartTime": ids::iso(hour),
                "digestEndTime": ids::iso(end),
                "digestS3Bucket": bucket,
                "digestS3Object": key,
                "digestPublicKeyFingerprint": ids::hex(rng, 32),
                "digestSignatureAlgorithm": "SHA256withRSA",
                "newestEventTime": newest.map(ids::iso),
                "oldestEventTime": oldest.map(ids::iso),
                "previousDigestS3Bucket": previous.as_ref().map(|_| &bucket),
                "previousDigestS3Object": previous.as_ref().map(|p| &p.0),
                "previousDigestHashValue": previous.as_ref().map(|p| &p.1),
                "previousDigestHashAlgorithm": previous.as_ref().map(|_| "SHA-256"),
                "previousDigestSignature": previous.as_ref().map(|p| &p.2),
                "logFiles": log_files,
            });
            let path = out.join(&key);
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            gzip_to(&path, &serde_json::to_vec(&digest)?)?;
            written += 1;
            previous = Some((key, ids::hex(rng, 64), signature));
            hour = end;
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{plan, Params};

    fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let bytes = fs::read(&path).unwrap();
                    out.push((path.strip_prefix(dir).unwrap().to_path_buf(), bytes));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn output_depends_on_the_seed_only_not_on_threads() {
        let params = Params {
            records: 4000,
            accounts: 2,
            span_hours: 4,
            start: ids::parse_iso("2025-06-02T22:00:00Z").unwrap(),
            seed: 42,
        };
        let p = plan(&params).unwrap();
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let stats = write_corpus(&p, a.path(), 42, 1, Lateness::default()).unwrap();
        write_corpus(&p, b.path(), 42, 3, Lateness::default()).unwrap();
        let (fa, fb) = (files_under(a.path()), files_under(b.path()));
        assert_eq!(fa, fb);
        assert_eq!(fa.len(), stats.files + stats.digests);

        let mut records = 0;
        for (path, bytes) in &fa {
            let mut json = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut json)
                .unwrap();
            let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
            let key = path.to_string_lossy();
            if key.contains("CloudTrail-Digest") {
                assert!(doc.get("Records").is_none() && doc["logFiles"].is_array());
                continue;
            }
            let recs = doc["Records"].as_array().unwrap();
            records += recs.len();
            let (account, region) = (
                recs[0]["recipientAccountId"].as_str().unwrap(),
                recs[0]["awsRegion"].as_str().unwrap(),
            );
            assert!(
                key.contains(&format!("/{account}/CloudTrail/{region}/")),
                "{key}"
            );
            assert!(key.ends_with(".json.gz"));
        }
        assert_eq!(records, 4000);
    }

    #[test]
    fn late_delivery_interleaves_files_up_to_the_lateness_and_no_further() {
        let params = Params {
            records: 20_000,
            accounts: 2,
            span_hours: 6,
            start: ids::parse_iso("2025-06-02T22:00:00Z").unwrap(),
            seed: 7,
        };
        let p = plan(&params).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let punctual = deliver(&p, dir.path(), 7, Lateness::default()).1;
        let lateness = Lateness { max_secs: 75 * 60 };
        let late = deliver(&p, dir.path(), 7, lateness).1;
        assert_eq!(
            late.len(),
            punctual.len(),
            "the same files, delivered later"
        );
        // CloudTrail's own delay is under 20 minutes; the lateness comes on top.
        let worst = late.iter().map(|f| f.delivered - f.newest).max().unwrap();
        assert!(worst > 60 * 60, "some file is over an hour late: {worst} s");
        assert!(worst <= 20 * 60 + 75 * 60, "{worst} s");
        let lagging = late
            .iter()
            .filter(|f| f.delivered - f.oldest >= 75 * 60)
            .count();
        assert!(lagging >= 6, "the lagging stream's hour: {lagging} files");
        // Files land interleaved: a file delivered later holds calls older than one before it.
        let overtaken = late
            .windows(2)
            .filter(|pair| pair[1].oldest + 30 * 60 < pair[0].newest)
            .count();
        assert!(overtaken > 0);
        let again = deliver(&p, dir.path(), 7, lateness).1;
        assert!(late
            .iter()
            .zip(&again)
            .all(|(a, b)| (a.delivered, &a.key) == (b.delivered, &b.key)));
    }
}
