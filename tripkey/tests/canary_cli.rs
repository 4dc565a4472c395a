//! `tripkey canary` with the offline issuer on a real SQLite file, as a user drives it.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const ACCOUNT: &str = "111122223333";

fn canary(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tripkey"))
        .args([
            "canary",
            "--db",
            db.to_str().unwrap(),
            "--offline-account",
            ACCOUNT,
        ])
        .args(args)
        .output()
        .expect("tripkey runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn create_list_check_and_revoke() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("registry").join("tripkey.db");
    let created = canary(
        &db,
        &[
            "create",
            "--label",
            "host=build-07",
            "--memo",
            "CI secret",
            "--profile-name",
            "billing",
        ],
    );
    assert_eq!(created.status.code(), Some(0), "{created:?}");
    let profile = stdout(&created);
    let lines: Vec<&str> = profile.lines().collect();
    assert_eq!(lines[0], "[billing]");
    let key = lines[1].strip_prefix("aws_access_key_id = ").unwrap();
    let secret = lines[2].strip_prefix("aws_secret_access_key = ").unwrap();
    assert!(key.starts_with("AKIA"));
    assert_eq!(
        keys::decode_account(key)
            .unwrap()
            .account()
            .unwrap()
            .to_string(),
        ACCOUNT
    );
    assert!(keys::looks_like_secret_access_key(secret));
    assert!(String::from_utf8_lossy(&created.stderr).contains("offline issuer"));

    let listed: Value = serde_json::from_slice(&canary(&db, &["list", "--json"]).stdout).unwrap();
    let record = &listed[0];
    assert_eq!(record["access_key_id"], key);
    assert_eq!(record["issuer"], "offline");
    assert_eq!(record["labels"]["host"], "build-07");
    let dump = std::fs::read(&db).unwrap();
    assert!(
        !dump.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret is not stored"
    );

    let name = record["name"].as_str().unwrap();
    let check = canary(&db, &["check", name]);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    assert!(stdout(&check).contains("flag this as a canary: no"));

    assert_eq!(canary(&db, &["revoke", name]).status.code(), Some(0));
    let shown = stdout(&canary(&db, &["show", name]));
    assert!(shown.contains("revoked"), "{shown}");
    assert!(shown.contains("issued"), "history kept: {shown}");
}

#[test]
fn a_full_account_is_refused_with_advice() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("tripkey.db");
    for _ in 0..2 {
        let output = canary(&db, &["--capacity", "2", "create"]);
        assert_eq!(output.status.code(), Some(0));
    }
    let refused = canary(&db, &["--capacity", "2", "create"]);
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("already holds 2 IAM-user canaries"),
        "{message}"
    );
    assert!(refused.stdout.is_empty(), "no credentials printed");
    let listed: Value = serde_json::from_slice(&canary(&db, &["list", "--json"]).stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let env = stdout(&canary(
        &db,
        &[
            "--capacity",
            "2",
            "create",
            "--kind",
            "federation",
            "--format",
            "env",
        ],
    ));
    assert!(env.contains("export AWS_SESSION_TOKEN="), "{env}");
}
