//! `tripkey scan` as a user meets it: bad input is reported and skipped, exit codes gate CI,
//! every output format, stdin, and attacker text escaped for the terminal.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use flate2::write::GzEncoder;
use serde_json::{json, Value};

fn tripkey(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tripkey"))
        .args(args)
        .output()
        .expect("tripkey runs")
}

fn canary_call(id: &str, user_agent: &str) -> Value {
    json!({
        "eventVersion": "1.08", "eventTime": "2024-05-01T10:00:00Z", "eventSource": "sts.amazonaws.com",
        "eventName": "GetCallerIdentity", "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.5",
        "userAgent": user_agent,
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/svc/report-sync",
            "accountId": "111122223333", "accessKeyId": "AKIARTX3GSDS5ZZ46JLN", "userName": "report-sync"},
        "eventID": id
    })
}

fn canaries_file(folder: &Path) -> String {
    let path = folder.join("canaries.toml");
    std::fs::write(
        &path,
        "[[canary]]\nname = \"report-sync\"\naccess_key_id = \"AKIARTX3GSDS5ZZ46JLN\"\n[canary.labels]\nhost = \"build-07\"\n",
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A folder of good and bad files: the bad ones are reported with their names and skipped, the
/// good ones still alert, and the scan ends normally.
#[test]
fn bad_files_are_reported_and_skipped() {
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path();
    let good = json!({"Records": [canary_call("good-1", "aws-cli/2")]}).to_string();
    std::fs::write(dir.join("a-good.json.gz"), gzip(good.as_bytes())).unwrap();
    let mut corrupt = gzip(good.as_bytes());
    corrupt[20] ^= 0xff;
    corrupt[30] ^= 0xff;
    std::fs::write(dir.join("b-corrupt.json.gz"), corrupt).unwrap();
    let two =
        json!({"Records": [canary_call("cut-1", "x"), canary_call("cut-2", "x")]}).to_string();
    let cut = gzip(two.as_bytes());
    std::fs::write(dir.join("c-truncated.json.gz"), &cut[..cut.len() * 2 / 3]).unwrap();
    std::fs::write(
        dir.join("d-wrong-shape.json"),
        json!({"Records": [{"eventName": "NoTime"}, canary_call("after-bad", "x")]}).to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("e-not-json.json"), "this is not json").unwrap();

    let canaries = canaries_file(dir);
    let output = tripkey(&[
        "scan",
        "--format",
        "json",
        "--canaries",
        &canaries,
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    let ids: Vec<&str> = document["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|alert| alert["event_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"good-1"), "{ids:?}");
    assert!(
        ids.contains(&"after-bad"),
        "a wrong-shape record skips only itself: {ids:?}"
    );
    let summary = &document["summary"];
    assert_eq!(summary["files"], 5);
    assert!(
        summary["files_with_problems"].as_u64().unwrap() >= 3,
        "{summary}"
    );
    for name in [
        "b-corrupt.json.gz",
        "c-truncated.json.gz",
        "d-wrong-shape.json",
        "e-not-json.json",
    ] {
        assert!(stderr.contains(name), "{name} reported: {stderr}");
    }
    assert!(
        stderr.contains("record 0"),
        "the bad record's position: {stderr}"
    );
    let problems = document["problems"].as_array().unwrap();
    assert!(problems
        .iter()
        .any(|p| p["file"].as_str().unwrap().ends_with("c-truncated.json.gz")));
}

#[test]
fn exit_codes_gate_ci() {
    let folder = tempfile::tempdir().unwrap();
    let quiet = folder.path().join("quiet.json");
    let mut call = canary_call("q", "aws-cli/2");
    call["userIdentity"]["accessKeyId"] = json!("AKIAOTHERKEY23456789");
    std::fs::write(&quiet, json!([call]).to_string()).unwrap();
    let canaries = canaries_file(folder.path());
    let clean = tripkey(&["scan", "--canaries", &canaries, quiet.to_str().unwrap()]);
    assert_eq!(clean.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&clean.stdout).contains("No alerts."));

    let missing = tripkey(&["scan", "/nonexistent/trail"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/trail"));

    let bad_flag = tripkey(&["scan", "--format", "xml", quiet.to_str().unwrap()]);
    assert_eq!(bad_flag.status.code(), Some(2));

    let bad_canaries = folder.path().join("bad.toml");
    std::fs::write(&bad_canaries, "[[canary]]\nnom = 1\n").unwrap();
    let refused = tripkey(&[
        "scan",
        "--canaries",
        bad_canaries.to_str().unwrap(),
        quiet.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a valid canaries file"));
}

/// EventBridge events on stdin, jsonl out: one alert per line, summary on stderr.
#[test]
fn stdin_and_jsonl() {
    let folder = tempfile::tempdir().unwrap();
    let canaries = canaries_file(folder.path());
    let event = json!({
        "version": "0", "id": "e1", "detail-type": "AWS API Call via CloudTrail", "source": "aws.sts",
        "account": "111122223333", "time": "2024-05-01T10:00:00Z", "region": "us-east-1",
        "detail": canary_call("from-eventbridge", "aws-cli/2")
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_tripkey"))
        .args(["scan", "--format", "jsonl", "--canaries", &canaries, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{event}\n").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["event_id"], "from-eventbridge");
    assert_eq!(lines[0]["record"]["eventID"], "from-eventbridge");
    assert!(String::from_utf8_lossy(&output.stderr).contains("Alerts: 1 (canary-use 1)"));
}

/// A user agent carrying terminal escapes and a newline is printed escaped in the table.
#[test]
fn table_escapes_attacker_text() {
    let folder = tempfile::tempdir().unwrap();
    let canaries = canaries_file(folder.path());
    let trail = folder.path().join("trail.json");
    let hostile = "evil\u{1b}]0;owned\u{7}\u{1b}[2J\r\nFAKE ALERT LINE";
    std::fs::write(
        &trail,
        json!({"Records": [canary_call("hostile", hostile)]}).to_string(),
    )
    .unwrap();
    let output = tripkey(&["scan", "--canaries", &canaries, trail.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(!stdout.contains('\u{1b}'), "raw escape in output");
    assert!(!stdout.contains('\r'));
    assert!(stdout.contains("evil\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{d}\\u{a}FAKE ALERT LINE"));
    assert!(!stdout
        .lines()
        .any(|line| line.starts_with("FAKE ALERT LINE")));
    assert!(stdout.contains("host=build-07"));
}

#[test]
fn key_decode_reads_the_account_and_flags_vendor_accounts() {
    let output = tripkey(&[
        "key",
        "decode",
        "ASIAY34FZKBOKMUTVV7A",
        "AKIAYVP4CIPPERUVIFXG",
        "AKIAIOSFODNN7EXAMPLE",
    ]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].contains("account 609629065308"), "{stdout}");
    assert!(!lines[0].contains("canary-vendor"));
    assert!(lines[1].contains("account 595918472158") && lines[1].contains("canary-vendor"));
    assert!(lines[2].contains("legacy"));
    assert_eq!(
        tripkey(&["key", "decode", "AKIA123"]).status.code(),
        Some(2)
    );
}

/// A canary use at `time` in `account` and `region`, recipient account included.
fn canary_use_at(id: &str, time: &str, account: &str, region: &str) -> Value {
    let mut call = canary_call(id, "aws-cli/2");
    call["eventTime"] = time.into();
    call["awsRegion"] = region.into();
    call["recipientAccountId"] = account.into();
    call
}

/// `--since/--until`, `--account` and `--region` read only the folders and files of the
/// window (with the lateness horizon's margin after it), drop records outside it before
/// detection, and say how much they passed over.
#[test]
fn a_window_reads_only_its_days_accounts_and_regions() {
    let folder = tempfile::tempdir().unwrap();
    let canaries = canaries_file(folder.path());
    let logs = folder.path().join("trail");
    let put = |account: &str, region: &str, day: u32, records: Vec<Value>| {
        let path = logs.join(format!(
            "AWSLogs/{account}/CloudTrail/{region}/2026/12/{day:02}/\
             {account}_CloudTrail_{region}_202612{day:02}T1205Z_{region}.json.gz"
        ));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let body = json!({ "Records": records }).to_string();
        std::fs::write(path, gzip(body.as_bytes())).unwrap();
    };
    let (mine, other) = ("111122223333", "444455556666");
    for day in 1..=5 {
        let time = format!("2026-12-{day:02}T12:00:00Z");
        put(
            mine,
            "us-east-1",
            day,
            vec![canary_use_at(
                &format!("east-{day}"),
                &time,
                mine,
                "us-east-1",
            )],
        );
        put(
            mine,
            "eu-west-1",
            day,
            vec![canary_use_at(
                &format!("west-{day}"),
                &time,
                mine,
                "eu-west-1",
            )],
        );
        put(
            other,
            "us-east-1",
            day,
            vec![canary_use_at(
                &format!("other-{day}"),
                &time,
                other,
                "us-east-1",
            )],
        );
    }
    // A file of the window's day holding a record from the day before: read, then dropped.
    put(
        mine,
        "us-east-1",
        3,
        vec![
            canary_use_at("east-3", "2026-12-03T12:00:00Z", mine, "us-east-1"),
            canary_use_at("east-early", "2026-12-02T23:00:00Z", mine, "us-east-1"),
        ],
    );

    let logs_path = logs.to_str().unwrap();
    let scan_window = |format: &str| {
        tripkey(&[
            "scan",
            "--no-store",
            "--canaries",
            &canaries,
            "--format",
            format,
            "--since",
            "2026-12-03",
            "--until",
            "2026-12-03T23:59:59Z",
            "--account",
            mine,
            "--region",
            "us-east-1",
            logs_path,
        ])
    };
    let scanned = scan_window("json");
    assert_eq!(scanned.status.code(), Some(1), "{scanned:?}");
    let report: Value = serde_json::from_slice(&scanned.stdout).unwrap();
    let found: Vec<&str> = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|alert| alert["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(found, ["east-3"], "{report}");
    let summary = &report["summary"];
    assert_eq!(summary["files"], 1, "{summary}");
    assert_eq!(summary["records_outside_window"], 1);
    // Not listed: days 1, 2 and 5 of us-east-1, eu-west-1 and the other account. Day 4's
    // folder is listed (files delivered in its first 2 h may hold late events), and its one
    // file, delivered at 12:05, is passed over by name.
    assert_eq!(summary["pruned_folders"], 3 + 1 + 1, "{summary}");
    assert_eq!(summary["pruned_files"], 1, "{summary}");

    let text = scan_window("table");
    let summary = String::from_utf8_lossy(&text.stdout);
    assert!(
        summary.contains("Outside --since/--until, --account and --region: 1 file and 5 folders not read, 1 record read and dropped."),
        "{summary}"
    );

    // A window the trail holds nothing in says so, and how to widen it.
    let empty = tripkey(&[
        "scan",
        "--no-store",
        "--since",
        "2025-01-01",
        "--until",
        "2025-01-02",
        logs_path,
    ]);
    assert_eq!(empty.status.code(), Some(3), "{empty:?}");
    let stderr = String::from_utf8_lossy(&empty.stderr);
    assert!(
        stderr.contains("the window left nothing to read")
            && stderr.contains("widen --since/--until"),
        "{stderr}"
    );

    let backwards = tripkey(&[
        "scan",
        "--since",
        "2026-12-04",
        "--until",
        "2026-12-03",
        logs.to_str().unwrap(),
    ]);
    assert_eq!(backwards.status.code(), Some(2), "{backwards:?}");
    assert!(String::from_utf8_lossy(&backwards.stderr).contains("give the earlier time to --since"));
    let nonsense = tripkey(&["scan", "--since", "last tuesday", logs.to_str().unwrap()]);
    assert_eq!(nonsense.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&nonsense.stderr).contains("is not a time"));
    let account = tripkey(&["scan", "--account", "1111", logs.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&account.stderr).contains("is not an AWS account ID"));
}

/// The table groups repeated alerts for one canary into one line with their count, times,
/// addresses and calls; `--ungrouped` gives one line each; `--format csv` gives one row each,
/// with a hostile userAgent that would start a spreadsheet formula made inert.
#[test]
fn repeats_are_grouped_for_people_and_rows_for_spreadsheets() {
    let folder = tempfile::tempdir().unwrap();
    let canaries = canaries_file(folder.path());
    let hostile = "=HYPERLINK(\"https://evil.example/\",\"open\")";
    let mut calls = vec![
        canary_use_at("use-1", "2024-05-01T10:00:00Z", "111122223333", "us-east-1"),
        canary_use_at("use-2", "2024-05-01T10:05:00Z", "111122223333", "eu-west-1"),
        canary_use_at("use-3", "2024-05-01T10:09:00Z", "111122223333", "us-east-1"),
    ];
    calls[1]["sourceIPAddress"] = "198.51.100.7".into();
    calls[1]["userAgent"] = hostile.into();
    let file = folder.path().join("calls.json");
    std::fs::write(&file, json!({ "Records": calls }).to_string()).unwrap();
    let file = file.to_str().unwrap();

    let scan = |extra: &[&str]| {
        let mut args = vec!["scan", "--no-store", "--canaries", canaries.as_str()];
        args.extend_from_slice(extra);
        args.push(file);
        tripkey(&args)
    };
    let grouped = scan(&[]);
    assert_eq!(grouped.status.code(), Some(1));
    let table = String::from_utf8(grouped.stdout).unwrap();
    assert!(table.contains("3 alerts for report-sync"), "{table}");
    assert!(table.contains("last       2024-05-01T10:09:00Z"), "{table}");
    assert!(
        table.contains("addresses  203.0.113.5, 198.51.100.7"),
        "{table}"
    );
    let lines = |table: &str| table.matches("canary-use").count();
    assert_eq!(lines(&table), 2, "one line, and the summary: {table}");

    let table = String::from_utf8(scan(&["--ungrouped"]).stdout).unwrap();
    assert_eq!(lines(&table), 4, "three lines, and the summary: {table}");

    let csv = scan(&["--format", "csv"]);
    assert_eq!(csv.status.code(), Some(1));
    let mut rows = ::csv::Reader::from_reader(csv.stdout.as_slice());
    let header: Vec<String> = rows.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header[0], "event_time");
    let agent = header.iter().position(|name| name == "user_agent").unwrap();
    let event = header.iter().position(|name| name == "event_id").unwrap();
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    let events: Vec<&str> = rows.iter().map(|row| &row[event]).collect();
    assert_eq!(events, ["use-1", "use-2", "use-3"]);
    assert_eq!(
        rows[1][agent],
        format!("'{hostile}"),
        "inert in a spreadsheet"
    );
    let summary = String::from_utf8_lossy(&csv.stderr);
    assert!(
        summary.contains("Alerts: 3"),
        "the summary goes to stderr: {summary}"
    );
}
