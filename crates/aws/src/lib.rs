//! The AWS side of issuing canaries: IAM-user keys, STS sessions, the setup they need, and the
//! last-used safety net.
//!
//! This crate only talks to AWS, and does it carefully: every call maps its failure to an
//! [`AwsError`] that says what to do, issuing an IAM-user canary undoes its own first steps when
//! a later one fails, and secrets travel as [`Secret`], which never prints. Choosing names,
//! recording canaries and enforcing capacity is the caller's job.
//!
//! ```no_run
//! use tripkey_aws::{AwsClients, AwsOptions, IamUserSpec};
//!
//! # async fn run() -> Result<(), tripkey_aws::AwsError> {
//! let aws = AwsClients::connect(&AwsOptions {
//!     profile: Some("security".into()),
//!     ..AwsOptions::default()
//! })
//! .await;
//! let boundary = aws.ensure_boundary_policy("workload-boundary").await?;
//! let key = aws
//!     .create_iam_user_canary(&IamUserSpec {
//!         name: "svc-reporting-7f3".into(),
//!         path: "/service/".into(),
//!         tags: vec![("team".into(), "data".into())],
//!         boundary_policy_arn: Some(boundary.arn),
//!         inline_policy_name: "baseline".into(),
//!     })
//!     .await?;
//! println!("{} {}", key.access_key_id, key.secret_access_key.expose());
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod error;
mod iam_user;
mod last_used;
mod policy;
mod retry;
mod secret;
mod setup;
mod sts;

use std::future::Future;
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::config::Credentials;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::primitives::DateTime;

pub use error::{describe_chain, AwsError};
pub use iam_user::{AccessKeyInfo, Deletion, IamUserSpec, IssuedKey, UserHoldings};
pub use last_used::{parse_credential_report, CredentialReportRow, KeyUsage, LastUsed};
pub use policy::{least_privilege_policy_json, LeastPrivilegeScope, DENY_ALL_POLICY};
pub use retry::Backoff;
pub use secret::Secret;
pub use setup::{Ensured, Outcome};
pub use sts::{IssuedSession, FEDERATION_DURATION_SECONDS, ROLE_SESSION_DURATION_SECONDS};

/// IAM is a global service, reached through us-east-1; used when no region is configured.
const FALLBACK_REGION: &str = "us-east-1";

/// Where the AWS credentials and endpoint come from.
///
/// Left at its default, this is the AWS SDK's default chain (environment, `~/.aws` profiles,
/// SSO, container and instance roles), the region from that chain or else us-east-1, and the
/// endpoint from `AWS_ENDPOINT_URL` or else AWS itself.
#[derive(Clone, Debug, Default)]
pub struct AwsOptions {
    /// A named profile from `~/.aws/config` and `~/.aws/credentials`, instead of the default.
    pub profile: Option<String>,
    /// The region for STS; IAM is global.
    pub region: Option<String>,
    /// Another endpoint for every service, e.g. a moto or LocalStack server.
    pub endpoint_url: Option<String>,
    /// Fixed credentials, which take the place of the profile and the default chain.
    pub credentials: Option<StaticCredentials>,
}

/// A fixed access key (and session token), e.g. a canary's own key to check that it works.
#[derive(Clone, Debug)]
pub struct StaticCredentials {
    /// The access key ID.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token of short-term credentials.
    pub session_token: Option<Secret>,
}

impl From<&IssuedKey> for StaticCredentials {
    fn from(key: &IssuedKey) -> Self {
        StaticCredentials {
            access_key_id: key.access_key_id.clone(),
            secret_access_key: key.secret_access_key.clone(),
            session_token: None,
        }
    }
}

impl From<&IssuedSession> for StaticCredentials {
    fn from(session: &IssuedSession) -> Self {
        StaticCredentials {
            access_key_id: session.access_key_id.clone(),
            secret_access_key: session.secret_access_key.clone(),
            session_token: Some(session.session_token.clone()),
        }
    }
}

/// Who the configured credentials belong to (`sts:GetCallerIdentity`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The 12-digit account ID.
    pub account_id: String,
    /// The principal's ARN.
    pub arn: String,
}

impl Identity {
    /// The ARN partition (`aws`, `aws-cn`, `aws-us-gov`), for building ARNs in this account.
    pub fn partition(&self) -> &str {
        self.arn.split(':').nth(1).unwrap_or("aws")
    }
}

/// IAM and STS clients sharing one configuration; every call in this crate is a method here.
#[derive(Clone, Debug)]
pub struct AwsClients {
    iam: aws_sdk_iam::Client,
    sts: aws_sdk_sts::Client,
    backoff: Backoff,
    /// The URLs the clients call, for the errors that say an endpoint could not be reached.
    iam_endpoint: Option<String>,
    sts_endpoint: Option<String>,
}

impl AwsClients {
    /// Loads the configuration the way the AWS CLI does, with `options` on top.
    ///
    /// Nothing is sent to AWS yet: missing or wrong credentials show on the first call, as an
    /// [`AwsError::NoCredentials`] or [`AwsError::CredentialsRejected`];
    /// [`AwsClients::caller_identity`] is the cheap call to check them with.
    pub async fn connect(options: &AwsOptions) -> AwsClients {
        AwsClients::from_sdk_config(&sdk_config(options).await)
    }

    /// Builds the clients from an SDK configuration the caller already has (shared with other
    /// AWS clients, or with its own HTTP client). Without a region, us-east-1 is used.
    pub fn from_sdk_config(shared: &aws_config::SdkConfig) -> AwsClients {
        let region = shared
            .region()
            .cloned()
            .unwrap_or_else(|| Region::from_static(FALLBACK_REGION));
        let iam = aws_sdk_iam::config::Builder::from(shared)
            .region(region.clone())
            .build();
        let sts = aws_sdk_sts::config::Builder::from(shared)
            .region(region.clone())
            .build();
        AwsClients {
            iam: aws_sdk_iam::Client::from_conf(iam),
            sts: aws_sdk_sts::Client::from_conf(sts),
            backoff: Backoff::default(),
            iam_endpoint: iam_endpoint(shared, &region),
            sts_endpoint: sts_endpoint(shared, &region),
        }
    }

    /// The [`AwsError`] for a failed call of this crate's IAM or STS client, naming the URL
    /// called when it could not be reached.
    fn sdk_error<E>(&self, action: &'static str, err: SdkError<E, HttpResponse>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let endpoint = if action.starts_with("sts:") {
            &self.sts_endpoint
        } else {
            &self.iam_endpoint
        };
        let err = AwsError::from_sdk(action, err);
        match endpoint {
            Some(url) => err.with_endpoint(url),
            None => err,
        }
    }

    /// Replaces the backoff used when IAM throttles the last-used and credential-report calls.
    pub fn with_backoff(mut self, backoff: Backoff) -> AwsClients {
        self.backoff = backoff;
        self
    }

    /// The IAM client, for calls this crate does not wrap.
    pub fn iam(&self) -> &aws_sdk_iam::Client {
        &self.iam
    }

    /// The STS client, for calls this crate does not wrap.
    pub fn sts(&self) -> &aws_sdk_sts::Client {
        &self.sts
    }

    /// Who the credentials belong to. `sts:GetCallerIdentity` needs no permission, so this
    /// checks the credentials themselves.
    pub async fn caller_identity(&self) -> Result<Identity, AwsError> {
        const ACTION: &str = "sts:GetCallerIdentity";
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| self.sdk_error(ACTION, e))?;
        Ok(Identity {
            account_id: required(ACTION, "Account", out.account)?,
            arn: required(ACTION, "Arn", out.arn)?,
        })
    }
}

/// The SDK configuration the AWS CLI would load, with `options` on top: for every AWS client
/// tripkey makes (IAM and STS here; S3, SQS and SNS for `serve`).
pub async fn sdk_config(options: &AwsOptions) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = &options.profile {
        // The default chain reads AWS_ACCESS_KEY_ID before any profile; a profile named on
        // purpose must win, as it does for the AWS CLI's --profile.
        let provider = aws_config::profile::ProfileFileCredentialsProvider::builder()
            .profile_name(profile)
            .build();
        loader = loader.profile_name(profile).credentials_provider(provider);
    }
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(creds) = &options.credentials {
        loader = loader.credentials_provider(Credentials::new(
            &creds.access_key_id,
            creds.secret_access_key.expose(),
            creds.session_token.as_ref().map(|t| t.expose().to_owned()),
            None,
            "tripkey-static",
        ));
    }
    loader.load().await
}

/// The URL the IAM client calls: `endpoint_url` when set, else AWS's own for the partition.
///
/// Like [`sts_endpoint`], this reads the shared configuration only: an endpoint set for one
/// service alone (`AWS_ENDPOINT_URL_IAM`, a profile's `services` section) is not seen.
fn iam_endpoint(shared: &aws_config::SdkConfig, region: &Region) -> Option<String> {
    use aws_sdk_iam::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    let params = Params::builder()
        .region(region.as_ref())
        .use_fips(shared.use_fips().unwrap_or(false))
        .use_dual_stack(shared.use_dual_stack().unwrap_or(false))
        .set_endpoint(shared.endpoint_url().map(str::to_owned))
        .build()
        .ok()?;
    resolved(DefaultResolver::new().resolve_endpoint(&params))
}

/// The URL the STS client calls: `endpoint_url` when set, else AWS's own for the region.
fn sts_endpoint(shared: &aws_config::SdkConfig, region: &Region) -> Option<String> {
    use aws_sdk_sts::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    let params = Params::builder()
        .region(region.as_ref())
        .use_fips(shared.use_fips().unwrap_or(false))
        .use_dual_stack(shared.use_dual_stack().unwrap_or(false))
        .set_endpoint(shared.endpoint_url().map(str::to_owned))
        .build()
        .ok()?;
    resolved(DefaultResolver::new().resolve_endpoint(&params))
}

/// The URL of an endpoint the SDK's rules resolve at once (they never wait on anything).
fn resolved(future: aws_sdk_iam::config::endpoint::EndpointFuture<'_>) -> Option<String> {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(Ok(endpoint)) => Some(endpoint.url().to_owned()),
        _ => None,
    }
}

/// A field AWS always sends, or an [`AwsError::UnexpectedResponse`] naming it.
fn required<T>(action: &'static str, field: &str, value: Option<T>) -> Result<T, AwsError> {
    value.ok_or_else(|| AwsError::UnexpectedResponse {
        action,
        detail: format!("no {field} in the response"),
    })
}

fn system_time(action: &'static str, at: DateTime) -> Result<SystemTime, AwsError> {
    SystemTime::try_from(at).map_err(|e| AwsError::UnexpectedResponse {
        action,
        detail: format!("timestamp {at} out of range: {e}"),
    })
}
