//! API tokens, kept as SHA-256 digests only.

use sqlx::Row;
use trail::EventTime;

use crate::{Labels, Store, StoreError};

/// An API token's record (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    /// A name saying who holds it, e.g. `lambda-forwarder`.
    pub name: String,
    /// What it may do: `admin`, `viewer`, `issuer` or `ingest`.
    pub scopes: Vec<String>,
    /// Labels forced onto every canary this token issues.
    pub pinned_labels: Labels,
    /// The labels this token may set, as key to glob pattern (`*` any text); empty, none.
    pub allowed_labels: Labels,
    /// When it was made.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: EventTime,
    /// When it stops being accepted, if ever.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<EventTime>,
    /// When it was last accepted.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_used_at: Option<EventTime>,
    /// When it was revoked; a revoked token is refused.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_at: Option<EventTime>,
}

/// What [`Store::create_api_token`] records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewApiToken<'a> {
    /// The token's name, unique.
    pub name: &'a str,
    /// The SHA-256 of the token, lowercase hex.
    pub sha256_hex: &'a str,
    /// Its scopes.
    pub scopes: &'a [&'a str],
    /// Labels forced onto every canary it issues.
    pub pinned_labels: Labels,
    /// Labels it may set, key to glob pattern.
    pub allowed_labels: Labels,
    /// When it is made.
    pub created_at: EventTime,
    /// When it stops being accepted.
    pub expires_at: Option<EventTime>,
}

impl ApiToken {
    /// Whether the token is live at `now` and holds `scope`.
    pub fn allows(&self, scope: &str, now: EventTime) -> bool {
        self.is_live(now) && self.scopes.iter().any(|s| s == scope)
    }

    /// Neither revoked nor expired at `now`.
    pub fn is_live(&self, now: EventTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expiry| now < expiry)
    }
}

/// How often a token's last use is written: at most once in this many milliseconds.
const LAST_USE_PRECISION_MS: i64 = 60_000;

/// The columns [`token_from`] reads, followed by `rest`.
macro_rules! select_token {
    ($rest:literal) => {
        concat!(
            "SELECT name, scopes, pinned_labels, allowed_labels, created_at, expires_at, \
             last_used_at, revoked_at FROM api_tokens ",
            $rest
        )
    };
}

fn token_from(row: &sqlx::sqlite::SqliteRow) -> Result<ApiToken, StoreError> {
    let scopes: String = row.get("scopes");
    let name: String = row.get("name");
    let labels = |column: &str| -> Result<Labels, StoreError> {
        let text: String = row.get(column);
        serde_json::from_str(&text).map_err(|e| StoreError::corrupt(&name, "api_tokens", e))
    };
    Ok(ApiToken {
        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        pinned_labels: labels("pinned_labels")?,
        allowed_labels: labels("allowed_labels")?,
        created_at: EventTime(row.get("created_at")),
        expires_at: row.get::<Option<i64>, _>("expires_at").map(EventTime),
        last_used_at: row.get::<Option<i64>, _>("last_used_at").map(EventTime),
        revoked_at: row.get::<Option<i64>, _>("revoked_at").map(EventTime),
        name,
    })
}

impl Store {
    /// Records a new token by its SHA-256 digest. A name already in use is refused with
    /// [`StoreError::TokenExists`].
    pub async fn create_api_token(&self, token: &NewApiToken<'_>) -> Result<ApiToken, StoreError> {
        let json = |labels: &Labels| {
            serde_json::to_string(labels).expect("a map of strings always serializes to JSON")
        };
        let inserted = sqlx::query(
            "INSERT INTO api_tokens (name, sha256, scopes, pinned_labels, allowed_labels, \
             created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(token.name)
        .bind(token.sha256_hex)
        .bind(token.scopes.join(" "))
        .bind(json(&token.pinned_labels))
        .bind(json(&token.allowed_labels))
        .bind(token.created_at.0)
        .bind(token.expires_at.map(|at| at.0))
        .execute(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::TokenExists(token.name.to_owned()));
        }
        Ok(ApiToken {
            name: token.name.to_owned(),
            scopes: token.scopes.iter().map(|s| (*s).to_owned()).collect(),
            pinned_labels: token.pinned_labels.clone(),
            allowed_labels: token.allowed_labels.clone(),
            created_at: token.created_at,
            expires_at: token.expires_at,
            last_used_at: None,
            revoked_at: None,
        })
    }

    /// The token with this digest, marking it used at `at` when it is live (to the minute).
    pub async fn use_api_token(
        &self,
        sha256_hex: &str,
        at: EventTime,
    ) -> Result<Option<ApiToken>, StoreError> {
        let row = sqlx::query(select_token!("WHERE sha256 = ?"))
            .bind(sha256_hex)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.db(e))?;
        let Some(mut token) = row.as_ref().map(token_from).transpose()? else {
            return Ok(None);
        };
        // A read takes no write lock: the last use is recorded at most once a minute per token,
        // which is as precise as anyone reads it, and keeps busy clients from queueing on
        // SQLite's single writer.
        let stale = token
            .last_used_at
            .is_none_or(|last| at.0 - last.0 >= LAST_USE_PRECISION_MS);
        if token.is_live(at) && stale {
            sqlx::query("UPDATE api_tokens SET last_used_at = ? WHERE sha256 = ?")
                .bind(at.0)
                .bind(sha256_hex)
                .execute(&self.pool)
                .await
                .map_err(|e| self.db(e))?;
            token.last_used_at = Some(at);
        }
        Ok(Some(token))
    }

    /// Every token, by name.
    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query(select_token!("ORDER BY name"))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.db(e))?;
        rows.iter().map(token_from).collect()
    }

    /// Whether any live token holds `scope` at `now`.
    pub async fn has_live_token_with_scope(
        &self,
        scope: &str,
        now: EventTime,
    ) -> Result<bool, StoreError> {
        Ok(self
            .api_tokens()
            .await?
            .iter()
            .any(|token| token.allows(scope, now)))
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
