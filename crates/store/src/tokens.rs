//! API tokens, kept as SHA-256 digests only.

use sqlx::Row;
use trail::EventTime;

use crate::{Store, StoreError};

/// An API token's record (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ApiToken {
    /// A name saying who holds it, e.g. `lambda-forwarder`.
    pub name: String,
    /// What it may do, e.g. `ingest`.
    pub scopes: Vec<String>,
    /// When it was made.
    pub created_at: EventTime,
    /// When it was last accepted.
    pub last_used_at: Option<EventTime>,
    /// When it was revoked; a revoked token is refused.
    pub revoked_at: Option<EventTime>,
}

impl ApiToken {
    /// Whether the token is live and holds `scope`.
    pub fn allows(&self, scope: &str) -> bool {
        self.revoked_at.is_none() && self.scopes.iter().any(|s| s == scope)
    }
}

fn token_from(row: &sqlx::sqlite::SqliteRow) -> ApiToken {
    let scopes: String = row.get("scopes");
    ApiToken {
        name: row.get("name"),
        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        created_at: EventTime(row.get("created_at")),
        last_used_at: row.get::<Option<i64>, _>("last_used_at").map(EventTime),
        revoked_at: row.get::<Option<i64>, _>("revoked_at").map(EventTime),
    }
}

impl Store {
    /// Records a new token by its SHA-256 digest (lowercase hex). A name already in use is
    /// refused with [`StoreError::TokenExists`].
    pub async fn create_api_token(
        &self,
        name: &str,
        sha256_hex: &str,
        scopes: &[&str],
        at: EventTime,
    ) -> Result<ApiToken, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO api_tokens (name, sha256, scopes, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(sha256_hex)
        .bind(scopes.join(" "))
        .bind(at.0)
        .execute(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::TokenExists(name.to_owned()));
        }
        Ok(ApiToken {
            name: name.to_owned(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            created_at: at,
            last_used_at: None,
            revoked_at: None,
        })
    }

    /// The token with this digest, marking it used at `at`.
    pub async fn use_api_token(
        &self,
        sha256_hex: &str,
        at: EventTime,
    ) -> Result<Option<ApiToken>, StoreError> {
        let row = sqlx::query(
            "UPDATE api_tokens SET last_used_at = ? WHERE sha256 = ? \
             RETURNING name, scopes, created_at, last_used_at, revoked_at",
        )
        .bind(at.0)
        .bind(sha256_hex)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        Ok(row.as_ref().map(token_from))
    }

    /// Every token, by name.
    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, scopes, created_at, last_used_at, revoked_at FROM api_tokens \
             ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        Ok(rows.iter().map(token_from).collect())
    }

    /// Revokes a token by name; `false` when no live token has that name.
    pub async fn revoke_api_token(&self, name: &str, at: EventTime) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
        )
        .bind(at.0)
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        Ok(done.rows_affected() == 1)
    }
}
