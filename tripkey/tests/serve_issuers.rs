//! `[[issuer]]` tables against moto: the API issues in the accounts whose credentials check
//! out, leaves out one whose credentials belong to another account, and picks by `account`.

use std::process::Command;

use serde_json::{json, Value};

mod common;
use common::Serve;

const ADMIN: &str = "tk_issuers_admin_token_0123456789abcdefghij";

fn moto() -> String {
    std::env::var("TRIPKEY_TEST_MOTO_ENDPOINT")
        .expect("TRIPKEY_TEST_MOTO_ENDPOINT is unset: run through scripts/test, which starts moto")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_issues_in_the_configured_accounts_and_leaves_out_a_mismatched_one() {
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("tripkey.toml");
    // moto answers every request as account 123456789012.
    std::fs::write(
        &config,
        "[store]\npath = \"tripkey.db\"\n\
         [canary]\nuser_path = \"/issuers-test/\"\n\
         [[issuer]]\naccount = \"123456789012\"\nkinds = [\"iam-user\"]\n\
         [[issuer]]\naccount = \"999988887777\"\n",
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tripkey"));
    command
        .args(["serve", "--config", config.to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0", "--endpoint-url", &moto()])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("TRIPKEY_ADMIN_TOKEN", ADMIN)
        .env_remove("TRIPKEY_CONFIG")
        .env_remove("TRIPKEY_OFFLINE_ACCOUNT");
    let serve = Serve::spawn(command);
    let address = serve.address();
    assert!(
        serve.log().contains("an issuer is left out") && serve.log().contains("999988887777"),
        "{}",
        serve.log()
    );
    let client = reqwest::Client::new();
    let get = |path: &str| {
        client
            .get(format!("http://{address}{path}"))
            .bearer_auth(ADMIN)
            .send()
    };
    let issuers: Value = get("/api/v1/issuers").await.unwrap().json().await.unwrap();
    assert_eq!(
        issuers["issuers"],
        json!([{"account_id": "123456789012", "issuer": "aws", "kinds": ["iam-user"],
                "default": true,
                "capacity": {"account_id": "123456789012", "held": 0, "limit": 5000}}]),
        "{issuers}"
    );
    let issue = |body: Value| {
        client
            .post(format!("http://{address}/api/v1/canaries"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
    };
    let issued = issue(json!({"account": "123456789012"})).await.unwrap();
    assert_eq!(issued.status(), 201);
    let issued: Value = issued.json().await.unwrap();
    assert_eq!(issued["canary"]["issuer"], "aws");
    assert!(issued["canary"]["principal_arn"]
        .as_str()
        .unwrap()
        .contains(":user/issuers-test/"));
    let elsewhere = issue(json!({"account": "999988887777"})).await.unwrap();
    assert_eq!(elsewhere.status(), 400);
    let elsewhere: Value = elsewhere.json().await.unwrap();
    assert!(
        elsewhere["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("account: no issuer for account 999988887777"),
        "{elsewhere}"
    );
    let federation = issue(json!({"kind": "federation"})).await.unwrap();
    assert_eq!(
        federation.status(),
        400,
        "this account issues IAM users only"
    );

    let id = issued["canary"]["id"].as_str().unwrap();
    let revoked = client
        .post(format!("http://{address}/api/v1/canaries/{id}/revoke"))
        .bearer_auth(ADMIN)
        .json(&json!({"reason": "test over"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        revoked.status(),
        200,
        "the AWS issuer deletes the user again"
    );
    assert_eq!(serve.terminate(), Some(0));
}
