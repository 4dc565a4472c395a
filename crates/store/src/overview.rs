//! Counts for the dashboard's overview, each one grouped query rather than a scan of rows.

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
        let rows: Vec<(String, String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT kind, account_id, COUNT(*) FROM canaries WHERE status IN ($1, $2) \
                 GROUP BY kind, account_id ORDER BY account_id, kind",
            )
            .bind(CanaryStatus::Active.as_str())
            .bind(CanaryStatus::Triggered.as_str())
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        Ok(rows
            .into_iter()
            .map(|(kind, account_id, n)| CanaryCount {
                kind,
                account_id,
                count: n.unsigned_abs(),
            })
            .collect())
    }

    /// Alerts detected at or after `since`, by rule.
    pub async fn alert_counts_since(
        &self,
        since: EventTime,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT rule, COUNT(*) FROM alerts WHERE detected_at >= $1 \
                 GROUP BY rule ORDER BY rule",
            )
            .bind(since.0)
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        Ok(rows
            .into_iter()
            .map(|(rule, n)| (rule, n.unsigned_abs()))
            .collect())
    }
}
