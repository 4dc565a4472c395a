//! `/api/v1/issuers`: which accounts this server issues in, the kinds each can issue, and how
//! many IAM-user canaries each account holds against its limit.

use axum::extract::State;
use axum::Json;
use registry::{Inventory, Issuer, Scope};
use serde::Serialize;

use super::auth::Caller;
use super::error::{ApiError, CommonErrors};
use super::ApiState;

/// One issuer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IssuerView {
    /// The AWS account.
    pub account_id: String,
    /// `aws`, or `offline` for keys that authenticate nowhere.
    pub issuer: store::Issuer,
    /// The canary kinds it issues.
    pub kinds: Vec<store::CanaryKind>,
    /// Whether a request that names no account gets this issuer.
    pub default: bool,
    /// How many canaries the account holds, and may.
    pub capacity: registry::AccountCapacity,
}

/// Every issuer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IssuerList {
    /// Every issuer.
    pub issuers: Vec<IssuerView>,
}

/// Lists the issuers (any token that may read or issue).
#[utoipa::path(
    get, path = "/api/v1/issuers", tag = "issuers",
    responses((status = 200, description = "the accounts this server issues in", body = IssuerList), CommonErrors),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<IssuerList>, ApiError> {
    caller
        .read(Scope::Viewer)
        .or_else(|_| caller.read(Scope::Issuer))?;
    let default = state.issuers.pick(None).map(|issuer| issuer.account());
    let inventory = Inventory::new(&state.store);
    let mut issuers = Vec::new();
    for issuer in state.issuers.iter() {
        let account = issuer.account().to_string();
        issuers.push(IssuerView {
            capacity: inventory
                .capacity(&account, state.settings.capacity_per_account)
                .await?,
            account_id: account,
            issuer: Issuer::issuer(issuer),
            kinds: issuer.kinds().to_vec(),
            default: Some(issuer.account()) == default,
        });
    }
    Ok(Json(IssuerList { issuers }))
}
