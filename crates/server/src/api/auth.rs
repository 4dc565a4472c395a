//! Who is calling: the bearer token, looked up by its SHA-256, its scopes, and the caller's
//! address; a throttle on addresses that keep failing to authenticate; and the audit record of
//! every mutating call.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use registry::{Principal, Scope};
use store::{AuditOutcome, NewAuditEntry};

use super::error::{ApiError, ErrorCode};
use super::ApiState;

/// Failed authentications from one address within [`FAILURE_WINDOW`] before its failing
/// requests are answered 429 for the rest of the window, unless configured otherwise.
pub const DEFAULT_FAILURES_ALLOWED: u32 = 10;
/// The window failures are counted in, and how long a throttled address waits.
const FAILURE_WINDOW: Duration = Duration::from_secs(300);

/// Counts failed authentications per address, so that guessing tokens is slow and visible.
/// A valid token is always served: the throttle answers only the failing requests, so a
/// guesser sharing an address (a NAT, a proxy) with a real client does not lock it out.
pub struct AuthThrottle {
    failures_allowed: u32,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    total_failures: AtomicU64,
    total_throttled: AtomicU64,
}

impl Default for AuthThrottle {
    fn default() -> AuthThrottle {
        AuthThrottle::new(DEFAULT_FAILURES_ALLOWED)
    }
}

impl AuthThrottle {
    /// A throttle that answers 429 after `failures_allowed` failures from one address within
    /// five minutes; 0 never throttles.
    pub fn new(failures_allowed: u32) -> AuthThrottle {
        AuthThrottle {
            failures_allowed,
            failures: Mutex::default(),
            total_failures: AtomicU64::new(0),
            total_throttled: AtomicU64::new(0),
        }
    }

    /// Whether `address` has failed too often lately.
    fn is_throttled(&self, address: IpAddr) -> bool {
        let failures = self
            .failures
            .lock()
            .expect("the throttle lock is never poisoned");
        self.failures_allowed > 0
            && failures.get(&address).is_some_and(|(since, count)| {
                since.elapsed() < FAILURE_WINDOW && *count >= self.failures_allowed
            })
    }

    fn record_failure(&self, address: IpAddr) {
        self.total_failures.fetch_add(1, Ordering::Relaxed);
        let mut failures = self
            .failures
            .lock()
            .expect("the throttle lock is never poisoned");
        // Old windows are dropped as they are met, and all of them when the map grows large,
        // so a flood of addresses cannot grow it without bound.
        if failures.len() > 10_000 {
            failures.retain(|_, (since, _)| since.elapsed() < FAILURE_WINDOW);
        }
        let entry = failures.entry(address).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= FAILURE_WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }

    /// Failed authentications since start.
    pub fn failures(&self) -> u64 {
        self.total_failures.load(Ordering::Relaxed)
    }

    /// Requests answered 429 since start.
    pub fn throttled(&self) -> u64 {
        self.total_throttled.load(Ordering::Relaxed)
    }
}

/// The caller of an API request: a live token, or why there is none.
pub struct Caller {
    /// The token's permissions, or the error to answer when a route needs one.
    identity: Result<Principal, ApiError>,
    /// The caller's address, when the listener records it.
    pub address: Option<IpAddr>,
}

impl<S> FromRequestParts<S> for Caller
where
    ApiState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Caller, ApiError> {
        let state = &ApiState::from_ref(state);
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(token) = bearer else {
            let missing = ApiError::new(
                ErrorCode::Unauthenticated,
                "send `Authorization: Bearer TOKEN` with a token from `tripkey token create`",
            );
            return Ok(Caller {
                identity: Err(missing),
                address,
            });
        };
        Caller::authenticate(state, &crate::tokens::digest(token), address).await
    }
}

impl Caller {
    /// The caller holding the token whose SHA-256 is `digest`: the bearer token of an API
    /// request, or the token a dashboard session was opened with, looked up anew on every
    /// request so that revoking the token ends its sessions. A failure counts against
    /// `address` in the throttle.
    pub async fn authenticate(
        state: &ApiState,
        digest: &str,
        address: Option<IpAddr>,
    ) -> Result<Caller, ApiError> {
        let now = store::now();
        let refusal = match state.store.use_api_token(digest, now).await {
            Ok(Some(found)) if found.is_live(now) => {
                return Ok(Caller {
                    identity: Ok(Principal::from(&found)),
                    address,
                })
            }
            Ok(Some(found)) if found.revoked_at.is_some() => {
                "this token was revoked; ask for a new one"
            }
            Ok(Some(_)) => "this token has expired; ask for a new one",
            Ok(None) => "unknown token: check that it was copied whole",
            Err(error) => return Err(ApiError::internal(error)),
        };
        if let Some(address) = address {
            if state.throttle.is_throttled(address) {
                state
                    .throttle
                    .total_throttled
                    .fetch_add(1, Ordering::Relaxed);
                return Err(ApiError::new(
                    ErrorCode::TooManyRequests,
                    "too many failed authentications from this address; wait a few minutes",
                ));
            }
            state.throttle.record_failure(address);
        } else {
            state
                .throttle
                .total_failures
                .fetch_add(1, Ordering::Relaxed);
        }
        let identity = Err(ApiError::new(ErrorCode::Unauthenticated, refusal));
        Ok(Caller { identity, address })
    }

    /// The caller's token, when it is live.
    pub fn principal(&self) -> Option<&Principal> {
        self.identity.as_ref().ok()
    }
}

/// What a mutating call is about, for the audit log.
pub struct Action<'a> {
    /// The action's name, e.g. `canary.create`.
    pub name: &'a str,
    /// The object acted on, when known before the call.
    pub object: Option<&'a str>,
    /// What was asked, without secrets.
    pub detail: serde_json::Value,
}

impl Caller {
    /// The caller's permissions for a read: 401 without a live token, 403 without `scope`.
    pub fn read(&self, scope: Scope) -> Result<&Principal, ApiError> {
        let principal = self.identity.as_ref().map_err(clone_error)?;
        if principal.has(scope) {
            Ok(principal)
        } else {
            Err(ApiError::forbidden(format!(
                "this token's scopes do not include {scope}"
            )))
        }
    }

    /// The caller's permissions for a mutating call needing one of `scopes`; a refusal is
    /// written to the audit log before it is returned.
    pub async fn write(
        &self,
        state: &ApiState,
        scopes: &[Scope],
        action: &Action<'_>,
    ) -> Result<&Principal, ApiError> {
        let refusal = match &self.identity {
            Err(error) => clone_error(error),
            Ok(principal) if scopes.iter().any(|&scope| principal.has(scope)) => {
                return Ok(principal)
            }
            Ok(_) => ApiError::forbidden(format!(
                "this token's scopes do not include {}",
                scopes
                    .iter()
                    .map(|scope| scope.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )),
        };
        self.audit(state, action, AuditOutcome::Denied, Some(&refusal.message))
            .await;
        Err(refusal)
    }

    /// Records a mutating call's outcome. A failure to write the log is logged, not returned:
    /// the call has happened by then.
    pub async fn audit(
        &self,
        state: &ApiState,
        action: &Action<'_>,
        outcome: AuditOutcome,
        reason: Option<&str>,
    ) {
        let (actor, scope) = match &self.identity {
            Ok(principal) => (principal.name.clone(), principal.scope_list()),
            Err(_) => ("anonymous".to_owned(), String::new()),
        };
        let mut detail = action.detail.clone();
        if let (Some(reason), Some(object)) = (reason, detail.as_object_mut()) {
            object.insert("reason".to_owned(), reason.into());
        }
        let address = self.address.map(|address| address.to_string());
        let entry = NewAuditEntry {
            at: store::now(),
            actor: &actor,
            scope: &scope,
            action: action.name,
            object: action.object,
            address: address.as_deref(),
            outcome,
            detail,
        };
        if let Err(error) = state.store.audit(&entry).await {
            tracing::error!(%error, action = action.name, "cannot write the audit log");
        }
    }

    /// Passes a successful step on unrecorded; a failed one (a body that cannot be read) is
    /// audited as the call's outcome first, so that no refused call escapes the log.
    pub async fn checked<T>(
        &self,
        state: &ApiState,
        action: &Action<'_>,
        result: Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        if result.is_err() {
            return self.audited(state, action, result).await;
        }
        result
    }

    /// Audits `result` as the outcome of `action` and passes it on.
    pub async fn audited<T>(
        &self,
        state: &ApiState,
        action: &Action<'_>,
        result: Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        match &result {
            Ok(_) => self.audit(state, action, AuditOutcome::Allowed, None).await,
            Err(error) => {
                let outcome = if matches!(error.code, ErrorCode::Forbidden) {
                    AuditOutcome::Denied
                } else {
                    AuditOutcome::Failed
                };
                self.audit(state, action, outcome, Some(&error.message))
                    .await;
            }
        }
        result
    }
}

impl Clone for Caller {
    fn clone(&self) -> Caller {
        Caller {
            identity: self
                .identity
                .as_ref()
                .map(Principal::clone)
                .map_err(clone_error),
            address: self.address,
        }
    }
}

fn clone_error(error: &ApiError) -> ApiError {
    ApiError::new(error.code, error.message.clone())
}
