//! Alert pages: the list with filters, and the detail with the event's fields, the canary's
//! labels and placements, the playbook, the raw JSON, and acknowledge and resolve.
//!
//! Every value here may be the attacker's (a user agent, an ARN, request parameters): the
//! templates print them as text, never as markup.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use detect::Details;
use serde_json::json;

use super::canaries::placement_text;
use super::page::{Nav, Page};
use super::{path_segment, DashboardState};
use crate::api::alerts::{AlertView, NoteBody, ResolveBody};
use crate::api::error::ApiError;
use crate::api::JsonBody;

/// An alert as a row of a table.
pub struct AlertRow {
    /// The detail page.
    pub href: String,
    /// When the event happened.
    pub at: String,
    /// The rule id.
    pub rule: String,
    /// The severity.
    pub severity: String,
    /// One line for a person.
    pub summary: String,
    /// The caller's ARN or key.
    pub principal: String,
    /// `sourceIPAddress`.
    pub source_ip: String,
    /// Its handling state.
    pub state: String,
    /// Records that arrived late took it back.
    pub withdrawn: bool,
    /// The suppression that kept it from being sent, if one did.
    pub suppressed_by: Option<String>,
}

impl AlertRow {
    /// The row of `view`.
    pub fn of(view: &AlertView) -> AlertRow {
        let alert = &view.alert;
        AlertRow {
            href: format!("/alerts/{}", path_segment(&alert.dedup_key)),
            at: alert.event_time.to_string(),
            rule: alert.rule.to_string(),
            severity: alert.severity.to_string(),
            summary: alert.summary.clone(),
            principal: alert
                .call
                .principal
                .clone()
                .or_else(|| alert.call.access_key_id.clone())
                .unwrap_or_default(),
            source_ip: alert.call.source_ip.clone().unwrap_or_default(),
            state: view.handling.state.clone(),
            withdrawn: alert.status == detect::AlertStatus::Withdrawn,
            suppressed_by: view.suppressed_by.clone(),
        }
    }
}

/// The rules' ids, for the filters.
pub(super) fn rule_names() -> Vec<&'static str> {
    detect::Rule::ALL.map(detect::Rule::as_str).to_vec()
}

#[derive(Template, WebTemplate)]
#[template(path = "alerts.html")]
struct ListPage {
    nav: Nav,
    alerts: Vec<AlertRow>,
    rule: String,
    state: String,
    severity: String,
    suppressed: String,
    rules: Vec<String>,
    states: Vec<String>,
    severities: Vec<String>,
    next: Option<String>,
}

/// `GET /alerts`.
pub async fn list(
    State(state): State<DashboardState>,
    page: Page,
    RawQuery(query): RawQuery,
) -> Response {
    let asked: Vec<(String, String)> = crate::api::query_pairs(query.as_deref())
        .into_iter()
        .filter(|(key, value)| {
            !value.trim().is_empty()
                && ["rule", "state", "severity", "suppressed", "cursor"].contains(&key.as_str())
        })
        .collect();
    let field = |name: &str| {
        asked
            .iter()
            .find(|(key, _)| key == name)
            .map_or_else(String::new, |(_, value)| value.clone())
    };
    let encode = |pairs: &[(String, String)]| {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    };
    let listed = crate::api::alerts::list(
        State(state.app.api.clone()),
        page.caller(),
        RawQuery(Some(encode(&asked))),
    )
    .await;
    let Json(found) = match listed {
        Ok(found) => found,
        Err(error) => return page.fail(&error),
    };
    let next = found.next_cursor.map(|cursor| {
        let mut pairs: Vec<(String, String)> = asked
            .iter()
            .filter(|(key, _)| key != "cursor")
            .cloned()
            .collect();
        pairs.push(("cursor".to_owned(), cursor));
        format!("/alerts?{}", encode(&pairs))
    });
    let mut nav = page.nav("alerts");
    nav.refresh = 10;
    ListPage {
        nav,
        alerts: found.alerts.iter().map(AlertRow::of).collect(),
        rule: field("rule"),
        state: field("state"),
        severity: field("severity"),
        suppressed: field("suppressed"),
        rules: owned(&rule_names()),
        states: owned(&["open", "acknowledged", "resolved"]),
        severities: owned(&["critical", "high", "medium", "low"]),
        next,
    }
    .into_response()
}

fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

/// A fact of the alert: a name and the value as text.
pub struct Fact {
    /// What it is.
    pub name: &'static str,
    /// Its value.
    pub value: String,
}

fn facts_of(view: &AlertView) -> (Vec<Fact>, Vec<Fact>) {
    let alert = &view.alert;
    let call = &alert.call;
    let mut event = vec![
        Fact {
            name: "Event time",
            value: alert.event_time.to_string(),
        },
        Fact {
            name: "Detected",
            value: view.detected_at.to_string(),
        },
        Fact {
            name: "Call",
            value: format!("{} ({})", call.event_name, call.event_source),
        },
        Fact {
            name: "Region",
            value: call.region.clone(),
        },
    ];
    let optional = [
        ("Principal", &call.principal),
        ("Identity type", &call.identity_type),
        ("Access key", &call.access_key_id),
        ("Account", &call.account_id),
        ("Source address", &call.source_ip),
        ("User agent", &call.user_agent),
        ("Error", &call.error_code),
        ("Event ID", &call.event_id),
        ("VPC endpoint", &call.vpc_endpoint_id),
    ];
    event.extend(optional.into_iter().filter_map(|(name, value)| {
        value.as_ref().map(|value| Fact {
            name,
            value: value.clone(),
        })
    }));
    let fact = |name, value: String| Fact { name, value };
    let details = match &alert.details {
        Details::Canary(canary) => vec![
            fact("Canary", canary.canary.clone()),
            fact("Matched by", canary.matched_by.to_string()),
            fact("Labels", label_text(&canary.labels)),
            fact("Memo", canary.memo.clone().unwrap_or_default()),
        ],
        Details::Exfiltration(found) => vec![
            fact("Reason", format!("{:?}", found.reason)),
            fact("Session", found.session_arn.clone()),
            fact("Instance", found.instance_id.clone()),
            fact("Instance addresses", found.locked_ips.join(", ")),
            fact("Offending address", found.offending_ip.clone()),
            fact(
                "Delivered by IMDSv1",
                if found.imds_v1 { "yes" } else { "no" }.to_owned(),
            ),
        ],
        Details::ForeignVpcEndpoint(found) => vec![
            fact("Session", found.session_arn.clone()),
            fact("Instance", found.instance_id.clone()),
            fact("Endpoint owner", found.vpc_endpoint_account_id.clone()),
        ],
        Details::DenialBurst(burst) => vec![
            fact("Principal", burst.principal_key.clone()),
            fact("Denials", burst.count.to_string()),
            fact("Calls denied", burst.event_names.join(", ")),
            fact("Errors", burst.error_codes.join(", ")),
            fact("Regions", burst.regions.join(", ")),
            fact("First", burst.first_time.to_string()),
            fact("Latest", burst.last_time.to_string()),
        ],
        Details::CanaryDrift(change) | Details::CanaryExposed(change) => vec![
            fact("Canaries", change.canaries.join(", ")),
            fact("Change", change.describe()),
            fact("Seen by", format!("{:?}", change.seen_by)),
            fact("Labels", label_text(&change.labels)),
            fact("Memo", change.memo.clone().unwrap_or_default()),
        ],
    };
    (event, details)
}

/// A canary's labels as `key=value, …`.
fn label_text(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Step {
    title: String,
    detail: String,
}

/// Why an alert was not sent: the suppression's id, its reason and how long it lasts.
struct SuppressionNotice {
    id: String,
    reason: String,
    by: String,
    until: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "alert.html")]
struct DetailPage {
    nav: Nav,
    alert: AlertRow,
    key: String,
    action_base: String,
    status: String,
    withdrawn_because: Option<String>,
    suppression: Option<SuppressionNotice>,
    suppress_similar: String,
    event: Vec<Fact>,
    details: Vec<Fact>,
    canary_href: Option<String>,
    placements: Vec<String>,
    meaning: String,
    checks: Vec<Step>,
    contain: Vec<String>,
    handled_by: String,
    handled_at: String,
    handled_note: String,
    raw: String,
}

/// `GET /alerts/{key}`.
pub async fn detail(
    State(state): State<DashboardState>,
    page: Page,
    Path(key): Path<String>,
) -> Response {
    let view = match crate::api::alerts::show(
        State(state.app.api.clone()),
        page.caller(),
        Path(key),
    )
    .await
    {
        Ok(Json(view)) => view,
        Err(error) => return page.fail(&error),
    };
    let placements: Vec<String> = view
        .placements
        .iter()
        .flatten()
        .map(placement_text)
        .collect();
    let playbook = detect::playbook::playbook(&view.alert, placements.first().map(String::as_str));
    let (event, details) = facts_of(&view);
    let canary_href = view
        .alert
        .canary()
        .map(|canary| format!("/canaries/{}", path_segment(canary)));
    let raw = serde_json::to_string_pretty(&view).unwrap_or_default();
    let row = AlertRow::of(&view);
    DetailPage {
        nav: page.nav("alerts"),
        action_base: row.href.clone(),
        alert: row,
        key: view.alert.dedup_key.clone(),
        status: view.alert.status.as_str().to_owned(),
        withdrawn_because: (view.alert.status == detect::AlertStatus::Withdrawn).then(|| {
            view.alert
                .withdrawn_because
                .clone()
                .unwrap_or_else(|| "records that arrived late took it back".to_owned())
        }),
        suppression: view.suppressed_by.as_ref().map(|id| {
            let record = view.suppression.as_ref();
            SuppressionNotice {
                id: id.clone(),
                reason: record
                    .map(|record| record.reason.clone())
                    .unwrap_or_default(),
                by: record
                    .map(|record| record.created_by.clone())
                    .unwrap_or_default(),
                until: record.map_or_else(String::new, |record| record.expires_at.to_string()),
            }
        }),
        suppress_similar: super::suppressions::similar_href(&view.alert),
        event,
        details,
        canary_href,
        placements,
        meaning: playbook.meaning,
        checks: playbook
            .checks
            .into_iter()
            .map(|check| Step {
                title: check.title,
                detail: check.detail,
            })
            .collect(),
        contain: playbook.contain,
        handled_by: view.handling.by.clone().unwrap_or_default(),
        handled_at: view
            .handling
            .at
            .map_or_else(String::new, |at| at.to_string()),
        handled_note: view.handling.note.clone().unwrap_or_default(),
        raw,
    }
    .into_response()
}

async fn change(
    state: DashboardState,
    page: Page,
    key: String,
    body: Bytes,
    resolve: bool,
) -> Response {
    let form = match page.form(&body).await {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let note = form.text("note");
    let api = State(state.app.api.clone());
    let result = if resolve {
        let body =
            json!({ "note": note, "false_positive": form.get("false_positive") == Some("yes") });
        match serde_json::from_value::<ResolveBody>(body) {
            Ok(body) => {
                crate::api::alerts::resolve(api, page.caller(), Path(key), Ok(JsonBody(body))).await
            }
            Err(error) => return page.fail(&ApiError::invalid("note", error)),
        }
    } else {
        match serde_json::from_value::<NoteBody>(json!({ "note": note })) {
            Ok(body) => {
                crate::api::alerts::acknowledge(api, page.caller(), Path(key), Ok(JsonBody(body)))
                    .await
            }
            Err(error) => return page.fail(&ApiError::invalid("note", error)),
        }
    };
    match result {
        Ok(Json(view)) => Redirect::to(&format!("/alerts/{}", path_segment(&view.alert.dedup_key)))
            .into_response(),
        Err(error) => page.fail(&error),
    }
}

/// `POST /alerts/{key}/acknowledge`.
pub async fn acknowledge(
    State(state): State<DashboardState>,
    page: Page,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    change(state, page, key, body, false).await
}

/// `POST /alerts/{key}/resolve`.
pub async fn resolve(
    State(state): State<DashboardState>,
    page: Page,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    change(state, page, key, body, true).await
}
