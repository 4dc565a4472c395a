//! The audit log: every mutating call, allowed or not, with who made it and from where.

use serde::Serialize;
use sqlx::Row;
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

impl Store {
    /// Appends an entry to the audit log.
    pub async fn audit(&self, entry: &NewAuditEntry<'_>) -> Result<i64, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO audit_log (at, actor, scope, action, object, address, outcome, detail) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(entry.at.0)
        .bind(entry.actor)
        .bind(entry.scope)
        .bind(entry.action)
        .bind(entry.object)
        .bind(entry.address)
        .bind(entry.outcome.as_str())
        .bind(entry.detail.to_string())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        Ok(id)
    }

    /// Up to `limit` entries, newest first, older than the entry `before` when given.
    pub async fn audit_log(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, scope, action, object, address, outcome, detail \
             FROM audit_log WHERE (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?",
        )
        .bind(before)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.get("id");
                let outcome: String = row.get("outcome");
                let detail: String = row.get("detail");
                Ok(AuditEntry {
                    id,
                    at: EventTime(row.get("at")),
                    actor: row.get("actor"),
                    scope: row.get("scope"),
                    action: row.get("action"),
                    object: row.get("object"),
                    address: row.get("address"),
                    outcome: AuditOutcome::parse(&outcome).ok_or_else(|| {
                        StoreError::corrupt(&id.to_string(), "audit_log.outcome", &outcome)
                    })?,
                    detail: serde_json::from_str(&detail)
                        .map_err(|e| StoreError::corrupt(&id.to_string(), "audit_log.detail", e))?,
                })
            })
            .collect()
    }
}
