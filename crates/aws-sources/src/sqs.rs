//! A queue of notifications: S3 `ObjectCreated` events for trail objects (direct, or wrapped
//! in SNS), EventBridge "Object Created" events, and EventBridge CloudTrail events carrying the
//! record itself. Messages are deleted only after their batch is committed; while a batch is
//! being read and committed, their visibility timeout is extended so no other reader takes
//! them.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use aws_sdk_s3::Client as S3Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use aws_sdk_sqs::Client as SqsClient;
use pipeline::{Batch, Held, Item, MemoryBudget, Source, SourceBatch, SourceError};
use serde_json::Value;
use trail::TrailObjectKey;
use tripkey_aws::AwsError;

use crate::object::read_object;

/// What to read.
#[derive(Clone, Debug)]
pub struct SqsSourceConfig {
    /// The source's name.
    pub name: String,
    /// The queue's URL.
    pub queue_url: String,
    /// Long-poll wait (at most 20 s).
    pub wait: Duration,
    /// The visibility timeout asked for while messages are processed; renewed at half of it.
    pub visibility: Duration,
    /// Messages per receive (at most 10).
    pub max_messages: i32,
}

impl SqsSourceConfig {
    /// A configuration with the defaults: 20 s long polls, 60 s visibility, 10 messages.
    pub fn new(name: impl Into<String>, queue_url: impl Into<String>) -> SqsSourceConfig {
        SqsSourceConfig {
            name: name.into(),
            queue_url: queue_url.into(),
            wait: Duration::from_secs(20),
            visibility: Duration::from_secs(60),
            max_messages: 10,
        }
    }
}

/// An S3 object a notification names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    /// The bucket.
    pub bucket: String,
    /// The key, decoded.
    pub key: String,
}

/// What one message carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notification {
    /// Trail objects to read.
    Objects(Vec<ObjectRef>),
    /// The CloudTrail data itself (an EventBridge event), or an AWS Health event the detectors
    /// read as a record: the body is the item.
    Records,
    /// Nothing to read: S3's test event, or a notification about something else.
    Nothing,
}

/// Reads what a message body is. `Err` for a body that is none of the known shapes: such a
/// message is left on the queue (its redrive policy moves it aside) and reported.
pub fn classify(body: &str) -> Result<Notification, String> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| format!("the message is not JSON: {e}"))?;
    // SNS wraps the S3 notification in `Message`, as a string.
    if value.get("Type").and_then(Value::as_str) == Some("Notification") {
        let inner = value
            .get("Message")
            .and_then(Value::as_str)
            .ok_or("an SNS notification without a Message string")?;
        return classify(inner);
    }
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Notification::Nothing);
    }
    if let Some(detail_type) = value.get("detail-type").and_then(Value::as_str) {
        // AWS Health events carry AWS's own findings, such as a key it found in public.
        if detail_type.ends_with("via CloudTrail") || detail_type == "AWS Health Event" {
            return Ok(Notification::Records);
        }
        if detail_type == "Object Created" {
            let detail = &value["detail"];
            let bucket = detail["bucket"]["name"].as_str();
            let key = detail["object"]["key"].as_str();
            return match (bucket, key) {
                (Some(bucket), Some(key)) => Ok(Notification::Objects(vec![ObjectRef {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                }])),
                _ => Err("an Object Created event without bucket and key".to_owned()),
            };
        }
        return Ok(Notification::Nothing);
    }
    if let Some(records) = value.get("Records").and_then(Value::as_array) {
        if records.iter().all(|r| r.get("s3").is_some()) {
            let mut objects = Vec::new();
            for record in records {
                let created = record["eventName"]
                    .as_str()
                    .is_some_and(|name| name.starts_with("ObjectCreated"));
                if !created {
                    continue;
                }
                let bucket = record["s3"]["bucket"]["name"].as_str();
                let key = record["s3"]["object"]["key"].as_str();
                let (Some(bucket), Some(key)) = (bucket, key) else {
                    return Err("an S3 event record without bucket and key".to_owned());
                };
                objects.push(ObjectRef {
                    bucket: bucket.to_owned(),
                    key: decode_s3_key(key),
                });
            }
            return Ok(Notification::Objects(objects));
        }
        // A trail file's own shape, sent as a message body (a forwarder).
        return Ok(Notification::Records);
    }
    Err("neither an S3 notification, an SNS-wrapped one, nor an EventBridge event".to_owned())
}

/// S3 event notifications URL-encode keys, with `+` for spaces.
fn decode_s3_key(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A queue, long-polled.
pub struct SqsSource {
    sqs: SqsClient,
    s3: S3Client,
    config: SqsSourceConfig,
    /// Receipt handles of the messages read but not yet committed, whose visibility the
    /// heartbeat task keeps extending; it ends when the source is dropped.
    in_flight: Arc<Mutex<BTreeSet<String>>>,
    heartbeat_started: bool,
}

impl SqsSource {
    /// A reader of the configured queue, fetching objects with `s3`.
    pub fn new(sqs: SqsClient, s3: S3Client, config: SqsSourceConfig) -> SqsSource {
        SqsSource {
            sqs,
            s3,
            config,
            in_flight: Arc::new(Mutex::new(BTreeSet::new())),
            heartbeat_started: false,
        }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps these messages invisible to other readers until [`SqsSource::release`].
    fn keep_invisible(&mut self, receipts: &[String]) {
        self.in_flight().extend(receipts.iter().cloned());
        if !self.heartbeat_started {
            self.heartbeat_started = true;
            tokio::spawn(heartbeat(
                self.sqs.clone(),
                self.config.queue_url.clone(),
                self.config.visibility,
                Arc::downgrade(&self.in_flight),
            ));
        }
    }

    fn release(&self, receipts: &[String]) {
        let mut in_flight = self.in_flight();
        for receipt in receipts {
            in_flight.remove(receipt);
        }
    }
}

/// Every half visibility timeout, extends the visibility of the messages in flight; ends when
/// the source is gone.
async fn heartbeat(
    sqs: SqsClient,
    queue: String,
    visibility: Duration,
    in_flight: Weak<Mutex<BTreeSet<String>>>,
) {
    let seconds = i32::try_from(visibility.as_secs()).unwrap_or(i32::MAX);
    loop {
        tokio::time::sleep(visibility / 2).await;
        let Some(in_flight) = in_flight.upgrade() else {
            return;
        };
        let receipts: Vec<String> = in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        drop(in_flight);
        for receipt in receipts {
            let extended = sqs
                .change_message_visibility()
                .queue_url(&queue)
                .receipt_handle(&receipt)
                .visibility_timeout(seconds)
                .send()
                .await;
            if let Err(error) = extended {
                let error = AwsError::from_sdk("sqs:ChangeMessageVisibility", error);
                tracing::warn!(%error, "could not extend a message's visibility");
            }
        }
    }
}

impl Source for SqsSource {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn next_batch(
        &mut self,
        _checkpoint: Option<String>,
        budget: &MemoryBudget,
    ) -> Result<Option<SourceBatch>, SourceError> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.config.queue_url)
            .max_number_of_messages(self.config.max_messages)
            .wait_time_seconds(i32::try_from(self.config.wait.as_secs()).unwrap_or(20))
            .visibility_timeout(i32::try_from(self.config.visibility.as_secs()).unwrap_or(60))
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| SourceError(AwsError::from_sdk("sqs:ReceiveMessage", e).to_string()))?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(None);
        }
        let receipts: Vec<String> = messages
            .iter()
            .filter_map(|m| m.receipt_handle().map(str::to_owned))
            .collect();
        self.keep_invisible(&receipts);
        let mut items = Vec::new();
        let mut held = Held::default();
        let mut done = Vec::new();
        'messages: for message in &messages {
            let body = message.body().unwrap_or_default();
            let id = message.message_id().unwrap_or("?");
            let items_before = items.len();
            match classify(body) {
                Ok(Notification::Nothing) => {}
                Ok(Notification::Records) => {
                    budget.hold_also(&mut held, body.len() as u64).await;
                    items.push(Item {
                        name: format!("sqs message {id}"),
                        bytes: body.as_bytes().to_vec(),
                    });
                }
                Ok(Notification::Objects(objects)) => {
                    for object in objects {
                        if TrailObjectKey::parse(&object.key).is_some_and(|k| k.is_digest) {
                            continue;
                        }
                        let read =
                            read_object(&self.s3, &object.bucket, &object.key, budget, &mut held);
                        let bytes = match read.await {
                            Ok(Some(bytes)) => bytes,
                            Ok(None) => {
                                tracing::warn!(bucket = %object.bucket, key = %object.key, "notified object is gone");
                                Vec::new()
                            }
                            Err(error) => {
                                // Only this message is let go: it comes back after its
                                // visibility timeout (and after maxReceiveCount goes to the
                                // dead-letter queue), while the messages received with it
                                // are read now rather than retried along with it.
                                tracing::warn!(source = %self.config.name, message = %id, %error, "cannot fetch a notified object; the message will be read again");
                                items.truncate(items_before);
                                if let Some(receipt) = message.receipt_handle() {
                                    self.release(&[receipt.to_owned()]);
                                }
                                continue 'messages;
                            }
                        };
                        items.push(Item {
                            name: format!("s3://{}/{}", object.bucket, object.key),
                            bytes,
                        });
                    }
                }
                Err(why) => {
                    // Left on the queue: after maxReceiveCount the redrive policy moves it to
                    // the dead-letter queue, where a person can look at it.
                    tracing::warn!(source = %self.config.name, message = %id, %why, "message not understood; left on the queue");
                    if let Some(receipt) = message.receipt_handle() {
                        self.release(&[receipt.to_owned()]);
                    }
                    continue;
                }
            }
            if let Some(receipt) = message.receipt_handle() {
                done.push(receipt.to_owned());
            }
        }
        Ok(Some(SourceBatch {
            batch: Batch {
                source: self.config.name.clone(),
                items,
                checkpoint: None,
                held,
            },
            receipts: done,
        }))
    }

    async fn committed(&mut self, receipts: Vec<String>) -> Result<(), SourceError> {
        self.release(&receipts);
        for (chunk_index, chunk) in receipts.chunks(10).enumerate() {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(format!("m{chunk_index}-{i}"))
                        .receipt_handle(receipt)
                        .build()
                        .expect("id and receipt handle are set")
                })
                .collect();
            let deleted = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.config.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    SourceError(AwsError::from_sdk("sqs:DeleteMessageBatch", e).to_string())
                })?;
            // A message not deleted comes back; its alerts are already committed, so reading
            // it again raises nothing new.
            for failed in deleted.failed() {
                tracing::warn!(source = %self.config.name, code = %failed.code(), "a message was not deleted and will be read again");
            }
        }
        Ok(())
    }

    async fn abandoned(&mut self, receipts: Vec<String>) {
        self.release(&receipts);
    }

    fn idle_wait(&self) -> Duration {
        // The long poll already waited.
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_notifications_direct_and_through_sns() {
        let direct = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put",
            "s3":{"bucket":{"name":"trail"},"object":{"key":"AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/30/a+b%3Dc.json.gz","size":10}}}]}"#;
        let expected = Notification::Objects(vec![ObjectRef {
            bucket: "trail".to_owned(),
            key: "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/30/a b=c.json.gz".to_owned(),
        }]);
        assert_eq!(classify(direct).unwrap(), expected);
        let wrapped =
            serde_json::json!({"Type": "Notification", "MessageId": "x", "Message": direct})
                .to_string();
        assert_eq!(classify(&wrapped).unwrap(), expected);
    }

    #[test]
    fn eventbridge_events_test_events_and_strangers() {
        let event = r#"{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.sts","detail":{"eventName":"GetCallerIdentity"}}"#;
        assert_eq!(classify(event).unwrap(), Notification::Records);
        let health = r#"{"version":"0","detail-type":"AWS Health Event","source":"aws.health","detail":{"eventTypeCode":"AWS_RISK_CREDENTIALS_EXPOSED"}}"#;
        assert_eq!(classify(health).unwrap(), Notification::Records);
        let created = r#"{"detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{"key":"k.json.gz"}}}"#;
        assert_eq!(
            classify(created).unwrap(),
            Notification::Objects(vec![ObjectRef {
                bucket: "b".into(),
                key: "k.json.gz".into()
            }])
        );
        assert_eq!(
            classify(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#).unwrap(),
            Notification::Nothing
        );
        assert!(classify("not json").unwrap_err().contains("not JSON"));
        assert!(classify(r#"{"hello":1}"#).is_err());
    }

    #[test]
    fn keys_are_decoded_as_s3_encodes_them() {
        assert_eq!(decode_s3_key("a%2Fb+c%"), "a/b c%");
        assert_eq!(decode_s3_key("%zz"), "%zz");
    }
}
