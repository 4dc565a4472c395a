//! Canary pages: the list with search and label filters, create with a one-time reveal of
//! the credentials, the detail with its timeline, and rotate and revoke behind a
//! confirmation.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use registry::Inventory;
use store::{CanaryRecord, CanaryStatus, Labels};

use super::page::{Nav, Page};
use super::{path_segment, DashboardState};
use crate::api::canaries::{CanaryRequest, IssuedCanary, ReasonBody};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::{ApiState, JsonBody};

/// A canary as a row of a table.
pub struct CanaryRow {
    /// The detail page.
    pub href: String,
    /// Its unique name.
    pub name: String,
    /// `iam-user`, `federation` or `role-session`.
    pub kind: String,
    /// The AWS account.
    pub account: String,
    /// `aws` or `offline`.
    pub issuer: String,
    /// The access key ID.
    pub access_key_id: String,
    /// `key=value` of every label.
    pub labels: Vec<String>,
    /// Its status.
    pub status: String,
    /// When it was issued.
    pub created: String,
    /// When its credentials run out, for short-term canaries.
    pub expires: String,
}

impl CanaryRow {
    /// The row of `canary`.
    pub fn of(canary: &CanaryRecord) -> CanaryRow {
        CanaryRow {
            href: format!("/canaries/{}", path_segment(canary.id.as_str())),
            name: canary.name.clone(),
            kind: canary.kind.to_string(),
            account: canary.account_id.clone(),
            issuer: canary.issuer.to_string(),
            access_key_id: canary.access_key_id.clone(),
            labels: label_list(&canary.labels),
            status: canary.status.to_string(),
            created: canary.created_at.to_string(),
            expires: canary
                .expires_at
                .map_or_else(String::new, |at| at.to_string()),
        }
    }
}

/// `key=value` for each label.
pub fn label_list(labels: &Labels) -> Vec<String> {
    labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect()
}

/// The labels of a form's textarea `field`, one `key=value` per line (blank lines skipped),
/// or why a line is not one.
pub fn label_lines(field: &str, text: &str) -> Result<Labels, ApiError> {
    let mut labels = Labels::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (key, value) = registry::service::label_pair(line).map_err(|error| {
            ApiError::invalid(field, format!("{error}; give one label per line"))
        })?;
        labels.insert(key, value);
    }
    Ok(labels)
}

/// The query without empty fields (a submitted filter form sends them all) and without
/// `cursor`, which the page adds back for the next page.
fn filter_query(query: Option<&str>) -> Vec<(String, String)> {
    crate::api::query_pairs(query)
        .into_iter()
        .filter(|(key, value)| !value.trim().is_empty() && key != "cursor")
        .collect()
}

fn encode_query(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[derive(Template, WebTemplate)]
#[template(path = "canaries.html")]
struct ListPage {
    nav: Nav,
    canaries: Vec<CanaryRow>,
    q: String,
    labels: String,
    status: String,
    statuses: Vec<String>,
    next: Option<String>,
}

/// `GET /canaries`: the API's list, with `label` given as `key=value` or `key:value`, several
/// separated by commas.
pub async fn list(
    State(state): State<DashboardState>,
    page: Page,
    RawQuery(query): RawQuery,
) -> Response {
    let asked = filter_query(query.as_deref());
    let field = |name: &str| {
        asked
            .iter()
            .find(|(key, _)| key == name)
            .map_or_else(String::new, |(_, value)| value.clone())
    };
    let (q, labels, status) = (field("q"), field("label"), field("status"));
    let mut api_query: Vec<(String, String)> = Vec::new();
    if !q.is_empty() {
        api_query.push(("q".to_owned(), q.clone()));
    }
    if !status.is_empty() {
        api_query.push(("status".to_owned(), status.clone()));
    }
    for label in labels.split(',').map(str::trim).filter(|l| !l.is_empty()) {
        api_query.push(("label".to_owned(), label.replacen('=', ":", 1)));
    }
    let cursor = crate::api::query_pairs(query.as_deref())
        .into_iter()
        .find(|(key, _)| key == "cursor");
    let mut with_cursor = api_query.clone();
    with_cursor.extend(cursor);
    let listed = crate::api::canaries::list(
        State(state.app.api.clone()),
        page.caller(),
        RawQuery(Some(encode_query(&with_cursor))),
    )
    .await;
    let Json(found) = match listed {
        Ok(found) => found,
        Err(error) => return page.fail(&error),
    };
    let next = found.next_cursor.map(|cursor| {
        let mut pairs = asked.clone();
        pairs.push(("cursor".to_owned(), cursor));
        format!("/canaries?{}", encode_query(&pairs))
    });
    ListPage {
        nav: page.nav("canaries"),
        canaries: found.canaries.iter().map(CanaryRow::of).collect(),
        q,
        labels,
        status,
        statuses: ["active", "triggered", "expired", "revoked"]
            .map(str::to_owned)
            .to_vec(),
        next,
    }
    .into_response()
}

/// An account the create form offers.
struct AccountChoice {
    account: String,
    issuer: String,
    kinds: String,
    default: bool,
}

/// What the issue form shows: empty, or as sent when it was refused.
#[derive(Default)]
struct IssueForm {
    account: String,
    kind: String,
    name: String,
    owner: String,
    host: String,
    location: String,
    labels: String,
    memo: String,
    profile: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "canary_new.html")]
struct NewPage {
    nav: Nav,
    accounts: Vec<AccountChoice>,
    request_key: String,
    form: IssueForm,
    refusal: Option<String>,
}

/// `GET /canaries/new`.
pub async fn new_form(State(state): State<DashboardState>, page: Page) -> Response {
    render_new(&state, &page, IssueForm::default(), None).await
}

/// The issue form, with `refusal` above it and the fields as sent when an issue was just
/// refused: fixing one field and sending again is one step.
async fn render_new(
    state: &DashboardState,
    page: &Page,
    form: IssueForm,
    refusal: Option<&ApiError>,
) -> Response {
    let issuers = match crate::api::issuers::list(State(state.app.api.clone()), page.caller()).await
    {
        Ok(Json(list)) => list.issuers,
        Err(error) => return page.fail(&error),
    };
    if !page.nav("").can_issue {
        return page.fail(&ApiError::forbidden(
            "this token may not issue canaries; log in with an issuer or admin token",
        ));
    }
    let accounts = issuers
        .iter()
        .map(|issuer| AccountChoice {
            account: issuer.account_id.clone(),
            issuer: issuer.issuer.to_string(),
            kinds: issuer
                .kinds
                .iter()
                .map(|kind| kind.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            default: issuer.default,
        })
        .collect();
    let status = refusal.map_or(StatusCode::OK, |error| error.code.status());
    let body = NewPage {
        nav: page.nav("canaries"),
        accounts,
        request_key: crate::tokens::generate().0,
        form,
        refusal: refusal.map(|error| error.message.clone()),
    };
    (status, body).into_response()
}

/// A placement format's rendering of fresh credentials, with its copy button's target.
struct Rendered {
    id: String,
    title: String,
    text: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "canary_reveal.html")]
struct RevealPage {
    nav: Nav,
    canary: CanaryRow,
    what: &'static str,
    profile: String,
    formats: Vec<Rendered>,
    expiration: Option<String>,
}

/// The one page that shows credentials: never cached, never shown again.
fn reveal(
    page: &Page,
    issued: IssuedCanary,
    what: &'static str,
    profile: Option<String>,
) -> Response {
    let expiration = issued.credentials.expiration.map(|at| at.to_string());
    let issued = issued.render(&placement::Format::ALL, profile.as_deref());
    let profile = profile
        .or_else(|| issued.profile_suggestions.first().cloned())
        .unwrap_or_default();
    let formats = issued
        .rendered
        .into_iter()
        .map(|rendered| Rendered {
            id: format!("credentials-{}", rendered.format),
            title: rendered.title,
            text: rendered.text,
        })
        .collect();
    let mut response = RevealPage {
        nav: page.nav("canaries"),
        canary: CanaryRow::of(&issued.canary),
        what,
        profile,
        formats,
        expiration,
    }
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The profile name the reveal uses: what the form asked, when it is a usable section name
/// of a credentials file; `None` when it asked none, for a plausible generated one.
fn profile_name(asked: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(name) = asked else {
        return Ok(None);
    };
    placement::check_profile_name(&name).map_err(|why| ApiError::invalid("profile", why))?;
    Ok(Some(name))
}

/// `POST /canaries`: issues through the API's handler (same scopes, label rules and audit),
/// then reveals the credentials once. A refusal shows the form again with the reason and
/// the fields as they were sent.
pub async fn create(State(state): State<DashboardState>, page: Page, body: Bytes) -> Response {
    let form = match page.form(&body).await {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let text = |name: &str| form.text(name).unwrap_or_default();
    let sent = IssueForm {
        account: text("account"),
        kind: text("kind"),
        name: text("name"),
        owner: text("owner"),
        host: text("host"),
        location: text("location"),
        labels: form.get("labels").unwrap_or_default().to_owned(),
        memo: text("memo"),
        profile: text("profile"),
    };
    let profile = match profile_name(form.text("profile")) {
        Ok(profile) => profile,
        Err(error) => return render_new(&state, &page, sent, Some(&error)).await,
    };
    let mut labels = Labels::new();
    for key in ["owner", "host", "location"] {
        if let Some(value) = form.text(key) {
            labels.insert(key.to_owned(), value);
        }
    }
    match label_lines("labels", form.get("labels").unwrap_or_default()) {
        Ok(more) => labels.extend(more),
        Err(error) => return render_new(&state, &page, sent, Some(&error)).await,
    }
    let request = CanaryRequest {
        kind: form.text("kind"),
        labels,
        memo: form.text("memo"),
        account: form.text("account"),
        name: form.text("name"),
        formats: Vec::new(),
        profile: None,
    };
    let mut headers = HeaderMap::new();
    if let Some(key) = form
        .text("request_key")
        .and_then(|key| HeaderValue::from_str(&key).ok())
    {
        headers.insert("idempotency-key", key);
    }
    match crate::api::canaries::create(
        State(state.app.api.clone()),
        page.caller(),
        headers,
        Ok(JsonBody(request)),
    )
    .await
    {
        Ok((_, Json(issued))) => reveal(&page, issued, "issued", profile),
        Err(error) if error.code == ErrorCode::InvalidRequest => {
            render_new(&state, &page, sent, Some(&error)).await
        }
        Err(error) => page.fail(&error),
    }
}

/// One entry of a canary's timeline.
struct TimelineEntry {
    /// Sorts the entries: their text forms need not sort as the times do.
    at_ms: i64,
    at: String,
    what: String,
    detail: String,
    is_use: bool,
}

struct PlacementRow {
    host: String,
    path: String,
    format: String,
    user: String,
    at: String,
    by: String,
}

struct AlertLink {
    href: String,
    at: String,
    summary: String,
    severity: String,
    state: String,
}

struct CheckRow {
    subject: String,
    outcome: String,
    detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "canary.html")]
struct DetailPage {
    nav: Nav,
    canary: CanaryRow,
    principal_arn: String,
    memo: String,
    revoked: bool,
    short_term: bool,
    timeline: Vec<TimelineEntry>,
    placements: Vec<PlacementRow>,
    alerts: Option<Vec<AlertLink>>,
    verdict: String,
    flagged: bool,
    checks: Vec<CheckRow>,
}

/// `GET /canaries/{id}`: the API's view plus what `canary check` concludes.
pub async fn detail(
    State(state): State<DashboardState>,
    page: Page,
    Path(id): Path<String>,
) -> Response {
    let view =
        match crate::api::canaries::show(State(state.app.api.clone()), page.caller(), Path(id))
            .await
        {
            Ok(Json(view)) => view,
            Err(error) => return page.fail(&error),
        };
    let check = match Inventory::new(&state.app.store)
        .check(view.canary.id.as_str())
        .await
    {
        Ok(check) => check,
        Err(error) => return page.fail(&ApiError::from(error)),
    };
    let mut timeline: Vec<TimelineEntry> = view
        .history
        .iter()
        .map(|event| TimelineEntry {
            at_ms: event.at.0,
            at: event.at.to_string(),
            what: event.kind.to_string(),
            detail: event_detail(&event.detail),
            is_use: event.kind == store::CanaryEventKind::Triggered,
        })
        .collect();
    timeline.extend(view.placements.iter().map(|placement| TimelineEntry {
        at_ms: placement.created_at.0,
        at: placement.created_at.to_string(),
        what: "planted".to_owned(),
        detail: placement_text(placement),
        is_use: false,
    }));
    timeline.sort_by_key(|entry| entry.at_ms);
    let canary = &view.canary;
    DetailPage {
        nav: page.nav("canaries"),
        canary: CanaryRow::of(canary),
        principal_arn: canary.principal_arn.clone(),
        memo: canary.memo.clone().unwrap_or_default(),
        revoked: canary.status == CanaryStatus::Revoked,
        short_term: canary.kind != store::CanaryKind::IamUser,
        timeline,
        placements: view
            .placements
            .iter()
            .map(|placement| PlacementRow {
                host: placement.host.clone().unwrap_or_default(),
                path: placement.path.clone().unwrap_or_default(),
                format: placement.format.clone().unwrap_or_default(),
                user: placement.user.clone().unwrap_or_default(),
                at: placement.created_at.to_string(),
                by: placement.created_by.clone().unwrap_or_default(),
            })
            .collect(),
        alerts: view.alerts.map(|alerts| {
            alerts
                .iter()
                .map(|alert| AlertLink {
                    href: format!("/alerts/{}", path_segment(&alert.alert.dedup_key)),
                    at: alert.alert.event_time.to_string(),
                    summary: alert.alert.summary.clone(),
                    severity: alert.alert.severity.to_string(),
                    state: alert.handling.state.clone(),
                })
                .collect()
        }),
        verdict: check.verdict.clone(),
        flagged: check.flagged,
        checks: check
            .checks
            .iter()
            .map(|line| CheckRow {
                subject: line.subject.clone(),
                outcome: line.outcome.to_owned(),
                detail: line.detail.clone(),
            })
            .collect(),
    }
    .into_response()
}

/// A history event's detail as one line: its fields, `key: value`.
fn event_detail(detail: &serde_json::Value) -> String {
    match detail {
        serde_json::Value::Object(fields) => fields
            .iter()
            .map(|(key, value)| match value {
                serde_json::Value::String(text) => format!("{key}: {text}"),
                other => format!("{key}: {other}"),
            })
            .collect::<Vec<_>>()
            .join(" · "),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Where a placement is, as one line.
pub fn placement_text(placement: &store::Placement) -> String {
    let mut parts = Vec::new();
    if let Some(host) = &placement.host {
        parts.push(host.clone());
    }
    if let Some(path) = &placement.path {
        parts.push(path.clone());
    }
    if let Some(format) = &placement.format {
        parts.push(format!("({format})"));
    }
    if let Some(user) = &placement.user {
        parts.push(format!("user {user}"));
    }
    parts.join(" ")
}

#[derive(Template, WebTemplate)]
#[template(path = "canary_confirm.html")]
struct ConfirmPage {
    nav: Nav,
    canary: CanaryRow,
    action: &'static str,
    action_href: String,
    short_term: bool,
}

async fn confirm(
    state: &DashboardState,
    page: &Page,
    id: String,
    action: &'static str,
) -> Response {
    // The API refuses the action itself; the page asking for it should not pretend otherwise.
    if !page.nav("canaries").is_admin {
        return page.fail(&ApiError::forbidden(format!(
            "to {action} a canary you need an admin token; sign in with one"
        )));
    }
    let canary = match find_visible(&state.app.api, page, &id).await {
        Ok(canary) => canary,
        Err(error) => return page.fail(&error),
    };
    let row = CanaryRow::of(&canary);
    ConfirmPage {
        nav: page.nav("canaries"),
        action_href: format!("{}/{action}", row.href),
        canary: row,
        action,
        short_term: canary.kind != store::CanaryKind::IamUser,
    }
    .into_response()
}

async fn find_visible(api: &ApiState, page: &Page, id: &str) -> Result<CanaryRecord, ApiError> {
    crate::api::canaries::show(State(api.clone()), page.caller(), Path(id.to_owned()))
        .await
        .map(|Json(view)| view.canary)
}

/// `GET /canaries/{id}/rotate`: asks before rotating.
pub async fn confirm_rotate(
    State(state): State<DashboardState>,
    page: Page,
    Path(id): Path<String>,
) -> Response {
    confirm(&state, &page, id, "rotate").await
}

/// `GET /canaries/{id}/revoke`: asks before revoking.
pub async fn confirm_revoke(
    State(state): State<DashboardState>,
    page: Page,
    Path(id): Path<String>,
) -> Response {
    confirm(&state, &page, id, "revoke").await
}

/// `POST /canaries/{id}/rotate`: a new key (IAM users) or fresh credentials (short-term),
/// revealed once.
pub async fn rotate(
    State(state): State<DashboardState>,
    page: Page,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = match page.form(&body).await {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let profile = match profile_name(form.text("profile")) {
        Ok(profile) => profile,
        Err(error) => return page.fail(&error),
    };
    let api = State(state.app.api.clone());
    let short_term = form.get("short_term") == Some("true");
    let result = if short_term {
        crate::api::canaries::renew(api, page.caller(), Path(id)).await
    } else {
        crate::api::canaries::rotate(api, page.caller(), Path(id)).await
    };
    match result {
        Ok(Json(issued)) => reveal(&page, issued, "rotated", profile),
        Err(error) => page.fail(&error),
    }
}

/// `POST /canaries/{id}/revoke`.
pub async fn revoke(
    State(state): State<DashboardState>,
    page: Page,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = match page.form(&body).await {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let reason = form
        .text("reason")
        .unwrap_or_else(|| "revoked from the dashboard".to_owned());
    match crate::api::canaries::revoke(
        State(state.app.api.clone()),
        page.caller(),
        Path(id),
        Ok(JsonBody(ReasonBody {
            reason: Some(reason),
        })),
    )
    .await
    {
        Ok(Json(revocation)) => Redirect::to(&format!(
            "/canaries/{}",
            path_segment(revocation.canary.id.as_str())
        ))
        .into_response(),
        Err(error) => page.fail(&error),
    }
}
