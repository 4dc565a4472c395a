//! The canary service: create, list, revoke and check canaries, and account capacity.

use detect::Span;
use keys::{AccountId, NameStyle};
use store::{CanaryId, CanaryKind, CanaryRecord, Labels, NewCanary, Store};

use crate::inventory::Inventory;
use crate::issuer::{IssueError, IssueRequest, Issued, Issuer};

/// IAM's default limit of users per account.
pub const IAM_USERS_PER_ACCOUNT: u64 = 5_000;

/// How the service issues canaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The most IAM-user canaries one account may hold (AWS allows 5,000 users in all; set it
    /// lower to leave room for real users).
    pub capacity_per_account: u64,
    /// The style of generated names.
    pub name_style: NameStyle,
    /// Lifetime of federation-token canaries, in seconds (at most 36 hours).
    pub federation_seconds: u32,
    /// Lifetime of role-session canaries, in seconds (at most 12 hours).
    pub role_session_seconds: u32,
    /// How long before expiry short-term canaries are renewed.
    pub renew_before: Span,
    /// How long a rotated IAM key keeps working before it is deleted, so that whatever still
    /// holds the old key can be re-planted first.
    pub rotation_grace: Span,
    /// What happens to a canary once it is used.
    pub after_trigger: AfterTrigger,
}

/// What happens to a canary once it is used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AfterTrigger {
    /// It stays active and keeps watching: every later use alerts too.
    #[default]
    KeepWatching,
    /// Its credentials are revoked, so they stop authenticating; the record stays.
    Deactivate,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            capacity_per_account: IAM_USERS_PER_ACCOUNT,
            name_style: NameStyle::Service,
            federation_seconds: 36 * 3_600,
            role_session_seconds: 12 * 3_600,
            renew_before: Span::hours(2),
            rotation_grace: Span::hours(24),
            after_trigger: AfterTrigger::KeepWatching,
        }
    }
}

/// What the caller wants issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    /// The kind of credential.
    pub kind: CanaryKind,
    /// Where it will be planted: owner, host, location and free labels.
    pub labels: Labels,
    /// A note shown with every alert.
    pub memo: Option<String>,
    /// Keep the secret, encrypted with the store's secret key, so that it can be planted
    /// again; by default it is shown once and forgotten.
    pub keep_secret: bool,
    /// The name to give it instead of a generated one. It must fit every kind's limits
    /// ([`keys::validate_name`]); what the stealth heuristics find in it comes back as
    /// [`Created::name_findings`].
    pub name: Option<String>,
    /// The API token asking, recorded with the canary; `None` from the command line.
    pub issued_by: Option<String>,
}

/// A canary just created: its record and the credentials to plant, shown once.
#[derive(Debug)]
pub struct Created {
    /// The stored record.
    pub record: CanaryRecord,
    /// The credentials.
    pub credentials: Issued,
    /// Why attackers' tools would flag a name chosen by hand, one sentence each; empty for
    /// generated names, which always pass.
    pub name_findings: Vec<String>,
}

/// The outcome of [`CanaryService::revoke`].
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Revocation {
    /// The canary as it is now.
    pub canary: CanaryRecord,
    /// It was revoked before this call, which therefore changed nothing.
    pub already_revoked: bool,
}

/// Why the service refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Issuing from a published canary-vendor account would mark the key as a canary.
    #[error(transparent)]
    Stealth(#[from] keys::StealthError),
    /// The account holds as many IAM-user canaries as it may.
    #[error(
        "the AWS account {account} already holds {held} IAM-user canaries, its limit of {limit}: \
         issue a short-term kind (--kind federation or --kind role-session), use another \
         account, or revoke canaries you no longer need"
    )]
    Capacity {
        /// The full account.
        account: String,
        /// IAM-user canaries it holds.
        held: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A field of the request is out of bounds; nothing was issued.
    #[error("{field}: {message}")]
    InvalidRequest {
        /// The field, e.g. `labels.owner` or `memo`.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// An issuing token asked for a label it may not set.
    #[error(
        "this token may not set the label {key:?}; it may set: {}",
        describe_allowed(allowed)
    )]
    LabelNotAllowed {
        /// The label's key.
        key: String,
        /// What the token may set, key to pattern.
        allowed: Labels,
    },
    /// A name chosen by hand that IAM or STS would refuse.
    #[error("cannot use that canary name: {0}")]
    InvalidName(String),
    /// A name chosen by hand that another canary has.
    #[error(
        "a canary named {0:?} exists already (names identify canaries in CloudTrail): choose \
         another name, or leave --name out for a generated one"
    )]
    NameTaken(String),
    /// No canary has that id or name.
    #[error("no canary is called {0:?}: `tripkey canary list` shows them")]
    Unknown(String),
    /// The canary was made by another issuer than the one configured, which cannot act on it.
    #[error(
        "canary {name} was issued by the {issued_by} issuer, but tripkey is set up for the \
         {configured} issuer; {hint}"
    )]
    OtherIssuer {
        /// The canary's name.
        name: String,
        /// The issuer that made it.
        issued_by: store::Issuer,
        /// The issuer configured now.
        configured: store::Issuer,
        /// What to run instead.
        hint: &'static str,
    },
    /// The canary is revoked, so it has no credentials left to act on.
    #[error("canary {0} is revoked; create a new one with `tripkey canary create`")]
    Revoked(String),
    /// The issuer failed.
    #[error(transparent)]
    Issue(#[from] IssueError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

fn describe_allowed(allowed: &Labels) -> String {
    if allowed.is_empty() {
        return "no labels".to_owned();
    }
    allowed
        .iter()
        .map(|(key, pattern)| format!("{key}={pattern}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The most labels a canary carries: IAM's limit of tags per user, since labels of IAM-user
/// canaries may become tags.
pub const MAX_LABELS: usize = 50;
/// The longest label key, IAM's tag key limit.
pub const MAX_LABEL_KEY: usize = 128;
/// The longest label value, IAM's tag value limit.
pub const MAX_LABEL_VALUE: usize = 256;
/// The longest memo, in characters.
pub const MAX_MEMO_CHARS: usize = 1024;

/// One label as a person writes it, `key=value` (spaces around either trimmed), or why it
/// is not one. The CLI's `--label` and the dashboard's label lines read labels through it.
pub fn label_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        }
        Some(_) => Err(format!("{text:?} has no key before the =")),
        None => Err(format!("{text:?} is not key=value")),
    }
}

/// Checks labels and memo against the limits above, naming the first field out of bounds.
pub fn validate_labels(labels: &Labels, memo: Option<&str>) -> Result<(), ServiceError> {
    let invalid = |field: String, message: String| ServiceError::InvalidRequest { field, message };
    if labels.len() > MAX_LABELS {
        return Err(invalid(
            "labels".to_owned(),
            format!(
                "{} labels; a canary carries at most {MAX_LABELS}",
                labels.len()
            ),
        ));
    }
    for (key, value) in labels {
        let key_length = key.chars().count();
        if key_length == 0 || key_length > MAX_LABEL_KEY {
            return Err(invalid(
                "labels".to_owned(),
                format!("a label key has {key_length} characters; keys have 1 to {MAX_LABEL_KEY}"),
            ));
        }
        let value_length = value.chars().count();
        if value_length > MAX_LABEL_VALUE {
            return Err(invalid(
                format!("labels.{key}"),
                format!("the value has {value_length} characters; at most {MAX_LABEL_VALUE}"),
            ));
        }
        if key.chars().chain(value.chars()).any(char::is_control) {
            return Err(invalid(
                format!("labels.{key}"),
                "control characters are not allowed in labels".to_owned(),
            ));
        }
    }
    if let Some(memo) = memo {
        let length = memo.chars().count();
        if length > MAX_MEMO_CHARS {
            return Err(invalid(
                "memo".to_owned(),
                format!("{length} characters; at most {MAX_MEMO_CHARS}"),
            ));
        }
    }
    Ok(())
}

/// Issues canaries through an [`Issuer`] and keeps them in a [`Store`].
pub struct CanaryService<I> {
    pub(crate) store: Store,
    pub(crate) issuer: I,
    pub(crate) settings: Settings,
}

impl<I: Issuer> CanaryService<I> {
    /// A service over a store and an issuer.
    pub fn new(store: Store, issuer: I, settings: Settings) -> CanaryService<I> {
        CanaryService {
            store,
            issuer,
            settings,
        }
    }

    /// The issuer.
    pub fn issuer(&self) -> &I {
        &self.issuer
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Issues a canary with a stealthy, unique name and records it. Refuses canary-vendor
    /// accounts and full accounts before touching the issuer; if recording fails, the
    /// credentials just issued are revoked so nothing is left half-made.
    pub async fn create(&self, request: CreateRequest) -> Result<Created, ServiceError> {
        validate_labels(&request.labels, request.memo.as_deref())?;
        let account = self.issuer.account_id().await?;
        keys::refuse_vendor_account(&account)?;
        if request.kind == CanaryKind::IamUser {
            self.ensure_capacity(&account).await?;
        }
        let id = CanaryId::generate();
        let mut name_findings = Vec::new();
        let name = match &request.name {
            Some(chosen) => {
                keys::validate_name(chosen).map_err(ServiceError::InvalidName)?;
                if self.store.get_by_name(chosen).await?.is_some() {
                    return Err(ServiceError::NameTaken(chosen.clone()));
                }
                name_findings = keys::check_name(chosen)
                    .iter()
                    .map(|finding| format!("the name {chosen:?} {finding}"))
                    .collect();
                keys::CanaryName {
                    name: chosen.clone(),
                    path: keys::generate_name(self.settings.name_style, id.as_str(), 0).path,
                }
            }
            None => self.unused_name(&id).await?,
        };
        let duration_seconds = self.settings.duration_seconds(request.kind);
        let path = match self.issuer.fixed_user_path() {
            Some(path) => path.to_owned(),
            None => name.path,
        };
        let issue = IssueRequest {
            kind: request.kind,
            name: name.name,
            path,
            duration_seconds,
        };
        let credentials = self
            .issuer
            .issue(&issue)
            .await
            .map_err(|error| match error {
                IssueError::LimitExceeded { account } => ServiceError::Capacity {
                    account,
                    held: 0,
                    limit: self.settings.capacity_per_account,
                },
                other => ServiceError::Issue(other),
            })?;
        let new = NewCanary {
            id,
            kind: request.kind,
            issuer: self.issuer.issuer(),
            account_id: account.to_string(),
            access_key_id: credentials.access_key_id.clone(),
            principal_arn: credentials.principal_arn.clone(),
            name: issue.name,
            path: if request.kind == CanaryKind::IamUser {
                issue.path
            } else {
                "/".to_owned()
            },
            labels: request.labels,
            memo: request.memo,
            created_at: store::now(),
            expires_at: credentials.expires_at,
            issued_by: request.issued_by.clone(),
        };
        let keep = request
            .keep_secret
            .then_some(&credentials.secret_access_key);
        match self.store.insert(&new, keep).await {
            Ok(record) => Ok(Created {
                record,
                credentials,
                name_findings,
            }),
            Err(error) => {
                // Best effort: the store error is what the caller needs to see.
                let _ = self.issuer.revoke(&new.to_record()).await;
                Err(error.into())
            }
        }
    }

    async fn ensure_capacity(&self, account: &AccountId) -> Result<(), ServiceError> {
        let held = self
            .store
            .count_active(&account.to_string(), Some(CanaryKind::IamUser))
            .await?;
        let limit = self.settings.capacity_per_account;
        if held >= limit {
            return Err(ServiceError::Capacity {
                account: account.to_string(),
                held,
                limit,
            });
        }
        Ok(())
    }

    /// The first generated name (and path) that no canary has taken yet.
    async fn unused_name(&self, id: &CanaryId) -> Result<keys::CanaryName, ServiceError> {
        let mut attempt = 0;
        loop {
            let name = keys::generate_name(self.settings.name_style, id.as_str(), attempt);
            if self.store.get_by_name(&name.name).await?.is_none() {
                return Ok(name);
            }
            attempt += 1;
        }
    }

    /// The read-only view of the store: find, list, detail, capacity and check.
    pub fn inventory(&self) -> Inventory<'_> {
        Inventory::new(&self.store)
    }

    /// The canary with this id or name.
    pub async fn find(&self, id_or_name: &str) -> Result<CanaryRecord, ServiceError> {
        self.inventory().find(id_or_name).await
    }

    /// Deletes a canary's credentials through its issuer, then records the revocation; the
    /// record and its history stay. Revoking a revoked canary changes nothing and says so.
    pub async fn revoke(&self, id_or_name: &str, reason: &str) -> Result<Revocation, ServiceError> {
        let record = self.find(id_or_name).await?;
        if record.status == store::CanaryStatus::Revoked {
            return Ok(Revocation {
                canary: record,
                already_revoked: true,
            });
        }
        self.ensure_own(&record)?;
        self.issuer.revoke(&record).await?;
        let record = self
            .store
            .revoke(
                &record.id,
                store::now(),
                serde_json::json!({ "reason": reason }),
            )
            .await?;
        Ok(Revocation {
            canary: record,
            already_revoked: false,
        })
    }

    /// Refuses canaries of another issuer: an AWS issuer must not delete users named like an
    /// offline canary, and the offline issuer cannot reach AWS.
    pub(crate) fn ensure_own(&self, record: &CanaryRecord) -> Result<(), ServiceError> {
        let configured = self.issuer.issuer();
        if record.issuer == configured {
            return Ok(());
        }
        Err(ServiceError::OtherIssuer {
            name: record.name.clone(),
            issued_by: record.issuer,
            configured,
            hint: if record.issuer.is_offline() {
                "pass --offline-account with its account to manage it"
            } else {
                "drop --offline-account to manage it in AWS"
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::label_pair;

    #[test]
    fn a_label_is_key_equals_value_with_a_key() {
        assert_eq!(
            label_pair(" owner = sec-team "),
            Ok(("owner".to_owned(), "sec-team".to_owned()))
        );
        assert_eq!(
            label_pair("ticket=a=b"),
            Ok(("ticket".to_owned(), "a=b".to_owned()))
        );
        assert_eq!(label_pair("note="), Ok(("note".to_owned(), String::new())));
        assert_eq!(
            label_pair("ticket SEC-1"),
            Err("\"ticket SEC-1\" is not key=value".to_owned())
        );
        assert_eq!(
            label_pair(" =x"),
            Err("\" =x\" has no key before the =".to_owned())
        );
    }
}
