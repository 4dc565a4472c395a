//! `/api/v1/suppressions`: keep matching alerts from being notified for a while, list the
//! suppressions and end them. Making and ending one takes an admin token; the checks and the
//! audit entries are `pipeline::suppressions`', shared with the command line.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use pipeline::suppressions::{Actor, SuppressionAsk, SuppressionServiceError};
use registry::{Principal, Scope};
use serde::Serialize;
use serde_json::json;
use store::SuppressionRecord;

use super::auth::{Action, Caller};
use super::error::{ApiError, CommonErrors, ErrorBody, ErrorCode};
use super::{query_pairs, ApiState, JsonBody};

/// Suppressions.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SuppressionList {
    /// In force, or with `all=true` every one ever made, newest first.
    pub suppressions: Vec<SuppressionRecord>,
}

/// Makes a suppression. Matching alerts are still stored, counted and shown, marked with
/// its id, but no sink is sent them.
#[utoipa::path(
    post, path = "/api/v1/suppressions", tag = "alerts",
    request_body = SuppressionAsk,
    responses(
        (status = 201, description = "made, and in force until `expires_at`", body = SuppressionRecord),
        CommonErrors
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<JsonBody<SuppressionAsk>, ApiError>,
) -> Result<(StatusCode, Json<SuppressionRecord>), ApiError> {
    let action = Action {
        name: "suppression.create",
        object: None,
        // Under `request`: a refusal's `reason` would otherwise overwrite the one asked for.
        detail: match &body {
            Ok(JsonBody(body)) => json!({ "request": body }),
            Err(_) => json!({}),
        },
    };
    let principal = caller.write(&state, &[Scope::Admin], &action).await?;
    let JsonBody(ask) = caller.checked(&state, &action, body).await?;
    let address = caller.address.map(|address| address.to_string());
    let made = pipeline::suppressions::create(
        &state.store,
        ask,
        actor(principal, &principal.scope_list(), address.as_deref()),
        store::now(),
    )
    .await
    .map_err(service_error)?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// Lists suppressions.
#[utoipa::path(
    get, path = "/api/v1/suppressions", tag = "alerts",
    params(("all" = Option<bool>, Query, description = "removed and expired ones too [default: false]")),
    responses((status = 200, description = "the suppressions, newest first", body = SuppressionList), CommonErrors),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<SuppressionList>, ApiError> {
    caller.read(Scope::Viewer)?;
    let mut all = false;
    for (key, value) in query_pairs(query.as_deref()) {
        match (key.as_str(), value.as_str()) {
            ("all", "true") => all = true,
            ("all", "false") => all = false,
            ("all", other) => {
                return Err(ApiError::invalid(
                    "all",
                    format!("{other:?}: give true or false"),
                ))
            }
            (other, _) => {
                return Err(ApiError::invalid(
                    other,
                    "unknown parameter; the only one is all",
                ))
            }
        }
    }
    let suppressions = state.store.suppressions(store::now(), all).await?;
    Ok(Json(SuppressionList { suppressions }))
}

/// Ends a suppression now; the alerts it matched stay marked.
#[utoipa::path(
    delete, path = "/api/v1/suppressions/{id}", tag = "alerts",
    params(("id" = String, Path, description = "the suppression's id, `sup-` and 12 hexadecimal digits")),
    responses(
        (status = 200, description = "removed; the suppression as it now stands", body = SuppressionRecord),
        (status = 404, description = "no suppression in force has that id (removed, run out or never made)", body = ErrorBody), CommonErrors
    ),
    security(("bearer" = []))
)]
pub async fn remove(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SuppressionRecord>, ApiError> {
    let action = Action {
        name: "suppression.remove",
        object: Some(&id),
        detail: json!({}),
    };
    let principal = caller.write(&state, &[Scope::Admin], &action).await?;
    let address = caller.address.map(|address| address.to_string());
    let removed = pipeline::suppressions::remove(
        &state.store,
        &id,
        actor(principal, &principal.scope_list(), address.as_deref()),
        store::now(),
    )
    .await
    .map_err(service_error)?;
    Ok(Json(removed))
}

fn actor<'a>(principal: &'a Principal, scopes: &'a str, address: Option<&'a str>) -> Actor<'a> {
    Actor {
        name: &principal.name,
        scope: scopes,
        admin: principal.has(Scope::Admin),
        address,
    }
}

fn service_error(error: SuppressionServiceError) -> ApiError {
    match error {
        SuppressionServiceError::Refused(message) => {
            ApiError::new(ErrorCode::InvalidRequest, message)
        }
        SuppressionServiceError::Unknown(id) => {
            ApiError::not_found(format_args!("suppression in force with the id {id:?}"))
        }
        SuppressionServiceError::Store(error) => error.into(),
    }
}
