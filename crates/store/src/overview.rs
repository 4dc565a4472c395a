//! Counts for the dashboard's overview, each one grouped query rather than a scan of rows.

use sqlx::Row;

use crate::{CanaryStatus, EventTime, Store, StoreError};

/// How many canaries of one kind in one account hold live credentials.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CanaryCount {
    /// The canary kind, e.g. `iam-user`.
    pub kind: String,
    /// The AWS account.
    pub account_id: String,
    /// Canaries active or triggered (a triggered canary is still watched).
    pub count: u64,
}

impl Store {
    /// Live canaries (active or triggered) by kind and account.
    pub async fn canary_counts(&self) -> Result<Vec<CanaryCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, account_id, COUNT(*) AS n FROM canaries WHERE status IN (?, ?) \
             GROUP BY kind, account_id ORDER BY account_id, kind",
        )
        .bind(CanaryStatus::Active.as_str())
        .bind(CanaryStatus::Triggered.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        Ok(rows
            .iter()
            .map(|row| CanaryCount {
                kind: row.get("kind"),
                account_id: row.get("account_id"),
                count: row.get::<i64, _>("n").unsigned_abs(),
            })
            .collect())
    }

    /// Alerts detected at or after `since`, by rule.
    pub async fn alert_counts_since(
        &self,
        since: EventTime,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT rule, COUNT(*) AS n FROM alerts WHERE detected_at >= ? \
             GROUP BY rule ORDER BY rule",
        )
        .bind(since.0)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        Ok(rows
            .iter()
            .map(|row| (row.get("rule"), row.get::<i64, _>("n").unsigned_abs()))
            .collect())
    }
}
