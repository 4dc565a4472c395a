//! `/api/v1/sinks`: each sink's delivery health, and a test notification through one.

use axum::extract::{Path, State};
use axum::Json;
use registry::Scope;
use serde::Serialize;
use serde_json::json;

use super::auth::{Action, Caller};
use super::error::{ApiError, CommonErrors, ErrorBody};
use super::ApiState;

/// One sink's health.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SinkView {
    /// The name.
    pub name: String,
    /// Whether a `[[sink]]` table names it; alerts may wait for a sink removed from the
    /// configuration.
    pub configured: bool,
    /// `ok`, `failing` (failures since the last success), `refused` (notifications refused for
    /// good) or `removed` (alerts wait for it, but no `[[sink]]` names it).
    pub state: &'static str,
    /// Notifications delivered.
    pub delivered: u64,
    /// Failed attempts.
    pub failures: u64,
    /// Failures since the last success.
    pub consecutive_failures: u64,
    /// Deliveries waiting.
    pub pending: u64,
    /// Deliveries refused for good.
    pub refused: u64,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// The last success.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_success_at: Option<store::EventTime>,
    /// The last failure.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_failure_at: Option<store::EventTime>,
}

/// Every sink.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SinkList {
    /// Every sink.
    pub sinks: Vec<SinkView>,
}

/// Lists the sinks with their health.
#[utoipa::path(
    get, path = "/api/v1/sinks", tag = "sinks",
    responses(
        (status = 200, description = "each sink's delivery health", body = SinkList), CommonErrors
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<SinkList>, ApiError> {
    caller.read(Scope::Viewer)?;
    let report = pipeline::Report::gather(&state.store, &pipeline::Metrics::default())
        .await
        .map_err(ApiError::internal)?;
    let configured: Vec<&str> = state.sinks.iter().map(|sink| sink.name()).collect();
    let mut sinks: Vec<SinkView> = report
        .sinks
        .into_iter()
        .map(|health| {
            let is_configured = configured.contains(&health.sink.as_str());
            SinkView {
                state: if !is_configured && health.pending > 0 {
                    "removed"
                } else if health.consecutive_failures > 0 {
                    "failing"
                } else if health.refused > 0 {
                    "refused"
                } else {
                    "ok"
                },
                configured: is_configured,
                name: health.sink,
                delivered: health.delivered,
                failures: health.failures,
                consecutive_failures: health.consecutive_failures,
                pending: health.pending,
                refused: health.refused,
                last_error: health.last_error,
                last_success_at: health.last_success_at,
                last_failure_at: health.last_failure_at,
            }
        })
        .collect();
    for name in configured {
        if !sinks.iter().any(|sink| sink.name == name) {
            sinks.push(SinkView {
                name: name.to_owned(),
                configured: true,
                state: "ok",
                delivered: 0,
                failures: 0,
                consecutive_failures: 0,
                pending: 0,
                refused: 0,
                last_error: None,
                last_success_at: None,
                last_failure_at: None,
            });
        }
    }
    Ok(Json(SinkList { sinks }))
}

/// The outcome of a test notification.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SinkTest {
    /// The sink.
    pub sink: String,
    /// Whether the sink took the sample alert.
    pub delivered: bool,
    /// The sample alert's dedup key, to find it at the receiver.
    pub dedup_key: String,
    /// What the sink said when it did not take it.
    pub error: Option<String>,
    /// Whether serve would retry that error (`false`: fix the sink's settings).
    pub retryable: Option<bool>,
}

/// Sends the sample alert, marked as a test, through one sink. Nothing is stored.
#[utoipa::path(
    post, path = "/api/v1/sinks/{name}/test", tag = "sinks",
    params(("name" = String, Path, description = "the sink's name, as in its [[sink]] table")),
    responses(
        (status = 200, description = "the sink took the sample alert, or said why not", body = SinkTest),
        (status = 404, description = "no configured sink of that name", body = ErrorBody), CommonErrors
    ),
    security(("bearer" = []))
)]
pub async fn test(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<SinkTest>, ApiError> {
    let action = Action {
        name: "sink.test",
        object: Some(&name),
        detail: json!({}),
    };
    caller.write(&state, &[Scope::Admin], &action).await?;
    let result = async {
        let sink = state
            .sinks
            .iter()
            .find(|sink| sink.name() == name)
            .ok_or_else(|| ApiError::not_found(format_args!("configured sink named {name:?}")))?;
        let sample = notify::sample_notification(store::now());
        let outcome = sink.deliver(&sample).await;
        Ok(SinkTest {
            sink: name.clone(),
            delivered: outcome.is_ok(),
            dedup_key: sample.alert.dedup_key.clone(),
            retryable: outcome
                .as_ref()
                .err()
                .map(|error| matches!(error, notify::SinkError::Retryable(_))),
            error: outcome.err().map(|error| error.to_string()),
        })
    }
    .await;
    caller.audited(&state, &action, result).await.map(Json)
}
