//! `tripkey source`: the objects serve's sources could not read, listed as a table and as
//! JSON, taken out of quarantine, and counted by `tripkey status` (exit 1 while any is
//! quarantined).

use std::process::{Command, Output};

use serde_json::Value;
use store::{EventTime, Store};

fn tripkey(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tripkey"))
        .args(args)
        .env_remove("TRIPKEY_DB")
        .env_remove("TRIPKEY_DATABASE")
        .env_remove("TRIPKEY_CONFIG")
        .env_remove("TRIPKEY_TOKEN")
        .output()
        .expect("tripkey runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn unreadable_objects_are_listed_retried_and_make_status_unhealthy() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("tripkey.db");
    let db = db.to_str().unwrap();
    let store = Store::open(db).await.unwrap();
    let at = EventTime::parse("2026-12-04T10:00:00Z").unwrap();
    let hostile = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/12/04/\x1b[31mx.json.gz";
    store
        .record_source_failure(
            "org-trail",
            hostile,
            "AccessDenied: kms:Decrypt",
            at,
            at.offset(60_000),
            1,
        )
        .await
        .unwrap();
    store
        .record_source_failure(
            "org-trail",
            "AWSLogs/b.json.gz",
            "timeout",
            at,
            at.offset(60_000),
            5,
        )
        .await
        .unwrap();
    store.close().await;

    let listed = tripkey(&["source", "unreadable", "--database", db]);
    assert!(listed.status.success(), "{listed:?}");
    let text = stdout(&listed);
    assert!(
        text.contains("quarantined") && text.contains("retrying"),
        "{text}"
    );
    assert!(text.contains("AccessDenied: kms:Decrypt"), "{text}");
    assert!(
        !text.contains('\x1b'),
        "keys are data, escaped for the terminal: {text:?}"
    );
    assert!(text.contains("tripkey source retry"), "{text}");

    let status = tripkey(&["status", "--database", db, "--url", "http://127.0.0.1:9"]);
    assert_eq!(
        status.status.code(),
        Some(1),
        "a quarantined object is unhealthy"
    );
    let text = stdout(&status);
    assert!(
        text.contains("org-trail") && text.contains("1 retrying, 1 quarantined"),
        "{text}"
    );
    let status = tripkey(&[
        "status",
        "--database",
        db,
        "--url",
        "http://127.0.0.1:9",
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        report["unreadable"],
        serde_json::json!([{"source": "org-trail", "retrying": 1, "quarantined": 1}])
    );

    let none = tripkey(&[
        "source",
        "retry",
        "--database",
        db,
        "--source",
        "other",
        "--format",
        "json",
    ]);
    let none: Value = serde_json::from_slice(&none.stdout).unwrap();
    assert_eq!(none["retried"], 0);
    let retried = tripkey(&["source", "retry", "--database", db]);
    assert!(retried.status.success());
    assert!(
        stdout(&retried).contains("1 object out of quarantine"),
        "{}",
        stdout(&retried)
    );

    let listed = tripkey(&["source", "unreadable", "--database", db, "--format", "json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let states: Vec<&str> = listed["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|object| object["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["retrying", "retrying"], "{listed}");
    let status = tripkey(&["status", "--database", db, "--url", "http://127.0.0.1:9"]);
    assert_eq!(status.status.code(), Some(0), "{}", stdout(&status));
}
