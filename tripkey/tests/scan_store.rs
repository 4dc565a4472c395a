//! `tripkey scan --store`: the canaries `tripkey canary create` recorded are found in a trail
//! without a canaries file.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};

const ACCOUNT: &str = "111122223333";

fn tripkey(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tripkey"))
        .args(args)
        .env_remove("TRIPKEY_DB")
        .env_remove("TRIPKEY_DATABASE")
        .env_remove("TRIPKEY_CONFIG")
        .env_remove("TRIPKEY_CANARIES")
        .output()
        .expect("tripkey runs")
}

/// Issues an offline canary into `db` and returns its record.
fn create_canary(db: &Path) -> Value {
    let output = tripkey(&[
        "canary",
        "--db",
        db.to_str().unwrap(),
        "create",
        "--offline-account",
        ACCOUNT,
        "--format",
        "json",
        "--label",
        "host=build-07",
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    created["canary"].clone()
}

fn call(id: &str, user_identity: Value) -> Value {
    json!({
        "eventVersion": "1.08", "eventTime": "2024-05-01T10:00:00Z", "eventSource": "sts.amazonaws.com",
        "eventName": "GetCallerIdentity", "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.5",
        "userAgent": "aws-cli/2", "userIdentity": user_identity, "eventID": id
    })
}

#[test]
fn canaries_of_the_store_are_found() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("tripkey.db");
    let canary = create_canary(&db);
    let name = canary["name"].as_str().unwrap();

    let trail = folder.path().join("trail.json");
    let used = call(
        "canary-call",
        json!({"type": "IAMUser", "arn": canary["principal_arn"], "accountId": ACCOUNT,
               "accessKeyId": canary["access_key_id"], "userName": name}),
    );
    let unrelated = call(
        "other-call",
        json!({"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice",
               "accountId": ACCOUNT, "accessKeyId": "AKIAOTHERKEY23456789", "userName": "alice"}),
    );
    std::fs::write(&trail, json!({"Records": [used, unrelated]}).to_string()).unwrap();

    let output = tripkey(&[
        "scan",
        "--store",
        "--db",
        db.to_str().unwrap(),
        "--format",
        "json",
        trail.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    let alerts = document["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let alert = &alerts[0];
    assert_eq!(alert["rule"], "canary-use");
    assert_eq!(alert["event_id"], "canary-call");
    let details = &alert["details"];
    assert_eq!(details["canary"], name);
    assert_eq!(details["labels"]["host"], "build-07");
    assert_eq!(details["labels"]["issuer"], "offline");
}

#[test]
fn a_missing_database_is_refused_and_not_created() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("absent").join("tripkey.db");
    let trail = folder.path().join("trail.json");
    std::fs::write(&trail, r#"{"Records":[]}"#).unwrap();

    let output = tripkey(&[
        "scan",
        "--store",
        "--db",
        db.to_str().unwrap(),
        trail.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tripkey canary create"), "{stderr}");
    assert!(!db.exists(), "the scan created the database");
    assert!(
        !db.parent().unwrap().exists(),
        "the scan created its folder"
    );
}
