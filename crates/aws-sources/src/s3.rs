//! Polling a trail bucket: `ListObjectsV2` with `StartAfter`, one position per account and
//! region prefix, so that each prefix's keys come in delivery order.
//!
//! Two halves, so that any worker may read any object:
//! - [`S3Lister`], run by one worker at a time (a singleton job), lists every prefix once per
//!   pass (plus its pages) and queues what is new in the store, with its checkpoint, in one
//!   transaction. On an organisation trail of 1,700 account and region prefixes that is
//!   1,700 `ListObjectsV2` calls per pass, not per object.
//! - [`S3Source`], run by every worker, claims batches of queued objects, reads them and
//!   hands them to the engine; they leave the queue once the batch is committed. A worker
//!   that dies leaves its claims to run out, and another worker reads those objects.
//!
//! An object that cannot be read (access denied, a KMS key the role may not use, a failed
//! download) is recorded in the store and queued again with backoff at later passes; after
//! `quarantine_after` failures it is quarantined (reported, no longer tried until
//! `tripkey source retry`). It never holds up the rest of its prefix.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;
use pipeline::{Batch, Held, Item, MemoryBudget, Metrics, Source, SourceBatch, SourceError};
use serde::{Deserialize, Serialize};
use store::{QueuedObject, Store};
use tokio::sync::watch;
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
    /// The wait between two passes of the lister.
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
    /// How long a worker's claim on the objects of its batch lasts: when the worker dies,
    /// another reads them after this.
    pub claim: Duration,
}

impl S3SourceConfig {
    /// Warns when `start_back` reaches past the detectors' lateness `horizon`: while the
    /// source catches up, its records may come beyond the horizon, where alerts can depend
    /// on the order workers commit in (docs/detection-order.md). Returns whether it warned.
    pub fn warn_if_backfill_past(&self, horizon: Duration) -> bool {
        if self.start_back <= horizon {
            return false;
        }
        tracing::warn!(
            source = %self.name,
            start_back = ?self.start_back,
            ?horizon,
            "start_back reaches past the lateness horizon: while this source catches up, its records may come beyond the horizon, where alerts can depend on the order workers commit in; raise [detect] horizon to start_back for the backfill (docs/configuration.md)"
        );
        true
    }

    /// A configuration with the defaults: start 1 hour back, 20 minutes of late delivery, poll
    /// every 30 s, look for new accounts and regions every 10 minutes, 32 objects a batch
    /// claimed for 10 minutes, an unreadable object tried again after 1, 2, 4 and 8 minutes
    /// and quarantined at its fifth failure. The prefix is taken
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
            claim: Duration::from_secs(600),
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
    /// When the pass that last found the prefix's queue empty began: every object delivered
    /// before then has been read and committed, or recorded as unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    covered_up_to: Option<EventTime>,
    /// When the latest pass that listed the prefix began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    listed_at: Option<EventTime>,
}

/// The source's checkpoint: a position per `…/CloudTrail/REGION/` prefix.
type Positions = BTreeMap<String, PrefixPosition>;

/// The half of a trail bucket's polling that lists it: one worker at a time runs it.
pub struct S3Lister {
    client: Client,
    config: S3SourceConfig,
    store: Store,
    prefixes: Vec<String>,
    discovered_at: Option<EventTime>,
    list_calls: u64,
}

impl S3Lister {
    /// A lister of the configured bucket with this client, queueing what it finds in `store`.
    pub fn new(client: Client, config: S3SourceConfig, store: Store) -> S3Lister {
        S3Lister {
            client,
            config,
            store,
            prefixes: Vec::new(),
            discovered_at: None,
            list_calls: 0,
        }
    }

    /// How many `ListObjectsV2` requests (pages included) the lister has made.
    pub fn list_calls(&self) -> u64 {
        self.list_calls
    }

    /// Passes every `poll` until `shutdown` turns true. A pass that fails is counted in the
    /// source's metrics and tried again at the next; the committed checkpoint says where.
    pub async fn run(mut self, metrics: Arc<Metrics>, mut shutdown: watch::Receiver<bool>) {
        metrics.register(&self.config.name);
        while !*shutdown.borrow() {
            if let Err(error) = self.pass().await {
                tracing::warn!(source = %self.config.name, %error, "listing the bucket failed; trying again at the next pass");
                metrics.source_error(&self.config.name, &error.0);
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
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

    /// One pass: every prefix listed once, what is new queued with the moved checkpoint, and
    /// the unreadable objects due again queued too. Returns how many objects it queued.
    pub async fn pass(&mut self) -> Result<u64, SourceError> {
        let now = store_now();
        let name = self.config.name.clone();
        let checkpoint = self.store.checkpoint(&name).await.map_err(store_error)?;
        let mut positions: Positions = match checkpoint {
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                SourceError(format!(
                    "the checkpoint of source {name} is damaged ({e}); delete its row in the \
                     checkpoints table to start again from start_back"
                ))
            })?,
            None => Positions::new(),
        };
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
                    source = %name,
                    bucket = %self.config.bucket,
                    prefix = %self.config.prefix,
                    "no AWSLogs/…/CloudTrail/REGION/ folders in the bucket yet"
                );
            }
        }
        let waiting: BTreeSet<String> = self
            .store
            .prefixes_with_queued_objects(&name)
            .await
            .map_err(store_error)?
            .into_iter()
            .collect();
        for (prefix, position) in &mut positions {
            if !waiting.contains(prefix) {
                position.covered_up_to = position.covered_up_to.max(position.listed_at);
            }
        }
        let mut queue = Vec::new();
        for prefix in self.prefixes.clone() {
            let keys = self
                .new_keys(&prefix, positions.get(&prefix), now)
                .await
                .map_err(|e| SourceError(e.to_string()))?;
            if keys.is_empty() && !waiting.contains(&prefix) {
                if let Some(position) = positions.get_mut(&prefix) {
                    position.covered_up_to = Some(now);
                }
            }
            for key in keys {
                let next = advance(positions.get(&prefix), &key, self.config.late_window);
                positions.insert(prefix.clone(), next);
                queue.push(QueuedObject {
                    key,
                    prefix: prefix.clone(),
                    attempts: 0,
                });
            }
            if let Some(position) = positions.get_mut(&prefix) {
                position.listed_at = Some(now);
            }
        }
        let due = self
            .store
            .due_source_failures(&name, now, 1_000)
            .await
            .map_err(store_error)?;
        queue.extend(due.into_iter().map(|failure| QueuedObject {
            key: failure.key,
            prefix: String::new(),
            attempts: failure.attempts,
        }));
        let checkpoint = serde_json::to_string(&positions).expect("positions serialise");
        self.store
            .queue_source_objects(&name, &queue, &checkpoint, now)
            .await
            .map_err(store_error)
    }
}

/// The half of a trail bucket's polling that reads it: every worker runs one, and takes
/// batches of the objects the lister queued.
pub struct S3Source {
    client: Client,
    config: S3SourceConfig,
    store: Store,
    worker: String,
}

impl S3Source {
    /// A reader of the objects queued for the configured source, claiming them for `worker`.
    pub fn new(
        client: Client,
        config: S3SourceConfig,
        store: Store,
        worker: impl Into<String>,
    ) -> S3Source {
        S3Source {
            client,
            config,
            store,
            worker: worker.into(),
        }
    }

    /// Records that `queued` could not be read: tried again later, or quarantined.
    async fn unreadable(
        &self,
        queued: &QueuedObject,
        error: &str,
        now: EventTime,
    ) -> Result<(), SourceError> {
        let attempts = queued.attempts;
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
            .map_err(store_error)?;
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

fn store_error(error: store::StoreError) -> SourceError {
    SourceError(error.to_string())
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

    /// The next objects the lister queued, claimed for this worker and read. The checkpoint
    /// is the lister's: a reader keeps none.
    async fn next_batch(
        &mut self,
        _checkpoint: Option<String>,
        budget: &MemoryBudget,
    ) -> Result<Option<SourceBatch>, SourceError> {
        let limit = u32::try_from(self.config.batch_objects.max(1)).unwrap_or(u32::MAX);
        let claimed = self
            .store
            .claim_source_objects(&self.config.name, &self.worker, self.config.claim, limit)
            .await
            .map_err(store_error)?;
        if claimed.is_empty() {
            return Ok(None);
        }
        let now = store_now();
        let mut held = Held::default();
        let mut items = Vec::new();
        let mut read = Vec::new();
        for queued in &claimed {
            let object = read_object(
                &self.client,
                &self.config.bucket,
                &queued.key,
                budget,
                &mut held,
            );
            match object.await {
                Ok(bytes) => {
                    let bytes = bytes.unwrap_or_else(|| {
                        tracing::warn!(source = %self.config.name, key = %queued.key, "listed object is gone");
                        Vec::new()
                    });
                    items.push(Item {
                        name: queued.key.clone(),
                        bytes,
                    });
                    read.push(queued.key.clone());
                }
                Err(error) => {
                    if let Err(store_error) = self.unreadable(queued, &error.0, now).await {
                        let keys: Vec<String> = claimed.iter().map(|q| q.key.clone()).collect();
                        self.abandoned(keys).await;
                        return Err(store_error);
                    }
                }
            }
        }
        Ok(Some(SourceBatch {
            batch: Batch {
                source: self.config.name.clone(),
                items,
                checkpoint: None,
                held,
            },
            receipts: read,
        }))
    }

    /// The batch's objects are read and committed: off the queue, earlier failures forgotten.
    async fn committed(&mut self, receipts: Vec<String>) -> Result<(), SourceError> {
        self.store
            .finish_source_objects(&self.config.name, &receipts)
            .await
            .map_err(store_error)
    }

    /// The batch must be read again: its objects are given back to the queue at once.
    async fn abandoned(&mut self, receipts: Vec<String>) {
        if let Err(error) = self
            .store
            .release_source_objects(&self.config.name, &self.worker, &receipts)
            .await
        {
            tracing::warn!(source = %self.config.name, %error,
                "cannot give the batch's objects back; another worker reads them once the claim runs out");
        }
    }

    /// Objects are queued at the lister's passes; a reader looks for them more often, so that
    /// one another worker listed waits little.
    fn idle_wait(&self) -> Duration {
        self.config.poll.min(Duration::from_secs(2))
    }
}

fn store_now() -> EventTime {
    EventTime::from(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/";

    #[test]
    fn only_a_start_back_past_the_horizon_is_warned_of() {
        let hours = |n: u64| Duration::from_secs(n * 3600);
        let mut settings = S3SourceConfig::new("polled", "trail-bucket", "");
        assert!(!settings.warn_if_backfill_past(hours(2)), "1 h default");
        settings.start_back = hours(2);
        assert!(
            !settings.warn_if_backfill_past(hours(2)),
            "up to the horizon"
        );
        settings.start_back = hours(24);
        assert!(settings.warn_if_backfill_past(hours(2)));
        assert!(!settings.warn_if_backfill_past(hours(24)), "horizon raised");
    }

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
