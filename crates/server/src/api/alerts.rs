//! `/api/v1/alerts`: list and show alerts, acknowledge and resolve them.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use registry::Scope;
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::{AlertCursor, AlertFilter, AlertStateChange, StoredAlert};

use super::auth::{Action, Caller};
use super::error::{ApiError, CommonErrors, ErrorBody};
use super::{
    decode_time_cursor, encode_time_cursor, into_page, page_size, parse_limit, parse_time,
    query_pairs, ApiState, JsonBody,
};

/// The handling states an alert can be moved to or filtered by.
const STATES: [&str; 3] = ["open", "acknowledged", "resolved"];
/// The longest note.
const MAX_NOTE_BYTES: usize = 4 * 1024;

/// An alert as the API gives it: the alert's own JSON (the shape `tripkey scan --format json`
/// prints) with its handling beside it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AlertView {
    /// The alert, as the detectors raised it.
    #[serde(flatten)]
    pub alert: detect::Alert,
    /// When tripkey first committed it.
    #[schema(value_type = String, format = DateTime)]
    pub detected_at: store::EventTime,
    /// When its latest version was committed.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: store::EventTime,
    /// Who is on it.
    pub handling: Handling,
    /// Where the alert's canary was planted (with one alert, not in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placements: Option<Vec<store::Placement>>,
    /// The suppression that kept it from being notified, if one did: it is stored and
    /// shown like any alert, but no sink was sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed_by: Option<String>,
    /// That suppression: its conditions, reason and expiry (with one alert, not in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppression: Option<store::SuppressionRecord>,
}

/// Who is on an alert.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Handling {
    /// `open`, `acknowledged` or `resolved`.
    pub state: String,
    /// The note given when it was acknowledged or resolved.
    pub note: Option<String>,
    /// The token that acknowledged or resolved it.
    pub by: Option<String>,
    /// When.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<store::EventTime>,
    /// When it was first acknowledged; resolving an alert nobody acknowledged sets it too.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acknowledged_at: Option<store::EventTime>,
    /// When it was resolved; null while it is not.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<store::EventTime>,
    /// Whether its resolution called it a false positive.
    pub false_positive: bool,
}

/// The API's view of a stored alert.
pub fn alert_view(stored: &StoredAlert) -> Result<AlertView, ApiError> {
    let alert: detect::Alert = serde_json::from_str(&stored.body).map_err(|error| {
        ApiError::internal(format!(
            "alert {} cannot be read back: {error}",
            stored.dedup_key
        ))
    })?;
    Ok(AlertView {
        alert,
        detected_at: stored.detected_at,
        updated_at: stored.updated_at,
        handling: Handling {
            state: stored.state.clone(),
            note: stored.state_note.clone(),
            by: stored.state_by.clone(),
            at: stored.state_at,
            acknowledged_at: stored.acknowledged_at,
            resolved_at: stored.resolved_at,
            false_positive: stored.false_positive,
        },
        placements: None,
        suppressed_by: stored.suppressed_by.clone(),
        suppression: None,
    })
}

/// A page of alerts.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AlertPage {
    /// The alerts of this page.
    pub alerts: Vec<AlertView>,
    /// Give this as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Lists alerts, newest first.
#[utoipa::path(
    get, path = "/api/v1/alerts", tag = "alerts",
    params(
        ("rule" = Option<String>, Query, description = "canary-use, instance-credential-exfiltration, foreign-vpc-endpoint, access-denied-burst, canary-drift or canary-exposed"),
        ("severity" = Option<String>, Query, description = "low, medium, high or critical"),
        ("state" = Option<String>, Query, description = "open, acknowledged or resolved"),
        ("canary" = Option<String>, Query, description = "the canary's name"),
        ("since" = Option<String>, Query, description = "detected at or after this RFC 3339 time"),
        ("until" = Option<String>, Query, description = "detected before this RFC 3339 time"),
        ("suppressed" = Option<bool>, Query, description = "true: only alerts a suppression kept from the sinks; false: only the others"),
        ("limit" = Option<u32>, Query, description = "page size, 1 to 500 [default: 100]"),
        ("cursor" = Option<String>, Query, description = "the next_cursor of the previous page"),
    ),
    responses((status = 200, description = "a page of alerts, newest first", body = AlertPage), CommonErrors),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<AlertPage>, ApiError> {
    caller.read(Scope::Viewer)?;
    let mut filter = AlertFilter::default();
    let mut cursor = None;
    let mut limit = None;
    for (key, value) in query_pairs(query.as_deref()) {
        match key.as_str() {
            "rule" => filter.rule = Some(value),
            "severity" => filter.severity = Some(value),
            "state" => {
                if !STATES.contains(&value.as_str()) {
                    return Err(ApiError::invalid(
                        "state",
                        format!("{value:?}: give open, acknowledged or resolved"),
                    ));
                }
                filter.state = Some(value);
            }
            "canary" => filter.canary = Some(value),
            "since" => filter.since = Some(parse_time(&key, &value)?),
            "until" => filter.until = Some(parse_time(&key, &value)?),
            "suppressed" => {
                filter.suppressed = Some(match value.as_str() {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(ApiError::invalid(
                            "suppressed",
                            format!("{other:?}: give true or false"),
                        ))
                    }
                })
            }
            "limit" => limit = Some(parse_limit(&value)?),
            "cursor" => {
                let (detected_at, dedup_key) = decode_time_cursor(&value)?;
                cursor = Some(AlertCursor {
                    detected_at,
                    dedup_key,
                });
            }
            other => {
                return Err(ApiError::invalid(
                    other,
                    "unknown parameter; the filters are rule, severity, state, canary, since, \
                     until, suppressed, limit and cursor",
                ))
            }
        }
    }
    let limit = page_size(limit)?;
    let mut stored = state
        .store
        .alerts_page(&filter, cursor.as_ref(), limit + 1)
        .await?;
    let next_cursor = into_page(&mut stored, limit, |last| {
        encode_time_cursor(last.detected_at, &last.dedup_key)
    });
    Ok(Json(AlertPage {
        alerts: stored.iter().map(alert_view).collect::<Result<_, _>>()?,
        next_cursor,
    }))
}

/// One alert, with the raw record it was raised on.
#[utoipa::path(
    get, path = "/api/v1/alerts/{dedup_key}", tag = "alerts",
    params(("dedup_key" = String, Path, description = "the alert's dedup key")),
    responses(
        (status = 200, description = "the alert with its raw record, where its canary was planted and the suppression that kept it from being sent, when these apply", body = AlertView),
        (status = 404, description = "no such alert", body = ErrorBody), CommonErrors
    ),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    Path(dedup_key): Path<String>,
) -> Result<Json<AlertView>, ApiError> {
    caller.read(Scope::Viewer)?;
    let stored = state
        .store
        .alert(&dedup_key)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("alert {dedup_key:?}")))?;
    let mut alert = alert_view(&stored)?;
    // Where the canary was planted is the first thing a responder asks.
    if let Some(name) = &stored.canary {
        if let Some(canary) = state.store.get_by_name(name).await? {
            alert.placements = Some(state.store.placements(&canary.id).await?);
        }
    }
    // Why it was not sent, and until when such alerts will not be.
    if let Some(id) = &stored.suppressed_by {
        alert.suppression = state.store.suppression(id).await?;
    }
    Ok(Json(alert))
}

/// `{note}` for acknowledge.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// A note for the record.
    pub note: Option<String>,
}

/// `{note, false_positive}` for resolve.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// How it ended.
    pub note: Option<String>,
    /// The alert was no attack (a test, a tool of your own); counts against the alerts'
    /// fidelity in `/api/v1/response`.
    #[serde(default)]
    pub false_positive: bool,
}

/// What a caller asked of an alert's handling.
struct Asked {
    note: Option<String>,
    change: AlertStateChange,
}

async fn set_state(
    state: &ApiState,
    caller: &Caller,
    dedup_key: &str,
    action_name: &'static str,
    asked: Result<Asked, ApiError>,
) -> Result<Json<AlertView>, ApiError> {
    let mut detail = json!({ "note": asked.as_ref().ok().and_then(|asked| asked.note.clone()) });
    if let Ok(Asked {
        change: AlertStateChange::Resolve { false_positive },
        ..
    }) = &asked
    {
        detail["false_positive"] = json!(false_positive);
    }
    let action = Action {
        name: action_name,
        object: Some(dedup_key),
        detail,
    };
    let principal = caller.write(state, &[Scope::Admin], &action).await?;
    let Asked { note, change } = caller.checked(state, &action, asked).await?;
    let result = async {
        if let Some(note) = &note {
            if note.len() > MAX_NOTE_BYTES {
                return Err(ApiError::invalid(
                    "note",
                    format!("{} bytes; at most {MAX_NOTE_BYTES}", note.len()),
                ));
            }
        }
        let stored = state
            .store
            .set_alert_state(
                dedup_key,
                change,
                note.as_deref(),
                &principal.name,
                store::now(),
            )
            .await?
            .ok_or_else(|| ApiError::not_found(format_args!("alert {dedup_key:?}")))?;
        alert_view(&stored)
    }
    .await;
    caller.audited(state, &action, result).await.map(Json)
}

/// Marks an alert acknowledged: someone is on it.
#[utoipa::path(
    post, path = "/api/v1/alerts/{dedup_key}/acknowledge", tag = "alerts",
    params(("dedup_key" = String, Path, description = "the alert's dedup key")),
    request_body = NoteBody,
    responses(
        (status = 200, description = "the alert, with who did it, when and the note", body = AlertView),
        (status = 404, description = "no such alert", body = ErrorBody), CommonErrors
    ),
    security(("bearer" = []))
)]
pub async fn acknowledge(
    State(state): State<ApiState>,
    caller: Caller,
    Path(dedup_key): Path<String>,
    body: Result<JsonBody<NoteBody>, ApiError>,
) -> Result<Json<AlertView>, ApiError> {
    let asked = body.map(|JsonBody(body)| Asked {
        note: body.note,
        change: AlertStateChange::Acknowledge,
    });
    set_state(&state, &caller, &dedup_key, "alert.acknowledge", asked).await
}

/// Marks an alert resolved, and whether it was a false positive.
#[utoipa::path(
    post, path = "/api/v1/alerts/{dedup_key}/resolve", tag = "alerts",
    params(("dedup_key" = String, Path, description = "the alert's dedup key")),
    request_body = ResolveBody,
    responses(
        (status = 200, description = "the alert, with who did it, when, the note and whether it was a false positive", body = AlertView),
        (status = 404, description = "no such alert", body = ErrorBody), CommonErrors
    ),
    security(("bearer" = []))
)]
pub async fn resolve(
    State(state): State<ApiState>,
    caller: Caller,
    Path(dedup_key): Path<String>,
    body: Result<JsonBody<ResolveBody>, ApiError>,
) -> Result<Json<AlertView>, ApiError> {
    let asked = body.map(|JsonBody(body)| Asked {
        note: body.note,
        change: AlertStateChange::Resolve {
            false_positive: body.false_positive,
        },
    });
    set_state(&state, &caller, &dedup_key, "alert.resolve", asked).await
}
