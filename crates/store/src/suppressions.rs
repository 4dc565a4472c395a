//! Suppressions as stored: what an operator asked to keep from being notified, until when,
//! and why. Matching them against alerts is the routing's business (`notify::suppress`).

use rand::Rng;
use serde::{Deserialize, Serialize};
use trail::EventTime;

use crate::{Store, StoreError};

/// One suppression.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SuppressionRecord {
    /// Its id, `sup-` and 12 lowercase hexadecimal digits.
    pub id: String,
    /// Only alerts of this rule.
    pub rule: Option<String>,
    /// Only alerts whose principal, access key or subject is this.
    pub principal: Option<String>,
    /// Only calls from this network.
    pub source_cidr: Option<String>,
    /// Only calls whose userAgent matches this pattern (`*` for any run of characters).
    pub user_agent: Option<String>,
    /// Why.
    pub reason: String,
    /// When it stops matching.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: EventTime,
    /// Whether an admin let it cover canary-use and canary-drift alerts.
    pub covers_canaries: bool,
    /// Who made it.
    pub created_by: String,
    /// When.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: EventTime,
    /// When it was removed, if it was.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub removed_at: Option<EventTime>,
    /// Who removed it.
    pub removed_by: Option<String>,
}

impl SuppressionRecord {
    /// The conditions it was given, by the names people read them under, in a fixed order:
    /// `rule`, `principal`, `source` (a CIDR), `userAgent` (a pattern).
    pub fn conditions(&self) -> Vec<(&'static str, &str)> {
        [
            ("rule", &self.rule),
            ("principal", &self.principal),
            ("source", &self.source_cidr),
            ("userAgent", &self.user_agent),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|value| (name, value)))
        .collect()
    }
}

impl From<SuppressionRecord> for NewSuppression {
    /// What a stored suppression says, without its id and history: the terms the routing
    /// matches alerts against.
    fn from(record: SuppressionRecord) -> NewSuppression {
        NewSuppression {
            rule: record.rule,
            principal: record.principal,
            source_cidr: record.source_cidr,
            user_agent: record.user_agent,
            reason: record.reason,
            expires_at: record.expires_at,
            covers_canaries: record.covers_canaries,
            created_by: record.created_by,
        }
    }
}

/// What a new suppression says; the store gives it its id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewSuppression {
    /// Only alerts of this rule.
    pub rule: Option<String>,
    /// Only alerts whose principal, access key or subject is this.
    pub principal: Option<String>,
    /// Only calls from this network.
    pub source_cidr: Option<String>,
    /// Only calls whose userAgent matches this pattern.
    pub user_agent: Option<String>,
    /// Why.
    pub reason: String,
    /// When it stops matching.
    pub expires_at: EventTime,
    /// Whether it may cover canary-use and canary-drift alerts.
    pub covers_canaries: bool,
    /// Who makes it.
    pub created_by: String,
}

#[derive(sqlx::FromRow)]
struct SuppressionRow {
    id: String,
    rule: Option<String>,
    principal: Option<String>,
    source_cidr: Option<String>,
    user_agent: Option<String>,
    reason: String,
    expires_at: i64,
    covers_canaries: bool,
    created_by: String,
    created_at: i64,
    removed_at: Option<i64>,
    removed_by: Option<String>,
}

impl From<SuppressionRow> for SuppressionRecord {
    fn from(row: SuppressionRow) -> SuppressionRecord {
        SuppressionRecord {
            id: row.id,
            rule: row.rule,
            principal: row.principal,
            source_cidr: row.source_cidr,
            user_agent: row.user_agent,
            reason: row.reason,
            expires_at: EventTime(row.expires_at),
            covers_canaries: row.covers_canaries,
            created_by: row.created_by,
            created_at: EventTime(row.created_at),
            removed_at: row.removed_at.map(EventTime),
            removed_by: row.removed_by,
        }
    }
}

const COLUMNS: &str = "id, rule, principal, source_cidr, user_agent, reason, expires_at, \
     covers_canaries, created_by, created_at, removed_at, removed_by";

impl Store {
    /// Stores a new suppression made at `at`; returns it with its id.
    pub async fn create_suppression(
        &self,
        new: &NewSuppression,
        at: EventTime,
    ) -> Result<SuppressionRecord, StoreError> {
        let id = format!("sup-{:012x}", rand::rng().random::<u64>() >> 16);
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO suppressions (id, rule, principal, source_cidr, user_agent, reason, \
                 expires_at, covers_canaries, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&id)
            .bind(&new.rule)
            .bind(&new.principal)
            .bind(&new.source_cidr)
            .bind(&new.user_agent)
            .bind(&new.reason)
            .bind(new.expires_at.0)
            .bind(new.covers_canaries)
            .bind(&new.created_by)
            .bind(at.0)
            .execute(pool)
            .await
            .map(drop)
        })
        .map_err(|e| self.db(e))?;
        Ok(SuppressionRecord {
            id,
            rule: new.rule.clone(),
            principal: new.principal.clone(),
            source_cidr: new.source_cidr.clone(),
            user_agent: new.user_agent.clone(),
            reason: new.reason.clone(),
            expires_at: new.expires_at,
            covers_canaries: new.covers_canaries,
            created_by: new.created_by.clone(),
            created_at: at,
            removed_at: None,
            removed_by: None,
        })
    }

    /// One suppression by id.
    pub async fn suppression(&self, id: &str) -> Result<Option<SuppressionRecord>, StoreError> {
        let row: Option<SuppressionRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM suppressions WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        Ok(row.map(SuppressionRecord::from))
    }

    /// The suppressions in force at `now` (not removed, not expired), oldest first; with
    /// `all`, every one ever made.
    pub async fn suppressions(
        &self,
        now: EventTime,
        all: bool,
    ) -> Result<Vec<SuppressionRecord>, StoreError> {
        let rows: Vec<SuppressionRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM suppressions \
                 WHERE $1 OR (removed_at IS NULL AND expires_at > $2) \
                 ORDER BY created_at DESC, id DESC"
            )))
            .bind(all)
            .bind(now.0)
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        Ok(rows.into_iter().map(SuppressionRecord::from).collect())
    }

    /// Ends a suppression at `at`; `None` when there is none in force with that id.
    pub async fn remove_suppression(
        &self,
        id: &str,
        by: &str,
        at: EventTime,
    ) -> Result<Option<SuppressionRecord>, StoreError> {
        let changed = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE suppressions SET removed_at = $1, removed_by = $2 \
                 WHERE id = $3 AND removed_at IS NULL AND expires_at > $1",
            )
            .bind(at.0)
            .bind(by)
            .bind(id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })
        .map_err(|e| self.db(e))?;
        if changed == 0 {
            return Ok(None);
        }
        self.suppression(id).await
    }
}
