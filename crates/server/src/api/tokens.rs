//! `/api/v1/tokens`: make, list and revoke API tokens (admin only). A new token is shown in
//! the answer that makes it and never again; the store keeps its SHA-256.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use registry::Scope;
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::{ApiToken, Labels, NewApiToken};

use super::auth::{Action, Caller};
use super::error::{ApiError, CommonErrors, ErrorBody, ErrorCode};
use super::{parse_time, ApiState, JsonBody};

/// `POST /api/v1/tokens`.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Who holds it, e.g. `mdm-laptops`.
    #[schema(min_length = 1, max_length = 64, pattern = "^[!-~]+$")]
    pub name: String,
    /// What it may do.
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
    /// Labels forced onto every canary it issues.
    #[serde(default)]
    #[schema(schema_with = super::schemas::labels)]
    pub pinned_labels: Labels,
    /// Labels it may set, key to pattern (`*` matches any text).
    #[serde(default)]
    #[schema(schema_with = super::schemas::labels)]
    pub allowed_labels: Labels,
    /// When it stops working (RFC 3339, in the future) [default: never].
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

/// A token just made: shown once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// The token: shown in this answer only.
    pub token: String,
    /// Its record (never the token).
    pub record: ApiToken,
}

/// The token fields the store keeps, checked: a usable name, known scopes, labels within
/// the canary limits.
pub fn check_new_token(
    name: &str,
    scopes: &[String],
    pinned: &Labels,
    allowed: &Labels,
) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            "name",
            "1 to 64 printable ASCII characters without spaces, e.g. mdm-laptops",
        ));
    }
    if scopes.is_empty() {
        return Err(ApiError::invalid(
            "scopes",
            "give at least one of admin, viewer, issuer, ingest",
        ));
    }
    for scope in scopes {
        scope
            .parse::<Scope>()
            .map_err(|error| ApiError::invalid("scopes", error))?;
    }
    registry::service::validate_labels(pinned, None)?;
    registry::service::validate_labels(allowed, None)?;
    Ok(())
}

/// Makes a token.
#[utoipa::path(
    post, path = "/api/v1/tokens", tag = "tokens",
    request_body = TokenRequest,
    responses(
        (status = 201, description = "made; the only answer that holds the token", body = CreatedToken),
        (status = 409, description = "a token of that name exists", body = ErrorBody), CommonErrors
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<JsonBody<TokenRequest>, ApiError>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let (object, detail) = match &body {
        Ok(JsonBody(body)) => (
            Some(body.name.clone()),
            serde_json::to_value(body).unwrap_or_default(),
        ),
        Err(_) => (None, serde_json::json!({})),
    };
    let action = Action {
        name: "token.create",
        object: object.as_deref(),
        detail,
    };
    caller.write(&state, &[Scope::Admin], &action).await?;
    let JsonBody(body) = caller.checked(&state, &action, body).await?;
    let result = async {
        let scope_names: Vec<String> = body.scopes.iter().map(Scope::to_string).collect();
        check_new_token(
            &body.name,
            &scope_names,
            &body.pinned_labels,
            &body.allowed_labels,
        )?;
        let now = store::now();
        let expires_at = body
            .expires_at
            .as_deref()
            .map(|text| parse_time("expires_at", text))
            .transpose()?;
        if expires_at.is_some_and(|at| at <= now) {
            return Err(ApiError::invalid("expires_at", "is not in the future"));
        }
        let (token, digest) = crate::tokens::generate();
        let scopes: Vec<&str> = body.scopes.iter().map(|scope| scope.as_str()).collect();
        let record = state
            .store
            .create_api_token(&NewApiToken {
                name: &body.name,
                sha256_hex: &digest,
                scopes: &scopes,
                pinned_labels: body.pinned_labels.clone(),
                allowed_labels: body.allowed_labels.clone(),
                created_at: now,
                expires_at,
            })
            .await?;
        Ok(CreatedToken { token, record })
    }
    .await;
    let created = caller.audited(&state, &action, result).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Every token's record.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenList {
    /// Every token.
    pub tokens: Vec<ApiToken>,
}

/// Lists tokens (never the tokens themselves).
#[utoipa::path(
    get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, description = "every token's record, never the token", body = TokenList), CommonErrors),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<TokenList>, ApiError> {
    caller.read(Scope::Admin)?;
    let tokens = state.store.api_tokens().await?;
    Ok(Json(TokenList { tokens }))
}

/// Revokes a token.
#[utoipa::path(
    delete, path = "/api/v1/tokens/{name}", tag = "tokens",
    params(("name" = String, Path, description = "the token's name")),
    responses(
        (status = 204, description = "revoked"),
        (status = 404, description = "no live token of that name", body = ErrorBody),
        (status = 409, description = "it is the token the request is made with", body = ErrorBody), CommonErrors
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let action = Action {
        name: "token.revoke",
        object: Some(&name),
        detail: json!({}),
    };
    let principal = caller.write(&state, &[Scope::Admin], &action).await?;
    let result = async {
        if principal.name == name {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "this is the token the request is made with: revoke it with another admin \
                 token, so that the API is never left without one",
            ));
        }
        if state.store.revoke_api_token(&name, store::now()).await? {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::not_found(format_args!(
                "live token named {name:?}"
            )))
        }
    }
    .await;
    caller.audited(&state, &action, result).await
}

/// The name of the admin token `serve` makes on its first start.
pub const BOOTSTRAP_ADMIN: &str = "admin";

/// Makes sure someone can administer the API on first start. A token `supplied` by the
/// operator (`TRIPKEY_ADMIN_TOKEN`, `[serve] admin_token_file`) is recorded as an admin token
/// unless it is known already; otherwise, when no live admin token exists, one is made and
/// returned, to be shown once. `None` when nothing new needs showing.
pub async fn ensure_admin(
    store: &store::Store,
    supplied: Option<&str>,
) -> Result<Option<String>, store::StoreError> {
    let now = store::now();
    let new_admin = |name, digest| NewApiToken {
        name,
        sha256_hex: digest,
        scopes: &["admin"],
        pinned_labels: Labels::new(),
        allowed_labels: Labels::new(),
        created_at: now,
        expires_at: None,
    };
    if let Some(token) = supplied {
        let digest = crate::tokens::digest(token);
        if store.use_api_token(&digest, now).await?.is_none() {
            let name = format!("{BOOTSTRAP_ADMIN}-supplied-{}", &digest[..8]);
            store.create_api_token(&new_admin(&name, &digest)).await?;
        }
        return Ok(None);
    }
    if store.has_live_token_with_scope("admin", now).await? {
        return Ok(None);
    }
    let (token, digest) = crate::tokens::generate();
    let mut name = BOOTSTRAP_ADMIN.to_owned();
    let taken: Vec<String> = store
        .api_tokens()
        .await?
        .into_iter()
        .map(|token| token.name)
        .collect();
    let mut attempt = 1;
    while taken.contains(&name) {
        attempt += 1;
        name = format!("{BOOTSTRAP_ADMIN}-{attempt}");
    }
    store.create_api_token(&new_admin(&name, &digest)).await?;
    Ok(Some(token))
}
