//! `/api/v1/sources`: the objects the sources could not read (retried, or quarantined), and
//! taking quarantined ones out to be read again.

use axum::extract::State;
use axum::Json;
use registry::Scope;
use serde::{Deserialize, Serialize};

use super::auth::{Action, Caller};
use super::error::{ApiError, CommonErrors};
use super::{ApiState, JsonBody};

/// An object a source could not read.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UnreadableObject {
    /// The source, as its `[[source]]` table names it.
    pub source: String,
    /// The object's key.
    pub key: String,
    /// Failed attempts.
    pub attempts: u32,
    /// What the latest attempt said.
    pub last_error: String,
    /// The first failure.
    #[schema(value_type = String, format = DateTime)]
    pub first_failed_at: store::EventTime,
    /// The latest failure.
    #[schema(value_type = String, format = DateTime)]
    pub last_failed_at: store::EventTime,
    /// `retrying` (tried again at a later pass, with backoff) or `quarantined` (no longer
    /// tried until a retry is asked for).
    pub state: &'static str,
    /// When a retrying object is tried again.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<store::EventTime>,
}

/// Every object the sources could not read.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UnreadableList {
    /// By source and key.
    pub objects: Vec<UnreadableObject>,
}

/// Lists the objects the sources could not read.
#[utoipa::path(
    get, path = "/api/v1/sources/unreadable", tag = "sources",
    responses(
        (status = 200, description = "the objects being retried and those quarantined", body = UnreadableList),
        CommonErrors
    ),
    security(("bearer" = []))
)]
pub async fn unreadable(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<UnreadableList>, ApiError> {
    caller.read(Scope::Viewer)?;
    let failures = state
        .store
        .source_failures(None)
        .await
        .map_err(ApiError::internal)?;
    let objects = failures
        .into_iter()
        .map(|failure| UnreadableObject {
            state: if failure.quarantined_at.is_some() {
                "quarantined"
            } else {
                "retrying"
            },
            next_attempt_at: failure
                .quarantined_at
                .is_none()
                .then_some(failure.next_attempt_at),
            source: failure.source,
            key: failure.key,
            attempts: failure.attempts,
            last_error: failure.last_error,
            first_failed_at: failure.first_failed_at,
            last_failed_at: failure.last_failed_at,
        })
        .collect();
    Ok(Json(UnreadableList { objects }))
}

/// `POST /api/v1/sources/retry`: which quarantined objects to read again.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryRequest {
    /// Only this source's [default: every source].
    pub source: Option<String>,
    /// Only these keys [default: every quarantined object].
    #[serde(default)]
    pub keys: Vec<String>,
}

/// How many objects came out of quarantine.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Retried {
    /// Objects the source tries again at its next pass.
    pub retried: u64,
}

/// Takes quarantined objects out of quarantine: their source tries them again at its next
/// pass, with a fresh count of attempts.
#[utoipa::path(
    post, path = "/api/v1/sources/retry", tag = "sources",
    request_body = RetryRequest,
    responses((status = 200, description = "how many objects will be tried again", body = Retried), CommonErrors),
    security(("bearer" = []))
)]
pub async fn retry(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<JsonBody<RetryRequest>, ApiError>,
) -> Result<Json<Retried>, ApiError> {
    let detail = match &body {
        Ok(JsonBody(body)) => serde_json::to_value(body).unwrap_or_default(),
        Err(_) => serde_json::json!({}),
    };
    let action = Action {
        name: "source.retry",
        object: None,
        detail,
    };
    caller.write(&state, &[Scope::Admin], &action).await?;
    let JsonBody(body) = caller.checked(&state, &action, body).await?;
    let result = async {
        let retried = state
            .store
            .retry_source_failures(body.source.as_deref(), &body.keys)
            .await
            .map_err(ApiError::internal)?;
        Ok(Retried { retried })
    }
    .await;
    caller.audited(&state, &action, result).await.map(Json)
}
