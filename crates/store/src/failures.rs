//! Objects a source could not read: retried with backoff, quarantined after too many
//! failures, reported, and retried again on demand (`tripkey source retry`).

use sqlx::QueryBuilder;
use trail::EventTime;

use crate::backend::and_key_in;
use crate::{Store, StoreError};

/// An object a source could not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFailure {
    /// The source.
    pub source: String,
    /// The object's key.
    pub key: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The first failure.
    pub first_failed_at: EventTime,
    /// The latest failure.
    pub last_failed_at: EventTime,
    /// When it is tried again (meaningless once quarantined).
    pub next_attempt_at: EventTime,
    /// What the latest attempt said.
    pub last_error: String,
    /// When it was quarantined: no longer tried until a retry is asked for.
    pub quarantined_at: Option<EventTime>,
}

#[derive(sqlx::FromRow)]
struct FailureColumns {
    source: String,
    key: String,
    attempts: i64,
    first_failed_at: i64,
    last_failed_at: i64,
    next_attempt_at: i64,
    last_error: String,
    quarantined_at: Option<i64>,
}

impl From<FailureColumns> for SourceFailure {
    fn from(row: FailureColumns) -> SourceFailure {
        SourceFailure {
            source: row.source,
            key: row.key,
            attempts: u32::try_from(row.attempts.max(0)).unwrap_or(u32::MAX),
            first_failed_at: EventTime(row.first_failed_at),
            last_failed_at: EventTime(row.last_failed_at),
            next_attempt_at: EventTime(row.next_attempt_at),
            last_error: row.last_error,
            quarantined_at: row.quarantined_at.map(EventTime),
        }
    }
}

const COLUMNS: &str = "source, key, attempts, first_failed_at, last_failed_at, next_attempt_at, \
                       last_error, quarantined_at";

impl Store {
    /// Records a failed attempt at reading `key`: it is tried again at `retry_at`, or, once
    /// it has failed `quarantine_after` times, quarantined; either way it leaves the queue of
    /// objects to read. Returns the object's record.
    pub async fn record_source_failure(
        &self,
        source: &str,
        key: &str,
        error: &str,
        at: EventTime,
        retry_at: EventTime,
        quarantine_after: u32,
    ) -> Result<SourceFailure, StoreError> {
        let mut tx = self.write().await?;
        let record = async {
            let row: FailureColumns = on_tx!(&mut tx, |conn| {
                sqlx::query_as(
                    "INSERT INTO source_failures (source, key, attempts, first_failed_at, \
                     last_failed_at, next_attempt_at, last_error, quarantined_at) \
                     VALUES ($1, $2, 1, $3, $3, $4, $5, CASE WHEN $6 <= 1 THEN $3 END) \
                     ON CONFLICT (source, key) DO UPDATE SET \
                     attempts = source_failures.attempts + 1, \
                     last_failed_at = excluded.last_failed_at, \
                     next_attempt_at = excluded.next_attempt_at, \
                     last_error = excluded.last_error, \
                     quarantined_at = CASE WHEN source_failures.attempts + 1 >= $6 \
                     THEN excluded.last_failed_at END \
                     RETURNING source, key, attempts, first_failed_at, last_failed_at, \
                     next_attempt_at, last_error, quarantined_at",
                )
                .bind(source)
                .bind(key)
                .bind(at.0)
                .bind(retry_at.0)
                .bind(error)
                .bind(i64::from(quarantine_after))
                .fetch_one(&mut *conn)
                .await
            })?;
            // Off the read queue: from now on the failure decides when it is tried again.
            on_tx!(&mut tx, |conn| {
                sqlx::query("DELETE FROM source_objects WHERE source = $1 AND key = $2")
                    .bind(source)
                    .bind(key)
                    .execute(&mut *conn)
                    .await
                    .map(drop)
            })?;
            Ok::<_, sqlx::Error>(row)
        };
        let row = record.await.map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))?;
        Ok(row.into())
    }

    /// The objects of `source` due to be tried again at `now`, not quarantined, oldest
    /// first, at most `limit`.
    pub async fn due_source_failures(
        &self,
        source: &str,
        now: EventTime,
        limit: u32,
    ) -> Result<Vec<SourceFailure>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM source_failures WHERE source = $1 AND quarantined_at IS NULL \
             AND next_attempt_at <= $2 ORDER BY next_attempt_at, key LIMIT $3"
        );
        let rows: Vec<FailureColumns> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(source)
                .bind(now.0)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
        })
        .map_err(|e| self.db(e))?;
        Ok(rows.into_iter().map(SourceFailure::from).collect())
    }

    /// Every object a source could not read, of `source` or of all, by source and key:
    /// those still retried and those quarantined.
    pub async fn source_failures(
        &self,
        source: Option<&str>,
    ) -> Result<Vec<SourceFailure>, StoreError> {
        let rows: Vec<FailureColumns> = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new(format!("SELECT {COLUMNS} FROM source_failures"));
            if let Some(source) = source {
                query.push(" WHERE source = ").push_bind(source);
            }
            query.push(" ORDER BY source, key");
            query.build_query_as().fetch_all(pool).await
        })
        .map_err(|e| self.db(e))?;
        Ok(rows.into_iter().map(SourceFailure::from).collect())
    }

    /// Per source, how many unreadable objects are being retried and how many are
    /// quarantined.
    pub async fn source_failure_counts(&self) -> Result<Vec<(String, u64, u64)>, StoreError> {
        let rows: Vec<(String, i64, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT source, \
                 SUM(CASE WHEN quarantined_at IS NULL THEN 1 ELSE 0 END), \
                 SUM(CASE WHEN quarantined_at IS NULL THEN 0 ELSE 1 END) \
                 FROM source_failures GROUP BY source ORDER BY source",
            )
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        Ok(rows
            .into_iter()
            .map(|(source, retrying, quarantined)| {
                (source, retrying.unsigned_abs(), quarantined.unsigned_abs())
            })
            .collect())
    }

    /// Takes quarantined objects out of quarantine, to be tried at the source's next pass
    /// with a fresh count of attempts: those of `source` (every source when `None`), only
    /// `keys` when some are given. Returns how many.
    pub async fn retry_source_failures(
        &self,
        source: Option<&str>,
        keys: &[String],
    ) -> Result<u64, StoreError> {
        let changed = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new(
                "UPDATE source_failures SET quarantined_at = NULL, attempts = 0, \
                 next_attempt_at = 0 WHERE quarantined_at IS NOT NULL",
            );
            if let Some(source) = source {
                query.push(" AND source = ").push_bind(source);
            }
            if !keys.is_empty() {
                and_key_in(&mut query, keys);
            }
            query
                .build()
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(|e| self.db(e))?;
        Ok(changed)
    }
}
