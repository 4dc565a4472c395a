//! What the pipeline tests share: a store holding an offline canary, and trail objects in
//! which it is used.

#![allow(dead_code)] // each test file uses a different part

use std::io::Write;
use std::sync::Arc;

use pipeline::{Batch, Ingestor, Item, Metrics, Route};
use serde_json::json;
use store::{CanaryId, CanaryKind, Issuer, NewCanary, Store};

pub const ACCOUNT: &str = "123456789012";
pub const CANARY_KEY: &str = "AKIAQYLPMN5HFIQR7XYA";

pub async fn store_with_canary(folder: &tempfile::TempDir) -> Store {
    let store = Store::open(folder.path().join("tripkey.db")).await.unwrap();
    add_canary(&store, CANARY_KEY).await;
    store
}

/// Adds an offline canary with this access key ID to the store.
pub async fn add_canary(store: &Store, access_key_id: &str) {
    let id = CanaryId::generate();
    store
        .insert(
            &NewCanary {
                id: id.clone(),
                kind: CanaryKind::IamUser,
                issuer: Issuer::Offline,
                account_id: ACCOUNT.to_owned(),
                access_key_id: access_key_id.to_owned(),
                principal_arn: format!("arn:aws:iam::{ACCOUNT}:user/service/svc-ledger-{id}"),
                name: format!("svc-ledger-{id}"),
                path: "/service/".to_owned(),
                labels: [("host".to_owned(), "build-07".to_owned())].into(),
                memo: Some("CI secret".to_owned()),
                created_at: store::now(),
                expires_at: None,
                issued_by: None,
            },
            None,
        )
        .await
        .unwrap();
}

pub fn canary_use(minute: u32, event_id: &str) -> serde_json::Value {
    use_of(CANARY_KEY, minute, event_id)
}

/// A call signed with `access_key_id`.
pub fn use_of(access_key_id: &str, minute: u32, event_id: &str) -> serde_json::Value {
    json!({
        "eventVersion": "1.09", "eventTime": format!("2026-11-30T10:{minute:02}:00Z"),
        "eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity",
        "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.50",
        "userAgent": "aws-cli/2.15.0",
        "userIdentity": {"type": "IAMUser", "accountId": ACCOUNT, "accessKeyId": access_key_id,
            "arn": "arn:aws:iam::123456789012:user/service/x", "userName": "x"},
        "eventID": event_id
    })
}

pub fn trail_object(records: &[serde_json::Value]) -> Vec<u8> {
    let body = json!({ "Records": records }).to_string();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body.as_bytes()).unwrap();
    gz.finish().unwrap()
}

/// An engine over the store with the default detection settings, routing every alert to
/// `sinks`.
pub async fn open_ingestor(
    store: &Store,
    sinks: &'static [&'static str],
    metrics: Arc<Metrics>,
) -> Ingestor {
    Ingestor::open(store.clone(), Default::default(), route_to(sinks), metrics)
        .await
        .unwrap()
}

pub fn route_to(sinks: &'static [&'static str]) -> Route {
    Arc::new(move |_| sinks.iter().map(|s| (*s).to_owned()).collect())
}

pub fn batch(source: &str, name: &str, bytes: Vec<u8>, checkpoint: &str) -> Batch {
    Batch {
        source: source.to_owned(),
        items: vec![Item {
            name: name.to_owned(),
            bytes,
        }],
        checkpoint: Some(checkpoint.to_owned()),
        held: Default::default(),
    }
}

/// EC2 assuming role `web` for instance `i-0abc1234` at 10:00: its session is tracked.
pub fn instance_role_assumed() -> serde_json::Value {
    json!({
        "eventVersion": "1.09", "eventTime": "2026-11-30T10:00:00Z",
        "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole", "awsRegion": "us-east-1",
        "sourceIPAddress": "ec2.amazonaws.com", "eventID": "seed",
        "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
        "requestParameters": {"roleArn": "arn:aws:iam::123456789012:role/web",
            "roleSessionName": "i-0abc1234"}
    })
}

/// A call of instance `i-0abc1234`'s role session from `ip` at `time`.
pub fn instance_record(time: &str, ip: &str, event_id: &str) -> serde_json::Value {
    json!({
        "eventVersion": "1.09", "eventTime": time, "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets", "awsRegion": "us-east-1", "sourceIPAddress": ip,
        "userAgent": "aws-sdk-go/1.44.0", "eventID": event_id,
        "userIdentity": {"type": "AssumedRole", "accountId": "123456789012",
            "arn": "arn:aws:sts::123456789012:assumed-role/web/i-0abc1234"}
    })
}
