//! The issuer trait: what makes canary credentials.

use std::future::Future;

use keys::AccountId;
use store::{CanaryKind, CanaryRecord, Secret};
use trail::EventTime;

/// What to issue: the kind and the name the stealth rules chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest {
    /// The kind of credential.
    pub kind: CanaryKind,
    /// The IAM user, federated user or role session name.
    pub name: String,
    /// The IAM path, for IAM users.
    pub path: String,
    /// How long short-term credentials last, in seconds.
    pub duration_seconds: u32,
}

/// Credentials just issued, with the secret to hand out once.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The access key ID (AKIA… for IAM users, ASIA… for short-term kinds).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token of short-term credentials.
    pub session_token: Option<Secret>,
    /// The principal ARN CloudTrail will record when the credentials are used.
    pub principal_arn: String,
    /// When short-term credentials expire.
    pub expires_at: Option<EventTime>,
}

/// Why an issuer could not act.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The account cannot hold more IAM users or keys.
    #[error("the AWS account {account} is at its limit of IAM users or access keys")]
    LimitExceeded {
        /// The full account.
        account: String,
    },
    /// This issuer cannot make that kind of canary.
    #[error("the {issuer} issuer cannot issue {kind} canaries: {why}")]
    Unsupported {
        /// The issuer.
        issuer: store::Issuer,
        /// The kind asked for.
        kind: CanaryKind,
        /// What to do instead.
        why: String,
    },
    /// Anything else, with a message that says what to do.
    #[error("{0}")]
    Failed(String),
}

/// Makes canary credentials and takes them back.
pub trait Issuer {
    /// Which issuer this is, as recorded with every canary.
    fn issuer(&self) -> store::Issuer;

    /// The IAM path this issuer confines canary users to, if any. tripkey's own AWS
    /// permissions are scoped to one path, so that they cannot touch the account's real users.
    fn fixed_user_path(&self) -> Option<&str> {
        None
    }

    /// The account canaries are issued in.
    fn account_id(&self) -> impl Future<Output = Result<AccountId, IssueError>> + Send;

    /// Issues credentials. On failure nothing may be left half-made.
    fn issue(
        &self,
        request: &IssueRequest,
    ) -> impl Future<Output = Result<Issued, IssueError>> + Send;

    /// Deletes a canary's credentials for good (its key, policies and user).
    fn revoke(&self, canary: &CanaryRecord) -> impl Future<Output = Result<(), IssueError>> + Send;
}
