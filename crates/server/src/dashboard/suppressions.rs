//! Suppressions: the ones in force (or every one), a form to make one, prefilled from an
//! alert's "suppress alerts like this one", and a button to end one. Everything goes
//! through `/api/v1/suppressions`' handlers, so the checks and the audit entries are theirs.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;

use super::page::{Nav, Page};
use super::{path_segment, DashboardState};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::JsonBody;
use pipeline::suppressions::SuppressionAsk;

/// The link that opens the form with `alert`'s rule, principal and source filled in.
pub fn similar_href(alert: &detect::Alert) -> String {
    let call = &alert.call;
    let principal = call.principal.as_ref().or(call.access_key_id.as_ref());
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("rule", alert.rule.as_str());
    if let Some(principal) = principal {
        query.append_pair("principal", principal);
    }
    // CloudTrail names a service (`ec2.amazonaws.com`, `AWS Internal`) where it has no
    // address: only an address becomes a network.
    if let Some(address) = call
        .source_ip
        .as_deref()
        .and_then(|source| source.parse::<std::net::IpAddr>().ok())
    {
        let bits = if address.is_ipv6() { 128 } else { 32 };
        query.append_pair("source_cidr", &format!("{address}/{bits}"));
    }
    format!("/suppressions?{}#new-suppression", query.finish())
}

struct Row {
    id: String,
    conditions: Vec<String>,
    covers_canaries: bool,
    reason: String,
    by: String,
    created: String,
    until: String,
    ended: String,
    remove_href: String,
}

/// What the form shows: empty, prefilled from an alert, or as sent when it was refused.
#[derive(Default)]
struct FormValues {
    rule: String,
    principal: String,
    source_cidr: String,
    user_agent: String,
    lasts: String,
    reason: String,
    include_canaries: bool,
}

impl FormValues {
    fn protected_rule(&self) -> bool {
        notify::suppress::PROTECTED_RULES
            .iter()
            .any(|protected| protected.as_str() == self.rule)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "suppressions.html")]
struct ListPage {
    nav: Nav,
    rows: Vec<Row>,
    all: bool,
    rules: Vec<&'static str>,
    form: FormValues,
    refusal: Option<String>,
}

/// `GET /suppressions`.
pub async fn list(
    State(state): State<DashboardState>,
    page: Page,
    RawQuery(query): RawQuery,
) -> Response {
    let asked = crate::api::query_pairs(query.as_deref());
    let field = |name: &str| {
        asked
            .iter()
            .find(|(key, _)| key == name)
            .map_or_else(String::new, |(_, value)| value.clone())
    };
    let form = FormValues {
        rule: field("rule"),
        principal: field("principal"),
        source_cidr: field("source_cidr"),
        user_agent: field("user_agent"),
        ..FormValues::default()
    };
    render(&state, &page, field("all") == "true", form, None).await
}

/// The page, with `refusal` above the form when a suppression was just refused.
async fn render(
    state: &DashboardState,
    page: &Page,
    all: bool,
    form: FormValues,
    refusal: Option<&ApiError>,
) -> Response {
    let listed = crate::api::suppressions::list(
        State(state.app.api.clone()),
        page.caller(),
        RawQuery(Some(format!("all={all}"))),
    )
    .await;
    let Json(found) = match listed {
        Ok(found) => found,
        Err(error) => return page.fail(&error),
    };
    let status = refusal.map_or(StatusCode::OK, |error| error.code.status());
    let body = ListPage {
        nav: page.nav("alerts"),
        rows: found
            .suppressions
            .into_iter()
            .map(|record| row(record, store::now()))
            .collect(),
        all,
        rules: super::alerts::rule_names(),
        form,
        refusal: refusal.map(|error| error.message.clone()),
    };
    (status, body).into_response()
}

fn row(record: store::SuppressionRecord, now: store::EventTime) -> Row {
    Row {
        remove_href: format!("/suppressions/{}/remove", path_segment(&record.id)),
        conditions: record
            .conditions()
            .into_iter()
            .map(|(name, value)| format!("{name} = {value}"))
            .collect(),
        id: record.id,
        covers_canaries: record.covers_canaries,
        reason: record.reason,
        by: record.created_by,
        created: record.created_at.to_string(),
        until: record.expires_at.to_string(),
        ended: match record.removed_at {
            Some(at) => format!("removed {at} by {}", record.removed_by.unwrap_or_default()),
            None if record.expires_at <= now => "expired".to_owned(),
            None => String::new(),
        },
    }
}

/// `POST /suppressions`. A refusal shows the page again with the reason and the fields as
/// they were sent.
pub async fn create(State(state): State<DashboardState>, page: Page, body: Bytes) -> Response {
    let fields = match page.form(&body).await {
        Ok(fields) => fields,
        Err(refused) => return *refused,
    };
    let text = |name: &str| fields.text(name).unwrap_or_default();
    let form = FormValues {
        rule: text("rule"),
        principal: text("principal"),
        source_cidr: text("source_cidr"),
        user_agent: text("user_agent"),
        lasts: text("for"),
        reason: text("reason"),
        include_canaries: fields.get("include_canaries") == Some("yes"),
    };
    // Empty fields are no conditions: the service drops them, as it does for the API.
    let ask = SuppressionAsk {
        rule: Some(form.rule.clone()),
        principal: Some(form.principal.clone()),
        source_cidr: Some(form.source_cidr.clone()),
        user_agent: Some(form.user_agent.clone()),
        lasts: form.lasts.clone(),
        reason: form.reason.clone(),
        include_canaries: form.include_canaries,
    };
    match crate::api::suppressions::create(
        State(state.app.api.clone()),
        page.caller(),
        Ok(JsonBody(ask)),
    )
    .await
    {
        Ok(_) => Redirect::to("/suppressions").into_response(),
        Err(error) if error.code == ErrorCode::InvalidRequest => {
            render(&state, &page, false, form, Some(&error)).await
        }
        Err(error) => page.fail(&error),
    }
}

/// `POST /suppressions/{id}/remove`.
pub async fn remove(
    State(state): State<DashboardState>,
    page: Page,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refused) = page.form(&body).await {
        return *refused;
    }
    match crate::api::suppressions::remove(State(state.app.api.clone()), page.caller(), Path(id))
        .await
    {
        Ok(_) => Redirect::to("/suppressions").into_response(),
        Err(error) => page.fail(&error),
    }
}

#[cfg(test)]
mod tests {
    use super::similar_href;

    #[test]
    fn only_an_address_is_offered_as_a_network() {
        let mut alert = notify::sample_notification(trail::EventTime(1_764_000_000_000)).alert;
        alert.call.source_ip = Some("203.0.113.9".to_owned());
        assert!(similar_href(&alert).contains("source_cidr=203.0.113.9%2F32"));
        alert.call.source_ip = Some("2001:db8::1".to_owned());
        assert!(similar_href(&alert).contains("source_cidr=2001%3Adb8%3A%3A1%2F128"));
        for service in ["ec2.amazonaws.com", "AWS Internal"] {
            alert.call.source_ip = Some(service.to_owned());
            assert!(!similar_href(&alert).contains("source_cidr"), "{service}");
        }
    }
}
