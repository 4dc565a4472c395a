//! What every dashboard page needs: the logged-in caller, the navigation bar, form parsing
//! with the CSRF check, and the error page.

use std::net::{IpAddr, SocketAddr};

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use registry::Scope;

use super::session::cookie_value;
use super::DashboardState;
use crate::api::auth::{Action, Caller};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::ApiState;
use store::AuditOutcome;

/// The navigation bar's facts: who is logged in and what they may do, which decides the
/// controls a page shows (the handlers check again on every action).
#[derive(Clone, Debug, Default)]
pub struct Nav {
    /// The token's name.
    pub user: String,
    /// The token's scopes, for display.
    pub scopes: String,
    /// The session's CSRF token, for forms.
    pub csrf: String,
    /// The section the page belongs to.
    pub active: &'static str,
    /// May read everything (`viewer` or `admin`).
    pub can_view: bool,
    /// May issue canaries (`issuer` or `admin`).
    pub can_issue: bool,
    /// May revoke, rotate, handle alerts and manage tokens.
    pub is_admin: bool,
    /// Reload the page every this many seconds (0: never), for pages of live data.
    pub refresh: u32,
}

/// The address a request came from, when the listener records it.
pub struct PeerAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<PeerAddress, Self::Rejection> {
        Ok(PeerAddress(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| address.ip()),
        ))
    }
}

/// A request from a logged-in browser.
pub struct Page {
    caller: Caller,
    /// The session's cookie value.
    pub cookie: Option<String>,
    nav: Nav,
    /// The API's state, to audit a refused form with.
    api: ApiState,
    /// The path the request went to.
    path: String,
}

impl FromRequestParts<DashboardState> for Page {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &DashboardState,
    ) -> Result<Page, Response> {
        let next: String = form_urlencoded::byte_serialize(
            parts
                .uri
                .path_and_query()
                .map_or("/", |path| path.as_str())
                .as_bytes(),
        )
        .collect();
        let to_login = || Redirect::to(&format!("/login?next={next}")).into_response();
        let cookie = cookie_value(&parts.headers);
        let Some(session) = cookie
            .as_deref()
            .and_then(|cookie| state.sessions.find(cookie))
        else {
            return Err(to_login());
        };
        let Ok(PeerAddress(address)) = PeerAddress::from_request_parts(parts, state).await;
        let caller = Caller::authenticate(&state.app.api, &session.token_digest, address)
            .await
            .map_err(|error| error_page(None, &error))?;
        let Some(principal) = caller.principal() else {
            if let Some(cookie) = &cookie {
                state.sessions.close(cookie);
            }
            return Err(to_login());
        };
        let nav = Nav {
            user: principal.name.clone(),
            scopes: principal
                .scopes
                .iter()
                .map(|scope| scope.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            csrf: session.csrf.clone(),
            active: "",
            can_view: principal.has(Scope::Viewer),
            can_issue: principal.has(Scope::Issuer),
            is_admin: principal.has(Scope::Admin),
            refresh: 0,
        };
        Ok(Page {
            caller,
            cookie,
            nav,
            api: state.app.api.clone(),
            path: parts.uri.path().to_owned(),
        })
    }
}

impl Page {
    /// The caller, to hand to an API handler.
    pub fn caller(&self) -> Caller {
        self.caller.clone()
    }

    /// The navigation bar with `active` highlighted.
    pub fn nav(&self, active: &'static str) -> Nav {
        Nav {
            active,
            ..self.nav.clone()
        }
    }

    /// A submitted form, once its CSRF token is checked; a mismatch is a 403 page, nothing
    /// runs, and the audit log records it as `dashboard.form`, denied, with the path: a form
    /// posted from another site is an attack worth seeing.
    pub async fn form(&self, body: &[u8]) -> Result<FormFields, Box<Response>> {
        let fields = form_fields(body);
        let sent = fields.get("csrf").unwrap_or_default();
        if !same_secret(sent.as_bytes(), self.nav.csrf.as_bytes()) {
            let refusal = ApiError::forbidden(
                "this form is out of date or came from another site; reload the page and try \
                 again",
            );
            let action = Action {
                name: "dashboard.form",
                object: Some(&self.path),
                detail: serde_json::json!({}),
            };
            self.caller
                .audit(
                    &self.api,
                    &action,
                    AuditOutcome::Denied,
                    Some("the form did not carry the session's CSRF token"),
                )
                .await;
            return Err(Box::new(error_page(Some(&self.nav), &refusal)));
        }
        Ok(fields)
    }

    /// The error page for `error`, with the navigation bar.
    pub fn fail(&self, error: &ApiError) -> Response {
        error_page(Some(&self.nav), error)
    }
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The fields of an `application/x-www-form-urlencoded` body, in order, repeats kept.
pub struct FormFields(Vec<(String, String)>);

impl FormFields {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first value of `name`, trimmed, when not empty.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    }

    /// Every value of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Parses a form body.
pub fn form_fields(body: &[u8]) -> FormFields {
    FormFields(
        form_urlencoded::parse(body)
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect(),
    )
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: Nav,
    status: u16,
    reason: String,
    message: String,
}

/// A page saying what went wrong and what to do, with the status the API would answer.
pub fn error_page(nav: Option<&Nav>, error: &ApiError) -> Response {
    let status = error.code.status();
    let reason = match error.code {
        ErrorCode::Unauthenticated => "Not logged in",
        ErrorCode::Forbidden => "Not allowed",
        ErrorCode::NotFound => "Not found",
        ErrorCode::InvalidRequest => "Check the form",
        ErrorCode::Conflict | ErrorCode::CapacityExhausted => "Cannot do that now",
        ErrorCode::IssuerUnavailable => "AWS could not be reached",
        ErrorCode::PayloadTooLarge => "Too large",
        ErrorCode::TooManyRequests => "Too many attempts",
        ErrorCode::Internal => "Something broke",
    };
    (
        status,
        ErrorPage {
            nav: nav.cloned().unwrap_or_default(),
            status: status.as_u16(),
            reason: reason.to_owned(),
            message: error.message.clone(),
        },
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"ab"));
        assert!(!same_secret(b"", b"a"));
    }

    #[test]
    fn form_fields_keep_repeats_and_decode() {
        let fields = form_fields(b"label=a%3Ab&label=c%3Ad&memo=+hi+&empty=");
        assert_eq!(fields.all("label").collect::<Vec<_>>(), ["a:b", "c:d"]);
        assert_eq!(fields.text("memo").as_deref(), Some("hi"));
        assert_eq!(fields.text("empty"), None);
        assert_eq!(fields.get("missing"), None);
    }
}
