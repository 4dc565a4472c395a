//! Dashboard sessions: a login page takes an API token and sets a cookie that stands for it.
//!
//! The cookie holds a random session id, never the token; the server keeps the token's
//! SHA-256 (what the store indexes tokens by) and a CSRF token per session. Sessions live in
//! memory: a restart asks everyone to log in again, which costs a paste of the token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use rand::RngCore as _;
use serde_json::json;
use store::AuditOutcome;

use super::page::{form_fields, Page, PeerAddress};
use super::DashboardState;
use crate::api::auth::{Action, Caller};

/// The session cookie's name.
pub const COOKIE: &str = "tripkey_session";
/// How long a session lasts after login, however active.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3_600);
/// Sessions kept at most; past this, expired ones are dropped, then the oldest.
const MAX_SESSIONS: usize = 10_000;

/// One logged-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    /// The SHA-256 of the token it logged in with.
    pub token_digest: String,
    /// The value every mutating form must carry.
    pub csrf: String,
    opened: Instant,
}

/// The open sessions, by the SHA-256 of their cookie value.
#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

fn random_value() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Sessions {
    /// Opens a session for the token with SHA-256 `token_digest`: the cookie value to set.
    pub fn open(&self, token_digest: String) -> String {
        let cookie = random_value();
        let session = Session {
            token_digest,
            csrf: random_value(),
            opened: Instant::now(),
        };
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.len() >= MAX_SESSIONS {
            open.retain(|_, session| session.opened.elapsed() < SESSION_LIFETIME);
            if open.len() >= MAX_SESSIONS {
                if let Some(oldest) = open
                    .iter()
                    .min_by_key(|(_, session)| session.opened)
                    .map(|(key, _)| key.clone())
                {
                    open.remove(&oldest);
                }
            }
        }
        open.insert(crate::tokens::digest(&cookie), session);
        cookie
    }

    /// The live session a cookie value stands for.
    pub fn find(&self, cookie: &str) -> Option<Session> {
        let key = crate::tokens::digest(cookie);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        match open.get(&key) {
            Some(session) if session.opened.elapsed() < SESSION_LIFETIME => Some(session.clone()),
            Some(_) => {
                open.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends the session a cookie value stands for.
    pub fn close(&self, cookie: &str) {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&crate::tokens::digest(cookie));
    }
}

/// The session cookie's value in a request, if any.
pub fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn set_cookie(value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("the cookie is visible ASCII")
}

/// Where to go after login: a path on this server, never another host.
fn local_target(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    next: String,
    error: Option<String>,
}

/// `GET /login`.
pub async fn login_page(RawQuery(query): RawQuery) -> Response {
    let next = crate::api::query_pairs(query.as_deref())
        .into_iter()
        .find(|(key, _)| key == "next")
        .map(|(_, value)| value);
    LoginPage {
        next: local_target(next.as_deref()),
        error: None,
    }
    .into_response()
}

/// `POST /login`: checks the token as the API would (the same throttle on failures) and
/// opens a session.
pub async fn login(
    State(state): State<DashboardState>,
    PeerAddress(address): PeerAddress,
    body: Bytes,
) -> Response {
    let fields = form_fields(&body);
    let next = local_target(fields.get("next"));
    let token = fields.get("token").unwrap_or_default().trim().to_owned();
    let refused = |status: StatusCode, message: String| {
        (
            status,
            LoginPage {
                next: next.clone(),
                error: Some(message),
            },
        )
            .into_response()
    };
    if token.is_empty() {
        return refused(
            StatusCode::BAD_REQUEST,
            "paste an API token: the one `tripkey serve` printed on its first start, or one \
             from `tripkey token create NAME --scope viewer`"
                .to_owned(),
        );
    }
    let digest = crate::tokens::digest(&token);
    let caller = match Caller::authenticate(&state.app.api, &digest, address).await {
        Ok(caller) => caller,
        Err(error) => return refused(error.code.status(), error.message),
    };
    let action = Action {
        name: "dashboard.login",
        object: None,
        detail: json!({}),
    };
    if caller.principal().is_none() {
        let message = caller
            .read(registry::Scope::Viewer)
            .err()
            .map(|error| error.message)
            .unwrap_or_default();
        caller
            .audit(
                &state.app.api,
                &action,
                AuditOutcome::Denied,
                Some(&message),
            )
            .await;
        return refused(StatusCode::UNAUTHORIZED, message);
    }
    caller
        .audit(&state.app.api, &action, AuditOutcome::Allowed, None)
        .await;
    let cookie = state.sessions.open(digest);
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&cookie, SESSION_LIFETIME.as_secs(), state.secure_cookies),
    );
    response
}

/// `POST /logout`.
pub async fn logout(State(state): State<DashboardState>, page: Page, body: Bytes) -> Response {
    if let Err(refused) = page.form(&body).await {
        return *refused;
    }
    if let Some(cookie) = &page.cookie {
        state.sessions.close(cookie);
    }
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie("", 0, state.secure_cookies));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_cookie_and_ends_on_logout() {
        let sessions = Sessions::default();
        let cookie = sessions.open("digest".to_owned());
        let session = sessions.find(&cookie).expect("the session is open");
        assert_eq!(session.token_digest, "digest");
        assert_ne!(session.csrf, cookie, "the CSRF token is not the cookie");
        assert!(sessions.find("other").is_none());
        sessions.close(&cookie);
        assert!(sessions.find(&cookie).is_none());
    }

    #[test]
    fn login_sends_people_only_to_paths_on_this_server() {
        assert_eq!(
            local_target(Some("/alerts?state=open")),
            "/alerts?state=open"
        );
        assert_eq!(local_target(Some("//evil.example/")), "/");
        assert_eq!(local_target(Some("https://evil.example/")), "/");
        assert_eq!(local_target(Some("/\\evil.example")), "/");
        assert_eq!(local_target(None), "/");
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; tripkey_session=xyz; b=2"),
        );
        assert_eq!(cookie_value(&headers).as_deref(), Some("xyz"));
    }
}
