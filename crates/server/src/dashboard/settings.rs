//! Settings: sinks with a test button, API tokens (create with scopes and pinned labels,
//! revoke) and the audit log. Each section shows when the token may read it.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use registry::Scope;
use store::Labels;

use super::canaries::{label_lines, label_list};
use super::page::{Nav, Page};
use super::{path_segment, DashboardState};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::tokens::TokenRequest;
use crate::api::JsonBody;

struct SinkRow {
    name: String,
    test_href: String,
    state: String,
    delivered: u64,
    pending: u64,
    failures: u64,
    last_error: String,
    last_success: String,
}

struct TokenRow {
    name: String,
    revoke_href: String,
    scopes: String,
    pinned: Vec<String>,
    created: String,
    expires: String,
    last_used: String,
    revoked: bool,
}

struct AuditRow {
    at: String,
    actor: String,
    action: String,
    object: String,
    outcome: String,
    address: String,
    detail: String,
}

/// What the last sink test said, shown at the top of the page.
struct TestResult {
    sink: String,
    delivered: bool,
    message: String,
}

/// What the new-token form shows: empty, or as sent when it was refused.
#[derive(Default)]
struct TokenForm {
    name: String,
    expires_at: String,
    scopes: Vec<String>,
    pinned_labels: String,
}

impl TokenForm {
    fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|sent| sent == scope)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
struct SettingsPage {
    nav: Nav,
    sinks: Vec<SinkRow>,
    tokens: Option<Vec<TokenRow>>,
    audit: Option<Vec<AuditRow>>,
    audit_next: Option<String>,
    test: Option<TestResult>,
    scopes: Vec<&'static str>,
    token_form: TokenForm,
    token_refusal: Option<String>,
}

/// The parts of the page the token may not read are left out, not failed.
fn readable<T>(result: Result<T, ApiError>) -> Result<Option<T>, ApiError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.code == ErrorCode::Forbidden => Ok(None),
        Err(error) => Err(error),
    }
}

/// The page; `token_refusal` (with the form as sent) when a new token was just refused.
async fn render(
    state: &DashboardState,
    page: &Page,
    cursor: Option<String>,
    test: Option<TestResult>,
    token_form: TokenForm,
    token_refusal: Option<&ApiError>,
) -> Response {
    let api = || State(state.app.api.clone());
    let sinks = match readable(crate::api::sinks::list(api(), page.caller()).await) {
        Ok(sinks) => sinks.map(|Json(list)| list.sinks).unwrap_or_default(),
        Err(error) => return page.fail(&error),
    };
    let tokens = match readable(crate::api::tokens::list(api(), page.caller()).await) {
        Ok(tokens) => tokens.map(|Json(list)| list.tokens),
        Err(error) => return page.fail(&error),
    };
    let query = cursor.map(|cursor| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("cursor", &cursor)
            .finish()
    });
    let audit = match readable(crate::api::audit::list(api(), page.caller(), RawQuery(query)).await)
    {
        Ok(audit) => audit.map(|Json(page)| page),
        Err(error) => return page.fail(&error),
    };
    let audit_next = audit
        .as_ref()
        .and_then(|audit| audit.next_cursor.clone())
        .map(|cursor| {
            format!(
                "/settings?{}",
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("cursor", &cursor)
                    .finish()
            )
        });
    let status = token_refusal.map_or(StatusCode::OK, |error| error.code.status());
    let body = SettingsPage {
        nav: page.nav("settings"),
        sinks: sinks
            .into_iter()
            .map(|sink| SinkRow {
                test_href: format!("/settings/sinks/{}/test", path_segment(&sink.name)),
                name: sink.name,
                state: sink.state.to_owned(),
                delivered: sink.delivered,
                pending: sink.pending,
                failures: sink.failures,
                last_error: sink.last_error.unwrap_or_default(),
                last_success: sink
                    .last_success_at
                    .map_or_else(String::new, |at| at.to_string()),
            })
            .collect(),
        tokens: tokens.map(|tokens| {
            tokens
                .into_iter()
                .map(|token| TokenRow {
                    revoke_href: format!("/settings/tokens/{}/revoke", path_segment(&token.name)),
                    name: token.name,
                    scopes: token.scopes.join(", "),
                    pinned: label_list(&token.pinned_labels),
                    created: token.created_at.to_string(),
                    expires: token
                        .expires_at
                        .map_or_else(String::new, |at| at.to_string()),
                    last_used: token
                        .last_used_at
                        .map_or_else(String::new, |at| at.to_string()),
                    revoked: token.revoked_at.is_some(),
                })
                .collect()
        }),
        audit: audit.map(|audit| {
            audit
                .entries
                .into_iter()
                .map(|entry| AuditRow {
                    at: entry.at.to_string(),
                    actor: entry.actor,
                    action: entry.action,
                    object: entry.object.unwrap_or_default(),
                    outcome: entry.outcome.as_str().to_owned(),
                    address: entry.address.unwrap_or_default(),
                    detail: entry.detail.to_string(),
                })
                .collect()
        }),
        audit_next,
        test,
        scopes: Scope::ALL.iter().map(|scope| scope.as_str()).collect(),
        token_form,
        token_refusal: token_refusal.map(|error| error.message.clone()),
    };
    (status, body).into_response()
}

/// `GET /settings`.
pub async fn page(
    State(state): State<DashboardState>,
    page: Page,
    RawQuery(query): RawQuery,
) -> Response {
    let cursor = crate::api::query_pairs(query.as_deref())
        .into_iter()
        .find(|(key, _)| key == "cursor")
        .map(|(_, value)| value);
    render(&state, &page, cursor, None, TokenForm::default(), None).await
}

/// `POST /settings/sinks/{name}/test`: sends the sample alert and shows what the sink said.
pub async fn test_sink(
    State(state): State<DashboardState>,
    page: Page,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refused) = page.form(&body).await {
        return *refused;
    }
    let test = match crate::api::sinks::test(
        State(state.app.api.clone()),
        page.caller(),
        Path(name),
    )
    .await
    {
        Ok(Json(test)) => TestResult {
            message: if test.delivered {
                format!("delivered; look for {} at the receiver", test.dedup_key)
            } else {
                test.error.unwrap_or_default()
            },
            sink: test.sink,
            delivered: test.delivered,
        },
        Err(error) => return page.fail(&error),
    };
    render(&state, &page, None, Some(test), TokenForm::default(), None).await
}

#[derive(Template, WebTemplate)]
#[template(path = "token_created.html")]
struct CreatedPage {
    nav: Nav,
    name: String,
    token: String,
    scopes: String,
}

/// `POST /settings/tokens`: makes a token through the API's handler and shows it once. A
/// refusal shows the page again with the reason and the form as it was sent.
pub async fn create_token(
    State(state): State<DashboardState>,
    page: Page,
    body: Bytes,
) -> Response {
    let form = match page.form(&body).await {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let sent = TokenForm {
        name: form.text("name").unwrap_or_default(),
        expires_at: form.text("expires_at").unwrap_or_default(),
        scopes: form.all("scope").map(str::to_owned).collect(),
        pinned_labels: form.get("pinned_labels").unwrap_or_default().to_owned(),
    };
    let scopes: Vec<Scope> = match form.all("scope").map(str::parse).collect() {
        Ok(scopes) => scopes,
        Err(error) => {
            let error = ApiError::invalid("scope", error);
            return render(&state, &page, None, None, sent, Some(&error)).await;
        }
    };
    let pinned = match label_lines(
        "pinned_labels",
        form.get("pinned_labels").unwrap_or_default(),
    ) {
        Ok(pinned) => pinned,
        Err(error) => return render(&state, &page, None, None, sent, Some(&error)).await,
    };
    let request = TokenRequest {
        name: form.text("name").unwrap_or_default(),
        scopes,
        pinned_labels: pinned,
        allowed_labels: Labels::new(),
        expires_at: form.text("expires_at"),
    };
    match crate::api::tokens::create(
        State(state.app.api.clone()),
        page.caller(),
        Ok(JsonBody(request)),
    )
    .await
    {
        Ok((_, Json(created))) => {
            let mut response = CreatedPage {
                nav: page.nav("settings"),
                scopes: created.record.scopes.join(", "),
                name: created.record.name,
                token: created.token,
            }
            .into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) if error.code == ErrorCode::InvalidRequest => {
            render(&state, &page, None, None, sent, Some(&error)).await
        }
        Err(error) => page.fail(&error),
    }
}

/// `POST /settings/tokens/{name}/revoke`.
pub async fn revoke_token(
    State(state): State<DashboardState>,
    page: Page,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refused) = page.form(&body).await {
        return *refused;
    }
    match crate::api::tokens::revoke(State(state.app.api.clone()), page.caller(), Path(name)).await
    {
        Ok(_) => Redirect::to("/settings").into_response(),
        Err(error) => page.fail(&error),
    }
}
