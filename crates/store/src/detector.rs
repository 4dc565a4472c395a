//! The detectors' memory, one row per key, so that a batch reads and writes only the keys its
//! records touch, in the transaction that commits its alerts and checkpoint.
//!
//! A batch begins with [`Store::begin_detection`]: it names the keys its records touch and
//! the stream time they reach; the store adds a few keys due by then, locks them all, and
//! reads their rows. The detectors run on those rows alone, and [`DetectionBatch::commit`]
//! writes back what changed with the batch's alerts and checkpoint. Two workers whose
//! batches share a key serialise on it: on PostgreSQL with a transaction-scoped advisory lock
//! per key, taken in one order by everyone so they cannot deadlock; on SQLite the write
//! transaction holds the database's single write lock from its start. Rows are read after the
//! locks are held, so the second worker sees what the first committed.
//!
//! The store does not interpret keys or values: they are the detectors' (`instance:ID`,
//! `principal:ARN`, JSON).

use trail::EventTime;

use sqlx::AssertSqlSafe;

use crate::backend::Tx;
use crate::pipeline::BatchCommit;
use crate::workers::database_now;
use crate::{Store, StoreError};

/// One key of the detectors' memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetectorKey {
    /// The key, e.g. `instance:i-0abc…` or `principal:arn:aws:iam::…`.
    pub key: String,
    /// What the detector keeps for it, as JSON.
    pub value: String,
    /// The stream time at which the key is next due to be settled; `None` when nothing is.
    pub wake_at: Option<EventTime>,
}

/// What a batch read: the rows of the keys it asked for (those that exist) and of the keys
/// due by its stream time, and where the stream stands.
#[derive(Clone, Debug, Default)]
pub struct DetectorRows {
    /// The rows, locked until the batch commits or is dropped.
    pub rows: Vec<DetectorKey>,
    /// The keys that were due: the batch must write them back like its own.
    pub due: Vec<String>,
    /// The newest event time any worker has committed.
    pub newest: Option<EventTime>,
    /// This worker's lateness counters as it last committed them (JSON), if it has.
    pub lateness: Option<String>,
}

/// What a batch does to the detectors' memory.
#[derive(Clone, Copy, Debug)]
pub struct DetectorWrites<'a> {
    /// The worker committing, which keys its position.
    pub worker: &'a str,
    /// The newest event time the batch's engine reached.
    pub newest: Option<EventTime>,
    /// The worker's lateness counters after the batch (JSON).
    pub lateness: &'a str,
    /// Keys whose memory changed or began.
    pub put: &'a [DetectorKey],
    /// Keys the detectors forgot.
    pub delete: &'a [String],
    /// The batch released everything pending because the input went quiet: the keys it wrote
    /// need no quiet release again until a record touches them.
    pub quiet: bool,
    /// The batch brought records: the input is not quiet ([`Store::input_activity`]).
    pub input: bool,
}

/// Where the input of every worker sharing the database stands, for the quiet-spell release.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InputActivity {
    /// How long ago (on the database's clock) any worker last committed a batch that brought
    /// records; `None` when none has.
    pub since_input: Option<std::time::Duration>,
    /// Objects listed by the named sources that no worker has read yet, queued or claimed.
    pub objects_waiting: u64,
}

/// A batch's open transaction, holding its keys' locks; dropped without
/// [`DetectionBatch::commit`], it rolls back and the locks go.
pub struct DetectionBatch {
    store: Store,
    tx: Tx,
}

/// A stable 64-bit hash of a key (FNV-1a), naming its PostgreSQL advisory lock: the same for
/// every worker and every version of tripkey, so two workers always contend for one key.
fn lock_id(key: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash as i64
}

impl Store {
    /// Begins a batch over the detector keys `keys`: adds at most `due_limit` keys due by
    /// the later of `newest` and the stream's committed time (earliest first), locks every
    /// key, and reads the rows that exist. `worker` names the worker whose lateness counters
    /// are returned.
    pub async fn begin_detection(
        &self,
        worker: &str,
        keys: &[String],
        newest: Option<EventTime>,
        due_limit: u32,
    ) -> Result<(DetectionBatch, DetectorRows), StoreError> {
        let mut tx = self.write().await?;
        let read = async {
            let (stream_newest, lateness) = position(&mut tx, worker).await?;
            let due_by = newest.max(stream_newest);
            let due = match due_by {
                Some(by) if due_limit > 0 => due_keys(&mut tx, by, due_limit).await?,
                _ => Vec::new(),
            };
            let mut all: Vec<&str> = keys.iter().chain(&due).map(String::as_str).collect();
            all.sort_unstable();
            all.dedup();
            lock(&mut tx, &all).await?;
            let rows = rows(&mut tx, &all).await?;
            Ok::<_, sqlx::Error>(DetectorRows {
                rows,
                due,
                newest: stream_newest,
                lateness,
            })
        };
        let rows = read.await.map_err(|e| self.db(e))?;
        Ok((
            DetectionBatch {
                store: self.clone(),
                tx,
            },
            rows,
        ))
    }

    /// Keys changed since the input last went quiet, after `after` in key order, at most
    /// `limit`: the quiet-spell release walks them a few at a time. Reads without locking;
    /// [`Store::begin_detection`] locks them.
    pub async fn unsettled_detector_keys(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT key FROM detector_keys WHERE unsettled = TRUE AND key > $1 \
                 ORDER BY key LIMIT $2",
            )
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.db(e))
    }

    /// How many keys the detectors keep, and the newest event time any worker committed.
    pub async fn detector_size(&self) -> Result<(u64, Option<EventTime>), StoreError> {
        let (keys, newest): (i64, Option<i64>) = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM detector_keys), \
                 (SELECT MAX(newest) FROM detector_position)",
            )
            .fetch_one(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        Ok((keys.max(0) as u64, newest.map(EventTime)))
    }

    /// Every worker's lateness counters (JSON), to add up for reports.
    pub async fn detector_lateness(&self) -> Result<Vec<String>, StoreError> {
        on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT lateness FROM detector_position ORDER BY worker")
                .fetch_all(pool)
                .await
        })
        .map_err(|e| self.db(e))
    }

    /// Whether the input of all the workers is quiet: how long since any of them brought
    /// records, and how many objects the `sources` listed still wait to be read (a dead
    /// worker's claims among them, until they run out).
    pub async fn input_activity(&self, sources: &[String]) -> Result<InputActivity, StoreError> {
        let sql = format!(
            "SELECT {} - MAX(input_at) FROM detector_position",
            database_now(self.backend())
        );
        let since: Option<i64> = on_pool!(self, |pool| {
            sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(pool).await
        })
        .map_err(|e| self.db(e))?;
        let objects_waiting = self
            .queued_object_counts()
            .await?
            .into_iter()
            .filter(|(source, _)| sources.contains(source))
            .map(|(_, count)| count)
            .sum();
        Ok(InputActivity {
            since_input: since.map(|ms| std::time::Duration::from_millis(ms.max(0).unsigned_abs())),
            objects_waiting,
        })
    }

    /// Moves a whole-state snapshot of an earlier version (the `detector_state` row) into
    /// per-key rows, once: `split` turns the snapshot into keys and a position. Returns how
    /// many keys were moved, `None` when there was no snapshot. A snapshot `split` cannot read
    /// is dropped with a warning from the caller: `split` returns `None`.
    pub async fn adopt_detector_snapshot(
        &self,
        worker: &str,
        split: impl FnOnce(&str) -> Option<(Vec<DetectorKey>, Option<EventTime>, String)>,
    ) -> Result<Option<usize>, StoreError> {
        let mut tx = self.write().await?;
        let work = async {
            let snapshot: Option<String> = on_tx!(&mut tx, |conn| {
                sqlx::query_scalar("SELECT state FROM detector_state WHERE id = 1")
                    .fetch_optional(conn)
                    .await
            })?;
            let Some(snapshot) = snapshot else {
                return Ok(None);
            };
            let moved = match split(&snapshot) {
                Some((keys, newest, lateness)) => {
                    write_rows(
                        &mut tx,
                        &DetectorWrites {
                            worker,
                            newest,
                            lateness: &lateness,
                            put: &keys,
                            delete: &[],
                            quiet: false,
                            input: false,
                        },
                        crate::now(),
                    )
                    .await?;
                    keys.len()
                }
                None => 0,
            };
            on_tx!(&mut tx, |conn| {
                sqlx::query("DELETE FROM detector_state")
                    .execute(conn)
                    .await
                    .map(drop)
            })?;
            Ok::<_, sqlx::Error>(Some(moved))
        };
        let moved = work.await.map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))?;
        Ok(moved)
    }
}

impl DetectionBatch {
    /// Commits the batch: its alerts and checkpoint as [`Store::commit_batch`] does, and what
    /// it did to the detectors' memory, in one transaction. Returns the dedup keys seen for
    /// the first time.
    pub async fn commit(
        mut self,
        batch: &BatchCommit<'_>,
        writes: &DetectorWrites<'_>,
    ) -> Result<Vec<String>, StoreError> {
        let store = self.store;
        let fresh = store.commit_in(&mut self.tx, batch).await?;
        write_rows(&mut self.tx, writes, batch.at)
            .await
            .map_err(|e| store.db(e))?;
        self.tx.commit().await.map_err(|e| store.db(e))?;
        Ok(fresh)
    }
}

async fn position(
    tx: &mut Tx,
    worker: &str,
) -> Result<(Option<EventTime>, Option<String>), sqlx::Error> {
    let (newest, lateness): (Option<i64>, Option<String>) = on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT (SELECT MAX(newest) FROM detector_position), \
             (SELECT lateness FROM detector_position WHERE worker = $1)",
        )
        .bind(worker)
        .fetch_one(conn)
        .await
    })?;
    Ok((newest.map(EventTime), lateness))
}

async fn due_keys(tx: &mut Tx, by: EventTime, limit: u32) -> Result<Vec<String>, sqlx::Error> {
    on_tx!(tx, |conn| {
        sqlx::query_scalar(
            "SELECT key FROM detector_keys WHERE wake_at IS NOT NULL AND wake_at <= $1 \
             ORDER BY wake_at, key LIMIT $2",
        )
        .bind(by.0)
        .bind(i64::from(limit))
        .fetch_all(conn)
        .await
    })
}

/// Takes the keys' advisory locks on PostgreSQL, in ascending lock-id order so that two
/// batches never wait for each other in a cycle. SQLite's write transaction already excludes
/// every other writer.
async fn lock(tx: &mut Tx, keys: &[&str]) -> Result<(), sqlx::Error> {
    let Tx::Postgres(tx) = tx else {
        return Ok(());
    };
    let mut ids: Vec<i64> = keys.iter().map(|key| lock_id(key)).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    // unnest yields the array in order and the locks are taken row by row as it does.
    sqlx::query("SELECT pg_advisory_xact_lock(id) FROM unnest($1::bigint[]) AS ids(id)")
        .bind(&ids)
        .execute(&mut **tx)
        .await
        .map(drop)
}

async fn rows(tx: &mut Tx, keys: &[&str]) -> Result<Vec<DetectorKey>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<(String, String, Option<i64>)> = match tx {
        Tx::Postgres(tx) => {
            sqlx::query_as(
                "SELECT key, value, wake_at FROM detector_keys WHERE key = ANY($1::text[])",
            )
            .bind(keys)
            .fetch_all(&mut **tx)
            .await?
        }
        Tx::Sqlite(tx) => {
            let keys = serde_json::to_string(keys).expect("strings always serialise");
            sqlx::query_as(
                "SELECT key, value, wake_at FROM detector_keys \
                 WHERE key IN (SELECT value FROM json_each($1))",
            )
            .bind(keys)
            .fetch_all(&mut **tx)
            .await?
        }
    };
    Ok(found
        .into_iter()
        .map(|(key, value, wake_at)| DetectorKey {
            key,
            value,
            wake_at: wake_at.map(EventTime),
        })
        .collect())
}

async fn write_rows(
    tx: &mut Tx,
    writes: &DetectorWrites<'_>,
    at: EventTime,
) -> Result<(), sqlx::Error> {
    let unsettled = !writes.quiet;
    match tx {
        Tx::Postgres(tx) => {
            if !writes.put.is_empty() {
                let keys: Vec<&str> = writes.put.iter().map(|row| row.key.as_str()).collect();
                let values: Vec<&str> = writes.put.iter().map(|row| row.value.as_str()).collect();
                let wakes: Vec<Option<i64>> = writes
                    .put
                    .iter()
                    .map(|row| row.wake_at.map(|at| at.0))
                    .collect();
                sqlx::query(
                    "INSERT INTO detector_keys (key, value, wake_at, unsettled, updated_at) \
                     SELECT key, value, wake_at, $4, $5 \
                     FROM unnest($1::text[], $2::text[], $3::bigint[]) AS rows(key, value, wake_at) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
                     wake_at = excluded.wake_at, unsettled = excluded.unsettled, \
                     updated_at = excluded.updated_at",
                )
                .bind(&keys)
                .bind(&values)
                .bind(&wakes)
                .bind(unsettled)
                .bind(at.0)
                .execute(&mut **tx)
                .await?;
            }
            if !writes.delete.is_empty() {
                sqlx::query("DELETE FROM detector_keys WHERE key = ANY($1::text[])")
                    .bind(writes.delete)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Tx::Sqlite(tx) => {
            for row in writes.put {
                sqlx::query(
                    "INSERT INTO detector_keys (key, value, wake_at, unsettled, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
                     wake_at = excluded.wake_at, unsettled = excluded.unsettled, \
                     updated_at = excluded.updated_at",
                )
                .bind(&row.key)
                .bind(&row.value)
                .bind(row.wake_at.map(|at| at.0))
                .bind(unsettled)
                .bind(at.0)
                .execute(&mut **tx)
                .await?;
            }
            for key in writes.delete {
                sqlx::query("DELETE FROM detector_keys WHERE key = $1")
                    .bind(key)
                    .execute(&mut **tx)
                    .await?;
            }
        }
    }
    // input_at is kept when the batch brought no records (a quiet release).
    let input_at = if writes.input {
        database_now(tx.backend())
    } else {
        "NULL"
    };
    let sql = format!(
        "INSERT INTO detector_position (worker, newest, lateness, updated_at, input_at) \
         VALUES ($1, $2, $3, $4, {input_at}) \
         ON CONFLICT (worker) DO UPDATE SET lateness = excluded.lateness, \
         updated_at = excluded.updated_at, \
         input_at = COALESCE(excluded.input_at, detector_position.input_at), \
         newest = CASE WHEN detector_position.newest IS NULL \
             OR detector_position.newest < excluded.newest \
         THEN excluded.newest ELSE detector_position.newest END"
    );
    on_tx!(tx, |conn| {
        sqlx::query(AssertSqlSafe(sql))
            .bind(writes.worker)
            .bind(writes.newest.map(|at| at.0))
            .bind(writes.lateness)
            .bind(at.0)
            .execute(conn)
            .await
            .map(drop)
    })
}

#[cfg(test)]
mod tests {
    use super::lock_id;

    #[test]
    fn lock_ids_are_stable_across_builds() {
        // Workers of different versions must agree on every key's lock.
        // FNV-1a's published 64-bit test vectors.
        assert_eq!(lock_id("") as u64, 0xcbf2_9ce4_8422_2325);
        assert_eq!(lock_id("a") as u64, 0xaf63_dc4c_8601_ec8c);
        assert_eq!(lock_id("foobar") as u64, 0x8594_4171_f739_67e8);
        assert_ne!(lock_id("instance:i-0abc"), lock_id("instance:i-0abd"));
    }
}
