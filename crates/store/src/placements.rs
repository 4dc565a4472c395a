//! Where canaries were planted: recorded by `tripkey plant` and the API after a write
//! succeeded, shown with the canary and carried by its alerts.

use serde::Serialize;
use trail::EventTime;

use crate::{CanaryId, Store, StoreError};

/// One place a canary was planted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Placement {
    /// The placement's id.
    pub id: String,
    /// The canary planted.
    pub canary_id: CanaryId,
    /// The host name.
    pub host: Option<String>,
    /// The file or secret it was written to.
    pub path: Option<String>,
    /// The placement format, e.g. `aws-credentials`, `env`, `k8s-secret`.
    pub format: Option<String>,
    /// The host's operating system.
    pub os: Option<String>,
    /// The user whose file it is.
    pub user: Option<String>,
    /// When it was recorded.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: EventTime,
    /// The token that recorded it; `None` from the command line.
    pub created_by: Option<String>,
}

/// What [`Store::add_placement`] records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewPlacement {
    /// The host name.
    pub host: Option<String>,
    /// The file or secret it was written to.
    pub path: Option<String>,
    /// The placement format.
    pub format: Option<String>,
    /// The operating system.
    pub os: Option<String>,
    /// The user.
    pub user: Option<String>,
}

/// A row of `placements`, as `placement_columns!` names its columns.
#[derive(sqlx::FromRow)]
struct PlacementRow {
    id: String,
    canary_id: String,
    host: Option<String>,
    path: Option<String>,
    format: Option<String>,
    os: Option<String>,
    user_name: Option<String>,
    created_at: i64,
    created_by: Option<String>,
}

/// The columns of [`PlacementRow`].
macro_rules! placement_columns {
    () => {
        "id, canary_id, host, path, format, os, user_name, created_at, created_by"
    };
}

impl TryFrom<PlacementRow> for Placement {
    type Error = StoreError;

    fn try_from(row: PlacementRow) -> Result<Placement, StoreError> {
        Ok(Placement {
            canary_id: row
                .canary_id
                .parse()
                .map_err(|e| StoreError::corrupt(&row.id, "placements.canary_id", e))?,
            host: row.host,
            path: row.path,
            format: row.format,
            os: row.os,
            user: row.user_name,
            created_at: EventTime(row.created_at),
            created_by: row.created_by,
            id: row.id,
        })
    }
}

impl Store {
    /// The canary an earlier issue with this token and idempotency key made at or after
    /// `since`, if any.
    pub async fn idempotent_canary(
        &self,
        token: &str,
        key: &str,
        since: EventTime,
    ) -> Result<Option<CanaryId>, StoreError> {
        let id: Option<String> = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT canary_id FROM idempotency_keys WHERE token = $1 AND key = $2 \
                 AND created_at >= $3",
            )
            .bind(token)
            .bind(key)
            .bind(since.0)
            .fetch_optional(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        id.map(|id| {
            id.parse()
                .map_err(|e| StoreError::corrupt(&id, "idempotency_keys.canary_id", e))
        })
        .transpose()
    }

    /// Remembers that this token and idempotency key issued `canary`, replacing a record
    /// older than `since`. `false` when a request with the same key got there first.
    pub async fn remember_idempotency_key(
        &self,
        token: &str,
        key: &str,
        canary: &CanaryId,
        at: EventTime,
        since: EventTime,
    ) -> Result<bool, StoreError> {
        let done = on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO idempotency_keys (token, key, canary_id, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (token, key) DO UPDATE \
                 SET canary_id = excluded.canary_id, created_at = excluded.created_at \
                 WHERE idempotency_keys.created_at < $5",
            )
            .bind(token)
            .bind(key)
            .bind(canary.as_str())
            .bind(at.0)
            .bind(since.0)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })
        .map_err(|e| self.db(e))?;
        Ok(done == 1)
    }

    /// Records that `canary` was planted as `placement` describes.
    pub async fn add_placement(
        &self,
        canary: &CanaryId,
        placement: &NewPlacement,
        created_by: Option<&str>,
        at: EventTime,
    ) -> Result<Placement, StoreError> {
        let id = CanaryId::generate().as_str().to_owned();
        let row: PlacementRow = on_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "INSERT INTO placements (",
                placement_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
                placement_columns!()
            ))
            .bind(&id)
            .bind(canary.as_str())
            .bind(&placement.host)
            .bind(&placement.path)
            .bind(&placement.format)
            .bind(&placement.os)
            .bind(&placement.user)
            .bind(at.0)
            .bind(created_by)
            .fetch_one(pool)
            .await
        })
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::NotFound(canary.clone())
            }
            _ => self.db(e),
        })?;
        Placement::try_from(row)
    }

    /// The current placements of a canary, oldest first.
    pub async fn placements(&self, canary: &CanaryId) -> Result<Vec<Placement>, StoreError> {
        let rows: Vec<PlacementRow> = on_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                placement_columns!(),
                " FROM placements WHERE canary_id = $1 AND removed_at IS NULL \
                 ORDER BY created_at, id"
            ))
            .bind(canary.as_str())
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        rows.into_iter().map(Placement::try_from).collect()
    }

    /// Removes a placement record (it stays in the database, marked removed); `false` when
    /// the canary has no current placement with that id.
    pub async fn remove_placement(
        &self,
        canary: &CanaryId,
        id: &str,
        at: EventTime,
    ) -> Result<bool, StoreError> {
        let done = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE placements SET removed_at = $1 WHERE canary_id = $2 AND id = $3 \
                 AND removed_at IS NULL",
            )
            .bind(at.0)
            .bind(canary.as_str())
            .bind(id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })
        .map_err(|e| self.db(e))?;
        Ok(done == 1)
    }
}
