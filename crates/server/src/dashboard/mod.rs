//! The web dashboard, served at `/`: server-rendered pages over the same handlers as
//! `/api/v1`, so a page shows and allows exactly what the token it was opened with may.
//!
//! - A session cookie stands for an API token (see [`session`]); every request looks the
//!   token up again, so revoking it ends its sessions at once.
//! - Every mutating form carries the session's CSRF token and is checked before anything runs.
//! - Templates are askama's: checked when the crate compiles, escaping every value for HTML,
//!   which is what keeps attacker-controlled text (user agents, ARNs) inert.
//! - Every asset is embedded; the page loads nothing from any other host.

mod alerts;
mod assets;
mod canaries;
mod overview;
pub(crate) mod page;
pub mod session;
mod settings;
mod suppressions;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use crate::api::ApiState;
use crate::AppState;

pub use session::Sessions;

/// The Content-Security-Policy of every answer: nothing from other hosts, no inline script
/// or style, no framing, forms only to this server.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// What the dashboard's handlers share.
#[derive(Clone)]
pub struct DashboardState {
    /// The server's state: the API's, the engine's metrics and the store.
    pub app: AppState,
    /// Open sessions.
    pub sessions: Arc<Sessions>,
    /// Whether cookies are marked `Secure` (the server speaks TLS).
    pub secure_cookies: bool,
}

impl FromRef<DashboardState> for ApiState {
    fn from_ref(state: &DashboardState) -> ApiState {
        state.app.api.clone()
    }
}

/// The dashboard's routes. `secure_cookies` marks the session cookie `Secure`: set it when
/// the server speaks TLS.
pub fn router(app: AppState, secure_cookies: bool) -> Router {
    let state = DashboardState {
        app,
        sessions: Arc::new(Sessions::default()),
        secure_cookies,
    };
    Router::new()
        .route("/", get(overview::page))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/canaries", get(canaries::list).post(canaries::create))
        .route("/canaries/new", get(canaries::new_form))
        .route("/canaries/{id}", get(canaries::detail))
        .route(
            "/canaries/{id}/rotate",
            get(canaries::confirm_rotate).post(canaries::rotate),
        )
        .route(
            "/canaries/{id}/revoke",
            get(canaries::confirm_revoke).post(canaries::revoke),
        )
        .route("/alerts", get(alerts::list))
        .route("/alerts/{key}", get(alerts::detail))
        .route("/alerts/{key}/acknowledge", post(alerts::acknowledge))
        .route("/alerts/{key}/resolve", post(alerts::resolve))
        .route(
            "/suppressions",
            get(suppressions::list).post(suppressions::create),
        )
        .route("/suppressions/{id}/remove", post(suppressions::remove))
        .route("/settings", get(settings::page))
        .route("/settings/tokens", post(settings::create_token))
        .route(
            "/settings/tokens/{name}/revoke",
            post(settings::revoke_token),
        )
        .route("/settings/sinks/{name}/test", post(settings::test_sink))
        .route("/assets/{file}", get(assets::serve))
        .with_state(state)
}

/// Adds the security headers every answer carries, the API's included.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Percent-encodes one path segment (a canary name, an alert's dedup key, a token name), so
/// that a `/` or `?` in it cannot change which route a link reaches.
pub fn path_segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::path_segment;

    #[test]
    fn path_segments_cannot_escape_their_segment() {
        assert_eq!(
            path_segment("canary-use:AKIA/x?y#z"),
            "canary-use%3AAKIA%2Fx%3Fy%23z"
        );
        assert_eq!(path_segment("ok.name_1~"), "ok.name_1~");
        assert_eq!(path_segment("é"), "%C3%A9");
    }
}
