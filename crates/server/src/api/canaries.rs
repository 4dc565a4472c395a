//! `/api/v1/canaries`: issue, list, show, rotate, renew and revoke canaries, and record where
//! they were planted.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use keys::AccountId;
use registry::{CanaryService, CreateRequest, Inventory, Principal, Scope, SharedIssuer};
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::{
    AlertCursor, AlertFilter, CanaryCursor, CanaryFilter, CanaryKind, CanaryRecord, CanaryStatus,
    Labels, NewPlacement,
};

use super::auth::{Action, Caller};
use super::error::{ApiError, CommonErrors, ErrorBody, ErrorCode};
use super::{
    decode_time_cursor, encode_time_cursor, into_page, page_size, parse_limit, parse_time,
    query_pairs, ApiState, JsonBody,
};

/// How long an `Idempotency-Key` is remembered.
const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 3_600 * 1_000;
/// The longest `Idempotency-Key` taken.
const MAX_IDEMPOTENCY_KEY: usize = 255;
/// Alerts listed with one canary.
const ALERTS_WITH_CANARY: u32 = 100;

/// `POST /api/v1/canaries`: what to issue.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryRequest {
    /// `iam-user` (the default), `federation` or `role-session`.
    #[schema(value_type = Option<store::CanaryKind>)]
    pub kind: Option<String>,
    /// Where it will be planted: owner, host, location and free labels.
    #[serde(default)]
    #[schema(schema_with = super::schemas::labels)]
    pub labels: Labels,
    /// A note shown with every alert.
    #[schema(max_length = 1024)]
    pub memo: Option<String>,
    /// The account to issue in, one of those `GET /api/v1/issuers` lists [default: the
    /// server's first].
    #[schema(pattern = "^[0-9]{12}$")]
    pub account: Option<String>,
    /// A name instead of a generated one.
    #[schema(pattern = "^[A-Za-z0-9_+=,.@-]{2,32}$")]
    pub name: Option<String>,
    /// Placement formats to render the credentials in, in this answer: `credentials-profile`,
    /// `config-profile`, `env`, `fish`, `powershell`, `dotenv`, `json`, `sts-json`,
    /// `secrets-manager`, `kubernetes`, `github-actions`, `gitlab-ci`, `terraform`.
    #[serde(default)]
    #[schema(max_items = 13)]
    pub formats: Vec<String>,
    /// The profile name (and Kubernetes Secret name) the rendered formats use [default: the
    /// first of `profile_suggestions`].
    #[schema(pattern = "^[A-Za-z0-9_.@+=,-]{1,64}$")]
    pub profile: Option<String>,
}

/// Credentials, in the one answer that carries them.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Credentials {
    /// The access key ID.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token of short-term credentials.
    pub session_token: Option<String>,
    /// When short-term credentials run out.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expiration: Option<store::EventTime>,
    /// The region to name in the planted profile.
    pub region: String,
}

/// The credentials rendered in one placement format.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RenderedPlacement {
    /// The format's id, as asked.
    pub format: String,
    /// The format's name for people.
    pub title: String,
    /// The text to plant.
    pub text: String,
}

/// How many profile names an issue answer suggests.
const PROFILE_SUGGESTIONS: u32 = 8;

/// A canary with the credentials just issued for it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IssuedCanary {
    /// The canary.
    pub canary: CanaryRecord,
    /// Its credentials: this answer is the only one that holds them.
    pub credentials: Credentials,
    /// Plausible profile names for planting it, such as `billing-admin`; a planter takes the
    /// first its file does not hold yet.
    pub profile_suggestions: Vec<String>,
    /// The credentials in each format the request asked for, in the order asked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rendered: Vec<RenderedPlacement>,
}

/// The formats a request names, refusing an unknown one before anything is issued.
fn parse_formats(ids: &[String]) -> Result<Vec<placement::Format>, ApiError> {
    ids.iter()
        .map(|id| {
            id.parse()
                .map_err(|error| ApiError::invalid("formats", error))
        })
        .collect()
}

impl IssuedCanary {
    /// Adds the credentials rendered in `formats`, under `profile` or the first suggestion.
    pub fn render(mut self, formats: &[placement::Format], profile: Option<&str>) -> IssuedCanary {
        let profile = profile
            .or(self.profile_suggestions.first().map(String::as_str))
            .unwrap_or("default")
            .to_owned();
        let expiration = self.credentials.expiration.map(|at| at.to_string());
        let credentials = placement::Credentials {
            access_key_id: &self.credentials.access_key_id,
            secret_access_key: &self.credentials.secret_access_key,
            session_token: self.credentials.session_token.as_deref(),
            expiration: expiration.as_deref(),
            region: &self.credentials.region,
        };
        let rendered = formats
            .iter()
            .map(|&format| RenderedPlacement {
                format: format.id().to_owned(),
                title: format.title().to_owned(),
                text: placement::render(format, &credentials, &profile),
            })
            .collect();
        self.rendered = rendered;
        self
    }
}

fn issued(state: &ApiState, canary: CanaryRecord, credentials: &registry::Issued) -> IssuedCanary {
    let profile_suggestions = (0..PROFILE_SUGGESTIONS)
        .map(|attempt| keys::profile_name(canary.id.as_str(), attempt))
        .fold(Vec::new(), |mut names, name| {
            if !names.contains(&name) {
                names.push(name);
            }
            names
        });
    IssuedCanary {
        canary,
        profile_suggestions,
        rendered: Vec::new(),
        credentials: Credentials {
            access_key_id: credentials.access_key_id.clone(),
            secret_access_key: credentials.secret_access_key.expose().to_owned(),
            session_token: credentials
                .session_token
                .as_ref()
                .map(|token| token.expose().to_owned()),
            expiration: credentials.expires_at,
            region: state.region.clone(),
        },
    }
}

fn service(state: &ApiState, issuer: &SharedIssuer) -> CanaryService<SharedIssuer> {
    CanaryService::new(state.store.clone(), issuer.clone(), state.settings.clone())
}

fn parse_kind(text: Option<&str>) -> Result<CanaryKind, ApiError> {
    match text {
        None => Ok(CanaryKind::IamUser),
        Some(text) => text
            .parse()
            .map_err(|error| ApiError::invalid("kind", error)),
    }
}

fn pick_issuer<'a>(
    state: &'a ApiState,
    account: Option<&str>,
) -> Result<&'a SharedIssuer, ApiError> {
    if state.issuers.is_empty() {
        return Err(ApiError::new(
            ErrorCode::IssuerUnavailable,
            "this server has no issuer configured: set [aws] or [canary] offline_account in its \
             tripkey.toml",
        ));
    }
    let account = account
        .map(|text| {
            text.parse::<AccountId>()
                .map_err(|error| ApiError::invalid("account", error))
        })
        .transpose()?;
    state.issuers.pick(account).ok_or_else(|| {
        let known: Vec<String> = state
            .issuers
            .iter()
            .map(|issuer| issuer.account().to_string())
            .collect();
        ApiError::invalid(
            "account",
            format!(
                "no issuer for account {}; this server issues in {}",
                account.map(|a| a.to_string()).unwrap_or_default(),
                known.join(", ")
            ),
        )
    })
}

/// Issues a canary. The answer is the only one that ever holds its credentials.
#[utoipa::path(
    post, path = "/api/v1/canaries", tag = "canaries",
    request_body = CanaryRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "a repeat within 24 h issues nothing and answers 409 naming the first canary")),
    responses(
        (status = 201, description = "issued; the only answer that holds these credentials", body = IssuedCanary),
        (status = 409, description = "the Idempotency-Key was used already, or the account is full", body = ErrorBody),
        (status = 413, description = "the body is over 64 KiB", body = ErrorBody),
        (status = 503, description = "the issuer cannot be reached", body = ErrorBody), CommonErrors
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<JsonBody<CanaryRequest>, ApiError>,
) -> Result<(StatusCode, Json<IssuedCanary>), ApiError> {
    let asked = body.as_ref().map_or_else(
        |_| json!({}),
        |JsonBody(body)| {
            json!({
                "kind": body.kind, "labels": body.labels, "account": body.account,
                "name": body.name, "memo": body.memo.is_some(), "formats": body.formats,
            })
        },
    );
    let action = Action {
        name: "canary.create",
        object: None,
        detail: asked.clone(),
    };
    let principal = caller.write(&state, &[Scope::Issuer], &action).await?;
    let JsonBody(body) = caller.checked(&state, &action, body).await?;
    let idempotency_key = headers
        .get("idempotency-key")
        .map(|value| {
            value
                .to_str()
                .ok()
                .filter(|key| !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY)
                .map(str::to_owned)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "Idempotency-Key",
                        format!("give 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
                    )
                })
        })
        .transpose();
    let result = issue(&state, principal, body, idempotency_key).await;
    if result.is_ok() {
        state.canaries_changed().await;
    }
    let object = result.as_ref().ok().map(|done| done.canary.id.to_string());
    let action = Action {
        name: "canary.create",
        object: object.as_deref(),
        detail: asked,
    };
    let done = caller.audited(&state, &action, result).await?;
    Ok((StatusCode::CREATED, Json(done)))
}

async fn issue(
    state: &ApiState,
    principal: &Principal,
    body: CanaryRequest,
    idempotency_key: Result<Option<String>, ApiError>,
) -> Result<IssuedCanary, ApiError> {
    let idempotency_key = idempotency_key?;
    let kind = parse_kind(body.kind.as_deref())?;
    let formats = parse_formats(&body.formats)?;
    if let Some(profile) = &body.profile {
        placement::check_profile_name(profile).map_err(|why| ApiError::invalid("profile", why))?;
    }
    let labels = principal.labels_for_issue(body.labels)?;
    let issuer = pick_issuer(state, body.account.as_deref())?;
    if !issuer.kinds().contains(&kind) {
        return Err(ApiError::invalid(
            "kind",
            format!(
                "the issuer of account {} does not issue {kind} canaries; it issues {}",
                issuer.account(),
                issuer
                    .kinds()
                    .iter()
                    .map(|kind| kind.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let now = store::now();
    let window_start = now.offset(-IDEMPOTENCY_WINDOW_MS);
    if let Some(key) = &idempotency_key {
        if let Some(first) = state
            .store
            .idempotent_canary(&principal.name, key, window_start)
            .await?
        {
            return Err(repeated(&first));
        }
    }
    let service = service(state, issuer);
    let created = service
        .create(CreateRequest {
            kind,
            labels,
            memo: body.memo,
            keep_secret: false,
            name: body.name,
            issued_by: Some(principal.name.clone()),
        })
        .await?;
    if let Some(key) = &idempotency_key {
        let first = state
            .store
            .remember_idempotency_key(&principal.name, key, &created.record.id, now, window_start)
            .await?;
        if !first {
            // Another request with the same key won the race: this canary must not exist.
            service
                .revoke(created.record.id.as_str(), "repeated Idempotency-Key")
                .await?;
            let winner = state
                .store
                .idempotent_canary(&principal.name, key, window_start)
                .await?
                .unwrap_or(created.record.id);
            return Err(repeated(&winner));
        }
    }
    Ok(issued(state, created.record, &created.credentials)
        .render(&formats, body.profile.as_deref()))
}

fn repeated(first: &store::CanaryId) -> ApiError {
    ApiError {
        code: ErrorCode::Conflict,
        message: format!(
            "this Idempotency-Key already issued canary {first}; credentials are never shown \
             twice, so if that answer was lost, revoke {first} and ask again with a new key"
        ),
        extra: Some(json!({ "canary_id": first.as_str() })),
    }
}

/// A page of canaries.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CanaryPage {
    /// The canaries of this page.
    pub canaries: Vec<CanaryRecord>,
    /// Give this as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Lists canaries: every one with `viewer`, its own with `issuer`.
#[utoipa::path(
    get, path = "/api/v1/canaries", tag = "canaries",
    params(
        ("status" = Option<store::CanaryStatus>, Query, description = "only canaries in this status"),
        ("kind" = Option<store::CanaryKind>, Query, description = "only canaries of this kind"),
        ("account" = Option<String>, Query, description = "only canaries in this account"),
        ("label" = Option<Vec<String>>, Query, description = "only canaries with this label, as key:value (repeatable)"),
        ("expiring_before" = Option<String>, Query, description = "only canaries expiring before this RFC 3339 time"),
        ("q" = Option<String>, Query, description = "name or access key ID substring"),
        ("limit" = Option<u32>, Query, description = "page size, 1 to 500 [default: 100]"),
        ("cursor" = Option<String>, Query, description = "the next_cursor of the previous page"),
    ),
    responses((status = 200, description = "a page of canaries", body = CanaryPage), CommonErrors),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<CanaryPage>, ApiError> {
    let principal = caller
        .read(Scope::Viewer)
        .or_else(|_| caller.read(Scope::Issuer))?;
    let mut filter = CanaryFilter::default();
    let mut cursor = None;
    let mut limit = None;
    for (key, value) in query_pairs(query.as_deref()) {
        match key.as_str() {
            "status" => {
                filter.status = Some(
                    value
                        .parse::<CanaryStatus>()
                        .map_err(|error| ApiError::invalid("status", error))?,
                )
            }
            "kind" => filter.kind = Some(parse_kind(Some(&value))?),
            "account" => filter.account_id = Some(value),
            "label" => {
                let (label, wanted) = value.split_once(':').ok_or_else(|| {
                    ApiError::invalid("label", format!("{value:?} is not key:value"))
                })?;
                filter.labels.push((label.to_owned(), wanted.to_owned()));
            }
            "expiring_before" => filter.expiring_before = Some(parse_time(&key, &value)?),
            "q" => filter.text = Some(value),
            "limit" => limit = Some(parse_limit(&value)?),
            "cursor" => {
                let (created_at, id) = decode_time_cursor(&value)?;
                let id = id
                    .parse()
                    .map_err(|_| ApiError::invalid("cursor", "not a cursor this API gave out"))?;
                cursor = Some(CanaryCursor { created_at, id });
            }
            other => {
                return Err(ApiError::invalid(
                    other,
                    "unknown parameter; the filters are status, kind, account, label, \
                     expiring_before, q, limit and cursor",
                ))
            }
        }
    }
    if !principal.reads_everything() {
        filter.issued_by = Some(principal.name.clone());
    }
    let limit = page_size(limit)?;
    let mut canaries = state
        .store
        .list_page(&filter, cursor.as_ref(), limit + 1)
        .await?;
    let next_cursor = into_page(&mut canaries, limit, |last| {
        encode_time_cursor(last.created_at, last.id.as_str())
    });
    Ok(Json(CanaryPage {
        canaries,
        next_cursor,
    }))
}

/// The canary `id` if the caller may see it: 404 when there is none, 403 when it is
/// another token's.
async fn visible(
    state: &ApiState,
    principal: &Principal,
    id: &str,
) -> Result<CanaryRecord, ApiError> {
    let canary = Inventory::new(&state.store).find(id).await?;
    if !principal.may_see(&canary) {
        return Err(ApiError::forbidden(
            "this token may see only the canaries it issued",
        ));
    }
    Ok(canary)
}

/// One canary with its keys, history, placements and (for readers) alerts.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CanaryView {
    /// The canary.
    pub canary: CanaryRecord,
    /// Its access keys, current and retired.
    pub keys: Vec<store::CanaryKey>,
    /// What happened to it, oldest first.
    pub history: Vec<store::CanaryEvent>,
    /// Where it was planted.
    pub placements: Vec<store::Placement>,
    /// The alerts of this page.
    pub alerts: Option<Vec<super::alerts::AlertView>>,
}

/// Shows one canary.
#[utoipa::path(
    get, path = "/api/v1/canaries/{id}", tag = "canaries",
    params(("id" = String, Path, description = "the canary's id or name")),
    responses(
        (status = 200, description = "the canary, its keys, history, placements and (for readers) alerts", body = CanaryView),
        (status = 404, description = "no such canary", body = ErrorBody), CommonErrors
    ),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CanaryView>, ApiError> {
    let principal = caller
        .read(Scope::Viewer)
        .or_else(|_| caller.read(Scope::Issuer))?;
    let canary = visible(&state, principal, &id).await?;
    let detail = Inventory::new(&state.store)
        .detail(canary.id.as_str())
        .await?;
    let placements = state.store.placements(&canary.id).await?;
    let alerts = if principal.reads_everything() {
        let filter = AlertFilter {
            canary: Some(canary.name.clone()),
            ..AlertFilter::default()
        };
        let stored = state
            .store
            .alerts_page(&filter, None::<&AlertCursor>, ALERTS_WITH_CANARY)
            .await?;
        Some(
            stored
                .iter()
                .map(super::alerts::alert_view)
                .collect::<Result<_, _>>()?,
        )
    } else {
        None
    };
    Ok(Json(CanaryView {
        canary: detail.canary,
        keys: detail.keys,
        history: detail.history,
        placements,
        alerts,
    }))
}

/// The issuer that made `canary`, which is the one that can act on it.
fn issuer_of<'a>(state: &'a ApiState, canary: &CanaryRecord) -> Result<&'a SharedIssuer, ApiError> {
    state.issuers.for_canary(canary).ok_or_else(|| {
        ApiError::new(
            ErrorCode::IssuerUnavailable,
            format!(
                "this server has no {} issuer for account {}, which canary {} belongs to",
                canary.issuer, canary.account_id, canary.id
            ),
        )
    })
}

/// Refuses an issuing token acting on another token's canary; `admin` may act on any.
fn ensure_may_act(
    principal: &Principal,
    canary: &CanaryRecord,
    what: &str,
) -> Result<(), ApiError> {
    if principal.has(Scope::Admin) || principal.owns(canary) {
        return Ok(());
    }
    Err(ApiError::forbidden(format!(
        "this token may {what} only the canaries it issued"
    )))
}

/// `{reason}` for revoke; `{}` or nothing for rotate and renew.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Why, for the audit log and its history.
    pub reason: Option<String>,
}

async fn replace(
    state: &ApiState,
    caller: &Caller,
    id: &str,
    action_name: &str,
    scopes: &[Scope],
    want_short_term: Option<bool>,
) -> Result<Json<IssuedCanary>, ApiError> {
    let action = Action {
        name: action_name,
        object: Some(id),
        detail: json!({}),
    };
    let principal = caller.write(state, scopes, &action).await?;
    let result = async {
        let canary = Inventory::new(&state.store).find(id).await?;
        ensure_may_act(principal, &canary, "act on")?;
        match want_short_term {
            Some(true) if canary.kind == CanaryKind::IamUser => {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    "an IAM-user canary has no expiry to renew; rotate its key instead",
                ))
            }
            Some(false) if canary.kind != CanaryKind::IamUser => {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    "a short-term canary is renewed, not rotated: POST .../renew",
                ))
            }
            _ => {}
        }
        let issuer = issuer_of(state, &canary)?;
        let replaced = service(state, issuer).rotate(canary.id.as_str()).await?;
        state.canaries_changed().await;
        Ok(issued(state, replaced.record, &replaced.credentials))
    }
    .await;
    caller.audited(state, &action, result).await.map(Json)
}

/// Gives an IAM-user canary a new key (the old one works through the grace period).
#[utoipa::path(
    post, path = "/api/v1/canaries/{id}/rotate", tag = "canaries",
    params(("id" = String, Path, description = "the canary's id or name")),
    responses(
        (status = 200, description = "a new key for an IAM-user canary; the old one works through the grace period; the only answer that holds them", body = IssuedCanary),
        (status = 404, description = "no such canary", body = ErrorBody),
        (status = 409, description = "the canary is revoked, or of the other kind", body = ErrorBody),
        (status = 503, description = "the issuer cannot be reached", body = ErrorBody), CommonErrors
    ),
    security(("bearer" = []))
)]
pub async fn rotate(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<IssuedCanary>, ApiError> {
    replace(
        &state,
        &caller,
        &id,
        "canary.rotate",
        &[Scope::Admin],
        Some(false),
    )
    .await
}

/// Renews a short-term canary under the same name.
#[utoipa::path(
    post, path = "/api/v1/canaries/{id}/renew", tag = "canaries",
    params(("id" = String, Path, description = "the canary's id or name")),
    responses(
        (status = 200, description = "new credentials for a short-term canary, under the same name; the only answer that holds them", body = IssuedCanary),
        (status = 404, description = "no such canary", body = ErrorBody),
        (status = 409, description = "the canary is revoked, or of the other kind", body = ErrorBody),
        (status = 503, description = "the issuer cannot be reached", body = ErrorBody), CommonErrors
    ),
    security(("bearer" = []))
)]
pub async fn renew(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<IssuedCanary>, ApiError> {
    replace(
        &state,
        &caller,
        &id,
        "canary.renew",
        &[Scope::Issuer],
        Some(true),
    )
    .await
}

/// Deletes a canary's credentials; the record stays.
#[utoipa::path(
    post, path = "/api/v1/canaries/{id}/revoke", tag = "canaries",
    params(("id" = String, Path, description = "the canary's id or name")),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "revoked, or already revoked", body = registry::Revocation),
        (status = 404, description = "no such canary", body = ErrorBody),
        (status = 503, description = "the issuer cannot be reached", body = ErrorBody), CommonErrors
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<JsonBody<ReasonBody>, ApiError>,
) -> Result<Json<registry::Revocation>, ApiError> {
    let reason = match &body {
        Ok(JsonBody(ReasonBody {
            reason: Some(reason),
        })) => reason.clone(),
        _ => "revoked through the API".to_owned(),
    };
    let action = Action {
        name: "canary.revoke",
        object: Some(&id),
        detail: json!({ "reason": reason }),
    };
    caller.write(&state, &[Scope::Admin], &action).await?;
    caller.checked(&state, &action, body).await?;
    let result = async {
        let canary = Inventory::new(&state.store).find(&id).await?;
        if canary.status == CanaryStatus::Revoked {
            return Ok(registry::Revocation {
                canary,
                already_revoked: true,
            });
        }
        let issuer = issuer_of(&state, &canary)?;
        Ok(service(&state, issuer)
            .revoke(canary.id.as_str(), &reason)
            .await?)
    }
    .await;
    caller.audited(&state, &action, result).await.map(Json)
}

/// `POST .../placements`: where a canary was planted.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementBody {
    /// The host name.
    #[schema(max_length = 1024, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    host: Option<String>,
    /// The file or secret written.
    #[schema(max_length = 1024, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    path: Option<String>,
    /// The placement format, e.g. `aws-credentials`.
    #[schema(max_length = 1024, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    format: Option<String>,
    /// The operating system.
    #[schema(max_length = 1024, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    os: Option<String>,
    /// The user whose file it is.
    #[schema(max_length = 1024, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    user: Option<String>,
}

/// The longest text of a placement field.
const MAX_PLACEMENT_FIELD: usize = 1024;

/// Records where a canary was planted.
#[utoipa::path(
    post, path = "/api/v1/canaries/{id}/placements", tag = "canaries",
    params(("id" = String, Path, description = "the canary's id or name")),
    request_body = PlacementBody,
    responses(
        (status = 201, description = "recorded", body = store::Placement),
        (status = 404, description = "no such canary", body = ErrorBody), CommonErrors
    ),
    security(("bearer" = []))
)]
pub async fn add_placement(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<JsonBody<PlacementBody>, ApiError>,
) -> Result<(StatusCode, Json<store::Placement>), ApiError> {
    let detail = body.as_ref().map_or_else(
        |_| json!({}),
        |JsonBody(body)| serde_json::to_value(body).unwrap_or_default(),
    );
    let action = Action {
        name: "placement.add",
        object: Some(&id),
        detail,
    };
    let principal = caller.write(&state, &[Scope::Issuer], &action).await?;
    let JsonBody(body) = caller.checked(&state, &action, body).await?;
    let result = async {
        let fields: BTreeMap<&str, &Option<String>> = [
            ("host", &body.host),
            ("path", &body.path),
            ("format", &body.format),
            ("os", &body.os),
            ("user", &body.user),
        ]
        .into();
        for (field, value) in fields {
            if value.as_ref().is_some_and(|text| {
                text.chars().count() > MAX_PLACEMENT_FIELD || text.chars().any(char::is_control)
            }) {
                return Err(ApiError::invalid(
                    field,
                    format!("at most {MAX_PLACEMENT_FIELD} characters, with no control characters"),
                ));
            }
        }
        let canary = Inventory::new(&state.store).find(&id).await?;
        ensure_may_act(principal, &canary, "record placements of")?;
        let placement = NewPlacement {
            host: body.host,
            path: body.path,
            format: body.format,
            os: body.os,
            user: body.user,
        };
        Ok(state
            .store
            .add_placement(&canary.id, &placement, Some(&principal.name), store::now())
            .await?)
    }
    .await;
    let placement = caller.audited(&state, &action, result).await?;
    Ok((StatusCode::CREATED, Json(placement)))
}

/// Removes a placement record.
#[utoipa::path(
    delete, path = "/api/v1/canaries/{id}/placements/{placement}", tag = "canaries",
    params(
        ("id" = String, Path, description = "the canary's id or name"),
        ("placement" = String, Path, description = "the placement's id"),
    ),
    responses(
        (status = 204, description = "removed"),
        (status = 404, description = "no such canary or placement", body = ErrorBody), CommonErrors
    ),
    security(("bearer" = []))
)]
pub async fn remove_placement(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, placement)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let object = format!("{id}/{placement}");
    let action = Action {
        name: "placement.remove",
        object: Some(&object),
        detail: json!({}),
    };
    let principal = caller.write(&state, &[Scope::Issuer], &action).await?;
    let result = async {
        let canary = Inventory::new(&state.store).find(&id).await?;
        ensure_may_act(principal, &canary, "remove placements of")?;
        if state
            .store
            .remove_placement(&canary.id, &placement, store::now())
            .await?
        {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::not_found(format_args!(
                "placement {placement} of canary {id}"
            )))
        }
    }
    .await;
    caller.audited(&state, &action, result).await
}
