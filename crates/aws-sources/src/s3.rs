//! Polling a trail bucket: `ListObjectsV2` with `StartAfter`, one position per account and
//! region prefix, so that each prefix's keys come in delivery order.
//!
//! A pass lists every prefix once (plus its pages) and queues what is new; the queue then
//! goes to the engine in batches of several objects, and the next pass lists again only once
//! it is empty. On an organisation trail of 1,700 account and region prefixes that is 1,700
//! `ListObjectsV2` calls per pass, not per object. An object that cannot be read (access
//! denied, a KMS key the role may not use, a failed download) is recorded in the store and
//! tried again with backoff at later passes; after `quarantine_after` failures it is
//! quarantined (reported, no longer tried until `tripkey source retry`). It never holds up the
//! rest of its prefix.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use aws_sdk_s3::Client;
use pipeline::{Batch, Held, Item, MemoryBudget, Source, SourceBatch, SourceError};
use serde::{Deserialize, Serialize};
use store::Store;
use trail::{EventTime, TrailObjectKey};
use tripkey_aws::AwsError;

use crate::object::read_object;

/// What to poll.
#[derive(Clone, Debug)]
pub struct S3SourceConfig {
    /// The source's name.
    pub name: String,
    /// The trail bucket.
    pub bucket: String,
    /// The trail's key prefix, before `AWSLogs/` (empty when the trail has none).
    pub prefix: String,
    /// How far back to start in a prefix seen for the first time.
    pub start_back: Duration,
    /// Files can be delivered out of name order by up to this much: each listing starts this
    /// far before the newest key taken, and skips the keys already taken.
    pub late_window: Duration,
    /// The wait between polls once everything listed is read.
    pub poll: Duration,
    /// How often the account and region prefixes are listed again, to find new ones.
    pub rediscover: Duration,
    /// The most objects one batch carries.
    pub batch_objects: usize,
    /// An object that failed this many times is quarantined.
    pub quarantine_after: u32,
    /// The wait before an unreadable object is tried again; it doubles per failure.
    pub retry_base: Duration,
    /// The longest wait between tries of an unreadable object.
    pub retry_cap: Duration,
}

impl S3SourceConfig {
    /// A configuration with the defaults: start 1 hour back, 20 minutes of late delivery, poll
    /// every 30 s, look for new accounts and regions every 10 minutes, 32 objects a batch, an
    /// unreadable object tried again after 1, 2, 4 and 8 minutes and quarantined at its fifth
    /// failure. The prefix is taken
    /// with or without its trailing `/` (`cloudtrail` and `cloudtrail/` both mean the trail
    /// writes under `cloudtrail/AWSLogs/`).
    pub fn new(
        name: impl Into<String>,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        let mut prefix: String = prefix.into();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        S3SourceConfig {
            name: name.into(),
            bucket: bucket.into(),
            prefix,
            start_back: Duration::from_secs(3_600),
            late_window: Duration::from_secs(20 * 60),
            poll: Duration::from_secs(30),
            rediscover: Duration::from_secs(600),
            batch_objects: 32,
            quarantine_after: 5,
            retry_base: Duration::from_secs(60),
            retry_cap: Duration::from_secs(3_600),
        }
    }
}

/// What the checkpoint keeps for one account and region prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct PrefixPosition {
    /// The newest key taken.
    newest: String,
    /// The keys taken within the late window before `newest`, so a listing that starts
    /// earlier does not take them twice.
    recent: BTreeSet<String>,
    /// When the pass that last took everything it listed in the prefix began: every object
    /// delivered before then has been taken (read, or recorded as unreadable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    covered_up_to: Option<EventTime>,
}

/// The source's checkpoint: a position per `…/CloudTrail/REGION/` prefix.
type Positions = BTreeMap<String, PrefixPosition>;

/// An object a pass found, waiting for its batch.
#[derive(Clone, Debug)]
struct Queued {
    /// Its account and region prefix.
    prefix: String,
    key: String,
    /// Failed attempts so far, when it is an unreadable object tried again.
    retry: Option<u32>,
}

/// A trail bucket, polled.
pub struct S3Source {
    client: Client,
    config: S3SourceConfig,
    store: Store,
    prefixes: Vec<String>,
    discovered_at: Option<EventTime>,
    /// What the current pass found and has not handed over yet, in listing order.
    queue: VecDeque<Queued>,
    /// When the current pass began.
    pass_started: EventTime,
    /// Prefixes the current pass has taken everything of: covered up to its start.
    covered: BTreeMap<String, EventTime>,
    list_calls: u64,
}

impl S3Source {
    /// A poller of the configured bucket with this client; unreadable objects are recorded
    /// in `store`.
    pub fn new(client: Client, config: S3SourceConfig, store: Store) -> S3Source {
        S3Source {
            client,
            config,
            store,
            prefixes: Vec::new(),
            discovered_at: None,
            queue: VecDeque::new(),
            pass_started: EventTime(0),
            covered: BTreeMap::new(),
            list_calls: 0,
        }
    }

    /// How many `ListObjectsV2` requests (pages included) the source has made.
    pub fn list_calls(&self) -> u64 {
        self.list_calls
    }

    /// The common prefixes directly under `prefix`.
    async fn folders(&mut self, prefix: &str) -> Result<Vec<String>, AwsError> {
        let mut folders = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.config.bucket)
            .prefix(prefix)
            .delimiter("/")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            self.list_calls += 1;
            let page = page.map_err(|e| AwsError::from_sdk("s3:ListBucket", e))?;
            folders.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_owned)),
            );
        }
        Ok(folders)
    }

    /// Every `…/AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/` prefix of the bucket.
    async fn discover(&mut self) -> Result<Vec<String>, AwsError> {
        let logs = format!("{}AWSLogs/", self.config.prefix);
        let mut accounts = Vec::new();
        for folder in self.folders(&logs).await? {
            let name = folder
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default();
            if name.starts_with("o-") {
                accounts.extend(self.folders(&folder).await?);
            } else {
                accounts.push(folder);
            }
        }
        let mut regions = Vec::new();
        for account in accounts {
            regions.extend(self.folders(&format!("{account}CloudTrail/")).await?);
        }
        regions.sort();
        Ok(regions)
    }

    /// Every new key of `prefix`, in one listing from the late window before its newest key.
    async fn new_keys(
        &mut self,
        prefix: &str,
        position: Option<&PrefixPosition>,
        now: EventTime,
    ) -> Result<Vec<String>, AwsError> {
        let start_after = match position {
            Some(position) => late_start_key(prefix, &position.newest, self.config.late_window),
            None => Some(start_key(
                prefix,
                now.offset(-millis(self.config.start_back)),
            )),
        };
        let mut request = self
            .client
            .list_objects_v2()
            .bucket(&self.config.bucket)
            .prefix(prefix);
        if let Some(start) = &start_after {
            request = request.start_after(start);
        }
        let mut pages = request.into_paginator().send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            self.list_calls += 1;
            let page = page.map_err(|e| AwsError::from_sdk("s3:ListBucket", e))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                let Some(parsed) = TrailObjectKey::parse(key) else {
                    continue;
                };
                if parsed.is_digest {
                    continue;
                }
                let taken = position.is_some_and(|p| {
                    p.recent.contains(key)
                        || (key <= p.newest.as_str()
                            && !within_late(p, key, self.config.late_window))
                });
                if !taken {
                    keys.push(key.to_owned());
                }
            }
        }
        Ok(keys)
    }

    /// A new pass: every prefix listed once, and the unreadable objects due again.
    async fn list_pass(
        &mut self,
        positions: &Positions,
        now: EventTime,
    ) -> Result<(), SourceError> {
        let stale = self
            .discovered_at
            .is_none_or(|at| now.0 - at.0 >= millis(self.config.rediscover));
        if stale {
            self.prefixes = self
                .discover()
                .await
                .map_err(|e| SourceError(e.to_string()))?;
            self.discovered_at = Some(now);
            if self.prefixes.is_empty() {
                tracing::warn!(
                    source = %self.config.name,
                    bucket = %self.config.bucket,
                    prefix = %self.config.prefix,
                    "no AWSLogs/…/CloudTrail/REGION/ folders in the bucket yet"
                );
            }
        }
        self.pass_started = now;
        self.covered.clear();
        for prefix in self.prefixes.clone() {
            let keys = self
                .new_keys(&prefix, positions.get(&prefix), now)
                .await
                .map_err(|e| SourceError(e.to_string()))?;
            if keys.is_empty() {
                self.covered.insert(prefix.clone(), now);
            }
            self.queue.extend(keys.into_iter().map(|key| Queued {
                prefix: prefix.clone(),
                key,
                retry: None,
            }));
        }
        let due = self
            .store
            .due_source_failures(&self.config.name, now, 1_000)
            .await
            .map_err(|e| SourceError(e.to_string()))?;
        self.queue.extend(due.into_iter().map(|failure| Queued {
            prefix: String::new(),
            key: failure.key,
            retry: Some(failure.attempts),
        }));
        Ok(())
    }

    /// Records that `queued` could not be read: tried again later, or quarantined.
    async fn unreadable(
        &self,
        queued: &Queued,
        error: &str,
        now: EventTime,
    ) -> Result<(), SourceError> {
        let attempts = queued.retry.unwrap_or(0);
        let wait = self
            .config
            .retry_base
            .saturating_mul(1 << attempts.min(20))
            .min(self.config.retry_cap);
        let failure = self
            .store
            .record_source_failure(
                &self.config.name,
                &queued.key,
                error,
                now,
                now.offset(millis(wait)),
                self.config.quarantine_after,
            )
            .await
            .map_err(|e| SourceError(e.to_string()))?;
        if failure.quarantined_at.is_some() {
            tracing::error!(source = %self.config.name, key = %queued.key, attempts = failure.attempts, %error,
                "object quarantined after repeated failures; fix access and run tripkey source retry");
        } else {
            tracing::warn!(source = %self.config.name, key = %queued.key, attempts = failure.attempts, %error, retry_in = ?wait,
                "cannot read the object; trying again later");
        }
        Ok(())
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The key that sorts just before the first file `prefix` (`…/ACCOUNT/CloudTrail/REGION/`)
/// holds that was delivered at `at` or later.
fn start_key(prefix: &str, at: EventTime) -> String {
    let mut folders = prefix.trim_end_matches('/').rsplit('/');
    let region = folders.next().unwrap_or_default();
    let _cloudtrail = folders.next();
    let account = folders.next().unwrap_or_default();
    // EventTime prints as 2026-11-30T10:05:00Z; the name carries 20261130T1005Z.
    let text = at.to_string();
    let (date, time) = text.split_once('T').unwrap_or((&text, ""));
    let minutes: String = time.chars().filter(char::is_ascii_digit).take(4).collect();
    format!(
        "{prefix}{}/{account}_CloudTrail_{region}_{}T{minutes}Z",
        date.replace('-', "/"),
        date.replace('-', "")
    )
}

/// Where a listing starts so that it sees keys delivered up to `late` before `newest`.
fn late_start_key(prefix: &str, newest: &str, late: Duration) -> Option<String> {
    let delivered = TrailObjectKey::parse(newest)?.delivered_at;
    Some(start_key(prefix, delivered.offset(-millis(late))))
}

/// Whether `key` is delivered within the late window before the prefix's newest key: such a
/// key may have arrived after newer ones and still be new.
fn within_late(position: &PrefixPosition, key: &str, late: Duration) -> bool {
    let (Some(newest), Some(this)) = (
        TrailObjectKey::parse(&position.newest),
        TrailObjectKey::parse(key),
    ) else {
        return false;
    };
    this.delivered_at >= newest.delivered_at.offset(-millis(late))
}

/// The position after taking `key`: the newest key, and the recent keys still within the
/// late window of it.
fn advance(position: Option<&PrefixPosition>, key: &str, late: Duration) -> PrefixPosition {
    let mut next = position.cloned().unwrap_or_default();
    if next.newest.is_empty() || key > next.newest.as_str() {
        next.newest = key.to_owned();
    }
    next.recent.insert(key.to_owned());
    let newest = next.newest.clone();
    let probe = PrefixPosition {
        newest,
        ..PrefixPosition::default()
    };
    next.recent.retain(|k| within_late(&probe, k, late));
    next
}

impl Source for S3Source {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn next_batch(
        &mut self,
        checkpoint: Option<String>,
        budget: &MemoryBudget,
    ) -> Result<Option<SourceBatch>, SourceError> {
        let now = store_now();
        let mut positions: Positions = match checkpoint {
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                SourceError(format!(
                    "the checkpoint of source {} is damaged ({e}); delete its row in the \
                     checkpoints table to start again from start_back",
                    self.config.name
                ))
            })?,
            None => Positions::new(),
        };
        if self.queue.is_empty() {
            if let Err(error) = self.list_pass(&positions, now).await {
                // A pass half listed starts over; the committed checkpoint says where.
                self.queue.clear();
                return Err(error);
            }
            if self.queue.is_empty() {
                return Ok(None);
            }
        }
        let mut held = Held::default();
        let mut items = Vec::new();
        let mut retried = Vec::new();
        let take = self.config.batch_objects.max(1).min(self.queue.len());
        let batch: Vec<Queued> = self.queue.drain(..take).collect();
        for queued in &batch {
            let read = read_object(
                &self.client,
                &self.config.bucket,
                &queued.key,
                budget,
                &mut held,
            );
            match read.await {
                Ok(bytes) => {
                    let bytes = bytes.unwrap_or_else(|| {
                        tracing::warn!(source = %self.config.name, key = %queued.key, "listed object is gone");
                        Vec::new()
                    });
                    items.push(Item {
                        name: queued.key.clone(),
                        bytes,
                    });
                    if queued.retry.is_some() {
                        retried.push(queued.key.clone());
                    }
                }
                Err(error) => {
                    if let Err(store_error) = self.unreadable(queued, &error.0, now).await {
                        self.queue.clear();
                        return Err(store_error);
                    }
                }
            }
            if queued.retry.is_none() {
                let next = advance(
                    positions.get(&queued.prefix),
                    &queued.key,
                    self.config.late_window,
                );
                positions.insert(queued.prefix.clone(), next);
            }
        }
        for queued in &batch {
            let drained = !self.queue.iter().any(|left| left.prefix == queued.prefix);
            if queued.retry.is_none() && drained {
                self.covered
                    .insert(queued.prefix.clone(), self.pass_started);
            }
        }
        for (prefix, at) in &self.covered {
            if let Some(position) = positions.get_mut(prefix) {
                position.covered_up_to = position.covered_up_to.max(Some(*at));
            }
        }
        Ok(Some(SourceBatch {
            batch: Batch {
                source: self.config.name.clone(),
                items,
                checkpoint: Some(serde_json::to_string(&positions).expect("positions serialise")),
                held,
            },
            receipts: retried,
        }))
    }

    /// The retried objects of the batch were read: their failures are forgotten.
    async fn committed(&mut self, receipts: Vec<String>) -> Result<(), SourceError> {
        for key in receipts {
            self.store
                .clear_source_failure(&self.config.name, &key)
                .await
                .map_err(|e| SourceError(e.to_string()))?;
        }
        Ok(())
    }

    /// The batch must be read again: the pass starts over from the committed checkpoint.
    async fn abandoned(&mut self, _receipts: Vec<String>) {
        self.queue.clear();
    }

    fn idle_wait(&self) -> Duration {
        self.config.poll
    }
}

fn store_now() -> EventTime {
    EventTime::from(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/";

    fn key(stamp: &str) -> String {
        format!(
            "{PREFIX}2026/11/30/123456789012_CloudTrail_us-east-1_20261130T{stamp}Z_abcdefghijklmnop.json.gz"
        )
    }

    #[test]
    fn a_prefix_is_a_folder_with_or_without_its_slash() {
        for (given, kept) in [
            ("", ""),
            ("cloudtrail", "cloudtrail/"),
            ("org/trail/", "org/trail/"),
        ] {
            assert_eq!(S3SourceConfig::new("s", "b", given).prefix, kept);
        }
    }

    #[test]
    fn listings_start_just_before_the_late_window() {
        let start = late_start_key(PREFIX, &key("0010"), Duration::from_secs(20 * 60)).unwrap();
        assert_eq!(
            start,
            format!("{PREFIX}2026/11/29/123456789012_CloudTrail_us-east-1_20261129T2350Z")
        );
        assert!(start.as_str() < key("0000").as_str());
        let start = late_start_key(PREFIX, &key("1210"), Duration::from_secs(20 * 60)).unwrap();
        assert!(key("1149").as_str() < start.as_str() && start.as_str() < key("1150").as_str());
    }

    #[test]
    fn a_late_key_is_new_and_an_old_one_is_not() {
        let late = Duration::from_secs(20 * 60);
        let position = advance(None, &key("1200"), late);
        let position = advance(Some(&position), &key("1230"), late);
        assert_eq!(position.newest, key("1230"));
        assert!(
            !position.recent.contains(&key("1200")),
            "30 minutes before the newest is past the late window"
        );
        assert!(within_late(&position, &key("1215"), late));
        assert!(!within_late(&position, &key("1205"), late));
        let position = advance(Some(&position), &key("1215"), late);
        assert_eq!(
            position.newest,
            key("1230"),
            "a late key does not move newest back"
        );
        assert!(position.recent.contains(&key("1215")));
    }
}
