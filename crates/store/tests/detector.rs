//! The detectors' memory per key: read and written only for the keys a batch names and the
//! keys due, under locks that serialise batches sharing a key, on both backends.

#[macro_use]
mod support;

use std::time::Duration;

use store::{
    BatchCommit, DetectorKey, DetectorWrites, EventTime, InputActivity, QueuedObject, Store,
};
use support::TestDb;

fn key(name: &str, value: &str, wake_at: Option<i64>) -> DetectorKey {
    DetectorKey {
        key: name.to_owned(),
        value: value.to_owned(),
        wake_at: wake_at.map(EventTime),
    }
}

fn batch(at: i64) -> BatchCommit<'static> {
    BatchCommit {
        source: "trail",
        checkpoint: None,
        alerts: &[],
        at: EventTime(at),
    }
}

fn writes<'a>(
    newest: Option<i64>,
    put: &'a [DetectorKey],
    delete: &'a [String],
    quiet: bool,
) -> DetectorWrites<'a> {
    DetectorWrites {
        worker: "w1",
        newest: newest.map(EventTime),
        lateness: "{\"out_of_order\":1}",
        put,
        delete,
        quiet,
        input: !quiet,
    }
}

fn names(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|key| (*key).to_owned()).collect()
}

on_both_backends!(a_batch_reads_its_keys_and_the_due_ones_only);
async fn a_batch_reads_its_keys_and_the_due_ones_only(db: &TestDb) {
    let store = db.open().await;
    let (first, rows) = store
        .begin_detection("w1", &names(&["instance:i-1", "principal:p"]), None, 10)
        .await
        .unwrap();
    assert!(rows.rows.is_empty() && rows.due.is_empty());
    assert_eq!(rows.newest, None);
    assert_eq!(rows.lateness, None);
    let put = [
        key("instance:i-1", "{\"i\":1}", Some(500)),
        key("principal:p", "{\"p\":1}", None),
        key("instance:i-2", "{\"i\":2}", Some(300)),
        key("instance:i-3", "{\"i\":3}", Some(900)),
    ];
    first
        .commit(&batch(1), &writes(Some(400), &put, &[], false))
        .await
        .unwrap();
    assert_eq!(
        store.detector_size().await.unwrap(),
        (4, Some(EventTime(400)))
    );

    // Due by the stream's time (400): only i-2. By a batch reaching 600: i-2, then i-1.
    let (_, rows) = store
        .begin_detection("w1", &names(&["principal:p"]), None, 10)
        .await
        .unwrap();
    assert_eq!(rows.due, ["instance:i-2"]);
    let mut read: Vec<&str> = rows.rows.iter().map(|row| row.key.as_str()).collect();
    read.sort_unstable();
    assert_eq!(read, ["instance:i-2", "principal:p"]);
    assert_eq!(rows.newest, Some(EventTime(400)));
    assert_eq!(rows.lateness.as_deref(), Some("{\"out_of_order\":1}"));
    let (_, rows) = store
        .begin_detection("w2", &[], Some(EventTime(600)), 10)
        .await
        .unwrap();
    assert_eq!(rows.due, ["instance:i-2", "instance:i-1"]);
    assert_eq!(rows.lateness, None, "w2 has no counters of its own");
    let (_, rows) = store
        .begin_detection("w2", &[], Some(EventTime(1000)), 2)
        .await
        .unwrap();
    assert_eq!(
        rows.due,
        ["instance:i-2", "instance:i-1"],
        "earliest first, capped"
    );

    // A forgotten key's row goes; the stream's time never moves back.
    let (second, rows) = store
        .begin_detection("w1", &names(&["instance:i-2"]), None, 0)
        .await
        .unwrap();
    assert_eq!(rows.rows, [key("instance:i-2", "{\"i\":2}", Some(300))]);
    second
        .commit(
            &batch(2),
            &writes(Some(100), &[], &names(&["instance:i-2"]), false),
        )
        .await
        .unwrap();
    assert_eq!(
        store.detector_size().await.unwrap(),
        (3, Some(EventTime(400)))
    );
}

on_both_backends!(a_batch_dropped_before_its_commit_changes_nothing);
async fn a_batch_dropped_before_its_commit_changes_nothing(db: &TestDb) {
    let store = db.open().await;
    let (first, _) = store
        .begin_detection("w1", &names(&["principal:p"]), None, 0)
        .await
        .unwrap();
    drop(first);
    let (batch_two, rows) = store
        .begin_detection("w1", &names(&["principal:p"]), None, 0)
        .await
        .unwrap();
    assert!(rows.rows.is_empty());
    drop(batch_two);
    assert_eq!(store.detector_size().await.unwrap(), (0, None));
}

on_both_backends!(the_quiet_release_walks_only_the_keys_changed_since_the_last);
async fn the_quiet_release_walks_only_the_keys_changed_since_the_last(db: &TestDb) {
    let store = db.open().await;
    let put: Vec<DetectorKey> = (0..5)
        .map(|n| key(&format!("principal:p{n}"), "{}", None))
        .collect();
    let (first, _) = store.begin_detection("w1", &[], None, 0).await.unwrap();
    first
        .commit(&batch(1), &writes(None, &put, &[], false))
        .await
        .unwrap();
    let page = store.unsettled_detector_keys(None, 2).await.unwrap();
    assert_eq!(page, ["principal:p0", "principal:p1"]);
    let page = store
        .unsettled_detector_keys(Some("principal:p1"), 10)
        .await
        .unwrap();
    assert_eq!(page, ["principal:p2", "principal:p3", "principal:p4"]);

    let (quiet, _) = store
        .begin_detection("w1", &names(&["principal:p0", "principal:p3"]), None, 0)
        .await
        .unwrap();
    quiet
        .commit(
            &batch(2),
            &writes(None, &[put[0].clone(), put[3].clone()], &[], true),
        )
        .await
        .unwrap();
    let left = store.unsettled_detector_keys(None, 10).await.unwrap();
    assert_eq!(left, ["principal:p1", "principal:p2", "principal:p4"]);
}

on_both_backends!(the_input_is_quiet_only_when_no_worker_brought_records_and_nothing_waits);
async fn the_input_is_quiet_only_when_no_worker_brought_records_and_nothing_waits(db: &TestDb) {
    let store = db.open().await;
    let polled = ["polled".to_owned()];
    let none = store.input_activity(&polled).await.unwrap();
    assert_eq!(
        none,
        InputActivity::default(),
        "no worker has read anything yet"
    );

    let (read, _) = store.begin_detection("w1", &[], None, 0).await.unwrap();
    read.commit(&batch(1), &writes(Some(5), &[], &[], false))
        .await
        .unwrap();
    let just_now = store.input_activity(&polled).await.unwrap();
    let since = just_now.since_input.expect("w1 brought records");
    assert!(since < Duration::from_secs(5), "{since:?}");

    // A quiet release by another worker is not input: the time stays w1's.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (quiet, _) = store.begin_detection("w2", &[], None, 0).await.unwrap();
    quiet
        .commit(&batch(2), &writes(None, &[], &[], true))
        .await
        .unwrap();
    let later = store.input_activity(&polled).await.unwrap();
    assert!(
        later.since_input.unwrap() >= since + Duration::from_millis(300),
        "{later:?} after {since:?}"
    );

    let object = |key: &str| QueuedObject {
        key: key.to_owned(),
        prefix: "AWSLogs/111122223333/CloudTrail/us-east-1".to_owned(),
        attempts: 0,
    };
    store
        .queue_source_objects("polled", &[object("a"), object("b")], "b", EventTime(3))
        .await
        .unwrap();
    store
        .queue_source_objects("removed", &[object("c")], "c", EventTime(3))
        .await
        .unwrap();
    assert_eq!(
        store.input_activity(&polled).await.unwrap().objects_waiting,
        2,
        "only the named sources' objects count"
    );
}

on_both_backends!(batches_sharing_keys_apply_one_after_the_other);
async fn batches_sharing_keys_apply_one_after_the_other(db: &TestDb) {
    let store = db.open().await;
    // Each task adds one to the counters of its keys, read-modify-write, many times; the key
    // sets overlap in opposite orders. Without a lock per key updates are lost (or, locking
    // in the order given, the batches deadlock).
    let key_sets = [
        ["instance:a", "instance:b"],
        ["instance:b", "instance:a"],
        ["instance:b", "principal:c"],
        ["principal:c", "instance:a"],
    ];
    let tasks = key_sets.map(|keys| {
        let store = store.clone();
        tokio::spawn(async move { add_one(&store, &names(&keys), 10).await })
    });
    for task in tasks {
        task.await.unwrap();
    }
    let (_, rows) = store
        .begin_detection(
            "w1",
            &names(&["instance:a", "instance:b", "principal:c"]),
            None,
            0,
        )
        .await
        .unwrap();
    let mut counts: Vec<(String, String)> = rows
        .rows
        .into_iter()
        .map(|row| (row.key, row.value))
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        [
            ("instance:a".to_owned(), "30".to_owned()),
            ("instance:b".to_owned(), "30".to_owned()),
            ("principal:c".to_owned(), "20".to_owned()),
        ]
    );
}

async fn add_one(store: &Store, keys: &[String], times: usize) {
    for _ in 0..times {
        let (batch_open, rows) = store.begin_detection("w1", keys, None, 0).await.unwrap();
        tokio::task::yield_now().await;
        let put: Vec<DetectorKey> = keys
            .iter()
            .map(|name| {
                let count: u64 = rows
                    .rows
                    .iter()
                    .find(|row| &row.key == name)
                    .map_or(0, |row| row.value.parse().unwrap());
                key(name, &(count + 1).to_string(), None)
            })
            .collect();
        batch_open
            .commit(&batch(1), &writes(None, &put, &[], false))
            .await
            .unwrap();
    }
}

on_both_backends!(an_earlier_versions_whole_state_is_split_into_keys_once);
async fn an_earlier_versions_whole_state_is_split_into_keys_once(db: &TestDb) {
    let store = db.open().await;
    db.execute(
        "INSERT INTO detector_state (id, state, updated_at) VALUES (1, 'two keys at 700', 5)",
    )
    .await;
    let moved = store
        .adopt_detector_snapshot("w1", |snapshot| {
            assert_eq!(snapshot, "two keys at 700");
            Some((
                vec![
                    key("instance:i-9", "{}", Some(800)),
                    key("principal:p", "[]", None),
                ],
                Some(EventTime(700)),
                "{}".to_owned(),
            ))
        })
        .await
        .unwrap();
    assert_eq!(moved, Some(2));
    assert_eq!(
        store.detector_size().await.unwrap(),
        (2, Some(EventTime(700)))
    );
    let again = store
        .adopt_detector_snapshot("w1", |_| panic!("the snapshot was moved already"))
        .await
        .unwrap();
    assert_eq!(again, None);

    // A snapshot that cannot be read is dropped, not kept to fail every start.
    db.execute("INSERT INTO detector_state (id, state, updated_at) VALUES (1, 'garbled', 6)")
        .await;
    let dropped = store.adopt_detector_snapshot("w1", |_| None).await.unwrap();
    assert_eq!(dropped, Some(0));
    assert_eq!(
        store.adopt_detector_snapshot("w1", |_| None).await.unwrap(),
        None
    );
}
