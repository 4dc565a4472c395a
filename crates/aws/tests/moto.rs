//! The AWS side of issuing canaries, against a real moto server (started by `scripts/test`).
//!
//! Every test uses names of its own: the tests run in parallel on one moto, which also keeps
//! what earlier runs made.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use tripkey_aws::{
    AwsClients, AwsError, AwsOptions, Deletion, IamUserSpec, Outcome, Secret, StaticCredentials,
    DENY_ALL_POLICY,
};

fn moto_endpoint() -> String {
    std::env::var("TRIPKEY_TEST_MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!("TRIPKEY_TEST_MOTO_ENDPOINT is not set: run through scripts/test, which starts moto")
    })
}

/// moto accepts any credentials; these make the calls come from its default account.
async fn admin() -> AwsClients {
    signed_with(StaticCredentials {
        access_key_id: "testing".into(),
        secret_access_key: Secret::new("testing"),
        session_token: None,
    })
    .await
}

async fn signed_with(credentials: StaticCredentials) -> AwsClients {
    signed_in_region(credentials, "us-east-1").await
}

async fn signed_in_region(credentials: StaticCredentials, region: &str) -> AwsClients {
    AwsClients::connect(&AwsOptions {
        region: Some(region.into()),
        endpoint_url: Some(moto_endpoint()),
        credentials: Some(credentials),
        ..AwsOptions::default()
    })
    .await
}

/// `base` plus a suffix unique to this process and moment (≤ 12 more characters).
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

fn spec(name: &str, boundary: Option<String>) -> IamUserSpec {
    IamUserSpec {
        name: name.into(),
        path: "/service/".into(),
        tags: vec![("team".into(), "data-platform".into())],
        boundary_policy_arn: boundary,
        inline_policy_name: "baseline".into(),
    }
}

/// IAM returns policy documents URL-encoded.
fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn json(document: &str) -> serde_json::Value {
    serde_json::from_str(document)
        .or_else(|_| serde_json::from_str(&url_decode(document)))
        .unwrap_or_else(|e| panic!("policy document {document:?} is not JSON: {e}"))
}

#[tokio::test]
async fn iam_user_canary_is_deny_all_tagged_passwordless_and_its_key_authenticates() {
    let aws = admin().await;
    let boundary = aws
        .ensure_boundary_policy(&unique("workload-boundary"))
        .await
        .unwrap();
    let name = unique("svc-reporting");
    let key = aws
        .create_iam_user_canary(&spec(&name, Some(boundary.arn.clone())))
        .await
        .unwrap();
    assert_eq!(key.user_name, name);
    assert_eq!(
        key.user_arn,
        format!("arn:aws:iam::123456789012:user/service/{name}")
    );
    assert!(
        key.access_key_id.starts_with("AKIA"),
        "{}",
        key.access_key_id
    );
    assert_eq!(key.secret_access_key.expose().len(), 40);
    assert!(!format!("{key:?}").contains(key.secret_access_key.expose()));

    let user = aws
        .iam()
        .get_user()
        .user_name(&name)
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    assert_eq!(user.path, "/service/");
    let tags: Vec<(&str, &str)> = user.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("team", "data-platform")]);
    // moto 5.2.5 ignores a user's permissions boundary (CreateUser drops it, GetUser never
    // reports one); real IAM reports it here. The boundary policy itself is checked below.
    if let Some(b) = user.permissions_boundary() {
        assert_eq!(b.permissions_boundary_arn(), Some(boundary.arn.as_str()));
    }
    let version = aws
        .iam()
        .get_policy_version()
        .policy_arn(&boundary.arn)
        .version_id("v1")
        .send()
        .await
        .unwrap()
        .policy_version
        .unwrap();
    assert_eq!(json(version.document().unwrap()), json(DENY_ALL_POLICY));

    let inline = aws
        .iam()
        .get_user_policy()
        .user_name(&name)
        .policy_name("baseline")
        .send()
        .await
        .unwrap();
    assert_eq!(json(inline.policy_document()), json(DENY_ALL_POLICY));

    let login = aws.iam().get_login_profile().user_name(&name).send().await;
    let code = login
        .expect_err("a canary has no console password")
        .into_service_error();
    assert!(code.is_no_such_entity_exception(), "{code:?}");

    let keys = aws.list_access_keys(&name).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].access_key_id, key.access_key_id);
    assert!(keys[0].active);

    let as_canary = signed_with((&key).into()).await;
    let me = as_canary.caller_identity().await.unwrap();
    assert_eq!(
        me.arn, key.user_arn,
        "GetCallerIdentity signed with the canary's own key"
    );
    assert_eq!(me.account_id, "123456789012");

    assert_eq!(
        aws.delete_iam_user_canary(&name).await.unwrap(),
        Deletion::Deleted
    );
    let gone = aws.iam().get_user().user_name(&name).send().await;
    assert!(gone
        .unwrap_err()
        .into_service_error()
        .is_no_such_entity_exception());
    assert_eq!(
        aws.delete_iam_user_canary(&name).await.unwrap(),
        Deletion::AlreadyAbsent,
        "deleting again is fine"
    );
    // moto answers unknown keys as its default user rather than refusing them: the deleted
    // key no longer maps to the canary.
    assert_ne!(as_canary.caller_identity().await.unwrap().arn, key.user_arn);
}

/// An HTTP client that sends every request to moto except one IAM action, which it answers
/// itself with AWS's LimitExceeded error, as IAM does for a user's third access key.
#[derive(Debug)]
struct RefuseAction {
    action: &'static str,
    inner: SharedHttpClient,
}

#[derive(Debug)]
struct RefuseActionConnector {
    action: &'static str,
    inner: SharedHttpConnector,
}

impl HttpClient for RefuseAction {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(RefuseActionConnector {
            action: self.action,
            inner: self.inner.http_connector(settings, components),
        })
    }
}

impl HttpConnector for RefuseActionConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body = request.body().bytes().unwrap_or_default();
        let needle = format!("Action={}&", self.action);
        if !String::from_utf8_lossy(body).contains(&needle) {
            return self.inner.call(request);
        }
        let error = format!(
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>\
             <Type>Sender</Type><Code>LimitExceeded</Code>\
             <Message>Cannot exceed quota for AccessKeysPerUser: 2</Message></Error>\
             <RequestId>{}</RequestId></ErrorResponse>",
            self.action
        );
        let status = StatusCode::try_from(409).unwrap();
        HttpConnectorFuture::ready(Ok(HttpResponse::new(status, SdkBody::from(error))))
    }
}

#[tokio::test]
async fn a_failure_after_create_user_leaves_no_user_behind() {
    let aws = admin().await;
    let moto_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(moto_endpoint())
        .credentials_provider(aws_sdk_iam::config::Credentials::for_tests())
        .load()
        .await;
    // The SDK's own choice: rustls with aws-lc (it picks it per client, so SdkConfig has none).
    let inner = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .build_https();
    let refusing = AwsClients::from_sdk_config(
        &moto_config
            .into_builder()
            .http_client(RefuseAction {
                action: "CreateAccessKey",
                inner,
            })
            .build(),
    );

    let name = unique("etl-runner");
    // CreateUser and PutUserPolicy reach moto; CreateAccessKey, the last step, is refused.
    let err = refusing
        .create_iam_user_canary(&spec(&name, None))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AwsError::LimitExceeded {
                action: "iam:CreateAccessKey",
                ..
            }
        ),
        "{err:?}"
    );
    let user = aws.iam().get_user().user_name(&name).send().await;
    assert!(
        user.unwrap_err()
            .into_service_error()
            .is_no_such_entity_exception(),
        "the half-made user was deleted again"
    );
}

#[tokio::test]
async fn an_existing_user_of_that_name_is_refused_and_left_alone() {
    let aws = admin().await;
    let name = unique("ops-backup");
    let first = aws
        .create_iam_user_canary(&spec(&name, None))
        .await
        .unwrap();
    let err = aws
        .create_iam_user_canary(&spec(&name, None))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AwsError::AlreadyExists {
                action: "iam:CreateUser",
                ..
            }
        ),
        "{err:?}"
    );
    let keys = aws.list_access_keys(&name).await.unwrap();
    assert_eq!(keys.len(), 1, "the existing user was not touched");
    assert_eq!(keys[0].access_key_id, first.access_key_id);
    aws.delete_iam_user_canary(&name).await.unwrap();
}

#[tokio::test]
async fn rotation_and_the_two_key_limit() {
    let aws = admin().await;
    let name = unique("ci-publisher");
    let old = aws
        .create_iam_user_canary(&spec(&name, None))
        .await
        .unwrap();
    let new = aws.create_access_key(&name).await.unwrap();
    assert_eq!(new.user_arn, old.user_arn);
    assert_ne!(new.access_key_id, old.access_key_id);

    let err = aws.create_access_key(&name).await.unwrap_err();
    assert!(matches!(err, AwsError::LimitExceeded { .. }), "{err:?}");
    assert!(err.to_string().contains("2 access keys per user"), "{err}");

    aws.delete_access_key(&name, &old.access_key_id)
        .await
        .unwrap();
    aws.delete_access_key(&name, &old.access_key_id)
        .await
        .expect("a key already gone is fine");
    let keys: Vec<String> = aws
        .list_access_keys(&name)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.access_key_id)
        .collect();
    assert_eq!(keys, [new.access_key_id.as_str()]);
    let me = signed_with((&new).into())
        .await
        .caller_identity()
        .await
        .unwrap();
    assert_eq!(me.arn, new.user_arn);

    aws.delete_iam_user_canary(&name).await.unwrap();
}

#[tokio::test]
async fn last_use_appears_after_a_call_signed_with_the_key() {
    let aws = admin().await;
    let name = unique("metrics-agent");
    let key = aws
        .create_iam_user_canary(&spec(&name, None))
        .await
        .unwrap();
    assert_eq!(
        aws.access_key_last_used(&key.access_key_id).await.unwrap(),
        None
    );

    let before = SystemTime::now() - Duration::from_secs(5);
    signed_in_region((&key).into(), "eu-west-1")
        .await
        .caller_identity()
        .await
        .unwrap();
    let used = aws
        .access_key_last_used(&key.access_key_id)
        .await
        .unwrap()
        .expect("moto records the last use of a key that signed a request");
    assert!(used.at >= before, "{:?} is before the call", used.at);
    assert_eq!(used.service_name.as_deref(), Some("sts"));
    assert_eq!(used.region.as_deref(), Some("eu-west-1"));

    // The credential report carries the same date (moto leaves service and region out).
    let report = aws.credential_report().await.unwrap();
    let row = report
        .iter()
        .find(|r| r.user == name)
        .expect("the canary is in the report");
    assert_eq!(row.arn, key.user_arn);
    assert!(row.access_keys[0].active);
    let reported = row.access_keys[0]
        .last_used
        .as_ref()
        .expect("last use in the report");
    // The report has whole seconds.
    assert!(used.at.duration_since(reported.at).unwrap() < Duration::from_secs(1));
    assert!(!row.access_keys[1].active);

    let missing = aws
        .access_key_last_used("AKIAZZZZZZZZZZZZZZZZ")
        .await
        .unwrap_err();
    assert!(missing.is_not_found(), "{missing:?}");

    aws.delete_iam_user_canary(&name).await.unwrap();
}

#[tokio::test]
async fn federation_canary_arn_holds_its_name() {
    let aws = admin().await;
    let name = unique("jdoe-laptop");
    let session = aws.get_federation_token(&name, 900).await.unwrap();
    assert_eq!(
        session.principal_arn,
        format!("arn:aws:sts::123456789012:federated-user/{name}")
    );
    assert!(!session.session_token.expose().is_empty());
    let left = session
        .expiration
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(
        left > Duration::from_secs(800) && left <= Duration::from_secs(900),
        "{left:?}"
    );

    let too_short = aws.get_federation_token("j", 900).await.unwrap_err();
    assert!(
        matches!(too_short, AwsError::InvalidInput { .. }),
        "{too_short:?}"
    );
    let too_long = aws.get_federation_token(&name, 129_601).await.unwrap_err();
    assert!(too_long.to_string().contains("129600"), "{too_long}");
}

#[tokio::test]
async fn role_session_arn_holds_the_session_name() {
    let aws = admin().await;
    let me = aws.caller_identity().await.unwrap();
    let role_name = unique("deploy-role");
    let role = aws.ensure_decoy_role(&role_name, &me.arn).await.unwrap();
    let session_name = unique("build-agent");
    let session = aws
        .assume_role_canary(&role.arn, &session_name, 3600)
        .await
        .unwrap();
    assert_eq!(
        session.principal_arn,
        format!("arn:aws:sts::123456789012:assumed-role/{role_name}/{session_name}")
    );
    let bad = aws
        .assume_role_canary(&role.arn, "has space", 3600)
        .await
        .unwrap_err();
    assert!(matches!(
        bad,
        AwsError::InvalidInput {
            what: "role session name",
            ..
        }
    ));
}

#[tokio::test]
async fn setup_is_idempotent() {
    let aws = admin().await;
    let me = aws.caller_identity().await.unwrap();

    let boundary = unique("workload-boundary");
    let first = aws.ensure_boundary_policy(&boundary).await.unwrap();
    assert_eq!(first.outcome, Outcome::Created);
    assert_eq!(
        first.arn,
        format!("arn:aws:iam::123456789012:policy/{boundary}")
    );
    let again = aws.ensure_boundary_policy(&boundary).await.unwrap();
    assert_eq!(
        (again.arn.as_str(), again.outcome),
        (first.arn.as_str(), Outcome::AlreadyThere)
    );

    let role_name = unique("ci-deploy");
    let role = aws.ensure_decoy_role(&role_name, &me.arn).await.unwrap();
    assert_eq!(role.outcome, Outcome::Created);
    let again = aws.ensure_decoy_role(&role_name, &me.arn).await.unwrap();
    assert_eq!(
        (again.arn.as_str(), again.outcome),
        (role.arn.as_str(), Outcome::AlreadyThere)
    );
    let got = aws
        .iam()
        .get_role()
        .role_name(&role_name)
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    let trust = json(got.assume_role_policy_document().unwrap());
    assert_eq!(trust["Statement"][0]["Principal"]["AWS"], me.arn.as_str());
    assert_eq!(trust["Statement"][0]["Action"], "sts:AssumeRole");
    assert_eq!(got.max_session_duration(), Some(43_200));
    let deny = aws
        .iam()
        .get_role_policy()
        .role_name(&role_name)
        .policy_name("baseline")
        .send()
        .await
        .unwrap();
    assert_eq!(json(deny.policy_document()), json(DENY_ALL_POLICY));

    let issuer_name = unique("token-broker");
    let issuer = aws
        .ensure_federation_issuer_user(&issuer_name)
        .await
        .unwrap();
    assert_eq!(issuer.outcome, Outcome::Created);
    let again = aws
        .ensure_federation_issuer_user(&issuer_name)
        .await
        .unwrap();
    assert_eq!(
        (again.arn.as_str(), again.outcome),
        (issuer.arn.as_str(), Outcome::AlreadyThere)
    );
    let allowed = aws
        .iam()
        .get_user_policy()
        .user_name(&issuer_name)
        .policy_name("baseline")
        .send()
        .await
        .unwrap();
    let allowed = json(allowed.policy_document());
    assert_eq!(allowed["Statement"][0]["Effect"], "Allow");
    assert_eq!(allowed["Statement"][0]["Action"], "sts:GetFederationToken");
    assert_eq!(allowed["Statement"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_unreachable_endpoint_says_so() {
    let aws = AwsClients::connect(&AwsOptions {
        region: Some("us-east-1".into()),
        // Port 9 (discard) on loopback: nothing listens there.
        endpoint_url: Some("http://127.0.0.1:9".into()),
        credentials: Some(StaticCredentials {
            access_key_id: "testing".into(),
            secret_access_key: Secret::new("testing"),
            session_token: None,
        }),
        ..AwsOptions::default()
    })
    .await;
    let err = aws.caller_identity().await.unwrap_err();
    assert!(
        matches!(err, AwsError::EndpointUnreachable { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("endpoint_url"), "{err}");
}

/// Two setups at once (two operators, two tests on one account) race between looking and
/// creating: the one that loses finds the entity made and goes on, instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setups_running_at_once_both_succeed() {
    let aws = admin().await;
    let me = aws.caller_identity().await.unwrap();
    for _ in 0..5 {
        let (boundary, role, user) = (
            unique("race-boundary"),
            unique("race-role"),
            unique("race-broker"),
        );
        let (a, b) = tokio::join!(
            async {
                (
                    aws.ensure_boundary_policy(&boundary).await,
                    aws.ensure_decoy_role(&role, &me.arn).await,
                    aws.ensure_federation_issuer_user(&user).await,
                )
            },
            async {
                (
                    aws.ensure_boundary_policy(&boundary).await,
                    aws.ensure_decoy_role(&role, &me.arn).await,
                    aws.ensure_federation_issuer_user(&user).await,
                )
            }
        );
        for (first, second) in [(a.0, b.0), (a.1, b.1), (a.2, b.2)] {
            let (first, second) = (first.unwrap(), second.unwrap());
            assert_eq!(first.arn, second.arn);
        }
    }
}
