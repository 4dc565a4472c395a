//! Reading the canary inventory: everything that needs the database alone.
//!
//! Listing, showing, checking and counting canaries never reach an issuer, so they work with
//! no AWS credentials, no network and for offline canaries alike. [`CanaryService`] answers the
//! same questions through this type.
//!
//! [`CanaryService`]: crate::CanaryService

use keys::{AccountId, CanaryFacts, CheckReport, Outcome};
use serde::Serialize;
use store::{CanaryEvent, CanaryFilter, CanaryId, CanaryKey, CanaryKind, CanaryRecord, Store};

use crate::service::ServiceError;

/// Read-only questions about the canaries of a store.
#[derive(Clone, Copy)]
pub struct Inventory<'s> {
    store: &'s Store,
}

/// One canary with everything recorded about it.
#[derive(Debug, Clone, Serialize)]
pub struct CanaryDetail {
    /// The record.
    pub canary: CanaryRecord,
    /// Every access key it has held, oldest first.
    pub keys: Vec<CanaryKey>,
    /// Its life-cycle events, oldest first.
    pub history: Vec<CanaryEvent>,
}

/// IAM-user canaries one account holds, against the configured limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountCapacity {
    /// The 12-digit account.
    pub account_id: String,
    /// Active IAM-user canaries in it.
    pub held: u64,
    /// The most it may hold.
    pub limit: u64,
}

/// What an attacker's offline tools would conclude about a canary, check by check.
#[derive(Debug, Clone, Serialize)]
pub struct CanaryCheck {
    /// The canary checked.
    pub canary: CanaryRecord,
    /// Whether any check would give it away.
    pub flagged: bool,
    /// Every check, in the order it ran.
    pub checks: Vec<CheckLine>,
    /// The conclusion in one sentence.
    pub verdict: String,
    /// What IAM says the canary holds against what tripkey made, when it was checked (an
    /// IAM-user canary of the AWS issuer, with AWS reachable).
    pub integrity: Option<IntegrityReport>,
    /// The report the lines come from, for its text form.
    #[serde(skip)]
    pub report: CheckReport,
}

/// One check of a [`CanaryCheck`].
#[derive(Debug, Clone, Serialize)]
pub struct CheckLine {
    /// What was checked: `account`, `key ID`, `secret`, `name`, `path` or `principal ARN`.
    pub subject: String,
    /// `flagged`, `passed` or `note`.
    pub outcome: &'static str,
    /// What was found and what an attacker would make of it.
    pub detail: String,
}

/// The integrity side of a [`CanaryCheck`].
#[derive(Debug, Clone, Serialize)]
pub struct IntegrityReport {
    /// Whether IAM could be read; when not, `error` says why and `differences` is empty.
    pub checked: bool,
    /// A `canary-drift` or `canary-exposed` alert for each difference.
    pub differences: Vec<detect::Alert>,
    /// Why IAM could not be read.
    pub error: Option<String>,
}

impl CanaryCheck {
    /// Adds what the integrity check found; any difference flags the canary.
    pub fn with_integrity(mut self, integrity: IntegrityReport) -> CanaryCheck {
        if !integrity.differences.is_empty() {
            self.flagged = true;
            self.verdict = format!(
                "{} IAM shows {} beyond what tripkey made: it may be able to act.",
                self.verdict,
                match integrity.differences.len() {
                    1 => "1 change".to_owned(),
                    count => format!("{count} changes"),
                }
            );
        }
        self.integrity = Some(integrity);
        self
    }

    fn new(canary: CanaryRecord, report: CheckReport) -> CanaryCheck {
        let checks = report
            .checks
            .iter()
            .map(|check| CheckLine {
                subject: check.subject.to_string(),
                outcome: match check.outcome {
                    Outcome::Flagged => "flagged",
                    Outcome::Passed => "passed",
                    Outcome::Note => "note",
                },
                detail: check.detail.clone(),
            })
            .collect();
        CanaryCheck {
            canary,
            flagged: report.flagged(),
            checks,
            verdict: report.conclusion(),
            integrity: None,
            report,
        }
    }
}

impl<'s> Inventory<'s> {
    /// The inventory of `store`.
    pub fn new(store: &'s Store) -> Inventory<'s> {
        Inventory { store }
    }

    /// The canary with this id or name.
    pub async fn find(&self, id_or_name: &str) -> Result<CanaryRecord, ServiceError> {
        if let Ok(id) = id_or_name.parse::<CanaryId>() {
            if let Some(record) = self.store.get(&id).await? {
                return Ok(record);
            }
        }
        self.store
            .get_by_name(id_or_name)
            .await?
            .ok_or_else(|| ServiceError::Unknown(id_or_name.to_owned()))
    }

    /// Canaries matching a filter.
    pub async fn list(&self, filter: &CanaryFilter) -> Result<Vec<CanaryRecord>, ServiceError> {
        Ok(self.store.list(filter).await?)
    }

    /// A canary with its keys and history.
    pub async fn detail(&self, id_or_name: &str) -> Result<CanaryDetail, ServiceError> {
        let canary = self.find(id_or_name).await?;
        let keys = self.store.keys(&canary.id).await?;
        let history = self.store.history(&canary.id).await?;
        Ok(CanaryDetail {
            canary,
            keys,
            history,
        })
    }

    /// IAM-user canaries held in an account, against `limit`.
    pub async fn capacity(
        &self,
        account: &str,
        limit: u64,
    ) -> Result<AccountCapacity, ServiceError> {
        let held = self
            .store
            .count_active(account, Some(CanaryKind::IamUser))
            .await?;
        Ok(AccountCapacity {
            account_id: account.to_owned(),
            held,
            limit,
        })
    }

    /// The capacity of every account that holds or held a canary, in account order.
    pub async fn capacity_by_account(
        &self,
        limit: u64,
    ) -> Result<Vec<AccountCapacity>, ServiceError> {
        let canaries = self.list(&CanaryFilter::default()).await?;
        let mut accounts: Vec<&str> = canaries.iter().map(|c| c.account_id.as_str()).collect();
        accounts.sort_unstable();
        accounts.dedup();
        let mut capacities = Vec::with_capacity(accounts.len());
        for account in accounts {
            capacities.push(self.capacity(account, limit).await?);
        }
        Ok(capacities)
    }

    /// What an attacker's offline tools would conclude about a canary.
    pub async fn check(&self, id_or_name: &str) -> Result<CanaryCheck, ServiceError> {
        let record = self.find(id_or_name).await?;
        let account = record.account_id.parse::<AccountId>().ok();
        let report = keys::canary_check(&CanaryFacts {
            key_id: Some(&record.access_key_id),
            account,
            name: Some(&record.name),
            path: Some(&record.path),
            principal_arn: Some(&record.principal_arn),
            secret_access_key: None,
        });
        Ok(CanaryCheck::new(record, report))
    }
}
