//! Records delivered out of order, by less than the reorder window, give the same alerts as
//! records in event-time order: CloudTrail delivers files about 5 (sometimes 15–20) minutes
//! late and not in order.

use std::collections::BTreeMap;
use std::sync::Arc;

use detect::{CanaryRegistry, DetectConfig, Engine, MemoryState, ReorderBuffer};
use proptest::prelude::*;
use serde_json::{json, Value};
use trail::{EventTime, Record};

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/web";

/// One scenario event: seed an instance, use its session from an IP, or deny a principal.
#[derive(Clone, Debug)]
enum Step {
    Seed(u8),
    Use(u8, u8),
    Deny(u8),
}

fn record(step: &Step, time: i64, index: usize) -> Value {
    let at = EventTime(time).to_string();
    match step {
        Step::Seed(instance) => json!({
            "eventTime": at, "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole",
            "sourceIPAddress": "ec2.amazonaws.com", "eventID": format!("e{index}"),
            "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
            "requestParameters": {"roleArn": ROLE_ARN, "roleSessionName": format!("i-{instance}")}
        }),
        Step::Use(instance, ip) => json!({
            "eventTime": at, "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
            "sourceIPAddress": format!("198.51.100.{ip}"), "eventID": format!("e{index}"),
            "userIdentity": {"type": "AssumedRole",
                "arn": format!("arn:aws:sts::123456789012:assumed-role/web/i-{instance}")}
        }),
        Step::Deny(principal) => json!({
            "eventTime": at, "eventSource": "iam.amazonaws.com", "eventName": "ListUsers",
            "errorCode": "AccessDenied", "sourceIPAddress": "203.0.113.1", "eventID": format!("e{index}"),
            "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::123456789012:user/u{principal}")}
        }),
    }
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..3).prop_map(Step::Seed),
        (0u8..3, 0u8..3).prop_map(|(instance, ip)| Step::Use(instance, ip)),
        (0u8..2).prop_map(Step::Deny),
    ]
}

/// Runs the records, in the given arrival order, through a reorder buffer into the engine, and
/// returns every alert's final version by dedup key.
fn alerts(arrivals: &[(i64, String)]) -> BTreeMap<String, String> {
    let config = DetectConfig::default();
    let mut engine = Engine::new(
        &config,
        Arc::new(CanaryRegistry::default()),
        MemoryState::default(),
    );
    let mut buffer = ReorderBuffer::new(config.reorder_window);
    let mut raised = Vec::new();
    for (time, json) in arrivals {
        buffer.push(EventTime(*time), json.clone());
        while let Some((_, json)) = buffer.pop_ready() {
            let raw = serde_json::value::RawValue::from_string(json).unwrap();
            engine.process(&Record::from_raw(&raw).unwrap(), &mut raised);
        }
    }
    while let Some((_, json)) = buffer.pop() {
        let raw = serde_json::value::RawValue::from_string(json).unwrap();
        engine.process(&Record::from_raw(&raw).unwrap(), &mut raised);
    }
    engine.finish(&mut raised);
    raised
        .into_iter()
        .map(|alert| {
            let details = serde_json::to_string(&alert.details).unwrap();
            (alert.dedup_key, details)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn delivery_order_within_the_window_does_not_change_alerts(
        steps in proptest::collection::vec((step(), 1i64..90, 0i64..15 * 60), 1..80),
    ) {
        let mut time = 1_700_000_000_000i64;
        let mut in_order = Vec::new();
        let mut delivered = Vec::new();
        for (index, (step, gap_seconds, delay_seconds)) in steps.iter().enumerate() {
            time += gap_seconds * 1000;
            let json = record(step, time, index).to_string();
            in_order.push((time, json.clone()));
            delivered.push((time + delay_seconds * 1000, index, time, json));
        }
        delivered.sort();
        let arrivals: Vec<(i64, String)> = delivered
            .into_iter()
            .map(|(_, _, time, json)| (time, json))
            .collect();
        prop_assert_eq!(alerts(&arrivals), alerts(&in_order));
    }
}
