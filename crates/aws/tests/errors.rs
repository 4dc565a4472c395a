//! What each kind of AWS failure reads like: the errors moto gives (started by `scripts/test`),
//! the ones no server is needed for (a closed port, no credentials, a region that is no
//! region), and the ones moto never gives, answered by a stand-in for AWS with AWS's own error
//! documents (credentials rejected, a page that is no AWS answer).
//!
//! Every message must say what failed (the API action), AWS's code and message where AWS gave
//! them, and what to do, and must hold no Rust internals.

use std::error::Error as StdError;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use tripkey_aws::{AwsClients, AwsError, AwsOptions, Secret, StaticCredentials};

fn moto_endpoint() -> String {
    std::env::var("TRIPKEY_TEST_MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!("TRIPKEY_TEST_MOTO_ENDPOINT is not set: run through scripts/test, which starts moto")
    })
}

fn testing_credentials() -> StaticCredentials {
    StaticCredentials {
        access_key_id: "testing".into(),
        secret_access_key: Secret::new("testing"),
        session_token: None,
    }
}

async fn clients_at(endpoint: &str) -> AwsClients {
    AwsClients::connect(&AwsOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.into()),
        credentials: Some(testing_credentials()),
        ..AwsOptions::default()
    })
    .await
}

/// `base` plus a suffix unique to this process and moment.
fn unique(base: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{base}-{:x}",
        (nanos as u64) ^ u64::from(std::process::id()) << 40
    )
    .chars()
    .take(base.len() + 1 + 12)
    .collect()
}

/// What `anyhow` prints for `{:#}`: the error and its causes, joined with `: `.
fn alternate(err: &AwsError) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(current) = cause {
        text.push_str(": ");
        text.push_str(&current.to_string());
        cause = current.source();
    }
    text
}

/// Checks both renderings of `err`: each holds every one of `wanted` and no Rust internals.
/// Returns the message, for more checks.
fn assert_readable(err: &AwsError, wanted: &[&str]) -> String {
    let message = err.to_string();
    for text in [message.clone(), alternate(err)] {
        for part in wanted {
            assert!(text.contains(part), "{part:?} missing from: {text}");
        }
        for internal in [
            "DispatchFailure {",
            "DispatchFailure(",
            "ConnectorError",
            "Response {",
            "{ source",
            "\\u{",
            "Some(",
            "None)",
            "dispatch failure",
        ] {
            assert!(!text.contains(internal), "{internal:?} in: {text}");
        }
        assert!(!text.contains('\n'), "a line break in: {text}");
    }
    println!("{message}");
    message
}

#[tokio::test]
async fn not_found_names_the_action_what_aws_said_and_what_to_check() {
    let aws = clients_at(&moto_endpoint()).await;
    let missing = unique("no-such-user");
    let sdk = aws
        .iam()
        .get_user()
        .user_name(&missing)
        .send()
        .await
        .unwrap_err();
    let err = AwsError::from_sdk("iam:GetUser", sdk);
    assert!(err.is_not_found(), "{err:?}");
    assert_readable(
        &err,
        &[
            "iam:GetUser",
            "AWS said NoSuchEntity: ",
            &missing,
            "check the name",
        ],
    );
}

#[tokio::test]
async fn already_exists_names_the_action_what_aws_said_and_what_to_do() {
    let aws = clients_at(&moto_endpoint()).await;
    let name = unique("twice");
    aws.iam()
        .create_user()
        .user_name(&name)
        .send()
        .await
        .unwrap();
    let sdk = aws
        .iam()
        .create_user()
        .user_name(&name)
        .send()
        .await
        .unwrap_err();
    let err = AwsError::from_sdk("iam:CreateUser", sdk);
    assert!(matches!(err, AwsError::AlreadyExists { .. }), "{err:?}");
    assert_readable(
        &err,
        &[
            "iam:CreateUser",
            "AWS said EntityAlreadyExists: ",
            &name,
            "choose another name",
        ],
    );
    aws.delete_iam_user_canary(&name).await.unwrap();
}

#[tokio::test]
async fn a_third_access_key_is_over_the_quota() {
    let aws = clients_at(&moto_endpoint()).await;
    let name = unique("three-keys");
    aws.iam()
        .create_user()
        .user_name(&name)
        .send()
        .await
        .unwrap();
    aws.create_access_key(&name).await.unwrap();
    aws.create_access_key(&name).await.unwrap();
    let err = aws.create_access_key(&name).await.unwrap_err();
    assert!(matches!(err, AwsError::LimitExceeded { .. }), "{err:?}");
    assert_readable(
        &err,
        &[
            "iam:CreateAccessKey",
            "AWS said LimitExceeded: ",
            "2 access keys per user",
            "revoke unused canaries",
        ],
    );
    aws.delete_iam_user_canary(&name).await.unwrap();
}

#[tokio::test]
async fn a_malformed_policy_is_a_service_error_with_aws_s_message() {
    let aws = clients_at(&moto_endpoint()).await;
    let name = unique("bad-policy");
    aws.iam()
        .create_user()
        .user_name(&name)
        .send()
        .await
        .unwrap();
    let sdk = aws
        .iam()
        .put_user_policy()
        .user_name(&name)
        .policy_name("baseline")
        .policy_document("{not json")
        .send()
        .await
        .unwrap_err();
    let err = AwsError::from_sdk("iam:PutUserPolicy", sdk);
    assert!(matches!(err, AwsError::Service { .. }), "{err:?}");
    // moto says "Syntax errors in policy."; real IAM words it differently.
    assert_readable(
        &err,
        &[
            "iam:PutUserPolicy",
            "AWS said MalformedPolicyDocument: Syntax errors in policy.",
            "correct it",
        ],
    );
    aws.delete_iam_user_canary(&name).await.unwrap();
}

#[tokio::test]
async fn a_closed_port_is_unreachable_and_named_with_the_os_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let endpoint = format!("http://127.0.0.1:{port}");
    let aws = clients_at(&endpoint).await;

    let err = aws.caller_identity().await.unwrap_err();
    assert!(
        matches!(err, AwsError::EndpointUnreachable { .. }),
        "{err:?}"
    );
    assert_readable(
        &err,
        &[
            &format!("could not reach the AWS endpoint for sts:GetCallerIdentity at {endpoint}"),
            "(tcp connect error: Connection refused",
            "check the network, the region and endpoint_url / AWS_ENDPOINT_URL",
        ],
    );

    // IAM calls name the same endpoint.
    let err = aws.list_access_keys("anyone").await.unwrap_err();
    assert_readable(
        &err,
        &[
            &format!("iam:ListAccessKeys at {endpoint}"),
            "Connection refused",
        ],
    );
}

/// The credential-chain texts every "no credentials" message lists.
const WHERE_CREDENTIALS_COME_FROM: [&str; 6] = [
    "no AWS credentials were found for sts:GetCallerIdentity",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "~/.aws",
    "aws sso login",
    "--offline-account ACCOUNT",
];

#[tokio::test]
async fn no_credentials_provider_says_where_credentials_come_from() {
    let shared = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let err = AwsClients::from_sdk_config(&shared)
        .caller_identity()
        .await
        .unwrap_err();
    assert!(matches!(err, AwsError::NoCredentials { .. }), "{err:?}");
    let message = assert_readable(&err, &WHERE_CREDENTIALS_COME_FROM);
    assert!(!message.contains("could not reach"), "{message}");
    assert!(!message.contains("@optionalAuth"), "{message}");
}

#[tokio::test]
async fn a_provider_that_finds_no_credentials_says_where_they_come_from() {
    // A profile that is in no file: the profile provider finds nothing, whatever the
    // environment of the test holds.
    let dir = std::env::temp_dir().join(unique("tripkey-no-profile"));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty");
    std::fs::write(&empty, "").unwrap();
    // Deprecated names for aws-runtime's EnvConfigFiles, a crate this one does not depend on.
    #[allow(deprecated)]
    use aws_config::profile::profile_file::{ProfileFileKind, ProfileFiles};
    #[allow(deprecated)]
    let files = ProfileFiles::builder()
        .with_file(ProfileFileKind::Config, &empty)
        .with_file(ProfileFileKind::Credentials, &empty)
        .build();
    let provider = aws_config::profile::ProfileFileCredentialsProvider::builder()
        .profile_files(files)
        .profile_name("tripkey-test-nowhere")
        .build();
    let shared = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(aws_sdk_iam::config::SharedCredentialsProvider::new(
            provider,
        ))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let err = AwsClients::from_sdk_config(&shared)
        .caller_identity()
        .await
        .unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(err, AwsError::NoCredentials { .. }), "{err:?}");
    let message = assert_readable(&err, &WHERE_CREDENTIALS_COME_FROM);
    assert!(!message.contains("could not reach"), "{message}");
}

#[tokio::test]
async fn a_region_that_is_no_region_stops_before_sending() {
    let aws = AwsClients::connect(&AwsOptions {
        region: Some("us east 1".into()),
        credentials: Some(testing_credentials()),
        ..AwsOptions::default()
    })
    .await;
    let err = aws.caller_identity().await.unwrap_err();
    assert!(matches!(err, AwsError::Request { .. }), "{err:?}");
    let message = assert_readable(
        &err,
        &[
            "could not build the sts:GetCallerIdentity request",
            "region",
            "check the AWS configuration",
        ],
    );
    assert!(!message.contains("Interceptor"), "{message}");
}

/// A stand-in for AWS answering every request with one response, or refusing the connection
/// (`status` 0): for the errors moto does not give (it accepts any credentials, and always
/// answers as AWS does), and for AWS's own endpoints, which a test must not call.
#[derive(Debug, Clone)]
struct Canned {
    status: u16,
    body: &'static str,
}

impl HttpClient for Canned {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for Canned {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        if self.status == 0 {
            let refused = std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "Connection refused (os error 111)",
            );
            return HttpConnectorFuture::ready(Err(ConnectorError::io(Box::new(refused))));
        }
        let status = StatusCode::try_from(self.status).unwrap();
        HttpConnectorFuture::ready(Ok(HttpResponse::new(status, SdkBody::from(self.body))))
    }
}

async fn answered_by(canned: Canned) -> AwsClients {
    answered_in("us-east-1", Some("http://127.0.0.1:9"), canned).await
}

async fn answered_in(region: &'static str, endpoint: Option<&str>, canned: Canned) -> AwsClients {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region));
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
    }
    let shared = loader
        .credentials_provider(aws_sdk_iam::config::Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        ))
        .http_client(canned)
        .load()
        .await;
    AwsClients::from_sdk_config(&shared)
}

#[tokio::test]
async fn rejected_credentials_carry_aws_s_code_and_message() {
    // STS's answer to an access key it does not know, word for word.
    let aws = answered_by(Canned {
        status: 403,
        body: "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
               <Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>\
               <Message>The security token included in the request is invalid.</Message>\
               </Error><RequestId>4f5d3c2b-1a09-4e8f-9b7c-6d5e4f3a2b1c</RequestId>\
               </ErrorResponse>",
    })
    .await;
    let err = aws.caller_identity().await.unwrap_err();
    assert!(
        matches!(err, AwsError::CredentialsRejected { .. }),
        "{err:?}"
    );
    assert_readable(
        &err,
        &[
            "sts:GetCallerIdentity",
            "AWS said InvalidClientTokenId: The security token included in the request is \
             invalid.",
            "check the profile, the access key and secret",
        ],
    );
}

#[tokio::test]
async fn a_page_that_is_no_aws_answer_is_unexpected_and_says_so_plainly() {
    // What a captive portal or a misconfigured proxy sends back.
    let aws = answered_by(Canned {
        status: 200,
        body: "<html lang=\"en\"><body>Sign in to continue</body></html>",
    })
    .await;
    let err = aws.caller_identity().await.unwrap_err();
    assert!(
        matches!(err, AwsError::UnexpectedResponse { .. }),
        "{err:?}"
    );
    let message = assert_readable(
        &err,
        &[
            "unexpected response from sts:GetCallerIdentity",
            "HTTP 200",
            "endpoint_url / AWS_ENDPOINT_URL",
        ],
    );
    for internal in ["StartEl", "Name {", "prefix:"] {
        assert!(!message.contains(internal), "{internal:?} in: {message}");
    }
}

#[tokio::test]
async fn without_an_endpoint_override_aws_s_own_url_is_named() {
    // The connection is refused by the stand-in: nothing reaches AWS.
    let refused = Canned {
        status: 0,
        body: "",
    };
    let aws = answered_in("eu-west-1", None, refused).await;
    let err = aws.caller_identity().await.unwrap_err();
    assert_readable(
        &err,
        &[
            "could not reach the AWS endpoint for sts:GetCallerIdentity at \
             https://sts.eu-west-1.amazonaws.com (Connection refused (os error 111))",
            "check the network",
        ],
    );
    let err = aws.list_access_keys("anyone").await.unwrap_err();
    assert_readable(
        &err,
        &["iam:ListAccessKeys at https://iam.amazonaws.com (Connection refused"],
    );
}
