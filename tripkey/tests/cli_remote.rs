//! The command line through a running `serve` (`--server`, `--token`): issue, list, show and
//! revoke canaries, list, show, acknowledge and resolve alerts, and read the audit log, all over
//! `/api/v1`, with the API's JSON.

use std::path::Path;
use std::process::Output;

use serde_json::json;

mod common;
use common::{json, tripkey_offline as tripkey};

const ACCOUNT: &str = "111122223333";
const ADMIN: &str = "tk_remote_cli_admin_token_0123456789abcdefgh";

fn remote(address: &str, home: &Path, args: &[&str]) -> Output {
    common::through_server(address, ADMIN, home, args)
}

#[test]
fn canaries_alerts_and_the_audit_log_through_the_api() {
    let folder = tempfile::tempdir().unwrap();
    let trail = folder.path().join("trail");
    std::fs::create_dir(&trail).unwrap();
    let config = folder.path().join("tripkey.toml");
    std::fs::write(
        &config,
        format!(
            "[canary]\noffline_account = \"{ACCOUNT}\"\n[store]\npath = \"tripkey.db\"\n\
             [[source]]\ntype = \"dir\"\nname = \"trail\"\npath = \"trail\"\npoll = \"200ms\"\n"
        ),
    )
    .unwrap();
    let serve = common::serve_offline(&config, ADMIN);
    let address = serve.address();
    // The client's own home holds no database: everything goes through the server.
    let home = folder.path().join("client-home");
    std::fs::create_dir(&home).unwrap();

    let created = json(&remote(
        &address,
        &home,
        &[
            "canary",
            "create",
            "--label",
            "host=laptop-9",
            "--format",
            "json",
        ],
    ));
    let id = created["canary"]["id"].as_str().unwrap().to_owned();
    let key = created["credentials"]["access_key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(created["credentials"]["secret_access_key"].is_string());

    let listed = json(&remote(
        &address,
        &home,
        &["canary", "list", "--format", "json"],
    ));
    assert_eq!(listed["canaries"][0]["id"], id.as_str(), "{listed}");
    assert_eq!(listed["canaries"][0]["labels"]["host"], "laptop-9");
    let shown = remote(&address, &home, &["canary", "show", &id]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("host=laptop-9"));

    let record = json!({"Records": [{
        "eventVersion": "1.09", "eventTime": "2026-12-04T05:00:00Z",
        "eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity",
        "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7", "eventID": "remote-1",
        "userIdentity": {"type": "IAMUser", "accountId": ACCOUNT, "accessKeyId": key}
    }]});
    std::fs::write(trail.join("part"), record.to_string()).unwrap();
    std::fs::rename(trail.join("part"), trail.join("trail.json")).unwrap();
    let list_alerts = || {
        json(&remote(
            &address,
            &home,
            &["alert", "list", "--format", "json"],
        ))
    };
    serve.wait_until("the alert through the API", || {
        list_alerts()["alerts"]
            .as_array()
            .is_some_and(|found| !found.is_empty())
    });
    let alerts = list_alerts();
    let dedup_key = alerts["alerts"][0]["dedup_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let acknowledged = remote(
        &address,
        &home,
        &["alert", "acknowledge", &dedup_key, "--note", "on it"],
    );
    assert!(acknowledged.status.success(), "{acknowledged:?}");
    let alert = json(&remote(
        &address,
        &home,
        &["alert", "show", &dedup_key, "--format", "json"],
    ));
    assert_eq!(alert["handling"]["state"], "acknowledged", "{alert}");
    assert_eq!(alert["handling"]["note"], "on it");
    let resolved = remote(
        &address,
        &home,
        &[
            "alert",
            "resolve",
            &dedup_key,
            "--note",
            "our own test",
            "--false-positive",
        ],
    );
    assert!(resolved.status.success(), "{resolved:?}");
    let alert = json(&remote(
        &address,
        &home,
        &["alert", "show", &dedup_key, "--format", "json"],
    ));
    assert_eq!(alert["handling"]["state"], "resolved", "{alert}");
    assert_eq!(alert["handling"]["false_positive"], true, "{alert}");
    assert!(alert["handling"]["resolved_at"].is_string(), "{alert}");

    let revoked = json(&remote(
        &address,
        &home,
        &["canary", "revoke", &id, "--format", "json"],
    ));
    assert_eq!(revoked["canary"]["status"], "revoked");

    let made = remote(
        &address,
        &home,
        &[
            "token",
            "create",
            "mdm",
            "--scope",
            "issuer",
            "--label",
            "team=platform",
        ],
    );
    assert!(made.status.success(), "{made:?}");
    let token = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    let issued = tripkey()
        .args([
            "canary",
            "create",
            "--kind",
            "federation",
            "--format",
            "json",
        ])
        .args(["--server", &format!("http://{address}"), "--token", &token])
        .output()
        .unwrap();
    let issued = json(&issued);
    assert_eq!(
        issued["canary"]["labels"]["team"], "platform",
        "the pinned label"
    );
    let renewed = tripkey()
        .args([
            "canary",
            "renew",
            issued["canary"]["id"].as_str().unwrap(),
            "--format",
            "json",
        ])
        .args(["--server", &format!("http://{address}"), "--token", &token])
        .output()
        .unwrap();
    assert_ne!(
        json(&renewed)["credentials"]["access_key_id"],
        issued["credentials"]["access_key_id"],
        "new credentials"
    );
    let tokens = json(&remote(
        &address,
        &home,
        &["token", "list", "--format", "json"],
    ));
    assert!(tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .any(|token| token["name"] == "mdm" && token["pinned_labels"]["team"] == "platform"));

    let audit = json(&remote(
        &address,
        &home,
        &["audit", "--format", "json", "-n", "3"],
    ));
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["canary.renew", "canary.create", "token.create"]);
    assert!(
        !home.join("share/tripkey/tripkey.db").exists(),
        "the client made no database of its own"
    );

    let wrong = tripkey()
        .args(["canary", "list", "--server", &format!("http://{address}")])
        .args(["--token", "tk_wrong"])
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("unauthenticated"));
    assert_eq!(serve.terminate(), Some(0));
}
