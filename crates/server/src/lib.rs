//! tripkey's HTTP side, thin handlers over the pipeline and the store:
//!
//! - `GET /healthz`: the store answers and the engine runs; failing sinks are listed;
//! - `GET /metrics`: the Prometheus exposition of [`pipeline::Report`], for a `viewer` token
//!   unless `open_metrics`;
//! - `GET /status`: the same report as JSON, which `tripkey status` reads, on the same terms;
//! - `/`: the [`dashboard`], for people;
//! - `/api/v1`: the [`api`];
//! - `POST /ingest`: CloudTrail records or EventBridge events (any shape the reader accepts,
//!   gzip or not) from a Lambda forwarder or an EventBridge API destination, authenticated with
//!   a bearer token of scope `ingest`; it answers once the batch's alerts are committed.

#![warn(missing_docs)]

pub mod api;
pub mod dashboard;
pub mod tokens;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pipeline::{Batch, EngineHandle, Item, MemoryBudget, Metrics, Report};
use serde_json::json;
use store::Store;

/// The default largest `POST /ingest` body: a CloudTrail file is at most a few MB compressed.
pub const DEFAULT_INGEST_LIMIT: usize = 16 * 1024 * 1024;

/// How long a client refused for lack of memory budget is told to wait, in seconds.
const BUSY_RETRY_AFTER: &str = "5";

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The engine that `POST /ingest` hands batches to.
    pub engine: EngineHandle,
    /// The database, for health, metrics and tokens.
    pub store: Store,
    /// Live source counters.
    pub metrics: Arc<Metrics>,
    /// The source name ingested batches are counted under.
    pub ingest_source: String,
    /// What `/api/v1` needs.
    pub api: api::ApiState,
    /// Serve `/metrics` and `/status` without a token (`[serve] open_metrics`), for a
    /// Prometheus that cannot send one.
    pub open_metrics: bool,
    /// The bytes of input in flight, shared with the sources: a body that does not fit is
    /// refused with 503 rather than read.
    pub budget: MemoryBudget,
}

impl axum::extract::FromRef<AppState> for api::ApiState {
    fn from_ref(state: &AppState) -> api::ApiState {
        state.api.clone()
    }
}

/// `/metrics` and `/status` expose the fleet's shape (sources, sinks, alert counts): they need
/// a `viewer` token unless the operator opened them.
fn may_read_metrics(
    state: &AppState,
    caller: &api::auth::Caller,
) -> Result<(), api::error::ApiError> {
    if state.open_metrics {
        return Ok(());
    }
    caller.read(registry::Scope::Viewer).map(|_| ())
}

/// The routes, with `ingest_limit` as the largest accepted body, for a server without TLS.
pub fn router(state: AppState, ingest_limit: usize) -> Router {
    app(state, ingest_limit, false)
}

/// The routes, with `ingest_limit` as the largest accepted body; `tls` marks the dashboard's
/// session cookie `Secure`. Every answer carries the security headers of
/// [`dashboard::security_headers`].
pub fn app(state: AppState, ingest_limit: usize, tls: bool) -> Router {
    state.metrics.watch_budget(&state.budget);
    let api = api::router(state.api.clone()).layer(DefaultBodyLimit::max(api::MAX_BODY));
    let dashboard =
        dashboard::router(state.clone(), tls).layer(DefaultBodyLimit::max(api::MAX_BODY));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route(
            "/ingest",
            post(move |state, headers, body| ingest(state, headers, body, ingest_limit))
                .layer(DefaultBodyLimit::max(ingest_limit)),
        )
        .with_state(state)
        .merge(dashboard)
        .merge(api)
        .fallback(not_found)
        .layer(axum::middleware::map_response(dashboard::security_headers))
}

/// An unknown path: the API's JSON error under `/api/`, where scripts call, and the
/// dashboard's error page everywhere else, where people type addresses.
async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return api::error::ApiError::new(
            api::error::ErrorCode::NotFound,
            "no such route; the API's routes are under /api/v1",
        )
        .into_response();
    }
    dashboard::page::error_page(
        None,
        &api::error::ApiError::new(
            api::error::ErrorCode::NotFound,
            format!(
                "there is no page at {}; start from the overview at /",
                uri.path()
            ),
        ),
    )
}

async fn healthz(State(state): State<AppState>) -> Response {
    if !state.engine.is_running() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "error", "error": "the detection engine has stopped; see the log and restart serve" })),
        )
            .into_response();
    }
    match Report::gather(&state.store, &state.metrics).await {
        Ok(report) => {
            let failing: Vec<&str> = report
                .sinks
                .iter()
                .filter(|sink| sink.consecutive_failures > 0)
                .map(|sink| sink.sink.as_str())
                .collect();
            Json(json!({
                "status": "ok",
                "failing_sinks": failing,
                "outbox_depth": report.outbox_depth(),
            }))
            .into_response()
        }
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "error", "error": error.to_string() })),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<AppState>, caller: api::auth::Caller) -> Response {
    if let Err(refused) = may_read_metrics(&state, &caller) {
        return refused.into_response();
    }
    match Report::gather(&state.store, &state.metrics).await {
        Ok(report) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            format!(
                "{}# HELP tripkey_api_auth_failures_total API requests with an unknown, revoked or expired token.\n\
                 # TYPE tripkey_api_auth_failures_total counter\n\
                 tripkey_api_auth_failures_total {}\n\
                 # HELP tripkey_api_throttled_total API requests refused with 429 after repeated failed authentication.\n\
                 # TYPE tripkey_api_throttled_total counter\n\
                 tripkey_api_throttled_total {}\n",
                report.prometheus(),
                state.api.throttle.failures(),
                state.api.throttle.throttled(),
            ),
        )
            .into_response(),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response(),
    }
}

async fn status(State(state): State<AppState>, caller: api::auth::Caller) -> Response {
    if let Err(refused) = may_read_metrics(&state, &caller) {
        return refused.into_response();
    }
    match Report::gather(&state.store, &state.metrics).await {
        Ok(report) => Json(report).into_response(),
        Err(error) => problem(StatusCode::SERVICE_UNAVAILABLE, &error.to_string()),
    }
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// The token is checked before the body is read: a caller without one cannot make the server
/// buffer up to `limit` bytes.
async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
    limit: usize,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let Some(token) = token else {
        return problem(
            StatusCode::UNAUTHORIZED,
            "send `Authorization: Bearer TOKEN` with a token from `tripkey token create NAME`",
        );
    };
    let caller = match state
        .store
        .use_api_token(&tokens::digest(token), store::now())
        .await
    {
        Ok(Some(found)) if found.allows("ingest", store::now()) => found.name,
        Ok(_) => {
            return problem(
                StatusCode::UNAUTHORIZED,
                "unknown or revoked token, or one without the ingest scope",
            )
        }
        Err(error) => return problem(StatusCode::SERVICE_UNAVAILABLE, &error.to_string()),
    };
    // The body's bytes are held before it is read: declared by Content-Length, else the
    // largest accepted.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok())
        .map_or(limit, |length| length.min(limit as u64) as usize);
    let Some(held) = state.budget.try_hold(declared as u64) else {
        state.metrics.ingest_refused_busy();
        let mut answer = problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy: the input already in flight fills the memory budget ([serve] memory_budget); send this again after Retry-After seconds",
        );
        answer.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from_static(BUSY_RETRY_AFTER),
        );
        return answer;
    };
    let body =
        match axum::body::to_bytes(body, declared).await {
            Ok(body) => body,
            Err(_) => return problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "the body could not be read whole: over its Content-Length or {limit} bytes ([serve] ingest_limit), or cut off; send smaller batches"
                ),
            ),
        };
    let batch = Batch {
        source: state.ingest_source.clone(),
        items: vec![Item {
            name: format!("POST /ingest by {caller}"),
            bytes: body.to_vec(),
        }],
        checkpoint: None,
        held,
    };
    match state.engine.submit(batch).await {
        Ok(done) if done.records == 0 && !done.problems.is_empty() => (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": "no CloudTrail record could be read from the body",
                "problems": done.problems,
            })),
        )
            .into_response(),
        Ok(done) => Json(json!({
            "records": done.records,
            "new_alerts": done.new_alerts,
            "problems": done.problems,
        }))
        .into_response(),
        Err(error) => problem(StatusCode::SERVICE_UNAVAILABLE, &error.to_string()),
    }
}
