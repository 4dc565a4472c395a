//! `tripkey scan` on the real CloudTrail data in shared/datasets (see its SOURCES.md). Each test
//! names the records its assertions rest on.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets")
}

fn stratus(name: &str) -> PathBuf {
    datasets()
        .join("stratus-red-team-detonation-logs/docs/detonation-logs")
        .join(name)
}

fn otrf() -> PathBuf {
    datasets().join(
        "otrf-security-datasets/datasets/atomic/aws/collection/ec2_proxy_s3_exfiltration_2020-09-14011940.json",
    )
}

/// Runs `tripkey scan --format json` and returns (exit code, alerts, summary).
fn scan(args: &[&str], paths: &[PathBuf]) -> (i32, Vec<Value>, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_tripkey"))
        .arg("scan")
        .args(["--format", "json"])
        .args(args)
        .args(paths)
        .output()
        .expect("tripkey runs");
    let document: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stdout is JSON ({error}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let alerts = document["alerts"].as_array().unwrap().clone();
    (
        output.status.code().unwrap(),
        alerts,
        document["summary"].clone(),
    )
}

fn with_rule<'a>(alerts: &'a [Value], rule: &str) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|alert| alert["rule"] == rule)
        .collect()
}

fn write_temp(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join(name);
    std::fs::write(&path, text).unwrap();
    (folder, path)
}

const OTRF_SESSION: &str = "arn:aws:sts::123456789123:assumed-role/MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0/i-0317f6c6b66ae9c40";

/// OTRF SDAWS-200914011940: `ec2.amazonaws.com` assumes `MordorNginxStack-BankingWAFRole-…` for
/// session `i-0317f6c6b66ae9c40` at 00:48:30Z (eventIDs 1da77391…, a2de2399…, a3a3dded…); the key
/// is then used only from 1.2.3.4 with a macOS aws-cli, first by ListBuckets at 01:00:04Z
/// (eventID 7d91ac29-614a-4af9-af5c-c5a80e63a0bb), with `ec2RoleDelivery` 1.0.
#[test]
fn otrf_stolen_instance_credentials_alert_through_the_imds_v1_signal() {
    let (_folder, config) = write_temp(
        "tripkey.toml",
        "[detect.exfiltration]\nalert_on_imds_v1 = true\n",
    );
    let (code, alerts, summary) = scan(&["--config", config.to_str().unwrap()], &[otrf()]);
    assert_eq!(code, 1);
    assert_eq!(summary["records"], 103);
    let exfiltration = with_rule(&alerts, "instance-credential-exfiltration");
    assert_eq!(exfiltration.len(), 1, "{alerts:#?}");
    let alert = exfiltration[0];
    assert_eq!(alert["event_id"], "7d91ac29-614a-4af9-af5c-c5a80e63a0bb");
    assert_eq!(alert["event_time"], "2020-09-14T01:00:04Z");
    assert_eq!(alert["principal"], OTRF_SESSION);
    assert_eq!(alert["source_ip"], "1.2.3.4");
    assert_eq!(alert["details"]["instance_id"], "i-0317f6c6b66ae9c40");
    assert_eq!(alert["details"]["reason"], "imds-v1-delivery");
    assert_eq!(alert["details"]["imds_v1"], true);
    assert_eq!(alert["access_key_id"], "ASIA5FLZVX4OPVKKVBMX");
    assert_eq!(
        alert["record"]["eventID"], alert["event_id"],
        "raw record travels"
    );
    assert_eq!(alerts.len(), 1, "nothing else in this dataset alerts");
}

/// The same records with a user agent allowlist for the WAF role: the first off-instance call
/// (ListBuckets, 7d91ac29…) carries `[aws-cli/1.18.136 Python/3.8.5 Darwin/19.5.0 …]`.
#[test]
fn otrf_stolen_instance_credentials_alert_through_the_user_agent_allowlist() {
    let (_folder, config) = write_temp(
        "tripkey.toml",
        "[[detect.exfiltration.role]]\nrole = \"MordorNginxStack-BankingWAFRole-*\"\nuser_agents = [\"aws-sdk-java/*\", \"Boto3/* Linux/*\"]\n",
    );
    let (_, alerts, _) = scan(&["--config", config.to_str().unwrap()], &[otrf()]);
    let exfiltration = with_rule(&alerts, "instance-credential-exfiltration");
    assert_eq!(
        exfiltration.len(),
        1,
        "one alert per session and user agent"
    );
    assert_eq!(
        exfiltration[0]["details"]["reason"],
        "user-agent-not-allowed"
    );
    assert_eq!(
        exfiltration[0]["event_id"],
        "7d91ac29-614a-4af9-af5c-c5a80e63a0bb"
    );
}

/// With defaults, IP locking alone cannot fire on OTRF: every use of the stolen key comes from
/// 1.2.3.4, which locks the session at its first use (DESIGN.md's documented limit). Pedro's 87
/// console reads and the AssumeRole records raise nothing either.
#[test]
fn otrf_with_defaults_raises_nothing() {
    let (code, alerts, summary) = scan(&[], &[otrf()]);
    assert_eq!(code, 0);
    assert!(alerts.is_empty(), "{alerts:#?}");
    assert_eq!(summary["files_with_problems"], 0);
}

/// Stratus ec2-get-password-data: 30 `GetPasswordData` `Client.UnauthorizedOperation` by
/// role session `…/aws-go-sdk-1722375070115152000` between 21:31:16Z and 21:31:21Z (the 5th at
/// 21:31:17Z), plus 2 `AssumeRole` AccessDenied by `user/christophe` (too few for a burst).
#[test]
fn stratus_get_password_data_is_one_denial_burst() {
    let (code, alerts, _) = scan(
        &[],
        &[stratus("aws.credential-access.ec2-get-password-data.json")],
    );
    assert_eq!(code, 1);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let burst = &alerts[0];
    assert_eq!(burst["rule"], "access-denied-burst");
    assert_eq!(burst["status"], "final");
    assert_eq!(
        burst["principal"],
        "arn:aws:sts::457448411975:assumed-role/stratus-red-team-ec2-get-password-data-role/aws-go-sdk-1722375070115152000"
    );
    let details = &burst["details"];
    assert_eq!(details["count"], 30);
    assert_eq!(
        details["event_names"],
        serde_json::json!(["GetPasswordData"])
    );
    assert_eq!(
        details["error_codes"],
        serde_json::json!(["Client.UnauthorizedOperation"])
    );
    assert_eq!(details["first_time"], "2024-07-30T21:31:16Z");
    assert_eq!(details["trigger_time"], "2024-07-30T21:31:17Z");
    assert_eq!(details["last_time"], "2024-07-30T21:31:21Z");
}

/// Stratus ec2-download-user-data: 15 `DescribeInstanceAttribute`
/// `Client.UnauthorizedOperation` by `…/aws-go-sdk-1722455550269043000` from 19:52:34Z to
/// 19:52:38Z; 2 AssumeRole AccessDenied by `user/christophe` do not make a burst.
#[test]
fn stratus_download_user_data_is_one_denial_burst() {
    let (_, alerts, _) = scan(&[], &[stratus("aws.discovery.ec2-download-user-data.json")]);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let details = &alerts[0]["details"];
    assert_eq!(details["count"], 15);
    assert_eq!(
        details["principal_key"],
        "arn:aws:sts::321848314756:assumed-role/stratus-red-team-get-usr-data-role/aws-go-sdk-1722455550269043000"
    );
    assert_eq!(details["first_time"], "2024-07-31T19:52:34Z");
    assert_eq!(details["last_time"], "2024-07-31T19:52:38Z");
}

/// Stratus sts-federation-token: IAM user `stratus-red-team-user-federation-user` (key
/// AKIA6V1GNZTT65XQH36M) calls GetFederationToken (eventID 6e882b9d…), and federated user
/// `stratus_red_team` calls GetCallerIdentity (eventID 91529247…). Both are designated canaries
/// here: one by key, one by principal ARN.
#[test]
fn designated_canaries_alert_with_their_labels() {
    let (_folder, canaries) = write_temp(
        "canaries.toml",
        r#"
[[canary]]
name = "federation-issuer"
access_key_id = "AKIA6V1GNZTT65XQH36M"
memo = "planted in CI secrets of repo payments"
[canary.labels]
owner = "secops"
location = "github:payments/CI"

[[canary]]
name = "stratus_red_team"
principal_arn = "arn:aws:sts::742491224508:federated-user/stratus_red_team"
"#,
    );
    let (code, alerts, _) = scan(
        &["--canaries", canaries.to_str().unwrap()],
        &[stratus("aws.persistence.sts-federation-token.json")],
    );
    assert_eq!(code, 1);
    let uses = with_rule(&alerts, "canary-use");
    assert_eq!(uses.len(), 2, "{alerts:#?}");
    assert_eq!(uses[0]["event_id"], "6e882b9d-2af8-4c67-b91f-aeac6a0e5e70");
    assert_eq!(uses[0]["severity"], "critical");
    assert_eq!(uses[0]["details"]["canary"], "federation-issuer");
    assert_eq!(uses[0]["details"]["matched_by"], "access-key-id");
    assert_eq!(
        uses[0]["details"]["labels"]["location"],
        "github:payments/CI"
    );
    assert_eq!(
        uses[0]["details"]["memo"],
        "planted in CI secrets of repo payments"
    );
    assert_eq!(uses[1]["event_id"], "91529247-c4c4-4793-afc8-d70bbcfe9d19");
    assert_eq!(uses[1]["details"]["matched_by"], "principal-arn");
}

/// Every Stratus log except the two denial bursts: IAM persistence, CloudTrail tampering,
/// sharing, Secrets Manager, SSM, Lambda and Bedrock activity, single denials (organizations-leave
/// LeaveOrganization, ec2-launch-unusual-instances RunInstances), and the stolen instance
/// credentials of ec2-steal-instance-credentials (role session `i-786a3A8B5C0d92eF4` with no
/// AssumeRole record to seed it: no decision). None of it is one of the three signs.
#[test]
fn the_rest_of_stratus_raises_nothing() {
    let folder = datasets().join("stratus-red-team-detonation-logs/docs/detonation-logs");
    let paths: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.ends_with(".json")
                && !name.contains("ec2-get-password-data")
                && !name.contains("ec2-download-user-data")
        })
        .collect();
    assert_eq!(paths.len(), 33);
    let (code, alerts, summary) = scan(&[], &paths);
    assert!(alerts.is_empty(), "{alerts:#?}");
    assert_eq!(code, 0);
    assert_eq!(summary["files"], 33);
    assert_eq!(summary["records"], 310 - 34 - 19);
}

/// The whole datasets folder at once, across thread counts: the same alerts in the same order.
#[test]
fn results_do_not_depend_on_thread_count() {
    let everything = [datasets()];
    let (_, one, summary) = scan(&["--threads", "1"], &everything);
    let (_, four, _) = scan(&["--threads", "4"], &everything);
    assert_eq!(one, four);
    assert_eq!(with_rule(&one, "access-denied-burst").len(), 2, "{one:#?}");
    assert_eq!(summary["records"], 310 + 103);
}
