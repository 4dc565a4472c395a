//! `tripkey setup aws` and `tripkey canary` against a real moto server, following the README:
//! setup, create, the key authenticates as its canary, revoke, and it no longer does; rotation
//! with a grace period; the last-used safety net; federation through the issuer user; the
//! integrity check that catches a policy attached to a canary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tripkey_aws::{AwsClients, AwsOptions, Secret, StaticCredentials};

fn moto() -> String {
    std::env::var("TRIPKEY_TEST_MOTO_ENDPOINT")
        .expect("TRIPKEY_TEST_MOTO_ENDPOINT is unset: run through scripts/test, which starts moto")
}

fn tripkey(args: &[&str]) -> Output {
    tripkey_with(args, &[])
}

fn tripkey_with(args: &[&str], environment: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tripkey"))
        .envs(environment.iter().copied())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .args(args)
        .output()
        .expect("tripkey runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts the exit status, showing both streams when it is wrong.
fn expect_status(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Asserts that a `maintain` pass went through. moto's GetUser does not report permissions
/// boundaries, so on moto the integrity check finds each canary's boundary missing (exit 1
/// with that finding alone); any other finding fails the test.
fn expect_maintained(output: &Output) {
    if output.status.code() != Some(1) {
        return expect_status(output, 0);
    }
    let text = stdout(output);
    let findings: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("canary-"))
        .collect();
    assert!(
        !findings.is_empty()
            && findings.iter().all(|line| {
                line.ends_with("permissions boundary removed (found by tripkey's IAM check)")
            }),
        "maintain found more than moto's missing boundaries:\n{text}"
    );
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: not JSON:\n{}", stdout(output)))
}

/// `tripkey canary --db DB ARGS` with moto as the AWS endpoint, given through the
/// environment: only the subcommands that reach AWS read it.
fn canary(db: &Path, endpoint: &str, args: &[&str]) -> Output {
    let mut all = vec!["canary", "--db", db.to_str().unwrap()];
    all.extend_from_slice(args);
    tripkey_with(&all, &[("AWS_ENDPOINT_URL", endpoint)])
}

/// The ARN AWS (moto) says the key belongs to.
fn caller_arn(endpoint: &str, key: &str, secret: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let clients = AwsClients::connect(&AwsOptions {
            endpoint_url: Some(endpoint.to_owned()),
            region: Some("us-east-1".to_owned()),
            credentials: Some(StaticCredentials {
                access_key_id: key.to_owned(),
                secret_access_key: Secret::new(secret),
                session_token: None,
            }),
            ..AwsOptions::default()
        })
        .await;
        clients.caller_identity().await.unwrap().arn
    })
}

#[test]
fn setup_then_an_iam_user_canary_authenticates_until_revoked() {
    let endpoint = moto();
    let setup = tripkey(&["setup", "aws", "--endpoint-url", &endpoint]);
    let text = String::from_utf8_lossy(&setup.stdout);
    assert_eq!(
        setup.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    assert!(text.contains("policy/workload-baseline-boundary"), "{text}");
    assert!(
        text.contains("\"Statement\""),
        "prints the least-privilege policy"
    );
    let again = tripkey(&["setup", "aws", "--endpoint-url", &endpoint]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already there"));

    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("tripkey.db");
    let created = canary(
        &db,
        &endpoint,
        &["create", "--format", "json", "--label", "host=ci-runner-3"],
    );
    assert_eq!(
        created.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let document: Value = serde_json::from_slice(&created.stdout).unwrap();
    let key = document["credentials"]["access_key_id"].as_str().unwrap();
    let secret = document["credentials"]["secret_access_key"]
        .as_str()
        .unwrap();
    let record = &document["canary"];
    assert_eq!(record["issuer"], "aws");
    let principal = record["principal_arn"].as_str().unwrap();
    assert!(
        principal.ends_with(&format!(
            "user/service/{}",
            record["name"].as_str().unwrap()
        )),
        "{principal}"
    );
    assert!(keys::check_name(record["name"].as_str().unwrap()).is_empty());
    assert_eq!(caller_arn(&endpoint, key, secret), principal);

    let revoked = canary(&db, &endpoint, &["revoke", record["id"].as_str().unwrap()]);
    assert_eq!(
        revoked.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    assert_ne!(
        caller_arn(&endpoint, key, secret),
        principal,
        "the revoked key no longer belongs to the canary user"
    );
    let user = admin(&endpoint).iam_user_exists(record["name"].as_str().unwrap());
    assert!(!user, "revocation deletes the IAM user");
    let listed: Value =
        serde_json::from_slice(&canary(&db, &endpoint, &["list", "--json"]).stdout).unwrap();
    assert_eq!(listed["canaries"][0]["status"], "revoked");
}

/// moto's root credentials, to look at the account as its owner would.
struct Admin {
    runtime: tokio::runtime::Runtime,
    clients: AwsClients,
}

fn admin(endpoint: &str) -> Admin {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let clients = runtime.block_on(AwsClients::connect(&AwsOptions {
        endpoint_url: Some(endpoint.to_owned()),
        region: Some("us-east-1".to_owned()),
        credentials: Some(StaticCredentials {
            access_key_id: "testing".to_owned(),
            secret_access_key: Secret::new("testing"),
            session_token: None,
        }),
        ..AwsOptions::default()
    }));
    Admin { runtime, clients }
}

impl Admin {
    fn iam_user_exists(&self, name: &str) -> bool {
        let answer = self
            .runtime
            .block_on(self.clients.iam().get_user().user_name(name).send());
        match answer {
            Ok(_) => true,
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_no_such_entity_exception()) =>
            {
                false
            }
            Err(error) => panic!("GetUser {name}: {error:?}"),
        }
    }

    /// The names of the IAM users under `path`.
    fn users_under(&self, path: &str) -> Vec<String> {
        let listed = self
            .runtime
            .block_on(self.clients.iam().list_users().path_prefix(path).send())
            .unwrap();
        listed
            .users()
            .iter()
            .map(|user| user.user_name().to_owned())
            .collect()
    }
}

#[test]
fn a_full_account_refuses_the_next_canary_and_leaves_nothing_half_made() {
    let endpoint = moto();
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("tripkey.db");
    // A path of this test's own, so the other tests' users on the shared moto do not count.
    let path = format!("/ops{}/", std::process::id());
    let create = || {
        canary(
            &db,
            &endpoint,
            &[
                "create",
                "--capacity",
                "3",
                "--user-path",
                &path,
                "--format",
                "json",
            ],
        )
    };
    for _ in 0..3 {
        expect_status(&create(), 0);
    }
    let refused = create();
    expect_status(&refused, 2);
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(
        error.contains("holds 3 IAM-user canaries") && error.contains("federation"),
        "the error says how full the account is and what to do: {error}"
    );
    assert!(refused.stdout.is_empty(), "no credentials are printed");
    let admin = admin(&endpoint);
    assert_eq!(admin.users_under(&path).len(), 3, "no fourth user in AWS");
    let listed = json(&canary(&db, &endpoint, &["list", "--format", "json"]));
    assert_eq!(
        listed["canaries"].as_array().unwrap().len(),
        3,
        "no fourth record"
    );
    let capacity = json(&canary(
        &db,
        &endpoint,
        &["capacity", "--capacity", "3", "--format", "json"],
    ));
    assert_eq!(capacity["accounts"][0]["held"], 3, "{capacity}");
    assert_eq!(capacity["accounts"][0]["limit"], 3, "{capacity}");
}

/// Creates an IAM-user canary in a fresh database; returns the database folder, the database,
/// and the `create --format json` document.
fn iam_user_canary(endpoint: &str, config: Option<&str>) -> (tempfile::TempDir, PathBuf, Value) {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("tripkey.db");
    if let Some(text) = config {
        std::fs::write(folder.path().join("tripkey.toml"), text).unwrap();
    }
    let created = canary(&db, endpoint, &["create", "--format", "json"]);
    expect_status(&created, 0);
    let document = json(&created);
    (folder, db, document)
}

/// `tripkey canary` with the `tripkey.toml` that [`iam_user_canary`] wrote.
fn configured(folder: &tempfile::TempDir, db: &Path, endpoint: &str, args: &[&str]) -> Output {
    let config = folder.path().join("tripkey.toml");
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    canary(db, endpoint, &all)
}

#[test]
fn a_rotated_key_works_through_its_grace_period_then_only_the_new_one_does() {
    let endpoint = moto();
    let (folder, db, created) =
        iam_user_canary(&endpoint, Some("[canary]\nrotation_grace = \"3s\"\n"));
    let principal = created["canary"]["principal_arn"].as_str().unwrap();
    let id = created["canary"]["id"].as_str().unwrap();
    let old_key = created["credentials"]["access_key_id"].as_str().unwrap();
    let old_secret = created["credentials"]["secret_access_key"]
        .as_str()
        .unwrap();

    let rotated = configured(&folder, &db, &endpoint, &["rotate", id, "--format", "json"]);
    expect_status(&rotated, 0);
    let rotated = json(&rotated);
    let new_key = rotated["credentials"]["access_key_id"].as_str().unwrap();
    let new_secret = rotated["credentials"]["secret_access_key"]
        .as_str()
        .unwrap();
    assert_ne!(new_key, old_key);
    assert_eq!(rotated["canary"]["principal_arn"], principal);
    assert_eq!(caller_arn(&endpoint, old_key, old_secret), principal);
    assert_eq!(caller_arn(&endpoint, new_key, new_secret), principal);

    let early = configured(&folder, &db, &endpoint, &["maintain"]);
    expect_maintained(&early);
    assert!(!stdout(&early).contains(old_key), "{}", stdout(&early));
    assert_eq!(
        caller_arn(&endpoint, old_key, old_secret),
        principal,
        "the old key still works during the grace period"
    );

    std::thread::sleep(std::time::Duration::from_millis(3_500));
    let late = configured(&folder, &db, &endpoint, &["maintain"]);
    expect_maintained(&late);
    assert!(
        stdout(&late).contains(&format!(
            "key deleted  {}",
            created["canary"]["name"].as_str().unwrap()
        )),
        "{}",
        stdout(&late)
    );
    assert_ne!(
        caller_arn(&endpoint, old_key, old_secret),
        principal,
        "the old key stops authenticating after the grace period"
    );
    assert_eq!(caller_arn(&endpoint, new_key, new_secret), principal);
    let shown = stdout(&canary(&db, &endpoint, &["show", id]));
    assert!(
        shown.contains("rotated") && shown.contains("key-deleted"),
        "{shown}"
    );
}

/// Signs an SQS data call with the canary key: SQS data events are not in a trail unless it
/// opts in, so only IAM's last-used date shows the use.
fn receive_message_as(endpoint: &str, key: &str, secret: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                key, secret, None, None, "canary",
            ))
            .load()
            .await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        // The queue does not exist; the signed request is what counts.
        let _ = sqs
            .receive_message()
            .queue_url(format!("{endpoint}/123456789012/build-artifacts"))
            .send()
            .await;
    });
}

#[test]
fn a_use_outside_cloudtrail_gives_exactly_one_alert_with_service_and_region() {
    let endpoint = moto();
    let (folder, db, created) =
        iam_user_canary(&endpoint, Some("[canary]\nlast_used_report_above = 0\n"));
    let name = created["canary"]["name"].as_str().unwrap();
    let key = created["credentials"]["access_key_id"].as_str().unwrap();
    let secret = created["credentials"]["secret_access_key"]
        .as_str()
        .unwrap();

    let quiet = canary(&db, &endpoint, &["poll", "--format", "json"]);
    expect_status(&quiet, 0);
    assert_eq!(json(&quiet)["alerts"], serde_json::json!([]));

    receive_message_as(&endpoint, key, secret);
    let poll = canary(&db, &endpoint, &["poll", "--format", "json"]);
    expect_status(&poll, 1);
    let alerts = json(&poll)["alerts"].as_array().unwrap().clone();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let alert = &alerts[0];
    assert_eq!(alert["rule"], "canary-use");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["event_source"], "sqs.amazonaws.com");
    assert_eq!(alert["region"], "eu-west-1");
    assert_eq!(alert["access_key_id"], key);
    assert_eq!(alert["details"]["canary"], name);
    assert_eq!(alert["details"]["matched_by"], "last-used");

    for round in ["per key", "through the credential report"] {
        let again = if round == "per key" {
            canary(&db, &endpoint, &["poll", "--format", "json"])
        } else {
            configured(&folder, &db, &endpoint, &["poll", "--format", "json"])
        };
        expect_status(&again, 0);
        assert_eq!(
            json(&again)["alerts"],
            serde_json::json!([]),
            "the same use alerts once, {round}"
        );
    }
    let listed = json(&canary(&db, &endpoint, &["list", "--json"]));
    assert_eq!(listed["canaries"][0]["status"], "triggered");

    // A later use is news again, here found through the credential report (whole seconds).
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    receive_message_as(&endpoint, key, secret);
    let report = configured(&folder, &db, &endpoint, &["poll", "--format", "json"]);
    expect_status(&report, 1);
    assert_eq!(json(&report)["alerts"].as_array().unwrap().len(), 1);
    assert!(String::from_utf8_lossy(&report.stderr).contains("credential report"));
}

#[test]
fn federation_canaries_are_issued_by_the_federation_issuer_user() {
    let endpoint = moto();
    let setup = tripkey(&["setup", "aws", "--endpoint-url", &endpoint]);
    expect_status(&setup, 0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let admin = runtime.block_on(AwsClients::connect(&AwsOptions {
        endpoint_url: Some(endpoint.clone()),
        region: Some("us-east-1".to_owned()),
        credentials: Some(StaticCredentials {
            access_key_id: "testing".to_owned(),
            secret_access_key: Secret::new("testing"),
            session_token: None,
        }),
        ..AwsOptions::default()
    }));
    // The issuer user is shared by every test on this moto server: start from no keys.
    for stale in runtime
        .block_on(admin.list_access_keys("svc-session-broker"))
        .unwrap()
    {
        runtime
            .block_on(admin.delete_access_key("svc-session-broker", &stale.access_key_id))
            .unwrap();
    }
    let broker = runtime
        .block_on(admin.create_access_key("svc-session-broker"))
        .unwrap();
    let folder = tempfile::tempdir().unwrap();
    let credentials = folder.path().join("credentials");
    std::fs::write(
        &credentials,
        format!(
            "[session-broker]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            broker.access_key_id,
            broker.secret_access_key.expose()
        ),
    )
    .unwrap();

    let db = folder.path().join("tripkey.db");
    let created = Command::new(env!("CARGO_BIN_EXE_tripkey"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .env("AWS_CONFIG_FILE", folder.path().join("config"))
        .env_remove("AWS_PROFILE")
        .args(["canary", "--db", db.to_str().unwrap()])
        .args(["create", "--kind", "federation", "--format", "json"])
        .args(["--endpoint-url", &endpoint])
        .args(["--federation-profile", "session-broker"])
        .output()
        .unwrap();
    expect_status(&created, 0);
    let document = json(&created);
    let name = document["canary"]["name"].as_str().unwrap();
    assert!(
        document["canary"]["principal_arn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":federated-user/{name}")),
        "{document:#}"
    );
    let used = runtime
        .block_on(admin.access_key_last_used(&broker.access_key_id))
        .unwrap()
        .expect("the issuer user's key signed the GetFederationToken call");
    assert_eq!(used.service_name.as_deref(), Some("sts"));
    runtime
        .block_on(admin.delete_access_key("svc-session-broker", &broker.access_key_id))
        .unwrap();
}

impl Admin {
    /// Gives `user` an allow-all customer managed policy, as an attacker with IAM rights
    /// would; returns the policy's ARN.
    fn attach_allow_all(&self, user: &str) -> String {
        let policy = self
            .runtime
            .block_on(
                self.clients
                    .iam()
                    .create_policy()
                    .policy_name(format!("ops-{}", std::process::id()))
                    .policy_document(
                        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
                    )
                    .send(),
            )
            .unwrap();
        let arn = policy.policy().unwrap().arn().unwrap().to_owned();
        self.runtime
            .block_on(
                self.clients
                    .iam()
                    .attach_user_policy()
                    .user_name(user)
                    .policy_arn(&arn)
                    .send(),
            )
            .unwrap();
        arn
    }
}

/// The (rule, change, target) of each integrity alert in a `maintain --format json` answer.
fn integrity_changes(maintained: &Value) -> Vec<(String, String, Option<String>)> {
    maintained["integrity_alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|alert| {
            let details = &alert["details"];
            (
                alert["rule"].as_str().unwrap().to_owned(),
                details["change"].as_str().unwrap().to_owned(),
                details["target"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[test]
fn a_policy_attached_to_a_canary_is_caught_by_maintain_check_and_its_cloudtrail_record_once() {
    let endpoint = moto();
    let (folder, db, created) = iam_user_canary(&endpoint, None);
    let name = created["canary"]["name"].as_str().unwrap();
    let account = created["canary"]["account_id"].as_str().unwrap();

    // moto's GetUser does not report permissions boundaries, so on moto a fresh canary shows
    // at most a missing boundary; everything else must match what tripkey made.
    let before = canary(&db, &endpoint, &["maintain", "--format", "json"]);
    let before = json(&before);
    assert_eq!(before["integrity_checked"], 1, "{before}");
    let moto_gap = vec![(
        "canary-drift".to_owned(),
        "boundary-removed".to_owned(),
        None,
    )];
    let baseline = integrity_changes(&before);
    assert!(
        baseline.is_empty() || baseline == moto_gap,
        "a fresh canary holds only what tripkey made: {baseline:?}"
    );

    let policy = admin(&endpoint).attach_allow_all(name);
    let after = canary(&db, &endpoint, &["maintain", "--format", "json"]);
    expect_status(&after, 1);
    let after = json(&after);
    let mut expected = baseline.clone();
    expected.insert(
        0,
        (
            "canary-drift".to_owned(),
            "attached-policy".to_owned(),
            Some(policy.clone()),
        ),
    );
    assert_eq!(integrity_changes(&after), expected);
    let drift = after["integrity_alerts"][0].clone();
    assert_eq!(drift["severity"], "critical");
    assert_eq!(drift["details"]["seen_by"], "iam-check");
    assert_eq!(drift["details"]["canaries"][0], name);
    let table = canary(&db, &endpoint, &["maintain"]);
    expect_status(&table, 1);
    assert!(
        stdout(&table).contains(&format!(
            "canary-drift Canary {name:?} drifted: policy {policy} attached"
        )),
        "{}",
        stdout(&table)
    );

    // canary check reports the same next to stealth.
    let checked = canary(&db, &endpoint, &["check", name, "--format", "json"]);
    expect_status(&checked, 1);
    let checked = json(&checked);
    assert_eq!(checked["flagged"], true);
    assert_eq!(checked["integrity"]["checked"], true);
    assert_eq!(
        checked["integrity"]["differences"][0]["dedup_key"],
        drift["dedup_key"]
    );
    let checked = canary(&db, &endpoint, &["check", name]);
    assert!(
        stdout(&checked).contains(&format!(
            "integrity  FLAGGED: Canary {name:?} drifted: policy {policy} attached"
        )),
        "{}",
        stdout(&checked)
    );
    let stealth_only = canary(
        &db,
        &endpoint,
        &["check", name, "--no-integrity", "--format", "json"],
    );
    assert!(json(&stealth_only)["integrity"].is_null());

    // The CloudTrail record of the same attach, read by a scan of the canary database,
    // raises one canary-drift under the same dedup key.
    let record = serde_json::json!({"Records": [{
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{account}:user/mallory"),
            "accountId": account, "accessKeyId": "AKIAMALLORY000000000"},
        "eventTime": "2026-12-04T10:00:00Z", "eventSource": "iam.amazonaws.com",
        "eventName": "AttachUserPolicy", "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.9", "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"userName": name, "policyArn": policy},
        "responseElements": null, "eventID": "attach-1", "recipientAccountId": account
    }]});
    let trail = folder.path().join("attach.json");
    // Twice in the input: a redelivered file alerts once.
    std::fs::write(&trail, format!("{record}\n{record}\n")).unwrap();
    let scanned = tripkey(&[
        "scan",
        "--store",
        "--db",
        db.to_str().unwrap(),
        "--format",
        "json",
        trail.to_str().unwrap(),
    ]);
    expect_status(&scanned, 1);
    let scanned = json(&scanned);
    let alerts = scanned["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["rule"], "canary-drift");
    assert_eq!(alerts[0]["dedup_key"], drift["dedup_key"]);
    assert_eq!(alerts[0]["details"]["seen_by"], "cloudtrail");
}
