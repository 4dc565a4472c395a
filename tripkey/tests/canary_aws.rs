//! `tripkey setup aws` and `tripkey canary` against a real moto server, following the README:
//! setup, create, the key authenticates as its canary, revoke, and it no longer does.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use tripkey_aws::{AwsClients, AwsOptions, Secret, StaticCredentials};

fn moto() -> String {
    std::env::var("TRIPKEY_TEST_MOTO_ENDPOINT")
        .expect("TRIPKEY_TEST_MOTO_ENDPOINT is unset: run through scripts/test, which starts moto")
}

fn tripkey(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tripkey"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .args(args)
        .output()
        .expect("tripkey runs")
}

fn canary(db: &Path, endpoint: &str, args: &[&str]) -> Output {
    let mut all = vec![
        "canary",
        "--db",
        db.to_str().unwrap(),
        "--endpoint-url",
        endpoint,
    ];
    all.extend_from_slice(args);
    tripkey(&all)
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
    let key = document["access_key_id"].as_str().unwrap();
    let secret = document["secret_access_key"].as_str().unwrap();
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
    let listed: Value =
        serde_json::from_slice(&canary(&db, &endpoint, &["list", "--json"]).stdout).unwrap();
    assert_eq!(listed[0]["status"], "revoked");
}
