//! The objects a polling source listed and no worker has read yet: queued by the one worker
//! that lists the bucket, claimed in batches by any worker, gone once read and committed.

use std::time::Duration;

use sqlx::{AssertSqlSafe, QueryBuilder};
use trail::EventTime;

use crate::backend::{and_key_in, Backend};
use crate::pipeline::move_checkpoint;
use crate::workers::database_now;
use crate::{Store, StoreError};

/// An object waiting to be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedObject {
    /// The object's key.
    pub key: String,
    /// The account and region folder it is in (empty for an unreadable object tried again).
    pub prefix: String,
    /// Failed attempts at reading it so far.
    pub attempts: u32,
}

/// The most rows one INSERT writes, well under both backends' limits on bound values.
const ROWS_PER_INSERT: usize = 1_000;

impl Store {
    /// Queues `objects` of `source` for any worker to read, and moves the source's checkpoint
    /// to `checkpoint`, in one transaction: a listing is either queued whole with its position
    /// or not at all. An object already queued stays as it is. Returns how many were new.
    pub async fn queue_source_objects(
        &self,
        source: &str,
        objects: &[QueuedObject],
        checkpoint: &str,
        at: EventTime,
    ) -> Result<u64, StoreError> {
        let mut tx = self.write().await?;
        let queued = async {
            let mut queued = 0;
            for chunk in objects.chunks(ROWS_PER_INSERT) {
                queued += on_tx!(&mut tx, |conn| {
                    let mut query = QueryBuilder::new(
                        "INSERT INTO source_objects (source, key, prefix, attempts, listed_at) ",
                    );
                    query.push_values(chunk, |mut row, object| {
                        row.push_bind(source)
                            .push_bind(&object.key)
                            .push_bind(&object.prefix)
                            .push_bind(i64::from(object.attempts))
                            .push_bind(at.0);
                    });
                    query.push(" ON CONFLICT (source, key) DO NOTHING");
                    query
                        .build()
                        .execute(&mut *conn)
                        .await
                        .map(|done| done.rows_affected())
                })?;
            }
            move_checkpoint(&mut tx, source, checkpoint, at).await?;
            Ok::<_, sqlx::Error>(queued)
        };
        let queued = queued.await.map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))?;
        Ok(queued)
    }

    /// Claims up to `limit` queued objects of `source` for `holder`, for `ttl` (on the
    /// database's clock): objects no worker holds, whose claim ran out with a worker that
    /// died, or that `holder` claimed before for a read it dropped (a worker reads one batch
    /// of a source at a time). Oldest listed first. On PostgreSQL the rows are read `FOR UPDATE SKIP LOCKED`,
    /// so workers claiming at once take different objects instead of waiting for each other.
    pub async fn claim_source_objects(
        &self,
        source: &str,
        holder: &str,
        ttl: Duration,
        limit: u32,
    ) -> Result<Vec<QueuedObject>, StoreError> {
        let backend = self.backend();
        let now = database_now(backend);
        let select = format!(
            "SELECT key, prefix, attempts FROM source_objects WHERE source = $1 \
             AND (claimed_by IS NULL OR claimed_by = $3 OR claim_expires_at <= {now}) \
             ORDER BY listed_at, key LIMIT $2{}",
            match backend {
                Backend::Sqlite => "",
                Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            }
        );
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.write().await?;
        let claim = async {
            let rows: Vec<(String, String, i64)> = on_tx!(&mut tx, |conn| {
                sqlx::query_as(AssertSqlSafe(select))
                    .bind(source)
                    .bind(i64::from(limit))
                    .bind(holder)
                    .fetch_all(&mut *conn)
                    .await
            })?;
            let keys: Vec<String> = rows.iter().map(|(key, _, _)| key.clone()).collect();
            if !keys.is_empty() {
                on_tx!(&mut tx, |conn| {
                    let mut query = QueryBuilder::new("UPDATE source_objects SET claimed_by = ");
                    query
                        .push_bind(holder)
                        .push(format!(", claim_expires_at = {now} + "))
                        .push_bind(ttl)
                        .push(" WHERE source = ")
                        .push_bind(source);
                    and_key_in(&mut query, &keys);
                    query.build().execute(&mut *conn).await.map(drop)
                })?;
            }
            Ok::<_, sqlx::Error>(rows)
        };
        let rows = claim.await.map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))?;
        Ok(rows
            .into_iter()
            .map(|(key, prefix, attempts)| QueuedObject {
                key,
                prefix,
                attempts: u32::try_from(attempts.max(0)).unwrap_or(u32::MAX),
            })
            .collect())
    }

    /// Takes `keys` of `source` off the queue once the batch that read them is committed,
    /// and forgets their earlier failures.
    pub async fn finish_source_objects(
        &self,
        source: &str,
        keys: &[String],
    ) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        let finish = async {
            for table in ["source_objects", "source_failures"] {
                on_tx!(&mut tx, |conn| {
                    let mut query =
                        QueryBuilder::new(format!("DELETE FROM {table} WHERE source = "));
                    query.push_bind(source);
                    and_key_in(&mut query, keys);
                    query.build().execute(&mut *conn).await.map(drop)
                })?;
            }
            Ok::<_, sqlx::Error>(())
        };
        finish.await.map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))
    }

    /// Gives `holder`'s claims on `keys` of `source` up, for a batch that could not be
    /// committed: any worker may take them again at once.
    pub async fn release_source_objects(
        &self,
        source: &str,
        holder: &str,
        keys: &[String],
    ) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        on_pool!(self, |pool| {
            let mut query = QueryBuilder::new(
                "UPDATE source_objects SET claimed_by = NULL, claim_expires_at = NULL \
                 WHERE source = ",
            );
            query
                .push_bind(source)
                .push(" AND claimed_by = ")
                .push_bind(holder);
            and_key_in(&mut query, keys);
            query.build().execute(pool).await.map(drop)
        })
        .map_err(|e| self.db(e))
    }

    /// The account and region folders of `source` that still have objects waiting to be read.
    pub async fn prefixes_with_queued_objects(
        &self,
        source: &str,
    ) -> Result<Vec<String>, StoreError> {
        on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT DISTINCT prefix FROM source_objects WHERE source = $1 ORDER BY prefix",
            )
            .bind(source)
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.db(e))
    }

    /// Per source, how many listed objects wait to be read.
    pub async fn queued_object_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT source, COUNT(*) FROM source_objects GROUP BY source ORDER BY source",
            )
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        Ok(rows
            .into_iter()
            .map(|(source, count)| (source, count.unsigned_abs()))
            .collect())
    }
}
