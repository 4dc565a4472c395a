//! The API's errors: `{"error": {"code", "message"}}` with a stable code and the matching
//! HTTP status. Codes never change meaning; clients branch on them, people read the message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use registry::ServiceError;
use serde::Serialize;

/// The stable error codes, with their HTTP statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 401: no token, an unknown one, or a revoked or expired one.
    Unauthenticated,
    /// 403: the token does not allow this.
    Forbidden,
    /// 404: no such object (or route).
    NotFound,
    /// 400: a field is missing, malformed or out of bounds; nothing was created.
    InvalidRequest,
    /// 409: the object is in a state that does not allow this, or the request repeats an
    /// earlier one (an `Idempotency-Key` already used).
    Conflict,
    /// 409: the account holds as many canaries as it may.
    CapacityExhausted,
    /// 503: the issuer (AWS) could not be reached or refused.
    IssuerUnavailable,
    /// 413: the body is larger than the API takes.
    PayloadTooLarge,
    /// 429: too many failed authentications from this address; wait.
    TooManyRequests,
    /// 500: something broke on the server; the log says what.
    Internal,
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Conflict | ErrorCode::CapacityExhausted => StatusCode::CONFLICT,
            ErrorCode::IssuerUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The body of every error answer, as the OpenAPI description states it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// The stable code.
    code: ErrorCode,
    /// A sentence or two for a person.
    message: String,
    /// With `conflict` on a repeated `Idempotency-Key`: the canary the key issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    canary_id: Option<String>,
}

/// The error answers every route can give, for the OpenAPI description: each route lists
/// them through this instead of repeating them.
pub struct CommonErrors;

impl utoipa::IntoResponses for CommonErrors {
    fn responses() -> std::collections::BTreeMap<
        String,
        utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
    > {
        [
            ("400", "a field is missing, malformed or out of bounds"),
            ("401", "no token, or an unknown, revoked or expired one"),
            ("403", "the token's scope does not allow this"),
            ("429", "too many failed authentications from this address"),
            ("500", "the server failed; its log says why"),
        ]
        .into_iter()
        .map(|(status, description)| {
            let body = utoipa::openapi::Content::new(Some(utoipa::openapi::Ref::from_schema_name(
                "ErrorBody",
            )));
            let response = utoipa::openapi::ResponseBuilder::new()
                .description(description)
                .content("application/json", body)
                .build();
            (status.to_owned(), response.into())
        })
        .collect()
    }
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// The stable code.
    pub code: ErrorCode,
    /// A sentence or two for a person: what was wrong and what to do.
    pub message: String,
    /// Extra fields for the client, e.g. the canary an `Idempotency-Key` already issued.
    pub extra: Option<serde_json::Value>,
}

impl ApiError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            extra: None,
        }
    }

    /// A bad field: the message names it.
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> ApiError {
        ApiError::new(ErrorCode::InvalidRequest, format!("{field}: {message}"))
    }

    /// No such object.
    pub fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(ErrorCode::NotFound, format!("no {what}"))
    }

    /// The token does not allow the call.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Forbidden, message)
    }

    /// A failure of the server itself; the details go to the log, not to the caller.
    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "API request failed");
        ApiError::new(
            ErrorCode::Internal,
            "the server could not complete the request; its log says why",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = serde_json::json!({
            "code": self.code,
            "message": self.message,
        });
        if let (Some(object), Some(serde_json::Value::Object(extra))) =
            (error.as_object_mut(), self.extra)
        {
            object.extend(extra);
        }
        (
            self.code.status(),
            Json(serde_json::json!({ "error": error })),
        )
            .into_response()
    }
}

impl From<store::StoreError> for ApiError {
    fn from(error: store::StoreError) -> ApiError {
        match error {
            store::StoreError::NotFound(id) => ApiError::not_found(format_args!("canary {id}")),
            store::StoreError::TokenExists(name) => ApiError::new(
                ErrorCode::Conflict,
                format!("a token named {name:?} exists already; choose another name"),
            ),
            other => ApiError::internal(other),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> ApiError {
        let message = error.to_string();
        match error {
            ServiceError::InvalidRequest { .. }
            | ServiceError::InvalidName(_)
            | ServiceError::Stealth(_) => ApiError::new(ErrorCode::InvalidRequest, message),
            ServiceError::LabelNotAllowed { .. } => ApiError::new(ErrorCode::Forbidden, message),
            ServiceError::Capacity { .. } => ApiError::new(ErrorCode::CapacityExhausted, message),
            ServiceError::Unknown(_) => ApiError::new(ErrorCode::NotFound, message),
            ServiceError::NameTaken(_)
            | ServiceError::Revoked(_)
            | ServiceError::OtherIssuer { .. } => ApiError::new(ErrorCode::Conflict, message),
            ServiceError::Issue(registry::IssueError::Unsupported { .. }) => {
                ApiError::new(ErrorCode::InvalidRequest, message)
            }
            ServiceError::Issue(registry::IssueError::LimitExceeded { .. }) => {
                ApiError::new(ErrorCode::CapacityExhausted, message)
            }
            ServiceError::Issue(_) => ApiError::new(ErrorCode::IssuerUnavailable, message),
            ServiceError::Store(store) => ApiError::from(store),
        }
    }
}
