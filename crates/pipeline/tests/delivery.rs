//! The outbox against a real SQLite file: the first alert for a canary goes at once and its
//! repeats become one digest; a failing sink is retried with backoff, reported, never
//! disabled, and its deliveries survive a restart; a refusing sink keeps the alert and does
//! not hold up the others. The clock is passed in, so windows and backoff are exact.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use notify::{Notification, Sink, SinkError};
use pipeline::delivery::{Deliverer, DeliverySettings};
use pipeline::Metrics;
use store::Store;
use trail::EventTime;

const OTHER_KEY: &str = "AKIAQYLPMN5HFIQR7XYB";

/// What a test sink does with the next notifications.
#[derive(Clone, Copy)]
enum Answer {
    Take,
    Fail,
    Refuse,
    /// Never answers, as a relay that holds the connection open.
    Hang,
    /// A bug in the sink.
    Panic,
}

/// A sink that records what it is given and answers as told.
struct Recorder {
    name: &'static str,
    answer: Mutex<Answer>,
    taken: Mutex<Vec<Notification>>,
    tries: Mutex<u32>,
    /// Like PagerDuty, keeps an incident open per alert and records its resolutions.
    keeps_incidents: bool,
    resolved: Mutex<Vec<String>>,
}

impl Recorder {
    fn new(name: &'static str, answer: Answer) -> Arc<Recorder> {
        Arc::new(Recorder {
            name,
            answer: Mutex::new(answer),
            taken: Mutex::default(),
            tries: Mutex::default(),
            keeps_incidents: false,
            resolved: Mutex::default(),
        })
    }

    fn keeping_incidents(name: &'static str) -> Arc<Recorder> {
        Arc::new(Recorder {
            name,
            answer: Mutex::new(Answer::Take),
            taken: Mutex::default(),
            tries: Mutex::default(),
            keeps_incidents: true,
            resolved: Mutex::default(),
        })
    }

    fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    fn taken(&self) -> Vec<Notification> {
        self.taken.lock().unwrap().clone()
    }

    fn tries(&self) -> u32 {
        *self.tries.lock().unwrap()
    }
}

impl Sink for Recorder {
    fn name(&self) -> &str {
        self.name
    }

    fn deliver<'a>(&'a self, notification: &'a Notification) -> notify::Delivery<'a> {
        Box::pin(async move {
            *self.tries.lock().unwrap() += 1;
            let answer = *self.answer.lock().unwrap();
            match answer {
                Answer::Take => {
                    self.taken.lock().unwrap().push(notification.clone());
                    Ok(())
                }
                Answer::Fail => Err(SinkError::Retryable("503 Service Unavailable".to_owned())),
                Answer::Refuse => Err(SinkError::Permanent("404 Not Found".to_owned())),
                Answer::Panic => panic!("a bug in the sink"),
                Answer::Hang => {
                    tokio::time::sleep(Duration::from_secs(3_600)).await;
                    Err(SinkError::Retryable("timed out".to_owned()))
                }
            }
        })
    }

    fn resolve<'a>(&'a self, notification: &'a Notification) -> Option<notify::Delivery<'a>> {
        if !self.keeps_incidents {
            return None;
        }
        Some(Box::pin(async move {
            self.resolved
                .lock()
                .unwrap()
                .push(notification.alert.dedup_key.clone());
            Ok(())
        }))
    }
}

const WINDOW: Duration = Duration::from_secs(60);
const RETRY_BASE: Duration = Duration::from_secs(2);
const RETRY_CAP: Duration = Duration::from_secs(600);

fn settings() -> DeliverySettings {
    DeliverySettings {
        rate_window: WINDOW,
        retry_base: RETRY_BASE,
        retry_cap: RETRY_CAP,
        link_base: Some("https://tripkey.example.com/".to_owned()),
        ..DeliverySettings::default()
    }
}

fn deliverer(store: &Store, sinks: &[&Arc<Recorder>]) -> Deliverer {
    let sinks = sinks
        .iter()
        .map(|sink| Arc::clone(sink) as Arc<dyn Sink>)
        .collect();
    Deliverer::new(store.clone(), sinks, settings())
}

/// Commits the uses as one trail object, routed to `sinks`; returns the new dedup keys.
async fn commit(
    store: &Store,
    sinks: &'static [&'static str],
    records: &[serde_json::Value],
) -> Vec<String> {
    let mut engine = open_ingestor(store, sinks, Arc::new(Metrics::default())).await;
    let name = format!("AWSLogs/{}.json.gz", records.len());
    engine
        .ingest(&batch("trail", &name, trail_object(records), &name))
        .await
        .unwrap()
        .new_alerts
}

fn seconds(at: EventTime, seconds: i64) -> EventTime {
    at.offset(seconds * 1_000)
}

#[tokio::test]
async fn the_first_alert_goes_at_once_and_repeats_become_one_digest() {
    let folder = tempfile::tempdir().unwrap();
    let store = store_with_canary(&folder).await;
    add_canary(&store, OTHER_KEY).await;
    let keys = commit(
        &store,
        &["hook"],
        &[
            canary_use(1, "e-1"),
            canary_use(2, "e-2"),
            canary_use(3, "e-3"),
            use_of(OTHER_KEY, 4, "o-1"),
        ],
    )
    .await;
    assert_eq!(keys.len(), 4);
    let hook = Recorder::new("hook", Answer::Take);
    let outbox = deliverer(&store, &[&hook]);
    let t0 = store::now();

    assert_eq!(outbox.deliver_due(t0).await.unwrap(), 2);
    let first = hook.taken();
    let leads: Vec<&str> = first.iter().map(|n| n.alert.dedup_key.as_str()).collect();
    assert!(leads.iter().any(|key| key.ends_with(":e-1")), "{leads:?}");
    assert!(leads.iter().any(|key| key.ends_with(":o-1")), "{leads:?}");
    assert!(first.iter().all(|n| n.digest.is_none()));
    let link = first[0].link.as_deref().unwrap();
    assert!(
        link.starts_with("https://tripkey.example.com/alerts/canary-use%3A"),
        "{link}"
    );

    // Within the window the repeats wait; nothing is sent and nothing is dropped.
    assert_eq!(outbox.deliver_due(seconds(t0, 30)).await.unwrap(), 0);
    assert_eq!(hook.taken().len(), 2);

    assert_eq!(outbox.deliver_due(seconds(t0, 60)).await.unwrap(), 1);
    let taken = hook.taken();
    assert_eq!(taken.len(), 3);
    let digest = taken[2]
        .digest
        .as_ref()
        .expect("the repeats come as a digest");
    assert_eq!(digest.count, 2);
    let mut summarised = digest.dedup_keys.clone();
    summarised.sort();
    assert!(
        summarised[0].ends_with(":e-2") && summarised[1].ends_with(":e-3"),
        "{summarised:?}"
    );
    assert_eq!(digest.summaries.len(), 2);
    assert_eq!(
        digest.first,
        EventTime::parse("2026-11-30T10:02:00Z").unwrap()
    );

    // Every alert was delivered exactly once, the lead or inside a digest.
    let health = store.sink_health().await.unwrap();
    assert_eq!(health[0].pending, 0);
    assert_eq!(health[0].delivered, 3);
    assert_eq!(outbox.deliver_due(seconds(t0, 3_600)).await.unwrap(), 0);
}

#[tokio::test]
async fn a_failing_sink_is_retried_with_backoff_reported_and_kept_across_a_restart() {
    let folder = tempfile::tempdir().unwrap();
    let store = store_with_canary(&folder).await;
    commit(&store, &["hook"], &[canary_use(1, "e-1")]).await;
    let hook = Recorder::new("hook", Answer::Fail);
    let outbox = deliverer(&store, &[&hook]);
    let t0 = store::now();

    // Each failure waits between half and all of base·2^attempt before the next try.
    let mut at = t0;
    for attempt in 0..4u32 {
        assert_eq!(outbox.deliver_due(at).await.unwrap(), 0);
        assert_eq!(hook.tries(), attempt + 1);
        let ceiling = RETRY_BASE.as_millis() as i64 * (1 << attempt);
        let next = store.due_deliveries(at.offset(ceiling), 10).await.unwrap();
        assert_eq!(
            next.len(),
            1,
            "due again by the ceiling of attempt {attempt}"
        );
        let wait = next[0].next_attempt_at.0 - at.0;
        assert!(
            wait >= ceiling / 2 && wait <= ceiling,
            "attempt {attempt}: waited {wait} ms"
        );
        assert!(store
            .due_deliveries(at.offset(ceiling / 2 - 1), 10)
            .await
            .unwrap()
            .is_empty());
        at = next[0].next_attempt_at;
    }
    let health = &store.sink_health().await.unwrap()[0];
    assert_eq!(health.consecutive_failures, 4);
    assert_eq!(health.pending, 1, "a failing sink is never disabled");
    assert_eq!(
        health.last_error.as_deref(),
        Some("503 Service Unavailable")
    );
    let report = pipeline::Report::gather(&store, &pipeline::Metrics::default())
        .await
        .unwrap();
    let metrics = report.prometheus();
    assert!(
        metrics.contains("tripkey_sink_consecutive_failures{sink=\"hook\"} 4"),
        "{metrics}"
    );

    // A restart: the delivery is still there, and goes once the sink is back.
    drop(outbox);
    let path = store.path().to_owned();
    store.close().await;
    let store = Store::open(&path).await.unwrap();
    hook.answer(Answer::Take);
    let outbox = deliverer(&store, &[&hook]);
    assert_eq!(outbox.deliver_due(at).await.unwrap(), 1);
    assert_eq!(hook.taken().len(), 1);
    assert!(hook.taken()[0].digest.is_none());
    let health = &store.sink_health().await.unwrap()[0];
    assert_eq!(
        (
            health.consecutive_failures,
            health.pending,
            health.delivered
        ),
        (0, 0, 1)
    );
    assert_eq!(outbox.deliver_due(seconds(at, 3_600)).await.unwrap(), 0);
}

#[tokio::test]
async fn a_refusing_sink_keeps_the_alert_and_holds_up_no_other_sink() {
    let folder = tempfile::tempdir().unwrap();
    let store = store_with_canary(&folder).await;
    commit(&store, &["hook", "chat"], &[canary_use(1, "e-1")]).await;
    let hook = Recorder::new("hook", Answer::Refuse);
    let chat = Recorder::new("chat", Answer::Take);
    let outbox = deliverer(&store, &[&hook, &chat]);
    let t0 = store::now();

    assert_eq!(outbox.deliver_due(t0).await.unwrap(), 1);
    assert_eq!(chat.taken().len(), 1);
    assert_eq!(outbox.deliver_due(seconds(t0, 3_600)).await.unwrap(), 0);
    assert_eq!(hook.tries(), 1, "a refusal is not retried");
    let health = store.sink_health().await.unwrap();
    let hook_health = health.iter().find(|h| h.sink == "hook").unwrap();
    assert_eq!((hook_health.refused, hook_health.pending), (1, 0));
    assert_eq!(hook_health.last_error.as_deref(), Some("404 Not Found"));
    assert_eq!(
        store.recent_alerts(10).await.unwrap().len(),
        1,
        "the alert stays"
    );
}

#[tokio::test]
async fn deliveries_to_a_sink_removed_from_the_config_wait_for_it_and_block_no_other() {
    let folder = tempfile::tempdir().unwrap();
    let store = store_with_canary(&folder).await;
    commit(&store, &["old-hook", "soc"], &[canary_use(1, "e-1")]).await;
    let soc = Recorder::new("soc", Answer::Take);
    assert_eq!(
        deliverer(&store, &[&soc])
            .deliver_due(store::now())
            .await
            .unwrap(),
        1
    );
    assert_eq!(soc.taken().len(), 1, "the configured sink is not held up");
    let health = store.sink_health().await.unwrap();
    let old = health.iter().find(|h| h.sink == "old-hook").unwrap();
    assert_eq!(
        (old.pending, old.refused),
        (1, 0),
        "kept pending, not refused, while its sink is out of the config"
    );

    // The operator puts the [[sink]] back: what waited for it goes out.
    let back = Recorder::new("old-hook", Answer::Take);
    assert_eq!(
        deliverer(&store, &[&back, &soc])
            .deliver_due(store::now())
            .await
            .unwrap(),
        1
    );
    assert_eq!(back.taken().len(), 1);
    assert_eq!(soc.taken().len(), 1, "nothing twice");
}

#[tokio::test]
async fn a_flood_goes_out_as_digests_of_bounded_size_one_per_window() {
    let folder = tempfile::tempdir().unwrap();
    let store = store_with_canary(&folder).await;
    let uses: Vec<serde_json::Value> = (0..251)
        .map(|i| canary_use(i % 60, &format!("f-{i:03}")))
        .collect();
    assert_eq!(commit(&store, &["hook"], &uses).await.len(), 251);
    let hook = Recorder::new("hook", Answer::Take);
    let outbox = deliverer(&store, &[&hook]);
    let t0 = store::now();

    assert_eq!(outbox.deliver_due(t0).await.unwrap(), 1);
    assert_eq!(outbox.deliver_due(seconds(t0, 60)).await.unwrap(), 1);
    assert_eq!(
        outbox.deliver_due(seconds(t0, 90)).await.unwrap(),
        0,
        "one per window"
    );
    assert_eq!(outbox.deliver_due(seconds(t0, 120)).await.unwrap(), 1);
    let taken = hook.taken();
    let counts: Vec<u64> = taken
        .iter()
        .map(|n| n.digest.as_ref().map_or(1, |d| d.count))
        .collect();
    assert_eq!(
        counts,
        [1, pipeline::delivery::MAX_DIGEST_ALERTS as u64, 50]
    );
    let mut every: Vec<String> = taken
        .iter()
        .flat_map(|n| match &n.digest {
            Some(digest) => digest.dedup_keys.clone(),
            None => vec![n.alert.dedup_key.clone()],
        })
        .collect();
    every.sort();
    every.dedup();
    assert_eq!(every.len(), 251, "each alert in exactly one notification");
    assert_eq!(store.sink_health().await.unwrap()[0].pending, 0);
}

/// Waits up to 10 s for `done`.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_sink_holds_up_no_other_sink() {
    let folder = tempfile::tempdir().unwrap();
    let store = store_with_canary(&folder).await;
    add_canary(&store, OTHER_KEY).await;
    let slow = Recorder::new("slow", Answer::Hang);
    let fast = Recorder::new("fast", Answer::Take);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let wake = Arc::new(tokio::sync::Notify::new());
    let running = tokio::spawn(deliverer(&store, &[&slow, &fast]).run(wake.clone(), shutdown));

    commit(&store, &["slow", "fast"], &[canary_use(1, "e-1")]).await;
    wake.notify_one();
    eventually("the slow sink is stuck on the first alert", || {
        slow.tries() == 1
    })
    .await;
    eventually("the fast sink has the first alert", || {
        fast.taken().len() == 1
    })
    .await;

    // A second alert, about another canary, while the slow sink still hangs on the first.
    commit(&store, &["slow", "fast"], &[use_of(OTHER_KEY, 2, "o-1")]).await;
    wake.notify_one();
    eventually("the fast sink has the second alert", || {
        fast.taken().len() == 2
    })
    .await;
    assert_eq!(slow.tries(), 1, "the slow sink is still on its first send");

    let _ = stop.send(true);
    running.abort();
}

#[tokio::test]
async fn a_new_alert_behind_a_failed_one_goes_out_with_it() {
    let folder = tempfile::tempdir().unwrap();
    let store = store_with_canary(&folder).await;
    let hook = Recorder::new("hook", Answer::Fail);
    let outbox = deliverer(&store, &[&hook]);
    commit(&store, &["hook"], &[canary_use(1, "e-1")]).await;
    let t0 = store::now();
    assert_eq!(
        outbox.deliver_due(t0).await.unwrap(),
        0,
        "the first send fails"
    );

    // The next use of the same canary arrives before that retry is due.
    commit(&store, &["hook"], &[canary_use(2, "e-2")]).await;
    hook.answer(Answer::Take);
    assert_eq!(outbox.deliver_due(store::now()).await.unwrap(), 1);
    let taken = hook.taken();
    let digest = taken[0]
        .digest
        .as_ref()
        .expect("one notification for both, in order, not the newer one alone");
    assert_eq!(digest.count, 2);
    assert!(
        digest.dedup_keys[0].ends_with(":e-1"),
        "{:?}",
        digest.dedup_keys
    );
    assert_eq!(store.sink_health().await.unwrap()[0].pending, 0);
}

#[tokio::test]
async fn a_sink_that_panics_is_backed_off_like_a_failing_one() {
    let folder = tempfile::tempdir().unwrap();
    let store = store_with_canary(&folder).await;
    commit(&store, &["buggy"], &[canary_use(1, "e-1")]).await;
    let buggy = Recorder::new("buggy", Answer::Panic);
    let outbox = deliverer(&store, &[&buggy]);
    let t0 = store::now();
    assert_eq!(outbox.deliver_due(t0).await.unwrap(), 0);
    assert_eq!(outbox.deliver_due(t0.offset(100)).await.unwrap(), 0);
    assert_eq!(buggy.tries(), 1, "not tried again before its backoff");
    let health = &store.sink_health().await.unwrap()[0];
    assert_eq!((health.pending, health.failures), (1, 1));
    assert!(health
        .last_error
        .as_deref()
        .unwrap()
        .contains("unexpectedly"));

    buggy.answer(Answer::Take);
    assert_eq!(outbox.deliver_due(seconds(t0, 600)).await.unwrap(), 1);
    assert_eq!(
        buggy.taken().len(),
        1,
        "kept, and delivered once the sink works"
    );
}

#[tokio::test]
async fn a_canary_alert_tells_where_the_canary_was_planted() {
    let folder = tempfile::tempdir().unwrap();
    let store = store_with_canary(&folder).await;
    let canary = store
        .get_by_access_key_id(CANARY_KEY)
        .await
        .unwrap()
        .unwrap();
    store
        .add_placement(
            &canary.id,
            &store::NewPlacement {
                host: Some("laptop-42".to_owned()),
                path: Some("~/.aws/credentials".to_owned()),
                format: Some("aws-credentials".to_owned()),
                os: Some("macos".to_owned()),
                user: Some("ana".to_owned()),
            },
            Some("mdm"),
            store::now(),
        )
        .await
        .unwrap();
    commit(&store, &["hook"], &[canary_use(1, "e-1")]).await;
    let hook = Recorder::new("hook", Answer::Take);
    assert_eq!(
        deliverer(&store, &[&hook])
            .deliver_due(store::now())
            .await
            .unwrap(),
        1
    );
    let taken = hook.taken();
    assert_eq!(
        taken[0].placements,
        [notify::PlacementNote {
            host: Some("laptop-42".to_owned()),
            path: Some("~/.aws/credentials".to_owned()),
            format: Some("aws-credentials".to_owned()),
            user: Some("ana".to_owned()),
        }]
    );
    let facts = notify::render::facts(&taken[0]);
    assert!(facts.iter().any(|fact| fact.label == "Planted at"
        && fact.value == "ana@laptop-42:~/.aws/credentials (aws-credentials)"));
}

#[tokio::test]
async fn two_workers_draining_one_outbox_send_each_alert_once_and_keep_the_rate_limit() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open(folder.path().join("tripkey.db")).await.unwrap();
    let keys: Vec<String> = (0..6).map(|n| format!("AKIAQYLPMN5HFIQR7X0{n}")).collect();
    let mut records = Vec::new();
    for (n, key) in keys.iter().enumerate() {
        add_canary(&store, key).await;
        for minute in 1..=3 {
            records.push(use_of(key, minute, &format!("k{n}-{minute}")));
        }
    }
    assert_eq!(commit(&store, &["hook"], &records).await.len(), 18);
    let worker = |id: &str, sink: &Arc<Recorder>| {
        let sink = Arc::clone(sink) as Arc<dyn Sink>;
        Deliverer::new(
            store.clone(),
            vec![sink],
            DeliverySettings {
                worker: id.to_owned(),
                ..settings()
            },
        )
    };
    let (hook_1, hook_2) = (
        Recorder::new("hook", Answer::Take),
        Recorder::new("hook", Answer::Take),
    );
    let (one, two) = (worker("w1", &hook_1), worker("w2", &hook_2));
    let t0 = store::now();

    let (sent_1, sent_2) = tokio::join!(one.deliver_due(t0), two.deliver_due(t0));
    assert_eq!(
        sent_1.unwrap() + sent_2.unwrap(),
        6,
        "one first alert per canary, whichever worker sent it"
    );
    let (sent_1, sent_2) = tokio::join!(
        one.deliver_due(seconds(t0, 30)),
        two.deliver_due(seconds(t0, 30))
    );
    assert_eq!(
        sent_1.unwrap() + sent_2.unwrap(),
        0,
        "the rate limit holds across workers"
    );
    let (sent_1, sent_2) = tokio::join!(
        one.deliver_due(seconds(t0, 60)),
        two.deliver_due(seconds(t0, 60))
    );
    assert_eq!(
        sent_1.unwrap() + sent_2.unwrap(),
        6,
        "one digest per canary"
    );

    let mut delivered: Vec<String> = hook_1
        .taken()
        .into_iter()
        .chain(hook_2.taken())
        .flat_map(|n| match n.digest {
            Some(digest) => digest.dedup_keys,
            None => vec![n.alert.dedup_key],
        })
        .collect();
    delivered.sort();
    let before = delivered.len();
    delivered.dedup();
    assert_eq!((before, delivered.len()), (18, 18), "each alert once");
    assert_eq!(store.sink_health().await.unwrap()[0].pending, 0);
}

/// A withdrawal never rides in a digest, where its dedup key would read as one more alert
/// raised: it goes on its own, and the digest holds the repeats alone.
#[tokio::test]
async fn a_withdrawal_goes_on_its_own_beside_the_digest_of_repeats() {
    let folder = tempfile::tempdir().unwrap();
    let store = store_with_canary(&folder).await;
    let keys = commit(
        &store,
        &["hook"],
        &[
            canary_use(1, "e-1"),
            canary_use(2, "e-2"),
            canary_use(3, "e-3"),
        ],
    )
    .await;
    let hook = Recorder::new("hook", Answer::Take);
    let outbox = deliverer(&store, &[&hook]);
    let t0 = store::now();
    assert_eq!(outbox.deliver_due(t0).await.unwrap(), 1);
    let first = hook.taken()[0].alert.dedup_key.clone();
    assert!(first.ends_with(":e-1"), "{first}");

    let stored = store.alert(&first).await.unwrap().unwrap();
    let withdrawal = store::AlertRow {
        dedup_key: stored.dedup_key.clone(),
        rule: stored.rule.clone(),
        severity: stored.severity.clone(),
        status: "withdrawn".to_owned(),
        withdrawn_because: Some("a test withdraws it".to_owned()),
        replaces: Vec::new(),
        summary: stored.summary.clone(),
        event_time: stored.event_time,
        limit_key: stored.limit_key.clone(),
        body: stored.body.clone(),
        sinks: vec!["hook".to_owned()],
        canary: None,
        suppressed_by: None,
    };
    store
        .commit_batch(&store::BatchCommit {
            source: "trail",
            checkpoint: None,
            alerts: &[withdrawal],
            at: seconds(t0, 1),
        })
        .await
        .unwrap();

    assert_eq!(outbox.deliver_due(seconds(t0, 60)).await.unwrap(), 2);
    let later = &hook.taken()[1..];
    let withdrawn: Vec<&Notification> = later
        .iter()
        .filter(|n| n.alert.status == detect::AlertStatus::Withdrawn)
        .collect();
    assert_eq!(withdrawn.len(), 1);
    assert_eq!(withdrawn[0].alert.dedup_key, first);
    assert!(withdrawn[0].digest.is_none());
    let digest = later
        .iter()
        .find_map(|n| n.digest.as_ref())
        .expect("the repeats come as a digest");
    let mut repeats = digest.dedup_keys.clone();
    repeats.sort();
    let mut expected: Vec<String> = keys.into_iter().filter(|key| *key != first).collect();
    expected.sort();
    assert_eq!(repeats, expected);
}

#[tokio::test]
async fn resolving_an_alert_closes_its_incident_once_and_holds_up_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let store = store_with_canary(&folder).await;
    let keys = commit(&store, &["chat", "pager"], &[canary_use(1, "e-1")]).await;
    let chat = Recorder::new("chat", Answer::Take);
    let pager = Recorder::keeping_incidents("pager");
    let outbox = deliverer(&store, &[&chat, &pager]);
    let t0 = store::now();
    assert_eq!(outbox.deliver_due(t0).await.unwrap(), 2);

    let resolve = store::AlertStateChange::Resolve {
        false_positive: false,
    };
    store
        .set_alert_state(&keys[0], resolve, Some("drill"), "alice", seconds(t0, 5))
        .await
        .unwrap()
        .unwrap();
    // Resolving again (or after a reopen) does not tell the sinks twice.
    store
        .set_alert_state(&keys[0], resolve, None, "alice", seconds(t0, 6))
        .await
        .unwrap();
    assert_eq!(
        outbox.deliver_due(seconds(t0, 10)).await.unwrap(),
        1,
        "only the pager is told"
    );
    assert_eq!(*pager.resolved.lock().unwrap(), [keys[0].clone()]);
    assert_eq!(chat.taken().len(), 1, "the chat sink is sent nothing more");
    assert_eq!(pager.taken().len(), 1);
    assert_eq!(outbox.deliver_due(seconds(t0, 3_600)).await.unwrap(), 0);
    // The chat sink's notice is settled, not counted: a notice it had nothing to do with
    // is no sign that it works.
    let health = store.sink_health().await.unwrap();
    let delivered = |name: &str| {
        let sink = health.iter().find(|sink| sink.sink == name).unwrap();
        (sink.delivered, sink.pending)
    };
    assert_eq!(delivered("chat"), (1, 0));
    assert_eq!(delivered("pager"), (2, 0));

    // A resolution does not start the rate window: the next alert for the canary goes at
    // once, as it would have.
    commit(&store, &["chat", "pager"], &[canary_use(2, "e-2")]).await;
    assert_eq!(outbox.deliver_due(seconds(t0, 3_601)).await.unwrap(), 2);
    assert_eq!(chat.taken().len(), 2);
}

#[tokio::test]
async fn a_suppressed_alert_is_kept_but_not_sent_and_canary_use_needs_the_admins_flag() {
    let folder = tempfile::tempdir().unwrap();
    let store = store_with_canary(&folder).await;
    let t0 = store::now();
    let suppression = |covers_canaries| store::NewSuppression {
        user_agent: Some("aws-cli/*".to_owned()),
        reason: "our own audit script".to_owned(),
        expires_at: seconds(t0, 3_600),
        covers_canaries,
        created_by: "cli".to_owned(),
        ..Default::default()
    };
    // Without the flag a suppression passes over canary-use alerts: this one is sent.
    store
        .create_suppression(&suppression(false), t0)
        .await
        .unwrap();
    let hook = Recorder::new("hook", Answer::Take);
    let outbox = deliverer(&store, &[&hook]);
    let sent = commit(&store, &["hook"], &[canary_use(1, "e-1")]).await;
    assert_eq!(outbox.deliver_due(seconds(t0, 1)).await.unwrap(), 1);
    let stored = store.alert(&sent[0]).await.unwrap().unwrap();
    assert_eq!(stored.suppressed_by, None);

    // With it (an admin's explicit choice), the next use is kept and shown, not sent.
    let covering = store
        .create_suppression(&suppression(true), t0)
        .await
        .unwrap();
    let kept = commit(&store, &["hook"], &[canary_use(2, "e-2")]).await;
    assert_eq!(kept.len(), 1);
    let stored = store.alert(&kept[0]).await.unwrap().unwrap();
    assert_eq!(stored.suppressed_by.as_deref(), Some(covering.id.as_str()));
    assert_eq!(outbox.deliver_due(seconds(t0, 3_600)).await.unwrap(), 0);
    assert_eq!(hook.taken().len(), 1, "only the first use was sent");
}
