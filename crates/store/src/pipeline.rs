//! What `tripkey serve` persists: alerts unique by dedup key, committed in one transaction with
//! the source's checkpoint (and the detectors' memory, see `detector`); the outbox of
//! deliveries to sinks; and the health of each sink.

use sqlx::QueryBuilder;
use trail::EventTime;

use crate::backend::Tx;
use crate::{Store, StoreError};

/// An alert to commit, with what the store needs to index and route it. The store keeps the
/// body as it is given (the alert's JSON) and does not interpret it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertRow {
    /// The alert's identity: a second alert with the same key is a new version of the first.
    pub dedup_key: String,
    /// The rule id, e.g. `canary-use`.
    pub rule: String,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// `open` while the alert may still change, `final` after, `withdrawn` when it was taken
    /// back.
    pub status: String,
    /// Why it was withdrawn.
    pub withdrawn_because: Option<String>,
    /// Dedup keys this alert takes the place of: the first of them still stored is renamed to
    /// this alert's key (its handling and deliveries kept), the others are withdrawn as merged
    /// into it.
    pub replaces: Vec<String>,
    /// One line for a person.
    pub summary: String,
    /// Event time of the record that raised it.
    pub event_time: EventTime,
    /// The canary or principal it is about; notifications are rate-limited per key and sink.
    pub limit_key: String,
    /// The alert's JSON.
    pub body: String,
    /// The sinks it is routed to. Only the first version of an alert is delivered.
    pub sinks: Vec<String>,
    /// The name of the canary it reports a use of, if any: the commit marks that canary
    /// triggered, adds a `triggered` event to its history and moves its last-alert time, in
    /// the same transaction as the alert.
    pub canary: Option<String>,
    /// The suppression that keeps it from being notified: it is stored, counted and shown
    /// as any alert, with the suppression's id, and no delivery is queued for it.
    pub suppressed_by: Option<String>,
}

/// One source batch's effects, committed together or not at all.
#[derive(Clone, Copy, Debug)]
pub struct BatchCommit<'a> {
    /// The source that read the batch.
    pub source: &'a str,
    /// The source's position after the batch, when it keeps one (an S3 key, a file name).
    pub checkpoint: Option<&'a str>,
    /// The alerts the batch raised or updated.
    pub alerts: &'a [AlertRow],
    /// The wall-clock time of the commit.
    pub at: EventTime,
}

/// An alert as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAlert {
    /// The alert's identity.
    pub dedup_key: String,
    /// The rule id.
    pub rule: String,
    /// The severity.
    pub severity: String,
    /// `open`, `final` or `withdrawn`.
    pub status: String,
    /// Why it was withdrawn.
    pub withdrawn_because: Option<String>,
    /// One line for a person (attacker-controlled text: escape it for the output).
    pub summary: String,
    /// Event time of the record that raised it.
    pub event_time: EventTime,
    /// When tripkey first committed it.
    pub detected_at: EventTime,
    /// When its latest version was committed.
    pub updated_at: EventTime,
    /// The source that raised it.
    pub source: String,
    /// Its rate-limit key.
    pub limit_key: String,
    /// The alert's JSON, latest version.
    pub body: String,
    /// Its handling: `open`, `acknowledged` or `resolved`.
    pub state: String,
    /// The note given when it was acknowledged or resolved.
    pub state_note: Option<String>,
    /// Who acknowledged or resolved it.
    pub state_by: Option<String>,
    /// When it was acknowledged or resolved.
    pub state_at: Option<EventTime>,
    /// The canary whose use it reports, if any.
    pub canary: Option<String>,
    /// When it was first acknowledged (resolving an alert nobody acknowledged counts).
    pub acknowledged_at: Option<EventTime>,
    /// When it was resolved; `None` while it is not.
    pub resolved_at: Option<EventTime>,
    /// Whether its resolution called it a false positive.
    pub false_positive: bool,
    /// The suppression that kept it from being notified, if one did.
    pub suppressed_by: Option<String>,
}

/// A change of an alert's handling, for [`Store::set_alert_state`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertStateChange {
    /// Someone is on it.
    Acknowledge,
    /// It is over; `false_positive` when it turned out to be no attack.
    Resolve {
        /// The alert was wrong: a test, a tool of our own, a misconfigured rule.
        false_positive: bool,
    },
}

impl AlertStateChange {
    /// The handling state the alert is in after the change.
    pub fn state(self) -> &'static str {
        match self {
            AlertStateChange::Acknowledge => "acknowledged",
            AlertStateChange::Resolve { .. } => "resolved",
        }
    }
}

/// When an alert's record happened, was detected and was handled: what the response figures
/// are computed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertTiming {
    /// The rule id.
    pub rule: String,
    /// Event time of the record that raised it.
    pub event_time: EventTime,
    /// When tripkey first committed it.
    pub detected_at: EventTime,
    /// When it was first acknowledged.
    pub acknowledged_at: Option<EventTime>,
    /// When it was resolved.
    pub resolved_at: Option<EventTime>,
    /// Whether its resolution called it a false positive.
    pub false_positive: bool,
}

/// Which alerts [`Store::alerts_page`] returns; every given condition must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// Only this rule.
    pub rule: Option<String>,
    /// Only this severity.
    pub severity: Option<String>,
    /// Only in this handling state.
    pub state: Option<String>,
    /// Only alerts about this canary (by name).
    pub canary: Option<String>,
    /// Only alerts detected at or after this time.
    pub since: Option<EventTime>,
    /// Only alerts detected before this time.
    pub until: Option<EventTime>,
    /// Only alerts a suppression kept from the sinks (`true`), or only the others (`false`).
    pub suppressed: Option<bool>,
}

impl AlertFilter {
    /// The query parameters of `GET /api/v1/alerts` that ask the server for the same alerts.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        [
            ("rule", self.rule.clone()),
            ("severity", self.severity.clone()),
            ("state", self.state.clone()),
            ("canary", self.canary.clone()),
            ("since", self.since.map(|at| at.to_string())),
            ("until", self.until.map(|at| at.to_string())),
            ("suppressed", self.suppressed.map(|only| only.to_string())),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|value| (name.to_owned(), value)))
        .collect()
    }
}

/// Where a page of alerts starts: after the alert with this detection time and dedup key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertCursor {
    /// The last alert's detection time.
    pub detected_at: EventTime,
    /// The last alert's dedup key.
    pub dedup_key: String,
}

/// A pending delivery of one alert to one sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The outbox row.
    pub id: i64,
    /// The sink's name.
    pub sink: String,
    /// The alert's rate-limit key.
    pub limit_key: String,
    /// Attempts so far.
    pub attempts: u32,
    /// When the row was created.
    pub created_at: EventTime,
    /// When it is due.
    pub next_attempt_at: EventTime,
    /// What the row tells the sink: `raised` (the alert), `withdrawn` (it was taken back) or
    /// `resolved` (someone resolved it in tripkey, for sinks that keep incidents open).
    pub kind: String,
    /// The alert.
    pub alert: StoredAlert,
}

/// How a sink has been doing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkHealth {
    /// The sink's name.
    pub sink: String,
    /// Notifications delivered.
    pub delivered: u64,
    /// Failed attempts, retryable or not.
    pub failures: u64,
    /// Failed attempts since the last success: a sink above zero is failing now.
    pub consecutive_failures: u64,
    /// The last success.
    pub last_success_at: Option<EventTime>,
    /// The last failure.
    pub last_failure_at: Option<EventTime>,
    /// What the last failure said.
    pub last_error: Option<String>,
    /// Deliveries waiting (due now or held back by the rate limit or a retry delay).
    pub pending: u64,
    /// Deliveries the sink refused for good.
    pub refused: u64,
}

/// The columns of [`AlertColumns`], from `alerts a`, followed by `rest`.
macro_rules! select_alert {
    ($rest:literal) => {
        concat!(
            "SELECT a.dedup_key, a.rule, a.severity, a.status, a.summary, a.event_time, \
             a.detected_at, a.updated_at, a.source, a.limit_key, a.body, a.state, a.state_note, \
             a.state_by, a.state_at, a.canary, a.acknowledged_at, a.resolved_at, \
             a.false_positive, a.withdrawn_because, a.suppressed_by FROM alerts a ",
            $rest
        )
    };
}

/// A row of `alerts`, as [`select_alert!`] reads it.
#[derive(sqlx::FromRow)]
struct AlertColumns {
    dedup_key: String,
    rule: String,
    severity: String,
    status: String,
    summary: String,
    event_time: i64,
    detected_at: i64,
    updated_at: i64,
    source: String,
    limit_key: String,
    body: String,
    state: String,
    state_note: Option<String>,
    state_by: Option<String>,
    state_at: Option<i64>,
    canary: Option<String>,
    acknowledged_at: Option<i64>,
    resolved_at: Option<i64>,
    false_positive: bool,
    withdrawn_because: Option<String>,
    suppressed_by: Option<String>,
}

impl From<AlertColumns> for StoredAlert {
    fn from(row: AlertColumns) -> StoredAlert {
        StoredAlert {
            dedup_key: row.dedup_key,
            rule: row.rule,
            severity: row.severity,
            status: row.status,
            withdrawn_because: row.withdrawn_because,
            summary: row.summary,
            event_time: EventTime(row.event_time),
            detected_at: EventTime(row.detected_at),
            updated_at: EventTime(row.updated_at),
            source: row.source,
            limit_key: row.limit_key,
            body: row.body,
            state: row.state,
            state_note: row.state_note,
            state_by: row.state_by,
            state_at: row.state_at.map(EventTime),
            canary: row.canary,
            acknowledged_at: row.acknowledged_at.map(EventTime),
            resolved_at: row.resolved_at.map(EventTime),
            false_positive: row.false_positive,
            suppressed_by: row.suppressed_by,
        }
    }
}

/// The columns of [`DeliveryColumns`], from `outbox o` joined with its alert, then `rest`.
macro_rules! select_delivery {
    ($rest:literal) => {
        concat!(
            "SELECT o.id, o.sink, o.limit_key AS o_limit_key, o.attempts, o.created_at, \
             o.next_attempt_at, o.kind AS o_kind, a.dedup_key, a.rule, a.severity, a.status, a.summary, \
             a.event_time, a.detected_at, a.updated_at, a.source, a.limit_key, a.body, \
             a.state, a.state_note, a.state_by, a.state_at, a.canary, a.acknowledged_at, \
             a.resolved_at, a.false_positive, a.withdrawn_because, a.suppressed_by \
             FROM outbox o JOIN alerts a ON a.dedup_key = o.dedup_key ",
            $rest
        )
    };
}

/// A row of `outbox` with its alert, as [`select_delivery!`] reads it.
#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryColumns {
    id: i64,
    sink: String,
    o_limit_key: String,
    attempts: i64,
    created_at: i64,
    next_attempt_at: i64,
    o_kind: String,
    #[sqlx(flatten)]
    alert: AlertColumns,
}

impl From<DeliveryColumns> for Delivery {
    fn from(row: DeliveryColumns) -> Delivery {
        Delivery {
            id: row.id,
            sink: row.sink,
            limit_key: row.o_limit_key,
            attempts: row.attempts.try_into().unwrap_or(u32::MAX),
            created_at: EventTime(row.created_at),
            next_attempt_at: EventTime(row.next_attempt_at),
            kind: row.o_kind,
            alert: row.alert.into(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct TimingColumns {
    rule: String,
    event_time: i64,
    detected_at: i64,
    acknowledged_at: Option<i64>,
    resolved_at: Option<i64>,
    false_positive: bool,
}

#[derive(sqlx::FromRow)]
struct SinkHealthColumns {
    sink: String,
    delivered: i64,
    failures: i64,
    consecutive_failures: i64,
    last_success_at: Option<i64>,
    last_failure_at: Option<i64>,
    last_error: Option<String>,
    pending: i64,
    refused: i64,
}

/// Marks the canary named `canary` triggered by `alert`. A canary unknown to the store (one
/// from a canaries file) has nothing to update.
async fn record_trigger(tx: &mut Tx, canary: &str, alert: &AlertRow) -> Result<(), sqlx::Error> {
    let id: Option<String> = on_tx!(&mut *tx, |conn| {
        sqlx::query_scalar(concat!(
            "UPDATE canaries SET ",
            later_last_alert_at!("$1"),
            ", status = CASE status WHEN 'active' THEN 'triggered' ELSE status END \
             WHERE name = $2 RETURNING id"
        ))
        .bind(alert.event_time.0)
        .bind(canary)
        .fetch_optional(conn)
        .await
    })?;
    let Some(id) = id else { return Ok(()) };
    let id = crate::CanaryId::try_from(id).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let detail = serde_json::json!({
        "dedup_key": alert.dedup_key,
        "summary": alert.summary,
    });
    crate::add_event(
        tx,
        &id,
        alert.event_time,
        crate::CanaryEventKind::Triggered,
        &detail,
    )
    .await
}

/// The columns of `alerts` a renamed alert keeps, after its key.
macro_rules! kept_alert_columns {
    () => {
        "rule, severity, status, summary, event_time, detected_at, updated_at, source, \
         limit_key, body, canary, state, state_note, state_by, state_at, acknowledged_at, \
         resolved_at, false_positive, withdrawn_because, suppressed_by"
    };
}

/// Applies an alert's `replaces`: the first replaced alert still stored takes the alert's key
/// (unless an alert has it already), keeping its handling, deliveries and detection time; the
/// others are withdrawn as merged into it.
async fn revise(tx: &mut Tx, alert: &AlertRow, at: EventTime) -> Result<(), sqlx::Error> {
    for replaced in alert.replaces.iter().filter(|key| **key != alert.dedup_key) {
        let taken: bool = on_tx!(&mut *tx, |conn| {
            sqlx::query_scalar("SELECT COUNT(*) > 0 FROM alerts WHERE dedup_key = $1")
                .bind(&alert.dedup_key)
                .fetch_one(conn)
                .await
        })?;
        if taken {
            let reason = format!("merged into {}", alert.dedup_key);
            withdraw(tx, replaced, &reason, at).await?;
            continue;
        }
        // On PostgreSQL a concurrent batch may take the key after the check: then this copy
        // is skipped, as if it had been taken before.
        on_tx!(&mut *tx, |conn| {
            let copied = sqlx::query(concat!(
                "INSERT INTO alerts (dedup_key, ",
                kept_alert_columns!(),
                ") SELECT $1, ",
                kept_alert_columns!(),
                " FROM alerts WHERE dedup_key = $2 ON CONFLICT (dedup_key) DO NOTHING"
            ))
            .bind(&alert.dedup_key)
            .bind(replaced)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if copied == 1 {
                sqlx::query("UPDATE outbox SET dedup_key = $1 WHERE dedup_key = $2")
                    .bind(&alert.dedup_key)
                    .bind(replaced)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("DELETE FROM alerts WHERE dedup_key = $1")
                    .bind(replaced)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok::<(), sqlx::Error>(())
        })?;
    }
    Ok(())
}

/// Queues a notice of kind `$1` (`withdrawn`, `resolved`) at `$2` about the alert `$3` for
/// every sink that was told of the alert; a notice already queued stays as it is.
const NOTICE_TO_TOLD_SINKS: &str = "INSERT INTO outbox (dedup_key, sink, kind, limit_key, \
     created_at, next_attempt_at) \
     SELECT dedup_key, sink, $1, limit_key, $2, $2 FROM outbox \
     WHERE dedup_key = $3 AND kind = 'raised' AND delivered_at IS NOT NULL \
     ON CONFLICT (dedup_key, sink, kind) DO NOTHING";

/// Marks a stored alert withdrawn, with the reason, and tells every sink that was told of it.
/// The body stays the version last committed, marked withdrawn. An alert never stored needs
/// nothing.
async fn withdraw(
    tx: &mut Tx,
    dedup_key: &str,
    reason: &str,
    at: EventTime,
) -> Result<(), sqlx::Error> {
    let stored = tx.backend().locking(locking!(
        "SELECT body FROM alerts WHERE dedup_key = $1 AND status <> 'withdrawn'"
    ));
    let stored: Option<String> = on_tx!(&mut *tx, |conn| {
        sqlx::query_scalar(stored)
            .bind(dedup_key)
            .fetch_optional(conn)
            .await
    })?;
    let Some(stored) = stored else {
        return Ok(());
    };
    let body = withdrawn_body(&stored, reason);
    on_tx!(tx, |conn| {
        let changed = sqlx::query(
            "UPDATE alerts SET status = 'withdrawn', withdrawn_because = $1, body = $2, \
             updated_at = $3 WHERE dedup_key = $4 AND status <> 'withdrawn'",
        )
        .bind(reason)
        .bind(&body)
        .bind(at.0)
        .bind(dedup_key)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if changed == 1 {
            // A sink still waiting to deliver the alert will show it withdrawn; one that has
            // delivered it is told again.
            sqlx::query(NOTICE_TO_TOLD_SINKS)
                .bind("withdrawn")
                .bind(at.0)
                .bind(dedup_key)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    })
}

/// Queues the withdrawal notice of a delivery's alert when the alert was withdrawn after the
/// delivery's version was read. The alert's row is locked first: a withdrawal committing
/// meanwhile either sees this delivery done (and queues the notice itself) or is seen here.
async fn withdrawn_since_told(
    tx: &mut Tx,
    delivery: &Delivery,
    at: EventTime,
) -> Result<(), sqlx::Error> {
    let status = tx
        .backend()
        .locking(locking!("SELECT status FROM alerts WHERE dedup_key = $1"));
    let status: Option<String> = on_tx!(&mut *tx, |conn| {
        sqlx::query_scalar(status)
            .bind(&delivery.alert.dedup_key)
            .fetch_optional(conn)
            .await
    })?;
    if status.as_deref() != Some("withdrawn") {
        return Ok(());
    }
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO outbox (dedup_key, sink, kind, limit_key, created_at, next_attempt_at) \
             SELECT dedup_key, sink, 'withdrawn', limit_key, $1, $1 FROM outbox \
             WHERE id = $2 AND kind = 'raised' \
             ON CONFLICT (dedup_key, sink, kind) DO NOTHING",
        )
        .bind(at.0)
        .bind(delivery.id)
        .execute(conn)
        .await
        .map(drop)
    })
}

/// Moves `source`'s checkpoint to `position`, inside the transaction that commits what the
/// source read up to there.
pub(crate) async fn move_checkpoint(
    tx: &mut Tx,
    source: &str,
    position: &str,
    at: EventTime,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO checkpoints (source, position, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (source) DO UPDATE SET position = excluded.position, \
             updated_at = excluded.updated_at",
        )
        .bind(source)
        .bind(position)
        .bind(at.0)
        .execute(conn)
        .await
        .map(drop)
    })
}

/// A stored alert's JSON, marked withdrawn with the reason, so that every reader of the body
/// (the API, notifications) sees what the row says.
fn withdrawn_body(body: &str, reason: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut alert)) => {
            alert.insert("status".to_owned(), "withdrawn".into());
            alert.insert("withdrawn_because".to_owned(), reason.into());
            serde_json::Value::Object(alert).to_string()
        }
        _ => body.to_owned(),
    }
}

/// Commits one alert of a batch; `true` when it was stored for the first time.
async fn commit_alert(
    tx: &mut Tx,
    batch: &BatchCommit<'_>,
    alert: &AlertRow,
) -> Result<bool, sqlx::Error> {
    let inserted = on_tx!(&mut *tx, |conn| {
        sqlx::query(
            "INSERT INTO alerts (dedup_key, rule, severity, status, summary, event_time, \
             detected_at, updated_at, source, limit_key, body, canary, suppressed_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (dedup_key) DO NOTHING",
        )
        .bind(&alert.dedup_key)
        .bind(&alert.rule)
        .bind(&alert.severity)
        .bind(&alert.status)
        .bind(&alert.summary)
        .bind(alert.event_time.0)
        .bind(batch.at.0)
        .bind(batch.source)
        .bind(&alert.limit_key)
        .bind(&alert.body)
        .bind(&alert.canary)
        .bind(&alert.suppressed_by)
        .execute(conn)
        .await
        .map(|done| done.rows_affected())
    })? == 1;
    if !inserted {
        // A final alert is not taken back to open: a replay may bring an earlier, open
        // version. A later final version (revised by late records) replaces it.
        on_tx!(&mut *tx, |conn| {
            sqlx::query(
                "UPDATE alerts SET status = $1, summary = $2, body = $3, updated_at = $4, \
                 event_time = $5, withdrawn_because = NULL \
                 WHERE dedup_key = $6 AND NOT (status = 'final' AND $1 = 'open')",
            )
            .bind(&alert.status)
            .bind(&alert.summary)
            .bind(&alert.body)
            .bind(batch.at.0)
            .bind(alert.event_time.0)
            .bind(&alert.dedup_key)
            .execute(conn)
            .await
            .map(drop)
        })?;
        return Ok(false);
    }
    let sinks: &[String] = if alert.suppressed_by.is_some() {
        &[]
    } else {
        &alert.sinks
    };
    for sink in sinks {
        on_tx!(&mut *tx, |conn| {
            sqlx::query(
                "INSERT INTO outbox (dedup_key, sink, limit_key, created_at, next_attempt_at) \
                 VALUES ($1, $2, $3, $4, $4) ON CONFLICT (dedup_key, sink, kind) DO NOTHING",
            )
            .bind(&alert.dedup_key)
            .bind(sink)
            .bind(&alert.limit_key)
            .bind(batch.at.0)
            .execute(conn)
            .await
            .map(drop)
        })?;
    }
    if let Some(canary) = &alert.canary {
        record_trigger(tx, canary, alert).await?;
    }
    Ok(true)
}

impl Store {
    /// Commits one batch: its alerts (new ones with an outbox row per routed sink; known ones
    /// updated unless already final) and the source's checkpoint, in one transaction. Returns
    /// the dedup keys seen for the first time, so a redelivered batch returns none. A batch
    /// that changed the detectors' memory commits through
    /// [`DetectionBatch::commit`](crate::DetectionBatch::commit) instead.
    pub async fn commit_batch(&self, batch: &BatchCommit<'_>) -> Result<Vec<String>, StoreError> {
        let mut tx = self.write().await?;
        let fresh = self.commit_in(&mut tx, batch).await?;
        tx.commit().await.map_err(|e| self.db(e))?;
        Ok(fresh)
    }

    /// [`Store::commit_batch`] in a transaction the caller commits.
    pub(crate) async fn commit_in(
        &self,
        tx: &mut Tx,
        batch: &BatchCommit<'_>,
    ) -> Result<Vec<String>, StoreError> {
        let mut fresh = Vec::new();
        for alert in batch.alerts {
            revise(tx, alert, batch.at).await.map_err(|e| self.db(e))?;
            if alert.status == "withdrawn" {
                withdraw(
                    tx,
                    &alert.dedup_key,
                    alert.withdrawn_because.as_deref().unwrap_or_default(),
                    batch.at,
                )
                .await
                .map_err(|e| self.db(e))?;
                continue;
            }
            if commit_alert(tx, batch, alert)
                .await
                .map_err(|e| self.db(e))?
            {
                fresh.push(alert.dedup_key.clone());
            }
        }
        if let Some(position) = batch.checkpoint {
            move_checkpoint(tx, batch.source, position, batch.at)
                .await
                .map_err(|e| self.db(e))?;
        }
        Ok(fresh)
    }

    /// A source's committed position, if it has one.
    pub async fn checkpoint(&self, source: &str) -> Result<Option<String>, StoreError> {
        on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT position FROM checkpoints WHERE source = $1")
                .bind(source)
                .fetch_optional(pool)
                .await
        })
        .map_err(|e| self.db(e))
    }

    /// Every source's committed position and when it was committed.
    pub async fn checkpoints(&self) -> Result<Vec<(String, String, EventTime)>, StoreError> {
        let rows: Vec<(String, String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT source, position, updated_at FROM checkpoints ORDER BY source")
                .fetch_all(pool)
                .await
        })
        .map_err(|e| self.db(e))?;
        Ok(rows
            .into_iter()
            .map(|(source, position, at)| (source, position, EventTime(at)))
            .collect())
    }

    /// One alert by its dedup key.
    pub async fn alert(&self, dedup_key: &str) -> Result<Option<StoredAlert>, StoreError> {
        let row: Option<AlertColumns> = on_pool!(self, |pool| {
            sqlx::query_as(select_alert!("WHERE a.dedup_key = $1"))
                .bind(dedup_key)
                .fetch_optional(pool)
                .await
        })
        .map_err(|e| self.db(e))?;
        Ok(row.map(StoredAlert::from))
    }

    /// The latest alerts, newest first.
    pub async fn recent_alerts(&self, limit: u32) -> Result<Vec<StoredAlert>, StoreError> {
        let rows: Vec<AlertColumns> = on_pool!(self, |pool| {
            sqlx::query_as(select_alert!(
                "ORDER BY a.detected_at DESC, a.event_time DESC LIMIT $1"
            ))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        Ok(rows.into_iter().map(StoredAlert::from).collect())
    }

    /// Up to `limit` alerts matching `filter`, newest detected first, after `cursor`. Pages
    /// are read by position in an index, so a deep page costs what the first one does.
    pub async fn alerts_page(
        &self,
        filter: &AlertFilter,
        cursor: Option<&AlertCursor>,
        limit: u32,
    ) -> Result<Vec<StoredAlert>, StoreError> {
        let rows: Vec<AlertColumns> = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new(select_alert!("WHERE 1 = 1"));
            if let Some(rule) = &filter.rule {
                query.push(" AND a.rule = ").push_bind(rule);
            }
            if let Some(severity) = &filter.severity {
                query.push(" AND a.severity = ").push_bind(severity);
            }
            if let Some(state) = &filter.state {
                query.push(" AND a.state = ").push_bind(state);
            }
            if let Some(canary) = &filter.canary {
                query.push(" AND a.canary = ").push_bind(canary);
            }
            if let Some(since) = filter.since {
                query.push(" AND a.detected_at >= ").push_bind(since.0);
            }
            if let Some(until) = filter.until {
                query.push(" AND a.detected_at < ").push_bind(until.0);
            }
            if let Some(suppressed) = filter.suppressed {
                query.push(if suppressed {
                    " AND a.suppressed_by IS NOT NULL"
                } else {
                    " AND a.suppressed_by IS NULL"
                });
            }
            if let Some(cursor) = cursor {
                query
                    .push(" AND (a.detected_at < ")
                    .push_bind(cursor.detected_at.0)
                    .push(" OR (a.detected_at = ")
                    .push_bind(cursor.detected_at.0)
                    .push(" AND a.dedup_key < ")
                    .push_bind(&cursor.dedup_key)
                    .push("))");
            }
            query
                .push(" ORDER BY a.detected_at DESC, a.dedup_key DESC LIMIT ")
                .push_bind(i64::from(limit));
            query.build_query_as().fetch_all(pool).await
        })
        .map_err(|e| self.db(e))?;
        Ok(rows.into_iter().map(StoredAlert::from).collect())
    }

    /// Changes an alert's handling, recording who did it, when and their note; `None` when
    /// there is no such alert. The first acknowledgement's time is kept; resolving sets it too
    /// when nobody acknowledged the alert, and keeps the first resolution's time while the
    /// alert stays resolved (a second resolve may correct the note or `false_positive`).
    /// Acknowledging a resolved alert reopens it: its resolution is cleared.
    pub async fn set_alert_state(
        &self,
        dedup_key: &str,
        change: AlertStateChange,
        note: Option<&str>,
        by: &str,
        at: EventTime,
    ) -> Result<Option<StoredAlert>, StoreError> {
        // The resolution time, when the change resolves; NULL clears a resolution.
        let (resolving, false_positive) = match change {
            AlertStateChange::Acknowledge => (None, false),
            AlertStateChange::Resolve { false_positive } => (Some(at.0), false_positive),
        };
        let mut tx = self.write().await?;
        let done = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE alerts SET state = $1, state_note = $2, state_by = $3, state_at = $4, \
                 acknowledged_at = COALESCE(acknowledged_at, $4), \
                 resolved_at = CASE WHEN $5 IS NULL THEN NULL ELSE COALESCE(resolved_at, $5) END, \
                 false_positive = $6 WHERE dedup_key = $7",
            )
            .bind(change.state())
            .bind(note)
            .bind(by)
            .bind(at.0)
            .bind(resolving)
            .bind(false_positive)
            .bind(dedup_key)
            .execute(conn)
            .await
            .map(|done| done.rows_affected())
        })
        .map_err(|e| self.db(e))?;
        if done == 1 && resolving.is_some() {
            // Every sink that was told of the alert is told it is resolved, in the same
            // transaction: a sink that keeps incidents open (PagerDuty) closes its incident,
            // the others take the notice as done.
            on_tx!(&mut tx, |conn| {
                sqlx::query(NOTICE_TO_TOLD_SINKS)
                    .bind("resolved")
                    .bind(at.0)
                    .bind(dedup_key)
                    .execute(conn)
                    .await
                    .map(drop)
            })
            .map_err(|e| self.db(e))?;
        }
        tx.commit().await.map_err(|e| self.db(e))?;
        if done == 0 {
            return Ok(None);
        }
        self.alert(dedup_key).await
    }

    /// The timings of every alert detected at or after `since`, oldest first.
    pub async fn alert_timings(&self, since: EventTime) -> Result<Vec<AlertTiming>, StoreError> {
        let rows: Vec<TimingColumns> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT rule, event_time, detected_at, acknowledged_at, resolved_at, \
                 false_positive FROM alerts WHERE detected_at >= $1 ORDER BY detected_at",
            )
            .bind(since.0)
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        Ok(rows
            .into_iter()
            .map(|row| AlertTiming {
                rule: row.rule,
                event_time: EventTime(row.event_time),
                detected_at: EventTime(row.detected_at),
                acknowledged_at: row.acknowledged_at.map(EventTime),
                resolved_at: row.resolved_at.map(EventTime),
                false_positive: row.false_positive,
            })
            .collect())
    }

    /// How many alerts each rule has raised.
    pub async fn alert_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.counts_by_rule("SELECT rule, COUNT(*) FROM alerts GROUP BY rule ORDER BY rule")
            .await
    }

    /// How many alerts of each rule a suppression kept from the sinks.
    pub async fn suppressed_alert_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.counts_by_rule(
            "SELECT rule, COUNT(*) FROM alerts WHERE suppressed_by IS NOT NULL \
             GROUP BY rule ORDER BY rule",
        )
        .await
    }

    /// The `(rule, count)` rows `sql` selects.
    async fn counts_by_rule(&self, sql: &'static str) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            on_pool!(self, |pool| sqlx::query_as(sql).fetch_all(pool).await)
                .map_err(|e| self.db(e))?;
        Ok(rows
            .into_iter()
            .map(|(rule, n)| (rule, n.unsigned_abs()))
            .collect())
    }

    /// Pending deliveries due at `now`, oldest first.
    pub async fn due_deliveries(
        &self,
        now: EventTime,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows: Vec<DeliveryColumns> = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new(select_delivery!(
                "WHERE o.delivered_at IS NULL AND o.failed_at IS NULL AND o.next_attempt_at <= "
            ));
            query
                .push_bind(now.0)
                .push(" ORDER BY o.next_attempt_at, o.id LIMIT ")
                .push_bind(i64::from(limit));
            query.build_query_as().fetch_all(pool).await
        })
        .map_err(|e| self.db(e))?;
        Ok(rows.into_iter().map(Delivery::from).collect())
    }

    /// Every pending delivery for one sink and rate-limit key, oldest first: the repeats a
    /// digest summarises.
    pub async fn pending_deliveries(
        &self,
        sink: &str,
        limit_key: &str,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows: Vec<DeliveryColumns> = on_pool!(self, |pool| {
            sqlx::query_as(select_delivery!(
                "WHERE o.delivered_at IS NULL AND o.failed_at IS NULL \
                 AND o.sink = $1 AND o.limit_key = $2 ORDER BY o.created_at, o.id"
            ))
            .bind(sink)
            .bind(limit_key)
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        Ok(rows.into_iter().map(Delivery::from).collect())
    }

    /// When a notification for this sink and rate-limit key last went out.
    pub async fn last_delivered_at(
        &self,
        sink: &str,
        limit_key: &str,
    ) -> Result<Option<EventTime>, StoreError> {
        let at: Option<i64> = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT MAX(delivered_at) FROM outbox WHERE sink = $1 AND limit_key = $2 \
                 AND kind <> 'resolved'",
            )
            .bind(sink)
            .bind(limit_key)
            .fetch_one(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        Ok(at.map(EventTime))
    }

    /// Holds deliveries back until `until` (the rate limit's window end).
    pub async fn postpone_deliveries(
        &self,
        ids: &[i64],
        until: EventTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        for id in ids {
            on_tx!(&mut tx, |conn| {
                sqlx::query(
                    "UPDATE outbox SET next_attempt_at = $1 \
                     WHERE id = $2 AND delivered_at IS NULL",
                )
                .bind(until.0)
                .bind(id)
                .execute(conn)
                .await
                .map(drop)
            })
            .map_err(|e| self.db(e))?;
        }
        tx.commit().await.map_err(|e| self.db(e))
    }

    /// Records that one notification carrying these deliveries, as they were claimed, reached
    /// `sink`. An alert withdrawn while its notice was on its way (another worker's batch
    /// withdrew it after the claim read it) gets its withdrawal notice here: the sink was told
    /// of a version that no longer stands.
    pub async fn deliveries_done(
        &self,
        sink: &str,
        sent: &[Delivery],
        at: EventTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        self.mark_delivered(&mut tx, sent, at).await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO sink_health (sink, delivered, consecutive_failures, \
                 last_success_at) VALUES ($1, 1, 0, $2) ON CONFLICT (sink) DO UPDATE SET \
                 delivered = sink_health.delivered + 1, consecutive_failures = 0, \
                 last_success_at = excluded.last_success_at",
            )
            .bind(sink)
            .bind(at.0)
            .execute(conn)
            .await
            .map(drop)
        })
        .map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))
    }

    /// Settles notices a sink had nothing to do with (a resolution for a sink that keeps no
    /// incidents): done, without counting as a delivery in the sink's health.
    pub async fn notices_settled(
        &self,
        settled: &[Delivery],
        at: EventTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        self.mark_delivered(&mut tx, settled, at).await?;
        tx.commit().await.map_err(|e| self.db(e))
    }

    /// Marks `sent` as delivered at `at`, together (as one digest of their number).
    async fn mark_delivered(
        &self,
        tx: &mut Tx,
        sent: &[Delivery],
        at: EventTime,
    ) -> Result<(), StoreError> {
        let size = i64::try_from(sent.len()).unwrap_or(i64::MAX);
        for delivery in sent {
            on_tx!(&mut *tx, |conn| {
                sqlx::query(
                    "UPDATE outbox SET delivered_at = $1, attempts = attempts + 1, \
                     digest_size = $2, last_error = NULL WHERE id = $3",
                )
                .bind(at.0)
                .bind(size)
                .bind(delivery.id)
                .execute(conn)
                .await
                .map(drop)
            })
            .map_err(|e| self.db(e))?;
            if delivery.alert.status != "withdrawn" {
                withdrawn_since_told(tx, delivery, at)
                    .await
                    .map_err(|e| self.db(e))?;
            }
        }
        Ok(())
    }

    /// Records a failed attempt at these deliveries: retried at `retry_at`, or, with `None`,
    /// refused for good (kept and reported, never retried).
    pub async fn deliveries_failed(
        &self,
        sink: &str,
        ids: &[i64],
        at: EventTime,
        error: &str,
        retry_at: Option<EventTime>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        for id in ids {
            on_tx!(&mut tx, |conn| {
                sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $1, \
                     next_attempt_at = COALESCE($2, next_attempt_at), \
                     failed_at = CASE WHEN $2 IS NULL THEN $3 END WHERE id = $4",
                )
                .bind(error)
                .bind(retry_at.map(|t| t.0))
                .bind(at.0)
                .bind(id)
                .execute(conn)
                .await
                .map(drop)
            })
            .map_err(|e| self.db(e))?;
        }
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO sink_health (sink, failures, consecutive_failures, \
                 last_failure_at, last_error) VALUES ($1, 1, 1, $2, $3) \
                 ON CONFLICT (sink) DO UPDATE SET failures = sink_health.failures + 1, \
                 consecutive_failures = sink_health.consecutive_failures + 1, \
                 last_failure_at = excluded.last_failure_at, last_error = excluded.last_error",
            )
            .bind(sink)
            .bind(at.0)
            .bind(error)
            .execute(conn)
            .await
            .map(drop)
        })
        .map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))
    }

    /// Health and backlog of every sink that has a delivery or a recorded attempt.
    pub async fn sink_health(&self) -> Result<Vec<SinkHealth>, StoreError> {
        let rows: Vec<SinkHealthColumns> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT s.sink, COALESCE(h.delivered, 0) AS delivered, \
                 COALESCE(h.failures, 0) AS failures, \
                 COALESCE(h.consecutive_failures, 0) AS consecutive_failures, \
                 h.last_success_at, h.last_failure_at, h.last_error, \
                 (SELECT COUNT(*) FROM outbox o WHERE o.sink = s.sink AND o.delivered_at IS NULL \
                  AND o.failed_at IS NULL) AS pending, \
                 (SELECT COUNT(*) FROM outbox o WHERE o.sink = s.sink AND o.failed_at IS NOT NULL) \
                  AS refused \
                 FROM (SELECT sink FROM sink_health UNION SELECT DISTINCT sink FROM outbox) s \
                 LEFT JOIN sink_health h ON h.sink = s.sink ORDER BY s.sink",
            )
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        Ok(rows
            .into_iter()
            .map(|row| SinkHealth {
                sink: row.sink,
                delivered: row.delivered.unsigned_abs(),
                failures: row.failures.unsigned_abs(),
                consecutive_failures: row.consecutive_failures.unsigned_abs(),
                last_success_at: row.last_success_at.map(EventTime),
                last_failure_at: row.last_failure_at.map(EventTime),
                last_error: row.last_error,
                pending: row.pending.unsigned_abs(),
                refused: row.refused.unsigned_abs(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::AlertFilter;
    use trail::EventTime;

    #[test]
    fn a_filter_asks_the_api_with_the_given_conditions_only() {
        assert!(AlertFilter::default().query_pairs().is_empty());
        let filter = AlertFilter {
            rule: Some("access-denied-burst".to_owned()),
            state: Some("open".to_owned()),
            since: Some(EventTime::parse("2026-12-01T00:00:00Z").unwrap()),
            suppressed: Some(false),
            ..AlertFilter::default()
        };
        let expected = [
            ("rule", "access-denied-burst"),
            ("state", "open"),
            ("since", "2026-12-01T00:00:00Z"),
            ("suppressed", "false"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()));
        assert_eq!(filter.query_pairs(), expected);
    }
}
