//! The alerts are a function of the records, not of their delivery order: any order in which
//! each record arrives within the lateness horizon of the newest one before it gives the alerts
//! (dedup keys and final content) that event-time order gives, for each detector and for the
//! engine as a whole, whether the engine raises only final forms (`scan`) or every change and
//! settles early when idle (`serve`), and whether it keeps one state or runs batch by batch on
//! the keys each batch touches (`serve` with its state in a database).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use detect::{
    Alert, AlertStatus, Canary, CanaryRegistry, DetectConfig, Engine, MemoryState, Position, Span,
    StateKey, StoredKey,
};
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
            revoked_at: None,
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
    /// As `Serve`, but in batches that each load only the keys their records touch and at most
    /// `due_limit` of the keys that are due, from a table of rows per key, as `serve` does
    /// with its state in a database.
    Keyed {
        batch: usize,
        due_limit: usize,
        settle_every: usize,
    },
}

/// The detectors' memory as a database keeps it: a row per key, and where event time stands.
#[derive(Default)]
struct KeyTable {
    rows: BTreeMap<StateKey, StoredKey>,
    position: Position,
}

impl KeyTable {
    /// An engine over the given keys' rows (those that exist).
    fn engine(&self, keys: &BTreeSet<StateKey>) -> Engine {
        let mut state = MemoryState::default();
        for key in keys {
            if let Some(row) = self.rows.get(key) {
                state.load(row).unwrap();
            }
        }
        let mut engine = Engine::resume(&config(), canaries(), state, self.position);
        engine.raise_updates(true);
        engine
    }

    /// Writes back what the engine did to the keys it loaded.
    fn save(&mut self, engine: Engine, keys: &BTreeSet<StateKey>) {
        self.position = engine.position();
        let state = engine.into_state();
        for key in keys {
            match state.stored(key) {
                Some(row) => self.rows.insert(key.clone(), row),
                None => self.rows.remove(key),
            };
        }
    }

    /// The keys due by `newest`, earliest first, at most `limit`.
    fn due(&self, newest: Option<EventTime>, limit: usize) -> Vec<StateKey> {
        let mut due: Vec<(EventTime, &StateKey)> = self
            .rows
            .values()
            .filter_map(|row| Some((row.wake_at?, &row.key)))
            .filter(|(wake, _)| Some(*wake) <= newest)
            .collect();
        due.sort();
        due.into_iter()
            .take(limit)
            .map(|(_, key)| key.clone())
            .collect()
    }

    fn waiting(&self) -> BTreeSet<StateKey> {
        self.rows
            .values()
            .filter(|row| row.wake_at.is_some())
            .map(|row| row.key.clone())
            .collect()
    }
}

fn parsed(value: &Value) -> Box<serde_json::value::RawValue> {
    serde_json::value::RawValue::from_string(value.to_string()).unwrap()
}

/// The alerts of the engine driven batch by batch over a [`KeyTable`].
fn keyed_alerts(
    records: &[Value],
    batch: usize,
    due_limit: usize,
    settle_every: usize,
) -> Vec<Alert> {
    let mut table = KeyTable::default();
    let mut alerts = Vec::new();
    for (number, chunk) in records.chunks(batch).enumerate() {
        let raws: Vec<_> = chunk.iter().map(parsed).collect();
        let parsed: Vec<Record> = raws
            .iter()
            .map(|raw| Record::from_raw(raw).unwrap())
            .collect();
        let probe = table.engine(&BTreeSet::new());
        let mut keys: BTreeSet<StateKey> = parsed
            .iter()
            .flat_map(|record| probe.state_keys(record))
            .collect();
        let newest = parsed
            .iter()
            .map(|record| record.fields.event_time)
            .chain(table.position.newest)
            .max();
        keys.extend(table.due(newest, due_limit));
        let mut engine = table.engine(&keys);
        for record in &parsed {
            engine.process(record, &mut alerts);
        }
        table.save(engine, &keys);
        if number % settle_every == settle_every - 1 {
            let waiting = table.waiting();
            let mut engine = table.engine(&waiting);
            engine.settle_pending(&mut alerts);
            table.save(engine, &waiting);
        }
    }
    let everything: BTreeSet<StateKey> = table.rows.keys().cloned().collect();
    let mut engine = table.engine(&everything);
    engine.finish(&mut alerts);
    alerts
}

/// The alerts a consumer ends with: later versions replace earlier ones, replaced keys and
/// withdrawn alerts go.
fn outcome(records: &[Value], mode: Mode) -> BTreeMap<String, Value> {
    let alerts = match mode {
        Mode::Keyed {
            batch,
            due_limit,
            settle_every,
        } => keyed_alerts(records, batch, due_limit, settle_every),
        Mode::Scan | Mode::Serve { .. } => whole_state_alerts(records, mode),
    };
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

/// The alerts of one engine over all the state, as `scan` (and, before state per key,
/// `serve`) drives it.
fn whole_state_alerts(records: &[Value], mode: Mode) -> Vec<Alert> {
    let mut engine = Engine::new(&config(), canaries(), MemoryState::default());
    if let Mode::Serve { .. } = mode {
        engine.raise_updates(true);
    }
    let mut alerts: Vec<Alert> = Vec::new();
    for (index, value) in records.iter().enumerate() {
        engine.process(&Record::from_raw(&parsed(value)).unwrap(), &mut alerts);
        if let Mode::Serve { settle_every } = mode {
            if index % settle_every == settle_every - 1 {
                engine.settle_pending(&mut alerts);
            }
        }
    }
    engine.finish(&mut alerts);
    alerts
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
    fn state_per_key_gives_the_alerts_of_one_state(
        denials in denials(), instances in instances(), canaries in canary_uses(),
        delays in delays(), settle_every in 1usize..20, batch in 1usize..40, due_limit in 1usize..6,
    ) {
        let events: Vec<Event> = denials.into_iter().chain(instances).chain(canaries).collect();
        let (sorted, delivered) = orders(&events, &delays);
        let keyed = Mode::Keyed { batch, due_limit, settle_every };
        prop_assert_eq!(outcome(&delivered, keyed), outcome(&sorted, Mode::Scan));
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
