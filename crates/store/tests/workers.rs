//! Many workers on one database, on both backends: a lease has one holder until it runs out,
//! racing workers take it once, deliveries are claimed by one worker per rate-limit key, and
//! heartbeats list the workers with the jobs they hold.

#[macro_use]
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use store::{AlertRow, BatchCommit, EventTime, LeaseKind, Store, WorkerBeat};
use support::TestDb;

const T0: EventTime = EventTime(1_722_585_600_000);

fn alert(key: &str, limit_key: &str) -> AlertRow {
    AlertRow {
        dedup_key: key.to_owned(),
        rule: "canary-use".to_owned(),
        severity: "critical".to_owned(),
        status: "final".to_owned(),
        withdrawn_because: None,
        replaces: Vec::new(),
        summary: key.to_owned(),
        event_time: T0,
        limit_key: limit_key.to_owned(),
        body: format!("{{\"dedup_key\":\"{key}\"}}"),
        sinks: vec!["hook".to_owned()],
        canary: None,
        suppressed_by: None,
    }
}

async fn commit(store: &Store, alerts: &[AlertRow]) {
    store
        .commit_batch(&BatchCommit {
            source: "trail",
            checkpoint: None,
            alerts,
            at: T0,
        })
        .await
        .unwrap();
}

const LONG: Duration = Duration::from_secs(60);

on_both_backends!(a_lease_has_one_holder_until_it_runs_out);
async fn a_lease_has_one_holder_until_it_runs_out(db: &TestDb) {
    let store = db.open().await;
    let short = Duration::from_millis(1_500);
    assert!(store
        .take_lease("s3:trail", LeaseKind::Job, "a", short)
        .await
        .unwrap());
    assert!(!store
        .take_lease("s3:trail", LeaseKind::Job, "b", short)
        .await
        .unwrap());
    assert!(
        store
            .take_lease("s3:trail", LeaseKind::Job, "a", short)
            .await
            .unwrap(),
        "the holder renews its own lease"
    );
    assert_eq!(
        store.lease_holder("s3:trail").await.unwrap().as_deref(),
        Some("a")
    );
    store.release_lease("s3:trail", "b").await.unwrap();
    assert_eq!(
        store.lease_holder("s3:trail").await.unwrap().as_deref(),
        Some("a"),
        "only the holder gives a lease back"
    );
    assert!(
        store
            .take_lease("other", LeaseKind::Job, "b", short)
            .await
            .unwrap(),
        "leases are per name"
    );

    tokio::time::sleep(short + Duration::from_millis(300)).await;
    assert_eq!(
        store.lease_holder("s3:trail").await.unwrap(),
        None,
        "it ran out"
    );
    assert!(store
        .take_lease("s3:trail", LeaseKind::Job, "b", LONG)
        .await
        .unwrap());
    assert!(
        !store
            .take_lease("s3:trail", LeaseKind::Job, "a", LONG)
            .await
            .unwrap(),
        "the old holder lost it"
    );
    store.release_lease("s3:trail", "b").await.unwrap();
    assert!(store
        .take_lease("s3:trail", LeaseKind::Job, "a", LONG)
        .await
        .unwrap());
}

on_both_backends!(racing_workers_take_a_lease_once);
async fn racing_workers_take_a_lease_once(db: &TestDb) {
    let store = db.open().await;
    for round in 0..5 {
        let name = format!("canary-chores-{round}");
        let racers: Vec<_> = (0..8)
            .map(|worker| {
                let (store, name) = (store.clone(), name.clone());
                tokio::spawn(async move {
                    store
                        .take_lease(&name, LeaseKind::Job, &format!("w{worker}"), LONG)
                        .await
                        .unwrap()
                        .then_some(format!("w{worker}"))
                })
            })
            .collect();
        let mut winners = Vec::new();
        for racer in racers {
            winners.extend(racer.await.unwrap());
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(store.lease_holder(&name).await.unwrap(), winners.pop());
    }
}

on_both_backends!(a_rate_limit_key_is_claimed_by_one_worker_at_a_time);
async fn a_rate_limit_key_is_claimed_by_one_worker_at_a_time(db: &TestDb) {
    let store = db.open().await;
    commit(
        &store,
        &[alert("a1", "k1"), alert("a2", "k1"), alert("a3", "k2")],
    )
    .await;
    let now = T0.offset(1_000);
    let keys = |claimed: &[store::Delivery]| {
        claimed
            .iter()
            .map(|d| d.alert.dedup_key.clone())
            .collect::<Vec<_>>()
    };

    let first = store
        .claim_deliveries("hook", "a", now, LONG, 1)
        .await
        .unwrap();
    assert_eq!(keys(&first), ["a1"]);
    let second = store
        .claim_deliveries("hook", "b", now, LONG, 10)
        .await
        .unwrap();
    assert_eq!(keys(&second), ["a3"], "k1 is a's: b takes k2 alone");
    let again = store
        .claim_deliveries("hook", "a", now, LONG, 10)
        .await
        .unwrap();
    assert_eq!(keys(&again), ["a1", "a2"], "a's own claim does not stop a");
    assert!(store
        .claim_deliveries("hook", "a", now, LONG, 10)
        .await
        .unwrap()
        .iter()
        .all(|d| d.limit_key == "k1"));
    assert!(
        store
            .claim_deliveries("hook", "c", now, LONG, 10)
            .await
            .unwrap()
            .is_empty(),
        "every key is claimed"
    );
    assert!(
        store
            .claim_deliveries("mail", "c", now, LONG, 10)
            .await
            .unwrap()
            .is_empty(),
        "claims are per sink, and nothing goes to mail"
    );

    store.release_deliveries("hook", "k1", "a").await.unwrap();
    let after = store
        .claim_deliveries("hook", "c", now, LONG, 10)
        .await
        .unwrap();
    assert_eq!(keys(&after), ["a1", "a2"], "a gave k1 back");
    store.deliveries_done("hook", &after, now).await.unwrap();
    store.release_deliveries("hook", "k1", "c").await.unwrap();
    assert!(
        store
            .claim_deliveries("hook", "a", now, LONG, 10)
            .await
            .unwrap()
            .is_empty(),
        "delivered rows are not claimed again, and k2 is still b's"
    );
}

on_both_backends!(workers_claiming_at_once_deliver_each_row_once);
async fn workers_claiming_at_once_deliver_each_row_once(db: &TestDb) {
    let store = db.open().await;
    let alerts: Vec<AlertRow> = (0..40)
        .map(|n| alert(&format!("a{n}"), &format!("k{}", n % 13)))
        .collect();
    commit(&store, &alerts).await;
    let now = T0.offset(1_000);
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let store = store.clone();
            tokio::spawn(async move {
                let me = format!("w{worker}");
                let mut sent = Vec::new();
                let mut idle = 0;
                while idle < 20 {
                    let claimed = store
                        .claim_deliveries("hook", &me, now, LONG, 3)
                        .await
                        .unwrap();
                    if claimed.is_empty() {
                        idle += 1;
                        tokio::task::yield_now().await;
                        continue;
                    }
                    idle = 0;
                    store.deliveries_done("hook", &claimed, now).await.unwrap();
                    let keys: BTreeSet<&str> =
                        claimed.iter().map(|d| d.limit_key.as_str()).collect();
                    for key in keys {
                        store.release_deliveries("hook", key, &me).await.unwrap();
                    }
                    sent.extend(claimed.into_iter().map(|d| d.alert.dedup_key));
                }
                sent
            })
        })
        .collect();
    let mut sent = Vec::new();
    for worker in workers {
        sent.extend(worker.await.unwrap());
    }
    let unique: BTreeSet<&String> = sent.iter().collect();
    assert_eq!(sent.len(), 40, "each delivery sent once: {sent:?}");
    assert_eq!(unique.len(), 40);
    assert!(store.due_deliveries(now, 100).await.unwrap().is_empty());
}

fn beat(id: &str, batches: u64) -> WorkerBeat {
    WorkerBeat {
        id: id.to_owned(),
        host: format!("host-{id}"),
        pid: 4242,
        version: "0.1.0".to_owned(),
        started_at: T0,
        batches,
        records: batches * 100,
        alerts: 1,
        newest_event: Some(T0.offset(-5_000)),
    }
}

on_both_backends!(heartbeats_list_the_workers_and_the_jobs_they_hold);
async fn heartbeats_list_the_workers_and_the_jobs_they_hold(db: &TestDb) {
    let store = db.open().await;
    store
        .heartbeat(&beat("a", 1), T0, EventTime(0))
        .await
        .unwrap();
    store
        .heartbeat(&beat("b", 2), T0.offset(1_000), EventTime(0))
        .await
        .unwrap();
    store
        .heartbeat(&beat("a", 3), T0.offset(2_000), EventTime(0))
        .await
        .unwrap();
    assert!(store
        .take_lease("canary-chores", LeaseKind::Job, "a", LONG)
        .await
        .unwrap());
    assert!(store
        .take_lease("s3:trail", LeaseKind::Job, "b", LONG)
        .await
        .unwrap());
    commit(&store, &[alert("a1", "k1")]).await;
    assert_eq!(
        store
            .claim_deliveries("hook", "a", T0, LONG, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    let workers = store.workers().await.unwrap();
    let ids: Vec<&str> = workers.iter().map(|w| w.beat.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"], "most recently seen first");
    assert_eq!(workers[0].beat, beat("a", 3), "the latest heartbeat counts");
    assert_eq!(workers[0].seen_at, T0.offset(2_000));
    assert_eq!(
        workers[0].jobs,
        ["canary-chores"],
        "delivery claims are not jobs"
    );
    assert_eq!(workers[1].jobs, ["s3:trail"]);
    assert_eq!(workers[1].stopped_at, None);

    store.worker_stopped("a", T0.offset(3_000)).await.unwrap();
    assert_eq!(
        store.lease_holder("canary-chores").await.unwrap(),
        None,
        "a stopping worker gives its leases up"
    );
    let a = &store.workers().await.unwrap()[0];
    assert_eq!(
        (a.beat.id.as_str(), a.stopped_at),
        ("a", Some(T0.offset(3_000)))
    );
    assert!(a.jobs.is_empty());

    store
        .heartbeat(&beat("b", 5), T0.offset(10_000), T0.offset(3_500))
        .await
        .unwrap();
    let left: Vec<String> = store
        .workers()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.beat.id)
        .collect();
    assert_eq!(left, ["b"], "a worker not seen for long is forgotten");
}

fn queued(n: usize) -> store::QueuedObject {
    store::QueuedObject {
        key: format!("AWSLogs/1/CloudTrail/us-east-1/{n:04}.json.gz"),
        prefix: "AWSLogs/1/CloudTrail/us-east-1/".to_owned(),
        attempts: 0,
    }
}

on_both_backends!(workers_claiming_queued_objects_at_once_read_each_once);
async fn workers_claiming_queued_objects_at_once_read_each_once(db: &TestDb) {
    let store = db.open().await;
    let objects: Vec<_> = (0..60).map(queued).collect();
    assert_eq!(
        store
            .queue_source_objects("trail", &objects, "{\"listed\":1}", T0)
            .await
            .unwrap(),
        60
    );
    assert_eq!(
        store
            .queue_source_objects("trail", &objects[..10], "{\"listed\":2}", T0)
            .await
            .unwrap(),
        0,
        "an object already queued is not queued twice"
    );
    assert_eq!(
        store.checkpoint("trail").await.unwrap().as_deref(),
        Some("{\"listed\":2}"),
        "the checkpoint moves with the listing"
    );
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let store = store.clone();
            tokio::spawn(async move {
                let me = format!("w{worker}");
                let mut read = Vec::new();
                loop {
                    let claimed = store
                        .claim_source_objects("trail", &me, LONG, 4)
                        .await
                        .unwrap();
                    if claimed.is_empty() {
                        break;
                    }
                    let keys: Vec<String> = claimed.into_iter().map(|o| o.key).collect();
                    tokio::task::yield_now().await;
                    store.finish_source_objects("trail", &keys).await.unwrap();
                    read.extend(keys);
                }
                read
            })
        })
        .collect();
    let mut read = Vec::new();
    for worker in workers {
        read.extend(worker.await.unwrap());
    }
    let unique: BTreeSet<&String> = read.iter().collect();
    assert_eq!(read.len(), 60, "each object read once: {read:?}");
    assert_eq!(unique.len(), 60);
    assert!(store.queued_object_counts().await.unwrap().is_empty());
}

on_both_backends!(a_stopped_worker_gives_its_claims_on_objects_back);
async fn a_stopped_worker_gives_its_claims_on_objects_back(db: &TestDb) {
    let store = db.open().await;
    let objects: Vec<_> = (0..3).map(queued).collect();
    store
        .queue_source_objects("trail", &objects, "{}", T0)
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_source_objects("trail", "a", LONG, 10)
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(
        store
            .claim_source_objects("trail", "b", LONG, 10)
            .await
            .unwrap()
            .is_empty(),
        "claimed by a live worker"
    );
    assert_eq!(
        store.prefixes_with_queued_objects("trail").await.unwrap(),
        ["AWSLogs/1/CloudTrail/us-east-1/"]
    );
    store.worker_stopped("a", T0).await.unwrap();
    assert_eq!(
        store
            .claim_source_objects("trail", "b", LONG, 10)
            .await
            .unwrap(),
        objects
    );
}
