//! The alerts are a function of the records, not of their delivery order: any order in which
//! each record arrives within the lateness horizon of the newest one before it gives the alerts
//! (dedup keys and final content) that event-time order gives, for each detector and for the
//! engine as a whole, whether the engine raises only final forms (`scan`) or every change and
//! settles early when idle (`serve`).

use std::collections::BTreeMap;
use std::sync::Arc;

use detect::{Alert, AlertStatus, Canary, CanaryRegistry, DetectConfig, Engine, MemoryState, Span};
use proptest::prelude::*;
use serde_json::{json, Value};
use trail::{EventTime, Record};

const START: i64 = 1_700_000_000_000;
const ACCOUNT: &str = "123456789012";

/// One record to generate, at a time in seconds from the start.
#[derive(Clone, Debug)]
enum Event {
    Denial {
        principal: u8,
        second: i64,
    },
    Seed {
        instance: u8,
        second: i64,
    },
    Use {
        instance: u8,
        address: u8,
        second: i64,
        endpoint: bool,
    },
    Credit {
        instance: u8,
        second: i64,
    },
    CanaryUse {
        second: i64,
    },
}

impl Event {
    fn second(&self) -> i64 {
        match self {
            Event::Denial { second, .. }
            | Event::Seed { second, .. }
            | Event::Use { second, .. }
            | Event::Credit { second, .. }
            | Event::CanaryUse { second } => *second,
        }
    }

    fn record(&self, index: usize) -> Value {
        let time = EventTime(START + self.second() * 1000).to_string();
        let id = format!("event-{index}");
        let region = ["us-east-1", "eu-west-1", "ap-south-1"][index % 3];
        match self {
            Event::Denial { principal, .. } => json!({
                "eventTime": time, "eventSource": "iam.amazonaws.com", "eventName": "ListUsers",
                "awsRegion": region,
                "sourceIPAddress": "203.0.113.1", "errorCode": "AccessDenied", "eventID": id,
                "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCOUNT}:user/probe-{principal}")}
            }),
            Event::Seed { instance, .. } => json!({
                "eventTime": time, "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole",
                "awsRegion": "us-east-1", "sourceIPAddress": "ec2.amazonaws.com", "eventID": id,
                "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
                "requestParameters": {"roleArn": format!("arn:aws:iam::{ACCOUNT}:role/web"),
                    "roleSessionName": format!("i-0{instance}")}
            }),
            Event::Use {
                instance,
                address,
                endpoint,
                ..
            } => {
                let ip = if *endpoint {
                    format!("10.0.0.{address}")
                } else {
                    format!("54.0.0.{address}")
                };
                let mut value = json!({
                    "eventTime": time, "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets",
                    "awsRegion": "us-east-1", "sourceIPAddress": ip, "eventID": id,
                    "userAgent": "aws-sdk-go/1.44.0",
                    "userIdentity": {"type": "AssumedRole",
                        "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/web/i-0{instance}"),
                        "accountId": ACCOUNT}
                });
                if *endpoint {
                    value["vpcEndpointId"] = json!("vpce-0abc");
                }
                value
            }
            Event::Credit { instance, .. } => json!({
                "eventTime": time, "eventSource": "ec2.amazonaws.com", "eventName": "AssociateAddress",
                "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7", "eventID": id,
                "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCOUNT}:user/ops")},
                "requestParameters": {"instanceId": format!("i-0{instance}")}
            }),
            Event::CanaryUse { .. } => json!({
                "eventTime": time, "eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity",
                "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.1", "eventID": id,
                "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCOUNT}:user/svc-backup"),
                    "accessKeyId": "AKIARTX3GSDS5ZZ46JLN"}
            }),
        }
    }
}

fn config() -> DetectConfig {
    let mut config = DetectConfig {
        horizon: Span::minutes(40),
        settle: Span::minutes(3),
        ..DetectConfig::default()
    };
    config.denial.threshold = 4;
    config.denial.window = Span::minutes(2);
    config.exfiltration.ttl = Span::minutes(60);
    config
}

fn canaries() -> Arc<CanaryRegistry> {
    Arc::new(
        CanaryRegistry::new(vec![Canary {
            name: "svc-backup".to_owned(),
            access_key_id: Some("AKIARTX3GSDS5ZZ46JLN".to_owned()),
            principal_arn: None,
            memo: None,
            labels: BTreeMap::new(),
            former_access_key_ids: Vec::new(),
            user_name: None,
            account_id: None,
        }])
        .unwrap(),
    )
}

/// How the engine is driven.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Final forms only, as `scan` runs it.
    Scan,
    /// Every change raised, and pending decisions settled early every few records, as `serve`
    /// runs it when its input goes quiet.
    Serve { settle_every: usize },
}

/// The alerts a consumer ends with: later versions replace earlier ones, replaced keys and
/// withdrawn alerts go.
fn outcome(records: &[Value], mode: Mode) -> BTreeMap<String, Value> {
    let config = config();
    let mut engine = Engine::new(&config, canaries(), MemoryState::default());
    if let Mode::Serve { .. } = mode {
        engine.raise_updates(true);
    }
    let mut alerts: Vec<Alert> = Vec::new();
    for (index, value) in records.iter().enumerate() {
        let raw = serde_json::value::RawValue::from_string(value.to_string()).unwrap();
        engine.process(&Record::from_raw(&raw).unwrap(), &mut alerts);
        if let Mode::Serve { settle_every } = mode {
            if index % settle_every == settle_every - 1 {
                engine.settle_pending(&mut alerts);
            }
        }
    }
    engine.finish(&mut alerts);
    let mut standing: BTreeMap<String, Alert> = BTreeMap::new();
    for alert in alerts {
        for replaced in &alert.replaces {
            standing.remove(replaced);
        }
        if alert.status == AlertStatus::Withdrawn {
            standing.remove(&alert.dedup_key);
        } else {
            standing.insert(alert.dedup_key.clone(), alert);
        }
    }
    standing
        .into_iter()
        .map(|(key, alert)| {
            assert_eq!(
                alert.status,
                AlertStatus::Final,
                "{key} is final at the end"
            );
            let content = json!({
                "rule": alert.rule, "details": alert.details, "event_time": alert.event_time,
                "event_id": alert.call.event_id,
            });
            (key, content)
        })
        .collect()
}

/// The records in event-time order, and in the order a delivery with the given delays (each
/// at most the horizon) brings them.
fn orders(events: &[Event], delays: &[i64]) -> (Vec<Value>, Vec<Value>) {
    let mut sorted: Vec<(i64, usize)> = events
        .iter()
        .enumerate()
        .map(|(index, event)| (event.second(), index))
        .collect();
    sorted.sort();
    let mut delivered: Vec<(i64, usize)> = events
        .iter()
        .enumerate()
        .map(|(index, event)| (event.second() + delays[index % delays.len()], index))
        .collect();
    delivered.sort();
    let records = |order: Vec<(i64, usize)>| {
        order
            .into_iter()
            .map(|(_, index)| events[index].record(index))
            .collect()
    };
    (records(sorted), records(delivered))
}

const SPAN_SECONDS: i64 = 4 * 3600;

fn denials() -> impl Strategy<Value = Vec<Event>> {
    // Clusters of denials, so that bursts form and are split and joined by late ones.
    prop::collection::vec((0u8..2, 0i64..SPAN_SECONDS, 1usize..12, 1i64..60), 1..30).prop_map(
        |clusters| {
            clusters
                .into_iter()
                .flat_map(|(principal, start, count, spacing)| {
                    (0..count as i64).map(move |n| Event::Denial {
                        principal,
                        second: start + n * spacing,
                    })
                })
                .collect()
        },
    )
}

fn instances() -> impl Strategy<Value = Vec<Event>> {
    let seed = (0u8..2, 0i64..SPAN_SECONDS)
        .prop_map(|(instance, second)| Event::Seed { instance, second });
    let call = (
        0u8..2,
        0u8..4,
        0i64..SPAN_SECONDS,
        prop::bool::weighted(0.2),
    )
        .prop_map(|(instance, address, second, endpoint)| Event::Use {
            instance,
            address,
            second,
            endpoint,
        });
    let credit = (0u8..2, 0i64..SPAN_SECONDS)
        .prop_map(|(instance, second)| Event::Credit { instance, second });
    (
        prop::collection::vec(seed, 1..8),
        prop::collection::vec(call, 1..30),
        prop::collection::vec(credit, 0..4),
    )
        .prop_map(|(seeds, calls, credits)| seeds.into_iter().chain(calls).chain(credits).collect())
}

fn canary_uses() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec(
        (0i64..SPAN_SECONDS).prop_map(|second| Event::CanaryUse { second }),
        0..3,
    )
}

/// Delays of up to the horizon (40 minutes), most of them short as CloudTrail's are.
fn delays() -> impl Strategy<Value = Vec<i64>> {
    prop::collection::vec(prop_oneof![3 => 0i64..600, 1 => 0i64..2400], 1..40)
}

fn same_alerts_in_any_order(events: &[Event], delays: &[i64], settle_every: usize) {
    let (sorted, delivered) = orders(events, delays);
    let expected = outcome(&sorted, Mode::Scan);
    assert_eq!(
        outcome(&delivered, Mode::Scan),
        expected,
        "scan, delivered late"
    );
    assert_eq!(
        outcome(&sorted, Mode::Serve { settle_every }),
        expected,
        "serve, in event-time order"
    );
    assert_eq!(
        outcome(&delivered, Mode::Serve { settle_every }),
        expected,
        "serve, delivered late"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn denial_bursts_do_not_depend_on_delivery_order(
        events in denials(), delays in delays(), settle_every in 1usize..20,
    ) {
        same_alerts_in_any_order(&events, &delays, settle_every);
    }

    #[test]
    fn exfiltration_does_not_depend_on_delivery_order(
        events in instances(), delays in delays(), settle_every in 1usize..20,
    ) {
        same_alerts_in_any_order(&events, &delays, settle_every);
    }

    #[test]
    fn the_engine_does_not_depend_on_delivery_order(
        denials in denials(), instances in instances(), canaries in canary_uses(),
        delays in delays(), settle_every in 1usize..20,
    ) {
        let events: Vec<Event> = denials.into_iter().chain(instances).chain(canaries).collect();
        same_alerts_in_any_order(&events, &delays, settle_every);
    }
}
