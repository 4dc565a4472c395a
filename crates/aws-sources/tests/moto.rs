//! The S3 and SQS sources against a real moto server (started by `scripts/test`): the key
//! layout of real trails, organisation trails, digests, late files, S3 notifications (moto
//! sends them as S3 does, test event first), SNS-wrapped and EventBridge messages, and
//! deletion only after commit.

use std::io::Write;
use std::time::Duration;

use pipeline::{Source, SourceBatch};
use tripkey_aws::{AwsOptions, Secret, StaticCredentials};
use tripkey_aws_sources::{S3Lister, S3Source, S3SourceConfig, SqsSource, SqsSourceConfig};

const ACCOUNT: &str = "123456789012";

fn moto() -> String {
    std::env::var("TRIPKEY_TEST_MOTO_ENDPOINT")
        .expect("TRIPKEY_TEST_MOTO_ENDPOINT is unset: run through scripts/test, which starts moto")
}

async fn clients() -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
    tripkey_aws_sources::clients(&AwsOptions {
        endpoint_url: Some(moto()),
        region: Some("us-east-1".to_owned()),
        credentials: Some(StaticCredentials {
            access_key_id: "testing".to_owned(),
            secret_access_key: Secret::new("testing"),
            session_token: None,
        }),
        ..AwsOptions::default()
    })
    .await
}

/// A name unique to this test run, for buckets and queues on the shared server.
fn unique(stem: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{stem}-{}-{nanos}", std::process::id())
}

fn gzip_records(event_ids: &[&str]) -> Vec<u8> {
    let records: Vec<serde_json::Value> = event_ids
        .iter()
        .map(|id| {
            serde_json::json!({"eventTime": "2026-11-30T10:00:00Z", "eventSource": "sts.amazonaws.com",
                "eventName": "GetCallerIdentity", "awsRegion": "us-east-1", "eventID": id,
                "userIdentity": {"type": "IAMUser", "accountId": ACCOUNT}})
        })
        .collect();
    let body = serde_json::json!({ "Records": records }).to_string();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body.as_bytes()).unwrap();
    gz.finish().unwrap()
}

/// The key CloudTrail would give a file delivered `minutes_ago` minutes ago.
fn trail_key(root: &str, region: &str, minutes_ago: i64, suffix: &str) -> String {
    let at = trail::EventTime::from(std::time::SystemTime::now()).offset(-minutes_ago * 60_000);
    let text = at.to_string();
    let (date, time) = text.split_once('T').unwrap();
    let stamp = format!("{}T{}Z", date.replace('-', ""), &time[..5].replace(':', ""));
    format!(
        "{root}{ACCOUNT}/CloudTrail/{region}/{}/{ACCOUNT}_CloudTrail_{region}_{stamp}_{suffix}.json.gz",
        date.replace('-', "/")
    )
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap();
}

fn names(batch: &SourceBatch) -> Vec<String> {
    batch
        .batch
        .items
        .iter()
        .map(|item| item.name.clone())
        .collect()
}

#[tokio::test]
async fn the_s3_poller_takes_each_object_once_per_account_and_region_including_late_ones() {
    let (s3, _) = clients().await;
    let bucket = unique("org-trail");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let root = "trails/AWSLogs/o-abc123defg/";
    let first = trail_key(root, "us-east-1", 30, "AAAAAAAAAAAAAAAA");
    let second = trail_key(root, "us-east-1", 10, "BBBBBBBBBBBBBBBB");
    let other_region = trail_key(root, "eu-west-1", 20, "CCCCCCCCCCCCCCCC");
    let too_old = trail_key(root, "us-east-1", 600, "DDDDDDDDDDDDDDDD");
    put(&s3, &bucket, &first, gzip_records(&["a"])).await;
    put(&s3, &bucket, &second, gzip_records(&["b"])).await;
    put(&s3, &bucket, &other_region, gzip_records(&["c"])).await;
    put(&s3, &bucket, &too_old, gzip_records(&["d"])).await;
    let digest = format!(
        "trails/AWSLogs/o-abc123defg/{ACCOUNT}/CloudTrail-Digest/us-east-1/2026/11/30/{ACCOUNT}_CloudTrail-Digest_us-east-1_org_us-east-1_20261130T100000Z.json.gz"
    );
    put(&s3, &bucket, &digest, b"{}".to_vec()).await;

    let folder = tempfile::tempdir().unwrap();
    let store = store::Store::open(folder.path().join("tripkey.db"))
        .await
        .unwrap();
    let config = S3SourceConfig::new("trail", &bucket, "trails/");
    let mut lister = S3Lister::new(s3.clone(), config.clone(), store.clone());
    let mut reader = S3Source::new(s3.clone(), config, store.clone(), "worker-a");
    let taken = drain(&mut lister, &mut reader).await;
    assert_eq!(taken, [other_region.clone(), first.clone(), second.clone()]);
    assert!(
        drain(&mut lister, &mut reader).await.is_empty(),
        "a second pass takes nothing twice"
    );

    // A file delivered late: older name than the newest taken, within the late window.
    let late = trail_key(root, "us-east-1", 20, "EEEEEEEEEEEEEEEE");
    put(&s3, &bucket, &late, gzip_records(&["e"])).await;
    assert_eq!(drain(&mut lister, &mut reader).await, [late]);

    // While input in flight fills the memory budget, the reader waits before reading; it
    // reads once the bytes are given back, and its batch holds the object's size until done.
    let newer = trail_key(root, "eu-west-1", 5, "FFFFFFFFFFFFFFFF");
    let body = gzip_records(&["f"]);
    let size = body.len() as u64;
    put(&s3, &bucket, &newer, body).await;
    assert_eq!(lister.pass().await.unwrap(), 1);
    let small_budget = pipeline::MemoryBudget::new(64 * 1024);
    let in_flight = small_budget.try_hold(small_budget.total()).unwrap();
    let waiting = tokio::time::timeout(
        Duration::from_millis(500),
        reader.next_batch(None, &small_budget),
    )
    .await;
    assert!(waiting.is_err(), "the reader waits for the budget");
    drop(in_flight);
    let batch = reader
        .next_batch(None, &small_budget)
        .await
        .unwrap()
        .expect("the worker takes back its own claim on the object whose read was dropped");
    assert_eq!(names(&batch), [newer]);
    assert_eq!(small_budget.in_use(), size.div_ceil(1024) * 1024);
    assert_eq!(batch.batch.held.bytes(), small_budget.in_use());
    reader.committed(batch.receipts).await.unwrap();
    drop(batch.batch);
    assert_eq!(small_budget.in_use(), 0);
    assert!(reader.next_batch(None, &budget()).await.unwrap().is_none());
}

/// The bodies of the messages visible now, left visible.
async fn visible_bodies(sqs: &aws_sdk_sqs::Client, queue: &str) -> Vec<String> {
    sqs.receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .wait_time_seconds(0)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default()
        .into_iter()
        .map(|message| message.body.unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn queued_notifications_are_read_and_deleted_only_after_commit() {
    let (s3, sqs) = clients().await;
    let bucket = unique("trail-bucket");
    let queue_name = unique("trail-objects");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let queue = sqs
        .create_queue()
        .queue_name(&queue_name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{queue_name}");
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            aws_sdk_s3::types::NotificationConfiguration::builder()
                .queue_configurations(
                    aws_sdk_s3::types::QueueConfiguration::builder()
                        .queue_arn(&queue_arn)
                        .events(aws_sdk_s3::types::Event::S3ObjectCreated)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let key = trail_key("AWSLogs/", "us-east-1", 5, "FFFFFFFFFFFFFFFF");
    put(&s3, &bucket, &key, gzip_records(&["f1", "f2"])).await;
    let event = serde_json::json!({
        "version": "0", "detail-type": "AWS API Call via CloudTrail", "source": "aws.sts",
        "detail": {"eventTime": "2026-11-30T10:00:00Z", "eventSource": "sts.amazonaws.com",
            "eventName": "GetCallerIdentity", "awsRegion": "us-east-1", "eventID": "g"}
    });
    sqs.send_message()
        .queue_url(&queue)
        .message_body(event.to_string())
        .send()
        .await
        .unwrap();
    sqs.send_message()
        .queue_url(&queue)
        .message_body("not a notification")
        .send()
        .await
        .unwrap();

    let mut config = SqsSourceConfig::new("objects", &queue);
    config.wait = Duration::from_secs(1);
    config.visibility = Duration::from_secs(2);
    let mut source = SqsSource::new(sqs.clone(), s3.clone(), config);
    let mut items = Vec::new();
    let mut batches = Vec::new();
    for _ in 0..5 {
        if let Some(batch) = source.next_batch(None, &budget()).await.unwrap() {
            items.extend(names(&batch));
            batches.push(batch);
        }
        if items.len() >= 2 {
            break;
        }
    }
    assert!(items.contains(&format!("s3://{bucket}/{key}")), "{items:?}");
    assert!(
        items.iter().any(|name| name.starts_with("sqs message")),
        "{items:?}"
    );
    // Not yet committed: past the visibility timeout the messages would come back, so the
    // heartbeat must be keeping them hidden meanwhile; the one not understood is let go.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        visible_bodies(&sqs, &queue).await,
        ["not a notification"],
        "messages in flight stay invisible while their batch is processed"
    );
    for batch in batches {
        source.committed(batch.receipts).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        visible_bodies(&sqs, &queue).await,
        ["not a notification"],
        "committed messages (and S3's test event) are deleted; one not understood stays"
    );
}

#[tokio::test]
async fn an_abandoned_batch_comes_back_after_its_visibility_timeout() {
    let (s3, sqs) = clients().await;
    let queue = sqs
        .create_queue()
        .queue_name(unique("trail-events"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let event = serde_json::json!({
        "version": "0", "detail-type": "AWS API Call via CloudTrail", "source": "aws.sts",
        "detail": {"eventTime": "2026-11-30T10:00:00Z", "eventSource": "sts.amazonaws.com",
            "eventName": "GetCallerIdentity", "awsRegion": "us-east-1", "eventID": "h"}
    })
    .to_string();
    sqs.send_message()
        .queue_url(&queue)
        .message_body(&event)
        .send()
        .await
        .unwrap();
    let mut config = SqsSourceConfig::new("events", &queue);
    config.wait = Duration::from_secs(1);
    config.visibility = Duration::from_secs(2);
    let mut source = SqsSource::new(sqs.clone(), s3, config);
    let mut batch = None;
    for _ in 0..5 {
        batch = source.next_batch(None, &budget()).await.unwrap();
        if batch.is_some() {
            break;
        }
    }
    let batch = batch.expect("the event is received");
    // The commit failed: the source lets the message go, and the heartbeat that kept it
    // hidden stops extending it, so it is visible again once its 2 s timeout has passed.
    source.abandoned(batch.receipts).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        visible_bodies(&sqs, &queue).await,
        [event],
        "an abandoned message is read again"
    );
}

#[tokio::test]
async fn an_object_that_cannot_be_fetched_holds_back_only_its_own_message() {
    let (s3, sqs) = clients().await;
    let queue = sqs
        .create_queue()
        .queue_name(unique("trail-mixed"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let unreadable = serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": unique("no-such-bucket")},
               "object": {"key": "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/30/x.json.gz"}}
    }]})
    .to_string();
    let event = serde_json::json!({
        "version": "0", "detail-type": "AWS API Call via CloudTrail", "source": "aws.sts",
        "detail": {"eventTime": "2026-11-30T10:00:00Z", "eventSource": "sts.amazonaws.com",
            "eventName": "GetCallerIdentity", "awsRegion": "us-east-1", "eventID": "k"}
    })
    .to_string();
    for body in [&unreadable, &event] {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let mut config = SqsSourceConfig::new("mixed", &queue);
    config.wait = Duration::from_secs(1);
    config.visibility = Duration::from_secs(2);
    let mut source = SqsSource::new(sqs.clone(), s3, config);
    let mut items = Vec::new();
    for _ in 0..5 {
        if let Some(batch) = source.next_batch(None, &budget()).await.unwrap() {
            items.extend(names(&batch));
            source.committed(batch.receipts).await.unwrap();
        }
        if !items.is_empty() {
            break;
        }
    }
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(items[0].starts_with("sqs message"), "{items:?}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        visible_bodies(&sqs, &queue).await,
        [unreadable],
        "the event was read and deleted; the unreadable notification waits for a retry"
    );
}

/// One pass of `lister`, then the batches of `reader` until the queue is empty, each
/// committed as serve's loop does. Returns the keys read, in order.
async fn drain(lister: &mut S3Lister, reader: &mut S3Source) -> Vec<String> {
    lister.pass().await.unwrap();
    let mut taken = Vec::new();
    while let Some(batch) = reader.next_batch(None, &budget()).await.unwrap() {
        assert!(
            taken.len() < 100,
            "the reader keeps returning objects: {taken:?}"
        );
        assert!(
            batch.batch.checkpoint.is_none(),
            "the lister keeps the checkpoint"
        );
        taken.extend(names(&batch));
        reader.committed(batch.receipts).await.unwrap();
    }
    taken
}

#[tokio::test]
async fn one_pass_lists_each_prefix_once_and_workers_share_its_objects_in_batches() {
    let (s3, _) = clients().await;
    let bucket = unique("big-trail");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let root = "AWSLogs/";
    let regions = ["eu-west-1", "us-east-1", "us-west-2", "ap-south-1"];
    let mut keys = Vec::new();
    for region in regions {
        for n in 0..5 {
            let key = trail_key(root, region, 50 - n * 10, &format!("{region}-{n:012}"));
            put(&s3, &bucket, &key, gzip_records(&[&key])).await;
            keys.push(key);
        }
    }
    let folder = tempfile::tempdir().unwrap();
    let store = store::Store::open(folder.path().join("tripkey.db"))
        .await
        .unwrap();
    let mut config = S3SourceConfig::new("trail", &bucket, "");
    config.batch_objects = 3;
    let mut lister = S3Lister::new(s3.clone(), config.clone(), store.clone());
    let mut readers = [
        S3Source::new(s3.clone(), config.clone(), store.clone(), "worker-a"),
        S3Source::new(s3.clone(), config.clone(), store.clone(), "worker-b"),
    ];

    assert_eq!(lister.pass().await.unwrap(), 20);
    // Discovery: AWSLogs/ (accounts), then the account's CloudTrail/ (regions).
    let discovery = 2;
    assert_eq!(lister.list_calls(), discovery + regions.len() as u64);

    // Two workers claim batches at once: each takes different objects, and a claimed batch
    // not yet committed is not handed to the other.
    let [a, b] = &mut readers;
    let shared = budget();
    let (first_a, first_b) = tokio::join!(a.next_batch(None, &shared), b.next_batch(None, &shared));
    let (first_a, first_b) = (first_a.unwrap().unwrap(), first_b.unwrap().unwrap());
    assert_eq!(
        (first_a.batch.items.len(), first_b.batch.items.len()),
        (3, 3)
    );
    let mut taken: Vec<String> = names(&first_a).into_iter().chain(names(&first_b)).collect();
    a.committed(first_a.receipts).await.unwrap();
    b.committed(first_b.receipts).await.unwrap();
    let mut per_worker = [0, 0];
    loop {
        let mut progressed = false;
        for (n, reader) in readers.iter_mut().enumerate() {
            if let Some(batch) = reader.next_batch(None, &budget()).await.unwrap() {
                assert!(batch.batch.items.len() <= 3);
                per_worker[n] += batch.batch.items.len();
                taken.extend(names(&batch));
                reader.committed(batch.receipts).await.unwrap();
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    assert!(
        per_worker[0] > 0 && per_worker[1] > 0,
        "both workers read: {per_worker:?}"
    );
    taken.sort();
    keys.sort();
    assert_eq!(taken, keys, "every object once, by one worker or the other");

    assert_eq!(lister.pass().await.unwrap(), 0);
    assert_eq!(
        lister.list_calls(),
        discovery + 2 * regions.len() as u64,
        "20 objects cost one listing per prefix, plus the pass that found nothing new"
    );
    let checkpoint = store.checkpoint("trail").await.unwrap().unwrap();
    let positions: serde_json::Value = serde_json::from_str(&checkpoint).unwrap();
    let covered = positions.as_object().unwrap();
    assert_eq!(covered.len(), regions.len());
    for (prefix, position) in covered {
        assert!(
            position["covered_up_to"].is_i64() || position["covered_up_to"].is_string(),
            "{prefix} keeps the time it is covered up to: {position}"
        );
    }
}

#[tokio::test]
async fn objects_a_dead_worker_claimed_are_read_by_another_once_its_claim_runs_out() {
    let (s3, _) = clients().await;
    let bucket = unique("claimed-trail");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let keys: Vec<String> = (0..4)
        .map(|n| {
            trail_key(
                "AWSLogs/",
                "us-east-1",
                40 - n * 10,
                &format!("CLAIMED{n:09}"),
            )
        })
        .collect();
    for key in &keys {
        put(&s3, &bucket, key, gzip_records(&[key])).await;
    }
    let folder = tempfile::tempdir().unwrap();
    let store = store::Store::open(folder.path().join("tripkey.db"))
        .await
        .unwrap();
    let mut config = S3SourceConfig::new("trail", &bucket, "");
    config.batch_objects = 2;
    config.claim = Duration::from_millis(800);
    let mut lister = S3Lister::new(s3.clone(), config.clone(), store.clone());
    let mut dying = S3Source::new(s3.clone(), config.clone(), store.clone(), "dying");
    let mut survivor = S3Source::new(s3.clone(), config.clone(), store.clone(), "survivor");
    lister.pass().await.unwrap();

    // The dying worker reads a batch and never commits it.
    let lost = dying.next_batch(None, &budget()).await.unwrap().unwrap();
    assert_eq!(names(&lost), keys[..2]);
    let mut taken = Vec::new();
    while let Some(batch) = survivor.next_batch(None, &budget()).await.unwrap() {
        taken.extend(names(&batch));
        survivor.committed(batch.receipts).await.unwrap();
    }
    assert_eq!(taken, keys[2..], "the survivor does not take a live claim");
    assert_eq!(
        store.queued_object_counts().await.unwrap(),
        [("trail".to_owned(), 2)]
    );

    tokio::time::sleep(Duration::from_millis(900)).await;
    let batch = survivor.next_batch(None, &budget()).await.unwrap().unwrap();
    assert_eq!(
        names(&batch),
        keys[..2],
        "taken over once the claim ran out"
    );
    survivor.committed(batch.receipts).await.unwrap();
    assert!(store.queued_object_counts().await.unwrap().is_empty());

    // A batch abandoned (its commit failed) goes back to the queue at once.
    let late = trail_key("AWSLogs/", "us-east-1", 5, "ABANDONED0000000");
    put(&s3, &bucket, &late, gzip_records(&["late"])).await;
    lister.pass().await.unwrap();
    let batch = dying.next_batch(None, &budget()).await.unwrap().unwrap();
    dying.abandoned(batch.receipts).await;
    let batch = survivor.next_batch(None, &budget()).await.unwrap().unwrap();
    assert_eq!(names(&batch), [late]);
}

#[tokio::test]
async fn an_unreadable_object_is_retried_then_quarantined_without_holding_up_its_prefix() {
    let (s3, _) = clients().await;
    let bucket = unique("cold-trail");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let root = "AWSLogs/";
    let before = trail_key(root, "us-east-1", 30, "AAAAAAAAAAAAAAAA");
    let frozen = trail_key(root, "us-east-1", 20, "FROZENFROZENFROZ");
    let after = trail_key(root, "us-east-1", 10, "BBBBBBBBBBBBBBBB");
    put(&s3, &bucket, &before, gzip_records(&["a"])).await;
    // An object in Glacier: GetObject answers InvalidObjectState until it is restored, as
    // after a lifecycle rule moved it.
    s3.put_object()
        .bucket(&bucket)
        .key(&frozen)
        .body(gzip_records(&["f"]).into())
        .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
        .send()
        .await
        .unwrap();
    put(&s3, &bucket, &after, gzip_records(&["b"])).await;

    let folder = tempfile::tempdir().unwrap();
    let store = store::Store::open(folder.path().join("tripkey.db"))
        .await
        .unwrap();
    let mut config = S3SourceConfig::new("trail", &bucket, "");
    config.quarantine_after = 2;
    config.retry_base = Duration::from_millis(500);
    let mut lister = S3Lister::new(s3.clone(), config.clone(), store.clone());
    let mut reader = S3Source::new(s3.clone(), config, store.clone(), "worker-a");

    let taken = drain(&mut lister, &mut reader).await;
    assert_eq!(
        taken,
        [before.clone(), after.clone()],
        "the objects around it are read"
    );
    assert!(
        store.queued_object_counts().await.unwrap().is_empty(),
        "the unreadable object left the read queue for the failures"
    );
    let failures = store.source_failures(Some("trail")).await.unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        (failures[0].key.as_str(), failures[0].attempts),
        (frozen.as_str(), 1)
    );
    assert!(failures[0].quarantined_at.is_none());
    assert!(
        failures[0].last_error.contains("InvalidObjectState"),
        "{}",
        failures[0].last_error
    );

    let taken = drain(&mut lister, &mut reader).await;
    assert!(taken.is_empty(), "{taken:?}");
    assert_eq!(
        store.source_failures(Some("trail")).await.unwrap()[0].attempts,
        1,
        "not tried again before its backoff"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let taken = drain(&mut lister, &mut reader).await;
    assert!(taken.is_empty(), "{taken:?}");
    let failures = store.source_failures(Some("trail")).await.unwrap();
    assert_eq!(
        failures[0].attempts, 2,
        "tried again at a pass after its backoff"
    );
    assert!(
        failures[0].quarantined_at.is_some(),
        "quarantined at its second failure"
    );
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let taken = drain(&mut lister, &mut reader).await;
    assert!(taken.is_empty());
    assert_eq!(
        store.source_failures(Some("trail")).await.unwrap()[0].attempts,
        2,
        "a quarantined object is not tried again by itself"
    );

    // Readable again (restored from Glacier; or the key policy fixed), and a retry asked for.
    s3.restore_object()
        .bucket(&bucket)
        .key(&frozen)
        .restore_request(aws_sdk_s3::types::RestoreRequest::builder().days(1).build())
        .send()
        .await
        .unwrap();
    assert_eq!(
        store
            .retry_source_failures(Some("trail"), &[])
            .await
            .unwrap(),
        1
    );
    let taken = drain(&mut lister, &mut reader).await;
    assert_eq!(taken, [frozen], "read at the next pass");
    assert!(
        store.source_failures(None).await.unwrap().is_empty(),
        "read and committed, its failures are forgotten"
    );
}

/// A memory budget as `serve` gives its sources by default.
fn budget() -> pipeline::MemoryBudget {
    pipeline::MemoryBudget::new(pipeline::DEFAULT_MEMORY_BUDGET)
}

/// AWS Health's word that a canary's key is public reaches tripkey as EventBridge delivers
/// it, on the events queue: the SQS source passes the event on as an item, the reader makes
/// it a record, and the detectors raise canary-exposed.
#[tokio::test]
async fn an_aws_health_event_on_the_events_queue_raises_canary_exposed() {
    let (s3, sqs) = clients().await;
    let queue = sqs
        .create_queue()
        .queue_name(unique("events"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let key = "AKIARTX3GSDS5ZZ46JLN";
    let event = serde_json::json!({
        "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "AWS Health Event", "source": "aws.health", "account": ACCOUNT,
        "time": "2026-12-03T09:01:22Z", "region": "us-east-1", "resources": [],
        "detail": {"eventArn": "arn:aws:health:global::event/RISK/AWS_RISK_CREDENTIALS_EXPOSED/x",
            "service": "RISK", "eventTypeCode": "AWS_RISK_CREDENTIALS_EXPOSED",
            "eventTypeCategory": "issue", "affectedEntities": [{"entityValue": key}]}
    });
    sqs.send_message()
        .queue_url(&queue)
        .message_body(event.to_string())
        .send()
        .await
        .unwrap();
    let mut config = SqsSourceConfig::new("events", &queue);
    config.wait = Duration::from_secs(1);
    let mut source = SqsSource::new(sqs.clone(), s3, config);
    let mut batch = None;
    for _ in 0..5 {
        batch = source.next_batch(None, &budget()).await.unwrap();
        if batch.is_some() {
            break;
        }
    }
    let batch = batch.expect("the Health event is read");
    assert_eq!(batch.batch.items.len(), 1);

    let canary = detect::Canary {
        name: "svc-billing-sync".to_owned(),
        access_key_id: Some(key.to_owned()),
        former_access_key_ids: Vec::new(),
        principal_arn: None,
        user_name: Some("svc-billing-sync".to_owned()),
        account_id: Some(ACCOUNT.to_owned()),
        labels: Default::default(),
        memo: None,
        revoked_at: None,
    };
    let registry = std::sync::Arc::new(detect::CanaryRegistry::new(vec![canary]).unwrap());
    let mut engine = detect::Engine::new(
        &detect::DetectConfig::default(),
        registry,
        detect::MemoryState::default(),
    );
    let mut alerts = Vec::new();
    let problems = trail::parse_records(&batch.batch.items[0].bytes, |_, record| {
        engine.process(&record, &mut alerts)
    });
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].rule, detect::Rule::CanaryExposed);
    assert_eq!(alerts[0].subject(), "svc-billing-sync");
    source.committed(batch.receipts).await.unwrap();
    assert!(
        visible_bodies(&sqs, &queue).await.is_empty(),
        "read and deleted"
    );
}
