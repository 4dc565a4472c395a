//! Issuers chosen at run time: the HTTP API serves canaries of several accounts and of the
//! offline issuer from one process, so it holds them behind one type, [`SharedIssuer`], and
//! picks one per request from an [`IssuerSet`].

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use keys::AccountId;
use store::{CanaryKind, CanaryRecord};

use crate::issuer::{IssueError, IssueRequest, Issued, Issuer};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`Issuer`] in a form that can sit behind `dyn`: the same calls, with boxed futures.
trait DynIssuer: Send + Sync {
    fn issuer(&self) -> store::Issuer;
    fn fixed_user_path(&self) -> Option<&str>;
    fn account_id(&self) -> BoxFuture<'_, Result<AccountId, IssueError>>;
    fn issue<'a>(&'a self, request: &'a IssueRequest) -> BoxFuture<'a, Result<Issued, IssueError>>;
    fn add_key<'a>(&'a self, canary: &'a CanaryRecord)
        -> BoxFuture<'a, Result<Issued, IssueError>>;
    fn delete_key<'a>(
        &'a self,
        canary: &'a CanaryRecord,
        access_key_id: &'a str,
    ) -> BoxFuture<'a, Result<(), IssueError>>;
    fn revoke<'a>(&'a self, canary: &'a CanaryRecord) -> BoxFuture<'a, Result<(), IssueError>>;
}

impl<I: Issuer + Send + Sync> DynIssuer for I {
    fn issuer(&self) -> store::Issuer {
        Issuer::issuer(self)
    }

    fn fixed_user_path(&self) -> Option<&str> {
        Issuer::fixed_user_path(self)
    }

    fn account_id(&self) -> BoxFuture<'_, Result<AccountId, IssueError>> {
        Box::pin(Issuer::account_id(self))
    }

    fn issue<'a>(&'a self, request: &'a IssueRequest) -> BoxFuture<'a, Result<Issued, IssueError>> {
        Box::pin(Issuer::issue(self, request))
    }

    fn add_key<'a>(
        &'a self,
        canary: &'a CanaryRecord,
    ) -> BoxFuture<'a, Result<Issued, IssueError>> {
        Box::pin(Issuer::add_key(self, canary))
    }

    fn delete_key<'a>(
        &'a self,
        canary: &'a CanaryRecord,
        access_key_id: &'a str,
    ) -> BoxFuture<'a, Result<(), IssueError>> {
        Box::pin(Issuer::delete_key(self, canary, access_key_id))
    }

    fn revoke<'a>(&'a self, canary: &'a CanaryRecord) -> BoxFuture<'a, Result<(), IssueError>> {
        Box::pin(Issuer::revoke(self, canary))
    }
}

/// Any issuer, cheap to clone and shareable across tasks.
#[derive(Clone)]
pub struct SharedIssuer {
    inner: Arc<dyn DynIssuer>,
    account: AccountId,
    kinds: Vec<CanaryKind>,
}

impl SharedIssuer {
    /// Wraps `issuer`, which issues in `account` the given `kinds` (what it was set up for:
    /// a federation canary needs the issuer user, a role session the decoy role).
    pub fn new(
        issuer: impl Issuer + Send + Sync + 'static,
        account: AccountId,
        kinds: Vec<CanaryKind>,
    ) -> SharedIssuer {
        SharedIssuer {
            inner: Arc::new(issuer),
            account,
            kinds,
        }
    }

    /// The account it issues in.
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// The kinds it can issue.
    pub fn kinds(&self) -> &[CanaryKind] {
        &self.kinds
    }
}

impl Issuer for SharedIssuer {
    fn issuer(&self) -> store::Issuer {
        self.inner.issuer()
    }

    fn fixed_user_path(&self) -> Option<&str> {
        self.inner.fixed_user_path()
    }

    async fn account_id(&self) -> Result<AccountId, IssueError> {
        self.inner.account_id().await
    }

    async fn issue(&self, request: &IssueRequest) -> Result<Issued, IssueError> {
        self.inner.issue(request).await
    }

    async fn add_key(&self, canary: &CanaryRecord) -> Result<Issued, IssueError> {
        self.inner.add_key(canary).await
    }

    async fn delete_key(
        &self,
        canary: &CanaryRecord,
        access_key_id: &str,
    ) -> Result<(), IssueError> {
        self.inner.delete_key(canary, access_key_id).await
    }

    async fn revoke(&self, canary: &CanaryRecord) -> Result<(), IssueError> {
        self.inner.revoke(canary).await
    }
}

/// The issuers one `serve` offers, by account, with the one used when a request names none.
#[derive(Clone, Default)]
pub struct IssuerSet {
    by_account: BTreeMap<AccountId, SharedIssuer>,
    default: Option<AccountId>,
}

impl IssuerSet {
    /// An empty set: nothing can be issued.
    pub fn new() -> IssuerSet {
        IssuerSet::default()
    }

    /// Adds an issuer; the first one added is the default.
    pub fn add(&mut self, issuer: SharedIssuer) {
        self.default.get_or_insert(issuer.account());
        self.by_account.insert(issuer.account(), issuer);
    }

    /// The issuer for `account`, else the default one.
    pub fn pick(&self, account: Option<AccountId>) -> Option<&SharedIssuer> {
        self.by_account.get(&account.or(self.default)?)
    }

    /// The issuer that made `canary`: the one of its account and kind of issuer.
    pub fn for_canary(&self, canary: &CanaryRecord) -> Option<&SharedIssuer> {
        let account = canary.account_id.parse::<AccountId>().ok()?;
        self.by_account
            .get(&account)
            .filter(|issuer| Issuer::issuer(*issuer) == canary.issuer)
    }

    /// Every issuer, by account.
    pub fn iter(&self) -> impl Iterator<Item = &SharedIssuer> {
        self.by_account.values()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.by_account.is_empty()
    }
}
