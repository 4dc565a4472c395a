//! Schemas the derive cannot express, for the OpenAPI description.

use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

/// No control characters, as the label and placement checks demand.
const NO_CONTROLS: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";

/// Labels: at most 50, keys of 1 to 128 and values of up to 256 characters, no control
/// characters (IAM's tag limits, which the issuer enforces).
pub fn labels() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .max_properties(Some(registry::service::MAX_LABELS))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(registry::service::MAX_LABEL_KEY))
                .pattern(Some(NO_CONTROLS)),
        ))
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(registry::service::MAX_LABEL_VALUE))
                .pattern(Some(NO_CONTROLS))
                .build(),
        )))))
        .description(Some("key to value"))
        .into()
}
