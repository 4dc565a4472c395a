//! The audit log: every mutating call, allowed or not, with who made it and from where.

use serde::Serialize;
use trail::EventTime;

use crate::{Store, StoreError};

/// How a mutating call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcome {
    /// It was allowed and done.
    Allowed,
    /// The caller's token did not allow it (or there was none).
    Denied,
    /// It was allowed but failed (bad input, an issuer error).
    Failed,
}

impl AuditOutcome {
    /// The outcome's name, as stored: `allowed`, `denied` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Allowed => "allowed",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<AuditOutcome> {
        match text {
            "allowed" => Some(AuditOutcome::Allowed),
            "denied" => Some(AuditOutcome::Denied),
            "failed" => Some(AuditOutcome::Failed),
            _ => None,
        }
    }
}

/// One entry of the audit log. It never holds a secret: callers record what was asked, not
/// what was issued.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Its position in the log, increasing.
    pub id: i64,
    /// When it happened.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: EventTime,
    /// The token's name, `cli` for the command line, or `anonymous`.
    pub actor: String,
    /// The token's scopes, space-separated.
    pub scope: String,
    /// What was attempted, e.g. `canary.create`.
    pub action: String,
    /// The object acted on: a canary id, a token name, an alert's dedup key.
    pub object: Option<String>,
    /// The caller's address.
    pub address: Option<String>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// What was asked and, when refused or failed, why.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: serde_json::Value,
}

/// What [`Store::audit`] records.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAuditEntry<'a> {
    /// When it happened.
    pub at: EventTime,
    /// Who: a token's name, `cli` or `anonymous`.
    pub actor: &'a str,
    /// Their scopes.
    pub scope: &'a str,
    /// What was attempted.
    pub action: &'a str,
    /// The object acted on.
    pub object: Option<&'a str>,
    /// The caller's address.
    pub address: Option<&'a str>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// What was asked, and why it was refused or failed.
    pub detail: serde_json::Value,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    at: i64,
    actor: String,
    scope: String,
    action: String,
    object: Option<String>,
    address: Option<String>,
    outcome: String,
    detail: String,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> Result<AuditEntry, StoreError> {
        let id = row.id.to_string();
        Ok(AuditEntry {
            id: row.id,
            at: EventTime(row.at),
            actor: row.actor,
            scope: row.scope,
            action: row.action,
            object: row.object,
            address: row.address,
            outcome: AuditOutcome::parse(&row.outcome)
                .ok_or_else(|| StoreError::corrupt(&id, "audit_log.outcome", &row.outcome))?,
            detail: serde_json::from_str(&row.detail)
                .map_err(|e| StoreError::corrupt(&id, "audit_log.detail", e))?,
        })
    }
}

impl Store {
    /// Appends an entry to the audit log.
    pub async fn audit(&self, entry: &NewAuditEntry<'_>) -> Result<i64, StoreError> {
        let detail = entry.detail.to_string();
        on_pool!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO audit_log (at, actor, scope, action, object, address, outcome, \
                 detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(entry.at.0)
            .bind(entry.actor)
            .bind(entry.scope)
            .bind(entry.action)
            .bind(entry.object)
            .bind(entry.address)
            .bind(entry.outcome.as_str())
            .bind(&detail)
            .fetch_one(pool)
            .await
        })
        .map_err(|e| self.db(e))
    }

    /// Up to `limit` entries, newest first, older than the entry `before` when given.
    pub async fn audit_log(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<AuditRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, at, actor, scope, action, object, address, outcome, detail \
                 FROM audit_log WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
            )
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        rows.into_iter().map(AuditEntry::try_from).collect()
    }
}
