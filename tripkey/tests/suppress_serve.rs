//! A suppression end to end, through a running `serve`: made with `--server`, it keeps a
//! burst of denials from the sinks while the burst is still stored and shown in `alert list`,
//! `/api/v1/alerts` and the dashboard; alerts it does not match, and a canary's use it may
//! not cover, are sent as ever.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Output;

use serde_json::{json, Value};

mod common;
use common::{json, tripkey_offline as tripkey};

const ACCOUNT: &str = "111122223333";
const ADMIN: &str = "tk_suppress_serve_admin_token_0123456789abcdef";
const QUIET_PRINCIPAL: &str = "arn:aws:iam::111122223333:user/ci-terraform";
const LOUD_PRINCIPAL: &str = "arn:aws:iam::111122223333:user/intruder";

fn remote(address: &str, home: &Path, args: &[&str]) -> Output {
    common::through_server(address, ADMIN, home, args)
}

/// One HTTP/1.1 exchange on a fresh connection: the status line, the headers and the body.
fn exchange(address: &str, request: &str) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (head.to_owned(), body.to_owned())
}

fn denials(principal: &str, source_ip: &str, first_id: usize) -> Vec<Value> {
    (0..6)
        .map(|n| {
            json!({
                "eventVersion": "1.09",
                "eventTime": format!("2026-12-04T06:00:{:02}Z", n * 5),
                "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets",
                "awsRegion": "us-east-1", "sourceIPAddress": source_ip,
                "userAgent": "aws-cli/2.17.0", "eventID": format!("denied-{}", first_id + n),
                "errorCode": "AccessDenied", "errorMessage": "not authorized",
                "userIdentity": {"type": "IAMUser", "accountId": ACCOUNT,
                                 "arn": principal, "principalId": "AIDAEXAMPLE",
                                 "accessKeyId": format!("AKIAEXAMPLE{first_id:09}")},
                "recipientAccountId": ACCOUNT
            })
        })
        .collect()
}

#[test]
fn a_suppressed_burst_is_stored_and_shown_but_never_sent() {
    let folder = tempfile::tempdir().unwrap();
    let trail = folder.path().join("trail");
    std::fs::create_dir(&trail).unwrap();
    let sent = folder.path().join("sent.jsonl");
    let config = folder.path().join("tripkey.toml");
    std::fs::write(
        &config,
        format!(
            "[canary]\noffline_account = \"{ACCOUNT}\"\n[store]\npath = \"tripkey.db\"\n\
             [[source]]\ntype = \"dir\"\nname = \"trail\"\npath = \"trail\"\npoll = \"200ms\"\n\
             [[sink]]\nname = \"archive\"\ntype = \"json-lines\"\npath = \"{}\"\n",
            sent.display()
        ),
    )
    .unwrap();
    let serve = common::serve_offline(&config, ADMIN);
    let address = serve.address();
    let home = folder.path().join("client-home");
    std::fs::create_dir(&home).unwrap();

    let canary = json(&remote(
        &address,
        &home,
        &["canary", "create", "--format", "json"],
    ));
    let canary_key = canary["credentials"]["access_key_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let refused = remote(
        &address,
        &home,
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
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("canary-use") && message.contains("include-canaries"),
        "the refusal says how to cover canary alerts: {message}"
    );

    // By network alone, so that only the protection of canary alerts keeps the canary's use
    // from that network out of it.
    let made = json(&remote(
        &address,
        &home,
        &[
            "alert",
            "suppress",
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
    let suppression = made["id"].as_str().unwrap().to_owned();
    assert!(suppression.starts_with("sup-"), "{made}");
    let listed = remote(&address, &home, &["alert", "suppressions"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains(&suppression) && listed.contains("source=10.20.0.0/16"),
        "{listed}"
    );

    // The quiet burst comes from the suppressed network; so does a use of the canary, which
    // the suppression may not cover. The loud burst comes from elsewhere.
    let mut records = denials(QUIET_PRINCIPAL, "10.20.1.5", 100);
    records.extend(denials(LOUD_PRINCIPAL, "203.0.113.9", 200));
    records.push(json!({
        "eventVersion": "1.09", "eventTime": "2026-12-04T06:01:00Z",
        "eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity",
        "awsRegion": "us-east-1", "sourceIPAddress": "10.20.1.5", "eventID": "canary-1",
        "userIdentity": {"type": "IAMUser", "accountId": ACCOUNT, "accessKeyId": canary_key},
        "recipientAccountId": ACCOUNT
    }));
    std::fs::write(
        trail.join("part"),
        json!({ "Records": records }).to_string(),
    )
    .unwrap();
    std::fs::rename(trail.join("part"), trail.join("trail.json")).unwrap();

    let sent_rules = || -> Vec<String> {
        std::fs::read_to_string(&sent)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .map(|sent| sent["rule"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    serve.wait_until("the loud burst and the canary's use sent", || {
        let sent = sent_rules();
        sent.iter().any(|rule| rule == "canary-use")
            && sent.iter().any(|rule| rule == "access-denied-burst")
    });

    let alerts = json(&remote(
        &address,
        &home,
        &["alert", "list", "--format", "json"],
    ));
    let alerts = alerts["alerts"].as_array().unwrap().clone();
    let bursts: Vec<&Value> = alerts
        .iter()
        .filter(|alert| alert["rule"] == "access-denied-burst")
        .collect();
    assert_eq!(bursts.len(), 2, "both bursts are stored: {alerts:?}");
    let quiet = bursts
        .iter()
        .find(|alert| alert["suppressed_by"] == suppression.as_str())
        .unwrap_or_else(|| panic!("one burst is marked {suppression}: {bursts:?}"));
    let quiet_key = quiet["dedup_key"].as_str().unwrap().to_owned();
    assert!(
        quiet_key.contains("ci-terraform"),
        "the suppressed burst is the CI principal's: {quiet_key}"
    );
    let loud = bursts
        .iter()
        .find(|alert| alert["dedup_key"] != quiet_key.as_str())
        .unwrap();
    assert!(loud.get("suppressed_by").is_none(), "{loud}");
    let canary_alert = alerts
        .iter()
        .find(|alert| alert["rule"] == "canary-use")
        .unwrap();
    assert!(
        canary_alert.get("suppressed_by").is_none(),
        "a canary's use from the suppressed network is not suppressed: {canary_alert}"
    );

    let table = remote(&address, &home, &["alert", "list"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert_eq!(
        table
            .lines()
            .filter(|line| line.contains(&format!("[suppressed by {suppression}, not sent]")))
            .count(),
        1,
        "{table}"
    );

    // alert list's filters pick the suppressed burst alone, and leave it out when asked for
    // the others, through the server and on the database alike.
    let database = folder.path().join("tripkey.db");
    let on_database = |args: &[&str]| {
        tripkey()
            .args(["alert", "list", "--database"])
            .arg(&database)
            .args(args)
            .output()
            .unwrap()
    };
    let only_suppressed = ["--suppressed", "true", "--format", "jsonl"];
    let other_bursts = [
        "--suppressed",
        "false",
        "--rule",
        "access-denied-burst",
        "--since",
        "1h",
        "--format",
        "jsonl",
    ];
    let before_any = ["--until", "2000-01-01", "--format", "jsonl"];
    let mut remote_list = vec!["alert", "list"];
    remote_list.extend(only_suppressed);
    let mut remote_others = vec!["alert", "list"];
    remote_others.extend(other_bursts);
    let mut remote_before = vec!["alert", "list"];
    remote_before.extend(before_any);
    let keys = |output: Output| -> Vec<String> {
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap()["dedup_key"].clone())
            .map(|key| key.as_str().unwrap().to_owned())
            .collect()
    };
    let loud_key = loud["dedup_key"].as_str().unwrap().to_owned();
    for (how, suppressed, others, before) in [
        (
            "--server",
            remote(&address, &home, &remote_list),
            remote(&address, &home, &remote_others),
            remote(&address, &home, &remote_before),
        ),
        (
            "--database",
            on_database(&only_suppressed),
            on_database(&other_bursts),
            on_database(&before_any),
        ),
    ] {
        assert_eq!(keys(suppressed), std::slice::from_ref(&quiet_key), "{how}");
        assert_eq!(keys(others), std::slice::from_ref(&loud_key), "{how}");
        assert!(
            keys(before).is_empty(),
            "{how}: nothing was detected by 2000"
        );
    }

    let (head, shown) = exchange(
        &address,
        &format!(
            "GET /api/v1/alerts/{} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer \
             {ADMIN}\r\nConnection: close\r\n\r\n",
            quiet_key.replace(':', "%3A").replace('/', "%2F")
        ),
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["suppression"]["reason"], "terraform plan in CI");

    let login_body = format!("token={ADMIN}");
    let (head, _) = exchange(
        &address,
        &format!(
            "POST /login HTTP/1.1\r\nHost: {address}\r\nContent-Type: \
             application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: \
             close\r\n\r\n{login_body}",
            login_body.len()
        ),
    );
    let cookie = head
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .and_then(|value| value.split(';').next())
        .unwrap_or_else(|| panic!("login sets a cookie: {head}"))
        .to_owned();
    let (head, page) = exchange(
        &address,
        &format!(
            "GET /alerts?rule=access-denied-burst HTTP/1.1\r\nHost: {address}\r\nCookie: \
             {cookie}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(
        page.matches("class=\"suppressed\"").count(),
        1,
        "the dashboard marks the one suppressed burst"
    );

    let text = std::fs::read_to_string(&sent).unwrap();
    assert!(
        text.contains(LOUD_PRINCIPAL) && !text.contains(QUIET_PRINCIPAL),
        "the loud burst was sent and nothing of the suppressed one was:\n{text}"
    );

    let (_, metrics) = exchange(
        &address,
        &format!(
            "GET /metrics HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {ADMIN}\r\n\
             Connection: close\r\n\r\n"
        ),
    );
    assert!(
        metrics.contains("tripkey_alerts_suppressed_total{rule=\"access-denied-burst\"} 1")
            && metrics.contains("tripkey_alerts_total{rule=\"access-denied-burst\"} 2"),
        "the suppressed burst is counted:\n{metrics}"
    );
    let status = tripkey()
        .args(["status", "--config", config.to_str().unwrap()])
        .args(["--url", &format!("http://{address}")])
        .env("TRIPKEY_TOKEN", ADMIN)
        .current_dir(folder.path())
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains("(1 suppressed, not sent)"),
        "status counts it too:\n{status}"
    );

    let ended = remote(&address, &home, &["alert", "unsuppress", &suppression]);
    assert!(
        String::from_utf8_lossy(&ended.stdout).contains(&format!("{suppression} removed")),
        "{ended:?}"
    );
    let listed = remote(&address, &home, &["alert", "suppressions"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("No suppression is in force"));
    let audit = json(&remote(
        &address,
        &home,
        &["audit", "--format", "json", "-n", "50"],
    ));
    let actions: Vec<(String, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["action"].as_str().unwrap().to_owned(),
                entry["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("suppression.create", "denied"),
        ("suppression.create", "allowed"),
        ("suppression.remove", "allowed"),
    ] {
        assert!(
            actions
                .iter()
                .any(|(action, outcome)| (action.as_str(), outcome.as_str()) == expected),
            "the audit log has {expected:?}: {actions:?}"
        );
    }
    serve.terminate();
}
