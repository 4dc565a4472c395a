//! `/api/v1/audit`: the audit log, newest first (admin and viewer).

use axum::extract::{RawQuery, State};
use axum::Json;
use registry::Scope;
use serde::Serialize;
use store::AuditEntry;

use super::auth::Caller;
use super::error::{ApiError, CommonErrors};
use super::{
    decode_cursor, encode_cursor, into_page, page_size, parse_limit, query_pairs, ApiState,
};

/// A page of the audit log.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// The entries of this page, newest first.
    pub entries: Vec<AuditEntry>,
    /// Give this as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Reads the audit log.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit",
    params(
        ("limit" = Option<u32>, Query, description = "page size, 1 to 500 [default: 100]"),
        ("cursor" = Option<String>, Query, description = "the next_cursor of the previous page"),
    ),
    responses((status = 200, description = "the audit log, newest first", body = AuditPage), CommonErrors),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<AuditPage>, ApiError> {
    caller.read(Scope::Viewer)?;
    let (mut limit, mut before) = (None, None);
    for (key, value) in query_pairs(query.as_deref()) {
        match key.as_str() {
            "limit" => limit = Some(parse_limit(&value)?),
            "cursor" => {
                before =
                    Some(decode_cursor(&value, 1)?[0].parse::<i64>().map_err(|_| {
                        ApiError::invalid("cursor", "not a cursor this API gave out")
                    })?)
            }
            other => {
                return Err(ApiError::invalid(
                    other,
                    "unknown parameter; give limit and cursor",
                ))
            }
        }
    }
    let limit = page_size(limit)?;
    let mut entries = state.store.audit_log(before, limit + 1).await?;
    let next_cursor = into_page(&mut entries, limit, |last| {
        encode_cursor(&[&last.id.to_string()])
    });
    Ok(Json(AuditPage {
        entries,
        next_cursor,
    }))
}
