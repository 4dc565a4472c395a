//! `tripkey alert suppress`, `suppressions` and `unsuppress` on a real SQLite file: a
//! suppression is checked, stored and audited; one over canary-use needs the explicit flag.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn tripkey(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tripkey"))
        .args(args)
        .args(["--db", db.to_str().unwrap()])
        .env_remove("TRIPKEY_CONFIG")
        .env_remove("TRIPKEY_DB")
        .env_remove("TRIPKEY_DATABASE")
        .output()
        .expect("tripkey runs")
}

fn json(output: &Output) -> Value {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn suppressions_are_checked_stored_audited_and_ended() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("tripkey.db");
    // Any command that creates the database.
    let created = tripkey(
        &db,
        &[
            "canary",
            "create",
            "--offline-account",
            "111122223333",
            "--format",
            "json",
        ],
    );
    assert_eq!(created.status.code(), Some(0));

    let refused = tripkey(
        &db,
        &[
            "alert",
            "suppress",
            "--rule",
            "canary-use",
            "--for",
            "1h",
            "--reason",
            "noise",
        ],
    );
    assert_eq!(refused.status.code(), Some(2));
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(error.contains("--include-canaries"), "{error}");

    let vague = tripkey(
        &db,
        &["alert", "suppress", "--for", "1h", "--reason", "everything"],
    );
    assert_eq!(vague.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&vague.stderr).contains("at least one"));

    let unreadable = tripkey(
        &db,
        &[
            "alert",
            "suppress",
            "--rule",
            "access-denied-burst",
            "--for",
            "soon",
            "--reason",
            "typo",
        ],
    );
    assert_eq!(unreadable.status.code(), Some(2));
    let error = String::from_utf8_lossy(&unreadable.stderr);
    assert!(error.contains("neither a span"), "{error}");

    let made = json(&tripkey(
        &db,
        &[
            "alert",
            "suppress",
            "--rule",
            "access-denied-burst",
            "--source-cidr",
            "10.20.0.0/16",
            "--for",
            "7d",
            "--reason",
            "terraform plan in CI",
            "--format",
            "json",
        ],
    ));
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(made["covers_canaries"], false);
    assert_eq!(made["created_by"], "cli");
    let consented = json(&tripkey(
        &db,
        &[
            "alert",
            "suppress",
            "--rule",
            "canary-use",
            "--principal",
            "arn:aws:iam::111122223333:user/red-team",
            "--for",
            "2h",
            "--reason",
            "red-team exercise",
            "--include-canaries",
            "--format",
            "json",
        ],
    ));
    assert_eq!(consented["covers_canaries"], true);

    let listed = json(&tripkey(
        &db,
        &["alert", "suppressions", "--format", "json"],
    ));
    assert_eq!(listed["suppressions"].as_array().unwrap().len(), 2);
    let table = tripkey(&db, &["alert", "suppressions"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("covers canary alerts"), "{table}");

    let audit = json(&tripkey(&db, &["audit", "--format", "json"]));
    let entries = audit["entries"].as_array().unwrap();
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .filter(|entry| entry["action"] == "suppression.create")
        .map(|entry| {
            (
                entry["outcome"].as_str().unwrap(),
                entry["detail"]["covers_canaries"]
                    .as_bool()
                    .map_or("?", |covers| if covers { "covers" } else { "plain" }),
            )
        })
        .collect();
    assert!(actions.contains(&("denied", "plain")), "{actions:?}");
    assert!(
        entries
            .iter()
            .any(|entry| entry["action"] == "suppression.create"
                && entry["outcome"] == "denied"
                && entry["detail"]["suppression"]["for"] == "soon"),
        "a length the CLI could not read is audited as the API's is: {entries:?}"
    );
    assert!(actions.contains(&("allowed", "covers")), "{actions:?}");

    let removed = tripkey(&db, &["alert", "unsuppress", &id]);
    assert_eq!(removed.status.code(), Some(0));
    let again = tripkey(&db, &["alert", "unsuppress", &id]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("no suppression in force"));
    let all = json(&tripkey(
        &db,
        &["alert", "suppressions", "--all", "--format", "json"],
    ));
    assert_eq!(all["suppressions"].as_array().unwrap().len(), 2);
    let live = json(&tripkey(
        &db,
        &["alert", "suppressions", "--format", "json"],
    ));
    assert_eq!(live["suppressions"].as_array().unwrap().len(), 1);
}
