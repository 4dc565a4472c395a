//! The `serve` processes that share one database: their heartbeats, and the leases that keep
//! a singleton job (the canary chores, an S3 lister) or the deliveries of one sink and
//! rate-limit key with exactly one live worker at a time.
//!
//! A lease is a row naming its holder and when it expires. Taking one is a single upsert
//! that succeeds only when the row is free, expired or already the taker's, so two workers
//! racing for it cannot both win, on either backend. Expiry is read from the database's own
//! clock: the workers' clocks need not agree.

use std::time::Duration;

use sqlx::AssertSqlSafe;
use trail::EventTime;

use crate::backend::{Backend, Tx};
use crate::pipeline::{Delivery, DeliveryColumns};
use crate::{Store, StoreError};

/// What a lease is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseKind {
    /// A singleton job, shown in `status` with the worker holding it.
    Job,
    /// The deliveries of one sink and rate-limit key, held while they are being sent.
    Delivery,
}

impl LeaseKind {
    fn as_str(self) -> &'static str {
        match self {
            LeaseKind::Job => "job",
            LeaseKind::Delivery => "delivery",
        }
    }
}

/// A worker's heartbeat: who it is and what it has done since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerBeat {
    /// The worker's id (unique among the workers sharing the database).
    pub id: String,
    /// The machine it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// The tripkey version it runs.
    pub version: String,
    /// When it started.
    pub started_at: EventTime,
    /// Batches it committed.
    pub batches: u64,
    /// Records it read.
    pub records: u64,
    /// Alerts it committed, new or updated.
    pub alerts: u64,
    /// The newest event time it committed.
    pub newest_event: Option<EventTime>,
}

/// A worker as the database knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerRecord {
    /// Its last heartbeat.
    pub beat: WorkerBeat,
    /// When that heartbeat was written (the worker's clock).
    pub seen_at: EventTime,
    /// When it stopped cleanly, if it did.
    pub stopped_at: Option<EventTime>,
    /// The jobs whose lease it holds now, by name.
    pub jobs: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct WorkerColumns {
    id: String,
    host: String,
    pid: i64,
    version: String,
    started_at: i64,
    seen_at: i64,
    batches: i64,
    records: i64,
    alerts: i64,
    newest_event: Option<i64>,
    stopped_at: Option<i64>,
}

/// The database's clock in milliseconds since the epoch, as an SQL expression.
pub(crate) fn database_now(backend: Backend) -> &'static str {
    match backend {
        // julianday rather than unixepoch('subsec'), which older SQLite libraries lack.
        Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
        Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    }
}

/// The upsert that takes or renews a lease: it writes only when the lease is free, expired
/// or the taker's own, and returns a row exactly when it wrote.
fn take_lease_sql(backend: Backend) -> String {
    let now = database_now(backend);
    format!(
        "INSERT INTO leases (name, kind, holder, acquired_at, expires_at) \
         VALUES ($1, $2, $3, {now}, {now} + $4) \
         ON CONFLICT (name) DO UPDATE SET expires_at = excluded.expires_at, \
         acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at \
         ELSE excluded.acquired_at END, holder = excluded.holder \
         WHERE leases.holder = excluded.holder OR leases.expires_at <= excluded.acquired_at \
         RETURNING holder"
    )
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

async fn take_lease(
    tx: &mut Tx,
    name: &str,
    kind: LeaseKind,
    holder: &str,
    ttl: Duration,
) -> Result<bool, sqlx::Error> {
    let sql = take_lease_sql(tx.backend());
    let taken: Option<String> = on_tx!(tx, |conn| {
        sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(name)
            .bind(kind.as_str())
            .bind(holder)
            .bind(millis(ttl))
            .fetch_optional(conn)
            .await
    })?;
    Ok(taken.is_some())
}

/// The name of the lease over the deliveries of one sink and rate-limit key.
fn delivery_lease(sink: &str, limit_key: &str) -> String {
    format!("delivery:{sink}:{limit_key}")
}

impl Store {
    /// Takes the lease `name` for `holder` until `ttl` from now, or renews it when `holder`
    /// has it. Returns whether `holder` holds it now: `false` while another worker's lease
    /// is unexpired.
    pub async fn take_lease(
        &self,
        name: &str,
        kind: LeaseKind,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let taken = take_lease(&mut tx, name, kind, holder, ttl)
            .await
            .map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))?;
        Ok(taken)
    }

    /// Gives the lease `name` up, if `holder` has it, so that another worker may take it at
    /// once.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await
                .map(drop)
        })
        .map_err(|e| self.db(e))
    }

    /// Who holds the lease `name` now, if anyone (an expired lease is held by nobody).
    pub async fn lease_holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        let sql = format!(
            "SELECT holder FROM leases WHERE name = $1 AND expires_at > {}",
            database_now(self.backend())
        );
        on_pool!(self, |pool| {
            sqlx::query_scalar(AssertSqlSafe(sql))
                .bind(name)
                .fetch_optional(pool)
                .await
        })
        .map_err(|e| self.db(e))
    }

    /// Claims, for `holder`, the deliveries to `sink` due at `now`, oldest first, at most
    /// `limit`: those of every rate-limit key no other worker is delivering. Each key's
    /// deliveries are leased to `holder` for `ttl` (see [`Store::release_deliveries`]), so
    /// that two workers never send the same delivery, nor break the rate limit of one key
    /// between them. On PostgreSQL the rows are read `FOR UPDATE SKIP LOCKED`, so workers
    /// claiming at once take different rows instead of waiting for each other.
    pub async fn claim_deliveries(
        &self,
        sink: &str,
        holder: &str,
        now: EventTime,
        ttl: Duration,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let backend = self.backend();
        let select = format!(
            "{} WHERE o.delivered_at IS NULL AND o.failed_at IS NULL AND o.sink = $1 \
             AND o.next_attempt_at <= $2 AND NOT EXISTS (SELECT 1 FROM leases l \
             WHERE l.name = 'delivery:' || o.sink || ':' || o.limit_key \
             AND l.holder <> $3 AND l.expires_at > {}) \
             ORDER BY o.next_attempt_at, o.id LIMIT $4{}",
            select_delivery!(""),
            database_now(backend),
            match backend {
                Backend::Sqlite => "",
                Backend::Postgres => " FOR UPDATE OF o SKIP LOCKED",
            }
        );
        let mut tx = self.write().await?;
        let claim = async {
            let rows: Vec<DeliveryColumns> = on_tx!(&mut tx, |conn| {
                sqlx::query_as(AssertSqlSafe(select))
                    .bind(sink)
                    .bind(now.0)
                    .bind(holder)
                    .bind(i64::from(limit))
                    .fetch_all(conn)
                    .await
            })?;
            let due: Vec<Delivery> = rows.into_iter().map(Delivery::from).collect();
            let mut keys: Vec<&str> = due.iter().map(|d| d.limit_key.as_str()).collect();
            keys.sort_unstable();
            keys.dedup();
            let mut leased = Vec::new();
            for key in keys {
                let name = delivery_lease(sink, key);
                if take_lease(&mut tx, &name, LeaseKind::Delivery, holder, ttl).await? {
                    leased.push(key.to_owned());
                }
            }
            Ok::<_, sqlx::Error>(
                due.into_iter()
                    .filter(|d| leased.contains(&d.limit_key))
                    .collect(),
            )
        };
        let claimed = claim.await.map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))?;
        Ok(claimed)
    }

    /// Extends `holder`'s claim on the deliveries of one sink and rate-limit key by `ttl` from
    /// now, while they are being sent. Returns `false` when the claim had run out and another
    /// worker took it.
    pub async fn renew_deliveries(
        &self,
        sink: &str,
        limit_key: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.take_lease(
            &delivery_lease(sink, limit_key),
            LeaseKind::Delivery,
            holder,
            ttl,
        )
        .await
    }

    /// Gives up `holder`'s claim on the deliveries of one sink and rate-limit key, once their
    /// outcome is recorded.
    pub async fn release_deliveries(
        &self,
        sink: &str,
        limit_key: &str,
        holder: &str,
    ) -> Result<(), StoreError> {
        self.release_lease(&delivery_lease(sink, limit_key), holder)
            .await
    }

    /// Records a worker's heartbeat, and forgets workers not seen since `forget_before`
    /// (their leases have long expired).
    pub async fn heartbeat(
        &self,
        beat: &WorkerBeat,
        at: EventTime,
        forget_before: EventTime,
    ) -> Result<(), StoreError> {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let mut tx = self.write().await?;
        let write = async {
            on_tx!(&mut tx, |conn| {
                sqlx::query(
                    "INSERT INTO workers (id, host, pid, version, started_at, seen_at, batches, \
                     records, alerts, newest_event, stopped_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL) \
                     ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, \
                     version = excluded.version, started_at = excluded.started_at, \
                     seen_at = excluded.seen_at, batches = excluded.batches, \
                     records = excluded.records, alerts = excluded.alerts, \
                     newest_event = excluded.newest_event, stopped_at = NULL",
                )
                .bind(&beat.id)
                .bind(&beat.host)
                .bind(i64::from(beat.pid))
                .bind(&beat.version)
                .bind(beat.started_at.0)
                .bind(at.0)
                .bind(count(beat.batches))
                .bind(count(beat.records))
                .bind(count(beat.alerts))
                .bind(beat.newest_event.map(|t| t.0))
                .execute(&mut *conn)
                .await?;
                sqlx::query("DELETE FROM workers WHERE seen_at < $1")
                    .bind(forget_before.0)
                    .execute(&mut *conn)
                    .await
                    .map(drop)
            })
        };
        write.await.map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))
    }

    /// Records that a worker stopped cleanly, and gives up every lease and every claim on
    /// queued objects it holds, so that other workers take its jobs and objects at once.
    pub async fn worker_stopped(&self, id: &str, at: EventTime) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let write = async {
            on_tx!(&mut tx, |conn| {
                sqlx::query("UPDATE workers SET stopped_at = $1, seen_at = $1 WHERE id = $2")
                    .bind(at.0)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("DELETE FROM leases WHERE holder = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(
                    "UPDATE source_objects SET claimed_by = NULL, claim_expires_at = NULL \
                     WHERE claimed_by = $1",
                )
                .bind(id)
                .execute(&mut *conn)
                .await
                .map(drop)
            })
        };
        write.await.map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))
    }

    /// Every worker the database knows, most recently seen first, with the jobs each holds.
    pub async fn workers(&self) -> Result<Vec<WorkerRecord>, StoreError> {
        let rows: Vec<WorkerColumns> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, host, pid, version, started_at, seen_at, batches, records, alerts, \
                 newest_event, stopped_at FROM workers ORDER BY seen_at DESC, id",
            )
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        let held_sql = format!(
            "SELECT holder, name FROM leases WHERE kind = 'job' AND expires_at > {} \
             ORDER BY name",
            database_now(self.backend())
        );
        let held: Vec<(String, String)> = on_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(held_sql))
                .fetch_all(pool)
                .await
        })
        .map_err(|e| self.db(e))?;
        let count = |n: i64| n.max(0).unsigned_abs();
        Ok(rows
            .into_iter()
            .map(|row| WorkerRecord {
                jobs: held
                    .iter()
                    .filter(|(holder, _)| *holder == row.id)
                    .map(|(_, name)| name.clone())
                    .collect(),
                seen_at: EventTime(row.seen_at),
                stopped_at: row.stopped_at.map(EventTime),
                beat: WorkerBeat {
                    id: row.id,
                    host: row.host,
                    pid: u32::try_from(row.pid).unwrap_or(0),
                    version: row.version,
                    started_at: EventTime(row.started_at),
                    batches: count(row.batches),
                    records: count(row.records),
                    alerts: count(row.alerts),
                    newest_event: row.newest_event.map(EventTime),
                },
            })
            .collect())
    }
}
