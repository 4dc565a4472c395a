//! `tripkey canary` with the offline issuer on a real SQLite file, as a user drives it: the
//! inventory is read without AWS, credentials are printed safe to append, and the small
//! things a user notices are right.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const ACCOUNT: &str = "111122223333";

/// A loopback address where nothing listens: any AWS call through it fails at once.
fn closed_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// `tripkey canary --db DB ARGS`, with AWS pointed at a closed port and no credentials, so
/// that any command that reaches AWS fails.
fn canary(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tripkey"))
        .args(["canary", "--db", db.to_str().unwrap()])
        .args(args)
        .env("AWS_ENDPOINT_URL", closed_endpoint())
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("TRIPKEY_CONFIG")
        .output()
        .expect("tripkey runs")
}

fn create(db: &Path, args: &[&str]) -> Output {
    let mut all = vec!["create", "--offline-account", ACCOUNT];
    all.extend_from_slice(args);
    canary(db, &all)
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn expect_status(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: not JSON:\n{}\n{}", stdout(output), stderr(output)))
}

#[test]
fn offline_canaries_are_listed_shown_checked_counted_rotated_and_revoked_with_aws_unreachable() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("registry").join("tripkey.db");
    let created = create(&db, &["--label", "host=build-07", "--format", "json"]);
    expect_status(&created, 0);
    let created = json(&created);
    let name = created["canary"]["name"].as_str().unwrap();

    for args in [
        vec!["list"],
        vec!["show", name],
        vec!["check", name],
        vec!["capacity"],
        vec!["rotate", name, "--format", "json"],
        vec!["revoke", name],
    ] {
        let output = canary(&db, &args);
        expect_status(&output, 0);
        let text = stderr(&output);
        assert!(!text.contains("AWS"), "{args:?} reached for AWS: {text}");
    }
}

#[test]
fn the_issuing_flags_belong_to_the_commands_that_issue() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("tripkey.db");
    expect_status(&create(&db, &[]), 0);
    let refused = canary(&db, &["list", "--offline-account", ACCOUNT]);
    expect_status(&refused, 2);
    assert!(stderr(&refused).contains("unexpected argument '--offline-account'"));
    let refused = canary(&db, &["show", "x", "--endpoint-url", "http://127.0.0.1:1"]);
    expect_status(&refused, 2);
    let help = stdout(&canary(&db, &["create", "--help"]));
    assert!(help.contains("--offline-account") && help.contains("--endpoint-url"));
    let help = stdout(&canary(&db, &["list", "--help"]));
    assert!(!help.contains("--offline-account") && !help.contains("--endpoint-url"));
}

#[test]
fn create_list_check_and_revoke() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("registry").join("tripkey.db");
    let created = create(
        &db,
        &[
            "--label",
            "host=build-07",
            "--memo",
            "CI secret",
            "--profile-name",
            "billing",
        ],
    );
    expect_status(&created, 0);
    let profile = stdout(&created);
    let lines: Vec<&str> = profile.lines().collect();
    assert_eq!(lines[0], "", "a blank line first, so appending is safe");
    assert_eq!(lines[1], "[billing]");
    let key = lines[2].strip_prefix("aws_access_key_id = ").unwrap();
    let secret = lines[3].strip_prefix("aws_secret_access_key = ").unwrap();
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
    assert!(stderr(&created).contains("offline issuer"));

    let listed = json(&canary(&db, &["list", "--format", "json"]));
    let record = &listed["canaries"][0];
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
    expect_status(&check, 0);
    assert!(stdout(&check).contains("would not flag this as a canary"));

    let revoked = canary(&db, &["revoke", name]);
    expect_status(&revoked, 0);
    assert!(
        stdout(&revoked).starts_with("revoked "),
        "{}",
        stdout(&revoked)
    );
    let shown = stdout(&canary(&db, &["show", name]));
    assert!(shown.contains("revoked"), "{shown}");
    assert!(shown.contains("issued"), "history kept: {shown}");
}

#[test]
fn a_full_account_is_refused_with_advice() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("tripkey.db");
    for _ in 0..2 {
        expect_status(&create(&db, &["--capacity", "2"]), 0);
    }
    let refused = create(&db, &["--capacity", "2"]);
    expect_status(&refused, 2);
    let message = stderr(&refused);
    assert!(
        message.contains("already holds 2 IAM-user canaries"),
        "{message}"
    );
    assert!(refused.stdout.is_empty(), "no credentials printed");
    let listed = json(&canary(&db, &["list", "--format", "json"]));
    assert_eq!(listed["canaries"].as_array().unwrap().len(), 2);
    let env = stdout(&create(
        &db,
        &["--capacity", "2", "--kind", "federation", "--format", "env"],
    ));
    assert!(env.contains("export AWS_SESSION_TOKEN="), "{env}");
    let capacity = json(&canary(
        &db,
        &["capacity", "--capacity", "2", "--format", "json"],
    ));
    assert_eq!(
        capacity["accounts"],
        serde_json::json!([{ "account_id": ACCOUNT, "held": 2, "limit": 2 }])
    );
}

#[test]
fn the_default_profile_is_a_plausible_named_one_and_default_is_refused() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("tripkey.db");
    let created = create(&db, &[]);
    expect_status(&created, 0);
    let text = stdout(&created);
    let header = text.lines().nth(1).unwrap();
    let profile = header
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or_else(|| panic!("a profile header: {text}"));
    assert_ne!(profile, "default");
    assert!(keys::check_name(profile).is_empty(), "{profile}");

    let refused = create(&db, &["--profile-name", "default"]);
    expect_status(&refused, 2);
    assert!(
        stderr(&refused).contains("[default]"),
        "{}",
        stderr(&refused)
    );
    let refused = create(&db, &["--profile-name", "a]\n[b"]);
    expect_status(&refused, 2);
}

#[test]
fn a_chosen_name_is_used_and_a_loud_one_is_warned_about() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("tripkey.db");
    let quiet = create(&db, &["--name", "legacy-deploy", "--format", "json"]);
    expect_status(&quiet, 0);
    assert_eq!(json(&quiet)["canary"]["name"], "legacy-deploy");
    assert!(!stderr(&quiet).contains("warning"), "{}", stderr(&quiet));

    let loud = create(&db, &["--name", "honeypot-admin", "--format", "json"]);
    expect_status(&loud, 0);
    let warning = stderr(&loud);
    assert!(
        warning.contains("warning: the name \"honeypot-admin\" contains \"honey"),
        "{warning}"
    );

    let invalid = create(&db, &["--name", "build bot"]);
    expect_status(&invalid, 2);
    assert!(stderr(&invalid).contains("only letters, digits and _+=,.@-"));
    let taken = create(&db, &["--name", "legacy-deploy"]);
    expect_status(&taken, 2);
    assert!(stderr(&taken).contains("exists already"));
}

#[test]
fn revoking_twice_says_already_revoked() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("tripkey.db");
    expect_status(&create(&db, &["--name", "ops-backup"]), 0);
    let first = canary(&db, &["revoke", "ops-backup"]);
    expect_status(&first, 0);
    assert!(stdout(&first).starts_with("revoked ops-backup"));
    let second = canary(&db, &["revoke", "ops-backup", "--format", "json"]);
    expect_status(&second, 0);
    let second = json(&second);
    assert_eq!(second["already_revoked"], true);
    let third = canary(&db, &["revoke", "ops-backup"]);
    assert!(
        stdout(&third).starts_with("already revoked: ops-backup"),
        "{}",
        stdout(&third)
    );
}

#[test]
fn check_gives_each_reason_once() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("tripkey.db");
    expect_status(&create(&db, &["--name", "canarytoken-user"]), 0);
    let check = canary(&db, &["check", "canarytoken-user"]);
    expect_status(&check, 1);
    let text = stdout(&check);
    let reason = "contains \"canarytoken\"";
    assert_eq!(text.matches(reason).count(), 1, "{text}");
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("verdict: an attacker's offline tools would flag this as a canary"),
        "{text}"
    );
    let document = json(&canary(
        &db,
        &["check", "canarytoken-user", "--format", "json"],
    ));
    assert_eq!(document["flagged"], true);
    assert!(document["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|check| check["outcome"] == "flagged" && check["subject"] == "name"));
}

#[test]
fn show_prints_history_as_text_not_json() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("tripkey.db");
    expect_status(&create(&db, &["--name", "ci-deploy"]), 0);
    expect_status(
        &canary(&db, &["revoke", "ci-deploy", "--reason", "host gone"]),
        0,
    );
    let shown = stdout(&canary(&db, &["show", "ci-deploy"]));
    assert!(shown.contains("reason: host gone"), "{shown}");
    assert!(!shown.contains('{') && !shown.contains('"'), "{shown}");
    let document = json(&canary(&db, &["show", "ci-deploy", "--format", "json"]));
    assert_eq!(document["canary"]["name"], "ci-deploy");
    assert_eq!(document["history"][1]["kind"], "revoked");
    assert_eq!(document["history"][1]["detail"]["reason"], "host gone");
    assert_eq!(document["keys"].as_array().unwrap().len(), 1);
}

#[test]
fn empty_lists_say_so() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("tripkey.db");
    expect_status(&create(&db, &[]), 0);
    let none = canary(&db, &["list", "--status", "revoked"]);
    expect_status(&none, 0);
    assert_eq!(stdout(&none), "No canaries match these filters.\n");
    let none = json(&canary(&db, &["list", "--status", "revoked", "--json"]));
    assert_eq!(none, serde_json::json!({ "canaries": [] }));
}

#[test]
fn maintain_of_offline_canaries_reports_in_json() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("tripkey.db");
    expect_status(&create(&db, &[]), 0);
    let done = canary(
        &db,
        &["maintain", "--offline-account", ACCOUNT, "--format", "json"],
    );
    expect_status(&done, 0);
    let done = json(&done);
    for key in ["renewed", "keys_deleted", "expired", "failures"] {
        assert!(done[key].is_array(), "{key}: {done}");
    }
    let text = canary(&db, &["maintain", "--offline-account", ACCOUNT]);
    assert_eq!(stdout(&text), "Nothing to do.\n");
}
