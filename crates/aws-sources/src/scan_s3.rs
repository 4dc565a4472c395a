//! `tripkey scan s3://BUCKET[/PREFIX]`: a trail bucket read in place, for incident response.
//!
//! The listing walks the prefix one folder level at a time and passes over the folders the
//! scan's window excludes (accounts, regions, years, months, days). A region folder of
//! CloudTrail's layout is listed in one run from the first day the window may need to the
//! last, so a one-day window over years of logs costs a handful of calls per region. Keys
//! stream from the lister to a bounded set of parallel GETs, and the objects go to the scan in
//! listing order: nothing holds the bucket's whole listing, and memory is bounded by the
//! objects in flight.

use std::collections::VecDeque;
use std::time::Duration;

use aws_sdk_s3::Client;
use scan::{Feed, Piece, Remote};
use tokio::sync::mpsc;
use trail::{KeyKind, ScanWindow, TrailObjectKey};
use tripkey_aws::{describe_chain, AwsError, AwsOptions};

/// GETs in flight at once unless told otherwise.
pub const DEFAULT_PARALLEL_GETS: usize = 16;

/// Attempts at reading one object's body; the SDK itself retries the request.
const BODY_ATTEMPTS: u32 = 4;

/// A bucket, or a prefix of one, to scan.
#[derive(Debug)]
pub struct S3Scan {
    name: String,
    bucket: String,
    prefix: String,
    options: AwsOptions,
    parallel: usize,
}

impl S3Scan {
    /// Reads `s3://BUCKET[/PREFIX]`. The connection (profile, region, endpoint) is used when
    /// the scan reaches this input, so a bad one is reported there and the other inputs are
    /// still read.
    pub fn parse(uri: &str, options: AwsOptions, parallel: usize) -> Result<S3Scan, String> {
        let rest = uri
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{uri:?} is not an s3://BUCKET[/PREFIX] address"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!(
                "{uri:?} names no bucket: give s3://BUCKET or s3://BUCKET/PREFIX"
            ));
        }
        Ok(S3Scan {
            name: uri.to_owned(),
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            options,
            parallel: parallel.max(1),
        })
    }

    /// A client in the bucket's own region: S3 answers a request signed for another region
    /// with a redirect the SDK does not follow.
    async fn client(&self) -> Client {
        let mut client = crate::s3_client(&self.options).await;
        if client.config().region().is_none() {
            // GetBucketLocation answers from us-east-1 for a bucket in any region.
            client = crate::s3_client(&AwsOptions {
                region: Some("us-east-1".to_owned()),
                ..self.options.clone()
            })
            .await;
        }
        let location = client
            .get_bucket_location()
            .bucket(&self.bucket)
            .send()
            .await;
        let Ok(location) = location else {
            return client;
        };
        let region = location
            .location_constraint()
            .map(|constraint| constraint.as_str())
            .filter(|region| !region.is_empty())
            .unwrap_or("us-east-1");
        if client.config().region().map(|r| r.as_ref()) == Some(region) {
            return client;
        }
        crate::s3_client(&AwsOptions {
            region: Some(region.to_owned()),
            ..self.options.clone()
        })
        .await
    }

    async fn run(&self, window: &ScanWindow, feed: &mut Feed) {
        let client = self.client().await;
        let (sender, mut listed) = mpsc::channel(1024);
        let lister = tokio::spawn(list(
            client.clone(),
            self.bucket.clone(),
            self.prefix.clone(),
            window.clone(),
            sender,
        ));
        let mut in_flight = VecDeque::new();
        let mut listing = true;
        loop {
            while listing && in_flight.len() < self.parallel {
                match listed.recv().await {
                    Some(Listed::Object(key)) => {
                        let (client, bucket) = (client.clone(), self.bucket.clone());
                        in_flight.push_back(tokio::spawn(get(client, bucket, key)));
                    }
                    Some(Listed::Failed(message)) => {
                        let piece = Piece::Failed {
                            name: self.name.clone(),
                            message,
                        };
                        in_flight.push_back(tokio::spawn(std::future::ready(piece)));
                    }
                    Some(Listed::Count(count)) => count.apply(feed),
                    None => listing = false,
                }
            }
            let Some(next) = in_flight.pop_front() else {
                break;
            };
            let piece = next.await.unwrap_or_else(|error| Piece::Failed {
                name: self.name.clone(),
                message: format!("the read stopped: {error}"),
            });
            // The send waits while the scan's workers are busy; the GETs in flight go on
            // meanwhile on the runtime's own threads.
            if !feed.send(piece) {
                break;
            }
        }
        lister.abort();
        for task in in_flight {
            task.abort();
        }
    }
}

impl Remote for S3Scan {
    fn name(&self) -> &str {
        &self.name
    }

    fn fetch_into(&mut self, window: &ScanWindow, feed: &mut Feed) {
        if let Some(runtime) = crate::scan_runtime(&self.name, feed) {
            runtime.block_on(self.run(window, feed));
        }
    }
}

/// What the lister tells the reader, in listing order.
enum Listed {
    Object(String),
    Failed(String),
    Count(Count),
}

/// Objects and prefixes the lister passed over.
#[derive(Default)]
struct Count {
    listed: u64,
    pruned_objects: u64,
    pruned_prefixes: u64,
    digests: u64,
    other: u64,
}

impl Count {
    fn apply(&self, feed: &Feed) {
        feed.listed(self.listed);
        feed.pruned_objects(self.pruned_objects);
        feed.pruned_prefixes(self.pruned_prefixes);
        feed.skipped_digests(self.digests);
        feed.skipped_other(self.other);
    }
}

/// Lists `prefix` depth first in key order, sending the keys the window may need.
async fn list(
    client: Client,
    bucket: String,
    prefix: String,
    window: ScanWindow,
    sender: mpsc::Sender<Listed>,
) {
    if !window.keeps_folder(&prefix) {
        let count = Count {
            pruned_prefixes: 1,
            ..Count::default()
        };
        let _ = sender.send(Listed::Count(count)).await;
        return;
    }
    let mut folders = vec![prefix];
    while let Some(folder) = folders.pop() {
        let range = window.region_range(&folder);
        let mut pages = client
            .list_objects_v2()
            .bucket(&bucket)
            .prefix(&folder)
            // A region folder is listed whole within its days; other folders one level at a
            // time, so that the window can pass over the ones below.
            .set_delimiter(range.is_none().then(|| "/".to_owned()))
            .set_start_after(range.as_ref().and_then(|range| range.start_after.clone()))
            .into_paginator()
            .send();
        let mut below = Vec::new();
        'pages: while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(error) => {
                    let error = AwsError::from_sdk("s3:ListObjectsV2", error);
                    let message = format!("cannot list s3://{bucket}/{folder}: {error}");
                    if sender.send(Listed::Failed(message)).await.is_err() {
                        return;
                    }
                    break;
                }
            };
            let mut count = Count::default();
            let mut keys = Vec::new();
            let mut past_range = false;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                if range
                    .as_ref()
                    .is_some_and(|range| !range.is_before_end(key))
                {
                    past_range = true;
                    break;
                }
                count.listed += 1;
                match trail::kind_of_key(key) {
                    KeyKind::Digest => count.digests += 1,
                    KeyKind::Other => count.other += 1,
                    KeyKind::Log => {
                        let outside = TrailObjectKey::parse(key)
                            .is_some_and(|object| !window.keeps_object(&object));
                        if outside {
                            count.pruned_objects += 1;
                        } else {
                            keys.push(key.to_owned());
                        }
                    }
                }
            }
            for common in page.common_prefixes() {
                let Some(sub) = common.prefix() else { continue };
                if trail::holds_no_records(sub) {
                    continue;
                }
                if window.keeps_folder(sub) {
                    below.push(sub.to_owned());
                } else {
                    count.pruned_prefixes += 1;
                }
            }
            if sender.send(Listed::Count(count)).await.is_err() {
                return;
            }
            for key in keys {
                if sender.send(Listed::Object(key)).await.is_err() {
                    return;
                }
            }
            if past_range {
                break 'pages;
            }
        }
        folders.extend(below.into_iter().rev());
    }
}

/// Reads one object. The SDK retries the request itself (throttling, 5xx, timeouts); a body
/// cut off on its way is read again here, with backoff.
async fn get(client: Client, bucket: String, key: String) -> Piece {
    let name = format!("s3://{bucket}/{key}");
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        let object = match client.get_object().bucket(&bucket).key(&key).send().await {
            Ok(object) => object,
            Err(error) => {
                let error = AwsError::from_sdk("s3:GetObject", error);
                let hint = if error.to_string().contains("InvalidObjectState") {
                    " (the object is archived: restore it with `aws s3api restore-object` and scan again)"
                } else {
                    ""
                };
                return Piece::Failed {
                    name,
                    message: format!("{error}{hint}"),
                };
            }
        };
        // CloudTrail writes objects of a few megabytes; a huge one is not a trail's, and
        // reading it whole would take the memory the scan keeps bounded.
        let size = object.content_length().unwrap_or(0).max(0) as u64;
        if size > scan::MAX_FETCHED_DECOMPRESSED {
            return Piece::Failed {
                name,
                message: format!(
                    "the object is {size} bytes, more than the {} a trail object may hold; \
                     skipped",
                    scan::MAX_FETCHED_DECOMPRESSED
                ),
            };
        }
        match object.body.collect().await {
            Ok(body) => {
                return Piece::Fetched {
                    name,
                    bytes: body.into_bytes().to_vec(),
                }
            }
            Err(error) if attempt >= BODY_ATTEMPTS => {
                return Piece::Failed {
                    name,
                    message: format!(
                        "the body broke off {attempt} times: {}",
                        describe_chain(&error)
                    ),
                }
            }
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_a_bucket_and_a_prefix() {
        let options = AwsOptions::default();
        let scan = S3Scan::parse("s3://trail-logs/AWSLogs/o-abc/", options.clone(), 4).unwrap();
        assert_eq!(
            (&*scan.bucket, &*scan.prefix),
            ("trail-logs", "AWSLogs/o-abc/")
        );
        let scan = S3Scan::parse("s3://trail-logs", options.clone(), 4).unwrap();
        assert_eq!((&*scan.bucket, &*scan.prefix), ("trail-logs", ""));
        assert!(S3Scan::parse("s3:///AWSLogs", options.clone(), 4)
            .unwrap_err()
            .contains("names no bucket"));
        assert!(S3Scan::parse("/tmp/logs", options, 4).is_err());
    }
}
