//! API tokens, kept as SHA-256 digests only.

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

/// The columns of [`TokenRow`], followed by `rest`.
macro_rules! select_token {
    ($rest:literal) => {
        concat!(
            "SELECT name, scopes, pinned_labels, allowed_labels, created_at, expires_at, \
             last_used_at, revoked_at FROM api_tokens ",
            $rest
        )
    };
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    name: String,
    scopes: String,
    pinned_labels: String,
    allowed_labels: String,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = StoreError;

    fn try_from(row: TokenRow) -> Result<ApiToken, StoreError> {
        let labels = |text: &str| -> Result<Labels, StoreError> {
            serde_json::from_str(text).map_err(|e| StoreError::corrupt(&row.name, "api_tokens", e))
        };
        Ok(ApiToken {
            scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
            pinned_labels: labels(&row.pinned_labels)?,
            allowed_labels: labels(&row.allowed_labels)?,
            created_at: EventTime(row.created_at),
            expires_at: row.expires_at.map(EventTime),
            last_used_at: row.last_used_at.map(EventTime),
            revoked_at: row.revoked_at.map(EventTime),
            name: row.name,
        })
    }
}

impl Store {
    /// Records a new token by its SHA-256 digest. A name already in use is refused with
    /// [`StoreError::TokenExists`].
    pub async fn create_api_token(&self, token: &NewApiToken<'_>) -> Result<ApiToken, StoreError> {
        let json = |labels: &Labels| {
            serde_json::to_string(labels).expect("a map of strings always serializes to JSON")
        };
        let (scopes, pinned, allowed) = (
            token.scopes.join(" "),
            json(&token.pinned_labels),
            json(&token.allowed_labels),
        );
        let inserted = on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO api_tokens (name, sha256, scopes, pinned_labels, allowed_labels, \
                 created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(token.name)
            .bind(token.sha256_hex)
            .bind(&scopes)
            .bind(&pinned)
            .bind(&allowed)
            .bind(token.created_at.0)
            .bind(token.expires_at.map(|at| at.0))
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })
        .map_err(|e| self.db(e))?;
        if inserted == 0 {
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
        let row: Option<TokenRow> = on_pool!(self, |pool| {
            sqlx::query_as(select_token!("WHERE sha256 = $1"))
                .bind(sha256_hex)
                .fetch_optional(pool)
                .await
        })
        .map_err(|e| self.db(e))?;
        let Some(mut token) = row.map(ApiToken::try_from).transpose()? else {
            return Ok(None);
        };
        // A read takes no write lock: the last use is recorded at most once a minute per token,
        // which is as precise as anyone reads it, and keeps busy clients from queueing on
        // SQLite's single writer (or on the token's row in PostgreSQL).
        let stale = token
            .last_used_at
            .is_none_or(|last| at.0 - last.0 >= LAST_USE_PRECISION_MS);
        if token.is_live(at) && stale {
            on_pool!(self, |pool| {
                sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE sha256 = $2")
                    .bind(at.0)
                    .bind(sha256_hex)
                    .execute(pool)
                    .await
                    .map(drop)
            })
            .map_err(|e| self.db(e))?;
            token.last_used_at = Some(at);
        }
        Ok(Some(token))
    }

    /// Every token, by name.
    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let rows: Vec<TokenRow> = on_pool!(self, |pool| {
            sqlx::query_as(select_token!("ORDER BY name"))
                .fetch_all(pool)
                .await
        })
        .map_err(|e| self.db(e))?;
        rows.into_iter().map(ApiToken::try_from).collect()
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
        let done = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE api_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
            )
            .bind(at.0)
            .bind(name)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })
        .map_err(|e| self.db(e))?;
        Ok(done == 1)
    }
}
