//! The engine side of `serve` against a real SQLite file: batches to committed alerts exactly
//! once, across redeliveries and restarts; the directory source's checkpoint.

use std::sync::Arc;
use std::time::Duration;

use pipeline::{Batch, DirSource, Item, Metrics};
use store::Store;

mod common;

use common::*;

#[tokio::test]
async fn a_batch_read_again_or_after_a_restart_alerts_once() {
    let folder = tempfile::tempdir().unwrap();
    let store = store_with_canary(&folder).await;
    let metrics = Arc::new(Metrics::default());
    let object = trail_object(&[canary_use(1, "e-1"), canary_use(2, "e-2")]);
    let first = batch("trail", "AWSLogs/x.json.gz", object, "AWSLogs/x.json.gz");

    let mut engine = open_ingestor(&store, &["hook"], metrics.clone()).await;
    let done = engine.ingest(&first).await.unwrap();
    assert_eq!(done.records, 2);
    assert_eq!(done.new_alerts.len(), 2, "{:?}", done.new_alerts);
    assert!(engine.ingest(&first).await.unwrap().new_alerts.is_empty());
    drop(engine);

    let mut restarted = open_ingestor(&store, &["hook"], metrics).await;
    assert!(restarted
        .ingest(&first)
        .await
        .unwrap()
        .new_alerts
        .is_empty());
    let deliveries = store.due_deliveries(store::now(), 100).await.unwrap();
    assert_eq!(deliveries.len(), 2, "one delivery per alert and sink");
    let body: serde_json::Value = serde_json::from_str(&deliveries[0].alert.body).unwrap();
    assert_eq!(body["details"]["labels"]["host"], "build-07");
    assert_eq!(body["details"]["labels"]["issuer"], "offline");
    assert_eq!(
        store.checkpoint("trail").await.unwrap().as_deref(),
        Some("AWSLogs/x.json.gz")
    );
}

#[tokio::test]
async fn a_damaged_object_is_reported_and_the_rest_of_the_batch_is_used() {
    let folder = tempfile::tempdir().unwrap();
    let store = store_with_canary(&folder).await;
    let mut engine = open_ingestor(&store, &[], Arc::new(Metrics::default())).await;
    let mut cut = trail_object(&[canary_use(1, "e-1")]);
    cut.truncate(cut.len() / 2);
    let whole = trail_object(&[canary_use(3, "e-3")]);
    let done = engine
        .ingest(&Batch {
            source: "queue".to_owned(),
            items: vec![
                Item {
                    name: "cut.json.gz".to_owned(),
                    bytes: cut,
                },
                Item {
                    name: "whole.json.gz".to_owned(),
                    bytes: whole,
                },
            ],
            checkpoint: None,
            held: Default::default(),
        })
        .await
        .unwrap();
    assert_eq!(done.new_alerts.len(), 1);
    assert!(
        done.problems.iter().any(|p| p.starts_with("cut.json.gz")),
        "{:?}",
        done.problems
    );
}

#[tokio::test]
async fn an_item_past_the_size_limit_is_cut_there_and_reported() {
    let folder = tempfile::tempdir().unwrap();
    let store = store_with_canary(&folder).await;
    let mut engine = open_ingestor(&store, &[], Arc::new(Metrics::default())).await;
    engine.limit_item_size(64 * 1024);
    // A canary use, then a megabyte of padding that gzip shrinks to almost nothing.
    let padding = " ".repeat(1 << 20);
    let body = format!(
        "{{\"Records\":[{}, {{\"padding\": \"{padding}\"}}]}}",
        canary_use(1, "e-1")
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, body.as_bytes()).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 16 * 1024);
    let done = engine
        .ingest(&batch("http", "bomb.json.gz", bomb, "1"))
        .await
        .unwrap();
    assert_eq!(
        done.new_alerts.len(),
        1,
        "the record before the cut is used"
    );
    assert!(
        done.problems
            .iter()
            .any(|p| p.starts_with("bomb.json.gz") && p.contains("65536 bytes")),
        "{:?}",
        done.problems
    );
}

/// Runs the directory source until `records` records were read (or 20 s passed), then a
/// little longer.
async fn run_dir_until(store: &Store, root: &std::path::Path, metrics: Arc<Metrics>, records: u64) {
    let engine = open_ingestor(store, &[], metrics.clone()).await;
    let (handle, task) = pipeline::spawn_engine(engine, Arc::new(tokio::sync::Notify::new()));
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let source = DirSource::new("local", root, Duration::from_millis(50));
    let runner = tokio::spawn(pipeline::run_source(
        source,
        handle,
        store.clone(),
        metrics.clone(),
        pipeline::MemoryBudget::new(pipeline::DEFAULT_MEMORY_BUDGET),
        shutdown,
    ));
    for _ in 0..400 {
        if metrics
            .sources()
            .get("local")
            .is_some_and(|s| s.records >= records)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Long enough for files read a second time to show up in the counts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.send(true).unwrap();
    runner.await.unwrap();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_source_reads_each_file_once_across_restarts() {
    let folder = tempfile::tempdir().unwrap();
    let store = store_with_canary(&folder).await;
    let root = folder.path().join("trail");
    let day = root.join("AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/30");
    std::fs::create_dir_all(&day).unwrap();
    let file = |stamp: &str, minute| {
        let name =
            format!("123456789012_CloudTrail_us-east-1_20261130T{stamp}Z_a1b2c3d4e5f6g7h8.json.gz");
        let path = day.join(name);
        std::fs::write(
            &path,
            trail_object(&[canary_use(minute, &format!("e-{minute}"))]),
        )
        .unwrap();
        // Old enough to be taken: files younger than a second may still be being written.
        let past = std::time::SystemTime::now() - Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(past)
            .unwrap();
    };
    file("1005", 1);
    file("1010", 6);
    let metrics = Arc::new(Metrics::default());
    run_dir_until(&store, &root, metrics.clone(), 2).await;
    assert_eq!(metrics.sources()["local"].records, 2);
    assert_eq!(metrics.sources()["local"].batches, 2);

    file("1015", 11);
    let after_restart = Arc::new(Metrics::default());
    run_dir_until(&store, &root, after_restart.clone(), 1).await;
    assert_eq!(
        after_restart.sources()["local"].records,
        1,
        "only the new file is read after a restart"
    );
    assert_eq!(store.recent_alerts(10).await.unwrap().len(), 3);
}

/// An AccessDenied call by one intruder, `second` seconds past 10:00.
fn denied(second: u32) -> serde_json::Value {
    serde_json::json!({
        "eventVersion": "1.09", "eventTime": format!("2026-11-30T10:00:{second:02}Z"),
        "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets",
        "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.9",
        "userAgent": "enumerate-iam", "errorCode": "AccessDenied",
        "userIdentity": {"type": "IAMUser", "accountId": "123456789012",
            "accessKeyId": "AKIAQYLPMN5HINTRUDER", "userName": "intruder",
            "arn": "arn:aws:iam::123456789012:user/intruder"},
        "eventID": format!("denied-{second}")
    })
}

#[tokio::test]
async fn a_batch_whose_commit_failed_is_counted_once_when_read_again() {
    use sqlx::Connection;
    let folder = tempfile::tempdir().unwrap();
    let store = store_with_canary(&folder).await;
    let denials: Vec<serde_json::Value> = (0..5).map(denied).collect();
    let burst = batch(
        "trail",
        "AWSLogs/d.json.gz",
        trail_object(&denials),
        "AWSLogs/d.json.gz",
    );
    let mut engine = open_ingestor(&store, &["hook"], Arc::new(Metrics::default())).await;

    let url = format!("sqlite://{}", store.path().display());
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    assert!(
        engine.ingest(&burst).await.is_err(),
        "the commit fails while another process holds the write lock"
    );
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();

    // The source reads the batch again. Had the engine kept what it saw the first time, the
    // burst would count ten denials, or none if it were already open.
    let done = engine.ingest(&burst).await.unwrap();
    assert_eq!(done.new_alerts.len(), 1, "{:?}", done.new_alerts);
    let deliveries = store.due_deliveries(store::now(), 100).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&deliveries[0].alert.body).unwrap();
    assert_eq!(body["rule"], "access-denied-burst");
    assert_eq!(body["details"]["count"], 5, "{body}");
}

/// The attacker-first race, in serve: the attacker's file arrives first, so the instance's own
/// address alerts; the instance's earlier call arrives in a late file and shows its address was
/// the first. The wrong alert is withdrawn with the reason, the sink that was told of it is told
/// again, and the attacker's address alerts instead.
#[tokio::test]
async fn an_alert_a_late_file_disproves_is_withdrawn_and_the_true_one_raised() {
    let folder = tempfile::tempdir().unwrap();
    let store = store_with_canary(&folder).await;
    let metrics = Arc::new(Metrics::default());
    let mut engine = open_ingestor(&store, &["hook"], metrics.clone()).await;
    let seed = instance_role_assumed();
    let first_file = trail_object(&[
        seed,
        instance_record("2026-11-30T10:01:00Z", "203.0.113.9", "attacker"),
        instance_record("2026-11-30T10:02:00Z", "54.1.2.3", "instance-2"),
        canary_use(30, "later"),
    ]);
    let done = engine
        .ingest(&batch("trail", "AWSLogs/a.json.gz", first_file, "a"))
        .await
        .unwrap();
    let wrong = "instance-credential-exfiltration:arn:aws:sts::123456789012:assumed-role/web/i-0abc1234:ip:54.1.2.3";
    assert!(
        done.new_alerts.iter().any(|key| key == wrong),
        "{:?}",
        done.new_alerts
    );
    let told = store.due_deliveries(store::now(), 100).await.unwrap();
    store
        .deliveries_done("hook", &told, store::now())
        .await
        .unwrap();

    let late_file = trail_object(&[instance_record(
        "2026-11-30T10:00:30Z",
        "54.1.2.3",
        "instance-1",
    )]);
    let done = engine
        .ingest(&batch("trail", "AWSLogs/b.json.gz", late_file, "b"))
        .await
        .unwrap();
    let right = "instance-credential-exfiltration:arn:aws:sts::123456789012:assumed-role/web/i-0abc1234:ip:203.0.113.9";
    assert_eq!(done.new_alerts, [right]);
    let withdrawn = store.alert(wrong).await.unwrap().unwrap();
    assert_eq!(withdrawn.status, "withdrawn");
    assert!(
        withdrawn
            .withdrawn_because
            .as_deref()
            .unwrap()
            .contains("shows it was the session's first address"),
        "{withdrawn:?}"
    );
    let raised: serde_json::Value =
        serde_json::from_str(&store.alert(right).await.unwrap().unwrap().body).unwrap();
    assert_eq!(
        raised["details"]["locked_ips"],
        serde_json::json!(["54.1.2.3"])
    );
    let due = store.due_deliveries(store::now(), 100).await.unwrap();
    let mut notices: Vec<(&str, &str)> = due
        .iter()
        .map(|delivery| {
            (
                delivery.alert.dedup_key.as_str(),
                delivery.alert.status.as_str(),
            )
        })
        .collect();
    notices.sort();
    assert_eq!(notices, [(right, "open"), (wrong, "withdrawn")]);

    let report = pipeline::Report::gather(&store, &metrics).await.unwrap();
    assert_eq!(report.lateness.out_of_order, 1);
    assert_eq!(report.lateness.beyond_horizon, 0);
    assert_eq!(report.lateness.max_behind_millis, 29 * 60_000 + 30_000);
    let text = report.prometheus();
    assert!(
        text.contains("tripkey_records_out_of_order_total 1\n"),
        "{text}"
    );
    assert!(text.contains("tripkey_records_beyond_horizon_total 0\n"));
    assert!(text.contains("tripkey_record_lateness_max_seconds 1770\n"));
}

#[tokio::test]
async fn the_whole_state_an_earlier_version_saved_goes_on_as_keys_after_the_upgrade() {
    use detect::{CanaryRegistry, Engine, MemoryState};
    use sqlx::Connection;
    use trail::Record;

    let folder = tempfile::tempdir().unwrap();
    let store = store_with_canary(&folder).await;
    // Three denials seen by the version before, saved the way it saved its state.
    let mut before = Engine::new(
        &Default::default(),
        Arc::new(CanaryRegistry::new(Vec::new()).unwrap()),
        MemoryState::default(),
    );
    let mut alerts = Vec::new();
    for second in 0..3 {
        let record = Record::from_owned_json(denied(second).to_string()).unwrap();
        before.process(&record, &mut alerts);
    }
    assert!(alerts.is_empty());
    let url = format!("sqlite://{}", store.path().display());
    let mut old = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("INSERT INTO detector_state (id, state, updated_at) VALUES (1, $1, 0)")
        .bind(before.snapshot())
        .execute(&mut old)
        .await
        .unwrap();

    let mut engine = open_ingestor(&store, &["hook"], Arc::new(Metrics::default())).await;
    let (keys, newest) = store.detector_size().await.unwrap();
    assert_eq!(keys, 1, "the intruder's denials are one key");
    assert_eq!(newest, before.newest());
    let left: Option<String> = sqlx::query_scalar("SELECT state FROM detector_state")
        .fetch_optional(&mut old)
        .await
        .unwrap();
    assert_eq!(left, None, "the snapshot is moved, not copied");

    let rest = batch(
        "trail",
        "AWSLogs/d.json.gz",
        trail_object(&[denied(3), denied(4)]),
        "AWSLogs/d.json.gz",
    );
    let done = engine.ingest(&rest).await.unwrap();
    assert_eq!(done.new_alerts.len(), 1, "{:?}", done.new_alerts);
    let alert = store.alert(&done.new_alerts[0]).await.unwrap().unwrap();
    let body: serde_json::Value = serde_json::from_str(&alert.body).unwrap();
    assert_eq!(
        body["details"]["count"], 5,
        "the denials before the upgrade count: {body}"
    );
}
