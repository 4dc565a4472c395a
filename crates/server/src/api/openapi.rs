//! The OpenAPI 3.1 description of `/api/v1`, generated from the handlers' annotations and the
//! types they take and return, served at `/api/v1/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    alerts, audit, canaries, error, issuers, response, sinks, sources, suppressions, tokens,
};

/// The API's description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "tripkey API",
        description = "Canary AWS credentials: issue, plant, watch and respond. Every call \
                       needs `Authorization: Bearer TOKEN`; scopes are admin, viewer, issuer \
                       and ingest. Errors are `{\"error\": {\"code\", \"message\"}}`."
    ),
    paths(
        canaries::create,
        canaries::list,
        canaries::show,
        canaries::rotate,
        canaries::renew,
        canaries::revoke,
        canaries::add_placement,
        canaries::remove_placement,
        alerts::list,
        alerts::show,
        alerts::acknowledge,
        alerts::resolve,
        suppressions::create,
        suppressions::list,
        suppressions::remove,
        response::figures,
        tokens::create,
        tokens::list,
        tokens::revoke,
        audit::list,
        issuers::list,
        sinks::list,
        sinks::test,
        sources::unreadable,
        sources::retry,
    ),
    components(schemas(error::ErrorBody, error::ErrorCode)),
    modifiers(&BearerAuth),
    tags(
        (name = "canaries", description = "issue canaries, rotate and revoke them, record where they were planted"),
        (name = "alerts", description = "read alerts, acknowledge and resolve them, suppress their notifications, and how fast that goes"),
        (name = "tokens", description = "API tokens and their scopes"),
        (name = "audit", description = "every mutating call, allowed or refused"),
        (name = "issuers", description = "the accounts canaries come from"),
        (name = "sinks", description = "where notifications go, and their health"),
        (name = "sources", description = "trail objects the sources could not read, and reading them again"),
    )
)]
pub struct ApiDoc;

/// The `bearer` security scheme every path names.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The description as JSON.
pub async fn document() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}
