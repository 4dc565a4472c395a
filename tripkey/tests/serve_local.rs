//! `tripkey serve` with no AWS at all: a folder given with `--dir`, a sink path taken from the
//! environment through `${VAR}` in the config, and a pretty-printed trail file whose alert
//! must still be one line of JSON lines output.

use std::path::Path;
use std::process::Command;

mod common;
use common::Serve;

const ACCOUNT: &str = "123456789012";

fn tripkey() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tripkey"));
    command
        .env_remove("TRIPKEY_CONFIG")
        .env_remove("TRIPKEY_DB")
        .env_remove("TRIPKEY_DATABASE")
        .env_remove("TRIPKEY_SQS")
        .env_remove("TRIPKEY_S3")
        .env_remove("TRIPKEY_DIR")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

fn start(config: &Path, extra: &[&str], env: &[(&str, &str)]) -> Serve {
    let mut command = tripkey();
    command
        .args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .envs(env.iter().copied());
    Serve::spawn(command)
}

fn metrics(address: &str, token: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn a_dir_flag_and_an_env_sink_path_alert_on_a_pretty_printed_trail_file() {
    let folder = tempfile::tempdir().unwrap();
    let logs = folder.path().join("incoming");
    std::fs::create_dir(&logs).unwrap();
    let alerts = folder.path().join("out").join("alerts.jsonl");
    std::fs::create_dir(alerts.parent().unwrap()).unwrap();
    let config = folder.path().join("tripkey.toml");
    std::fs::write(
        &config,
        format!(
            "[canary]\noffline_account = \"{ACCOUNT}\"\n[store]\npath = \"tripkey.db\"\n\n\
             [[sink]]\nname = \"archive\"\ntype = \"json-lines\"\npath = \"${{ALERTS_FILE}}\"\n"
        ),
    )
    .unwrap();
    let issued = tripkey()
        .args(["canary", "--config", config.to_str().unwrap(), "create"])
        .args(["--label", "host=build-07", "--format", "json"])
        .env("ALERTS_FILE", &alerts)
        .output()
        .unwrap();
    assert!(
        issued.status.success(),
        "{}",
        String::from_utf8_lossy(&issued.stderr)
    );
    let issued: serde_json::Value = serde_json::from_slice(&issued.stdout).unwrap();
    let key = issued["credentials"]["access_key_id"].as_str().unwrap();

    let unset = tripkey()
        .args(["serve", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let message = String::from_utf8_lossy(&unset.stderr);
    assert!(!unset.status.success());
    assert!(
        message.contains("ALERTS_FILE is not set") && message.contains("line 9"),
        "an unset variable is named with its line: {message}"
    );

    let checked = tripkey()
        .args(["serve", "--check", "--config", config.to_str().unwrap()])
        .args(["--dir", logs.to_str().unwrap()])
        .env("ALERTS_FILE", &alerts)
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success(), "{summary}");
    assert!(
        summary.contains("configuration ok") && summary.contains("sinks: archive"),
        "{summary}"
    );

    let serve = start(
        &config,
        &["--dir", logs.to_str().unwrap()],
        &[("ALERTS_FILE", alerts.to_str().unwrap())],
    );
    let address = serve.address();
    let record = serde_json::json!({
        "eventVersion": "1.09", "eventTime": "2026-12-04T05:00:00Z",
        "eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity",
        "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.17.0\nline two", "eventID": "local-1",
        "userIdentity": {"type": "IAMUser", "accountId": ACCOUNT, "accessKeyId": key},
        "recipientAccountId": ACCOUNT
    });
    let pretty = serde_json::to_string_pretty(&serde_json::json!({ "Records": [record] })).unwrap();
    std::fs::write(logs.join("trail.json.part"), &pretty).unwrap();
    std::fs::rename(logs.join("trail.json.part"), logs.join("trail.json")).unwrap();

    serve.wait_until("the alert in the env-named file", || {
        std::fs::read_to_string(&alerts).is_ok_and(|text| text.ends_with('\n'))
    });
    let text = std::fs::read_to_string(&alerts).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one alert on one line:\n{text}");
    let alert: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(alert["rule"], "canary-use");
    assert_eq!(alert["alert"]["details"]["labels"]["host"], "build-07");
    assert_eq!(
        alert["alert"]["record"], record,
        "the record is quoted whole"
    );

    let viewer = tripkey()
        .args(["token", "--config", config.to_str().unwrap()])
        .args(["create", "prometheus", "--scope", "viewer"])
        .env("ALERTS_FILE", &alerts)
        .output()
        .unwrap();
    assert!(
        viewer.status.success(),
        "{}",
        String::from_utf8_lossy(&viewer.stderr)
    );
    let viewer = String::from_utf8(viewer.stdout).unwrap().trim().to_owned();
    assert!(
        metrics(&address, "tk_wrong").starts_with("HTTP/1.1 401"),
        "metrics need a viewer token"
    );
    let source = format!("dir:{}", logs.display());
    let exposition = metrics(&address, &viewer);
    assert!(
        exposition.contains(&format!(
            "tripkey_source_records_total{{source=\"{source}\"}} 1"
        )),
        "the --dir source is named after its folder:\n{exposition}"
    );

    let refused = tripkey()
        .args(["status", "--config", config.to_str().unwrap()])
        .args(["--url", &format!("http://{address}")])
        .env("ALERTS_FILE", &alerts)
        .env_remove("TRIPKEY_TOKEN")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&refused.stdout);
    assert!(text.contains("wants a viewer token"), "{text}");
    let status = tripkey()
        .args(["status", "--config", config.to_str().unwrap()])
        .args(["--url", &format!("http://{address}")])
        .env("ALERTS_FILE", &alerts)
        .env("TRIPKEY_TOKEN", &viewer)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(0), "{text}");
    assert!(text.contains("(answering)"), "{text}");
    let live = text
        .lines()
        .find(|line| line.trim_start().starts_with(&source))
        .unwrap_or_else(|| panic!("the live counters list {source}:\n{text}"));
    let columns: Vec<&str> = live.split_whitespace().collect();
    assert_eq!(columns[1], "1", "one record read: {live}");
    let workers = text
        .split("\nWORKERS\n")
        .nth(1)
        .unwrap_or_else(|| panic!("status lists the workers:\n{text}"));
    let worker = workers.lines().nth(1).unwrap_or_default();
    assert!(
        worker.split_whitespace().nth(2) == Some("live"),
        "serve's heartbeat shows it live: {worker}\n{text}"
    );

    let elsewhere = tripkey()
        .args(["status", "--config", config.to_str().unwrap()])
        .args(["--url", "http://127.0.0.1:9"])
        .env("ALERTS_FILE", &alerts)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&elsewhere.stdout);
    assert!(
        text.contains("not answering at http://127.0.0.1:9") && text.contains("canary-use"),
        "without serve, status shows the database alone:\n{text}"
    );
}
