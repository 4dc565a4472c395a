//! `/api/v1`: canaries, placements, alerts, suppressions, tokens and the audit log, for the
//! CLI with `--server`, MDM scripts, CI jobs and `tripkey plant`.
//!
//! Handlers parse, check the caller's scope, call the registry and the store, and render;
//! the rules (label limits, what a token may set and see) live in the `registry` crate. Every
//! mutating call, allowed or refused, is written to the audit log.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod canaries;
pub mod error;
pub mod issuers;
pub mod openapi;
pub mod response;
pub mod schemas;
pub mod sinks;
pub mod sources;
pub mod suppressions;
pub mod tokens;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::routing::{delete, get, post};
use axum::Router;
use base64::Engine as _;
use registry::{IssuerSet, Settings};
use serde::de::DeserializeOwned;
use store::Store;

use self::auth::AuthThrottle;
use self::error::{ApiError, ErrorCode};

/// The largest request body the API takes (a canary request is a few hundred bytes).
pub const MAX_BODY: usize = 64 * 1024;
/// The most items one page holds.
pub const MAX_PAGE: u32 = 500;
/// Items per page when the request does not say.
pub const DEFAULT_PAGE: u32 = 100;

/// What the API handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The database.
    pub store: Store,
    /// The issuers canaries can come from, by account.
    pub issuers: IssuerSet,
    /// How canaries are issued (names, lifetimes, capacity).
    pub settings: Settings,
    /// Failed authentications per address.
    pub throttle: Arc<AuthThrottle>,
    /// The region handed out with credentials, for the profile's `region`.
    pub region: String,
    /// The configured sinks, for their health and test notifications.
    pub sinks: Arc<Vec<Arc<dyn notify::Sink>>>,
    /// The detection engine, told to watch a canary as soon as it is issued: a canary used
    /// in the first seconds after issue must still alert.
    pub engine: Option<pipeline::EngineHandle>,
}

impl ApiState {
    /// Makes the engine read the canaries again, after one was issued or its keys changed.
    /// A failure is logged: the engine reloads on its own schedule as well.
    pub async fn canaries_changed(&self) {
        if let Some(engine) = &self.engine {
            if let Err(error) = engine.reload_canaries().await {
                tracing::warn!(%error, "the engine could not reload the canaries; it will on its next schedule");
            }
        }
    }
}

/// The `/api/v1` routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(
            "/api/v1/canaries",
            post(canaries::create).get(canaries::list),
        )
        .route("/api/v1/canaries/{id}", get(canaries::show))
        .route("/api/v1/canaries/{id}/rotate", post(canaries::rotate))
        .route("/api/v1/canaries/{id}/renew", post(canaries::renew))
        .route("/api/v1/canaries/{id}/revoke", post(canaries::revoke))
        .route(
            "/api/v1/canaries/{id}/placements",
            post(canaries::add_placement),
        )
        .route(
            "/api/v1/canaries/{id}/placements/{placement}",
            delete(canaries::remove_placement),
        )
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/alerts/{dedup_key}", get(alerts::show))
        .route(
            "/api/v1/alerts/{dedup_key}/acknowledge",
            post(alerts::acknowledge),
        )
        .route("/api/v1/alerts/{dedup_key}/resolve", post(alerts::resolve))
        .route(
            "/api/v1/suppressions",
            get(suppressions::list).post(suppressions::create),
        )
        .route("/api/v1/suppressions/{id}", delete(suppressions::remove))
        .route("/api/v1/response", get(response::figures))
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{name}", delete(tokens::revoke))
        .route("/api/v1/audit", get(audit::list))
        .route("/api/v1/issuers", get(issuers::list))
        .route("/api/v1/sinks", get(sinks::list))
        .route("/api/v1/sinks/{name}/test", post(sinks::test))
        .route("/api/v1/sources/unreadable", get(sources::unreadable))
        .route("/api/v1/sources/retry", post(sources::retry))
        .route("/api/v1/openapi.json", get(openapi::document))
        .with_state(state)
}

/// A JSON body, with errors in the API's shape: a body that is not UTF-8, not JSON or not
/// the expected object is a 400 naming what is wrong, never a plain-text rejection.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<JsonBody<T>, ApiError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        ErrorCode::PayloadTooLarge,
                        format!("the body is larger than the API takes ({MAX_BODY} bytes)"),
                    )
                } else {
                    ApiError::invalid("body", rejection.body_text())
                }
            })?;
        let bytes = if bytes.is_empty() {
            &b"{}"[..]
        } else {
            &bytes[..]
        };
        let text = std::str::from_utf8(bytes)
            .map_err(|error| ApiError::invalid("body", format!("not UTF-8 ({error})")))?;
        serde_json::from_str(text)
            .map(JsonBody)
            .map_err(|error| ApiError::invalid("body", error))
    }
}

/// A page's position: opaque to clients, `base64url(part NUL part)` inside.
pub fn encode_cursor(parts: &[&str]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(parts.join("\0"))
}

/// The parts of a cursor from [`encode_cursor`], `count` of them, or a 400 naming `cursor`.
pub fn decode_cursor(cursor: &str, count: usize) -> Result<Vec<String>, ApiError> {
    let bad = || {
        ApiError::invalid(
            "cursor",
            "not a cursor this API gave out; start again without it",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let parts: Vec<String> = text.split('\0').map(str::to_owned).collect();
    if parts.len() != count {
        return Err(bad());
    }
    Ok(parts)
}

/// A `limit` query value.
pub fn parse_limit(value: &str) -> Result<u32, ApiError> {
    value
        .parse::<u32>()
        .map_err(|_| ApiError::invalid("limit", format!("{value:?} is not a number")))
}

/// Cuts `items`, read with one more than `limit`, to the page, and gives the cursor of the
/// next page when there is one.
pub fn into_page<T>(
    items: &mut Vec<T>,
    limit: u32,
    cursor: impl Fn(&T) -> String,
) -> Option<String> {
    if items.len() <= limit as usize {
        return None;
    }
    items.truncate(limit as usize);
    items.last().map(cursor)
}

/// The cursor of a list ordered by a time and a key (canaries by creation, alerts by
/// detection): the last item's time and key.
pub fn encode_time_cursor(at: store::EventTime, key: &str) -> String {
    encode_cursor(&[&at.0.to_string(), key])
}

/// The time and key of a cursor from [`encode_time_cursor`], or a 400 naming `cursor`.
pub fn decode_time_cursor(cursor: &str) -> Result<(store::EventTime, String), ApiError> {
    let mut parts = decode_cursor(cursor, 2)?;
    let at = parts[0]
        .parse::<i64>()
        .map_err(|_| ApiError::invalid("cursor", "not a cursor this API gave out"))?;
    Ok((store::EventTime(at), parts.remove(1)))
}

/// The page size asked for, within bounds.
pub fn page_size(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(limit) if (1..=MAX_PAGE).contains(&limit) => Ok(limit),
        Some(limit) => Err(ApiError::invalid(
            "limit",
            format!("{limit} is out of range; give 1 to {MAX_PAGE}"),
        )),
    }
}

/// Reads repeated query parameters (`label=a:b&label=c:d`) that a plain query struct cannot.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

/// An RFC 3339 time from a query parameter.
pub fn parse_time(field: &str, text: &str) -> Result<store::EventTime, ApiError> {
    store::EventTime::parse(text).map_err(|error| {
        ApiError::invalid(field, format!("{text:?} is not an RFC 3339 time ({error})"))
    })
}
