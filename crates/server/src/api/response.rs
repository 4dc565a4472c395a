//! `/api/v1/response`: how fast alerts are detected, acknowledged and resolved, and how many
//! of the resolved ones were real.

use axum::extract::{RawQuery, State};
use axum::Json;
use registry::{ResponseFigures, Scope};

use super::auth::Caller;
use super::error::{ApiError, CommonErrors};
use super::{query_pairs, ApiState};

/// The window when the request gives none.
const DEFAULT_DAYS: u32 = 30;
/// The longest window: a year, leap day included.
const MAX_DAYS: u32 = 366;

/// Response figures of the alerts detected in the last `days` days.
#[utoipa::path(
    get, path = "/api/v1/response", tag = "alerts",
    params(
        ("days" = Option<u32>, Query, minimum = 1, maximum = 366,
         description = "the window: alerts detected in this many days before now, 1 to 366 [default: 30]"),
    ),
    responses(
        (status = 200, description = "median and 90th percentile times to detect, acknowledge and resolve, and the share of resolved alerts that were real", body = ResponseFigures),
        CommonErrors
    ),
    security(("bearer" = []))
)]
pub async fn figures(
    State(state): State<ApiState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<ResponseFigures>, ApiError> {
    caller.read(Scope::Viewer)?;
    let mut days = DEFAULT_DAYS;
    for (key, value) in query_pairs(query.as_deref()) {
        match key.as_str() {
            "days" => {
                days = value
                    .parse::<u32>()
                    .ok()
                    .filter(|days| (1..=MAX_DAYS).contains(days))
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "days",
                            format!("{value:?}: give a whole number of days, 1 to {MAX_DAYS}"),
                        )
                    })?;
            }
            other => {
                return Err(ApiError::invalid(
                    other,
                    "unknown parameter; the only one is days",
                ))
            }
        }
    }
    let figures = registry::response_figures(&state.store, store::now(), days).await?;
    Ok(Json(figures))
}
