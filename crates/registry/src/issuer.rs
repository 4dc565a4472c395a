//! The issuer trait: what makes canary credentials.

use std::future::Future;

use detect::integrity::IamHoldings;
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

    /// Gives an IAM-user canary a second access key, for rotation. The old key keeps working
    /// until [`Issuer::delete_key`] removes it after the grace period.
    fn add_key(
        &self,
        canary: &CanaryRecord,
    ) -> impl Future<Output = Result<Issued, IssueError>> + Send;

    /// Deletes one access key of an IAM-user canary; a key that is already gone counts as
    /// deleted.
    fn delete_key(
        &self,
        canary: &CanaryRecord,
        access_key_id: &str,
    ) -> impl Future<Output = Result<(), IssueError>> + Send;

    /// Deletes a canary's credentials for good (its key, policies and user).
    fn revoke(&self, canary: &CanaryRecord) -> impl Future<Output = Result<(), IssueError>> + Send;

    /// What IAM says an IAM-user canary holds, for the integrity check. `None` when there is
    /// nothing to check: an issuer without IAM (the offline one), or a user that is gone.
    fn holdings(
        &self,
        _canary: &CanaryRecord,
    ) -> impl Future<Output = Result<Option<IamHoldings>, IssueError>> + Send {
        async { Ok(None) }
    }
}

/// A use of one access key, as IAM records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyUse {
    /// IAM's last-used date.
    pub at: EventTime,
    /// The service called, when IAM knows it.
    pub service: Option<String>,
    /// The region called, when IAM knows it.
    pub region: Option<String>,
}

/// One access key slot of a user in the credential report, which does not name the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportedKey {
    /// When the key in the slot was created; it tells the user's two keys apart.
    pub created_at: Option<EventTime>,
    /// Its last use, if any.
    pub last_used: Option<KeyUse>,
}

/// One user's line of the credential report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserUsage {
    /// The IAM user name.
    pub user_name: String,
    /// Its access key slots.
    pub keys: Vec<ReportedKey>,
}

/// Where the last-used safety net learns when keys were used: IAM, key by key or through the
/// credential report.
pub trait UsageLookup {
    /// When one access key was last used; `None` if never or if the key no longer exists.
    fn key_last_used(
        &self,
        access_key_id: &str,
    ) -> impl Future<Output = Result<Option<KeyUse>, IssueError>> + Send;

    /// Every user's key usage at once, for fleets too big to ask about key by key.
    fn credential_report(&self) -> impl Future<Output = Result<Vec<UserUsage>, IssueError>> + Send;
}
