use std::error::Error as StdError;

use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Everything that can go wrong talking to AWS, phrased as what to do about it.
///
/// `action` fields name the API call, as IAM policies do (`iam:CreateUser`), so an
/// [`AwsError::AccessDenied`] says which permission to grant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AwsError {
    /// AWS did not accept the credentials at all (unknown key, wrong secret, expired token).
    #[error(
        "the AWS credentials were rejected ({code} on {action}): check the profile, the \
         access key and secret, and that a session token has not expired"
    )]
    CredentialsRejected {
        /// The API call that was refused.
        action: &'static str,
        /// AWS's error code, e.g. `InvalidClientTokenId`.
        code: String,
    },
    /// The credentials are valid but lack a permission.
    #[error(
        "access denied for {action}: grant it to the principal tripkey runs as (see \
         `least_privilege_policy_json`); AWS said: {message}"
    )]
    AccessDenied {
        /// The API call that was refused: the missing permission.
        action: &'static str,
        /// AWS's message, which often names the principal and resource.
        message: String,
    },
    /// An account quota is reached: 5,000 IAM users per account, 2 access keys per user.
    #[error(
        "AWS quota reached on {action} (at most 5,000 IAM users per account and 2 access keys \
         per user): revoke unused canaries, issue a short-term kind, or use another account; AWS \
         said: {message}"
    )]
    LimitExceeded {
        /// The API call that hit the quota.
        action: &'static str,
        /// AWS's message, which names the quota.
        message: String,
    },
    /// AWS kept throttling the call after every retry.
    #[error(
        "AWS throttled {action} and it still failed after {attempts} attempts: poll less often"
    )]
    Throttled {
        /// The throttled API call.
        action: &'static str,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The named entity (user, key, policy, role) does not exist.
    #[error("{action}: not found: {message}")]
    NotFound {
        /// The API call.
        action: &'static str,
        /// AWS's message, naming the entity.
        message: String,
    },
    /// An entity of that name exists already.
    #[error("{action}: already exists: {message}")]
    AlreadyExists {
        /// The API call.
        action: &'static str,
        /// AWS's message, naming the entity.
        message: String,
    },
    /// AWS (or the configured endpoint) could not be reached.
    #[error(
        "could not reach the AWS endpoint for {action}: check the network, the region and \
         endpoint_url / AWS_ENDPOINT_URL ({detail})"
    )]
    EndpointUnreachable {
        /// The API call.
        action: &'static str,
        /// What the HTTP client reported.
        detail: String,
    },
    /// The request could not be built or sent, most often because no credentials were found.
    #[error(
        "could not send {action}: {detail} (are AWS credentials configured? use a named \
         profile, or the default chain: environment, ~/.aws, SSO, instance role)"
    )]
    Request {
        /// The API call.
        action: &'static str,
        /// The SDK's description, with its causes.
        detail: String,
    },
    /// Any other error AWS returned.
    #[error("{action} failed: {code}: {message}")]
    Service {
        /// The API call.
        action: &'static str,
        /// AWS's error code.
        code: String,
        /// AWS's message.
        message: String,
    },
    /// An argument was refused before anything was sent to AWS.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// The argument, e.g. "federation token name".
        what: &'static str,
        /// What is wrong with it and what is allowed.
        reason: String,
    },
    /// AWS answered, but without something it always sends (or in a shape this crate cannot read).
    #[error("unexpected response from {action}: {detail}")]
    UnexpectedResponse {
        /// The API call.
        action: &'static str,
        /// What was missing or malformed.
        detail: String,
    },
    /// Issuing an IAM-user canary failed and undoing its first steps failed too: the user is
    /// left half-made and must be deleted (`delete_iam_user_canary` is safe to retry).
    #[error(
        "issuing IAM user {user_name} failed ({cause}), and deleting what was already created \
         failed too ({cleanup}): delete the user, for example by retrying the revocation"
    )]
    CleanupFailed {
        /// The user left behind.
        user_name: String,
        /// Why issuing failed.
        cause: Box<AwsError>,
        /// Why the cleanup failed.
        cleanup: Box<AwsError>,
    },
}

impl AwsError {
    /// Whether this is AWS throttling the caller: worth retrying after a pause.
    pub fn is_throttling(&self) -> bool {
        matches!(self, AwsError::Throttled { .. })
    }

    /// Whether the entity the call named does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, AwsError::NotFound { .. })
    }

    /// Turns an SDK error of any AWS client into the variant that says what to do.
    pub fn from_sdk<E, R>(action: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        match &err {
            SdkError::ServiceError(_) | SdkError::ResponseError(_) => {}
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                return AwsError::EndpointUnreachable {
                    action,
                    detail: DisplayErrorContext(&err).to_string(),
                }
            }
            _ => {
                return AwsError::Request {
                    action,
                    detail: DisplayErrorContext(&err).to_string(),
                }
            }
        }
        let code = err.code().unwrap_or_default().to_owned();
        let message = err.message().unwrap_or_default().to_owned();
        if code.is_empty() {
            return AwsError::UnexpectedResponse {
                action,
                detail: DisplayErrorContext(&err).to_string(),
            };
        }
        Self::from_code(action, code, message)
    }

    fn from_code(action: &'static str, code: String, message: String) -> Self {
        match code.as_str() {
            "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "UnrecognizedClientException"
            | "InvalidAccessKeyId"
            | "AuthFailure"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "IncompleteSignature" => AwsError::CredentialsRejected { action, code },
            "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
                AwsError::AccessDenied { action, message }
            }
            "LimitExceeded" | "LimitExceededException" => {
                AwsError::LimitExceeded { action, message }
            }
            "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => AwsError::Throttled {
                action,
                attempts: 1,
            },
            "NoSuchEntity" | "NoSuchEntityException" | "NoSuchKey" => {
                AwsError::NotFound { action, message }
            }
            "EntityAlreadyExists" | "EntityAlreadyExistsException" => {
                AwsError::AlreadyExists { action, message }
            }
            _ => AwsError::Service {
                action,
                code,
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(code: &str) -> AwsError {
        AwsError::from_code("iam:CreateUser", code.into(), "msg".into())
    }

    #[test]
    fn codes_map_to_what_to_do() {
        for code in [
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
            "ExpiredToken",
        ] {
            let err = classify(code);
            assert!(
                matches!(err, AwsError::CredentialsRejected { .. }),
                "{code}"
            );
            assert!(err.to_string().contains("check the profile"), "{err}");
        }
        let denied = classify("AccessDenied");
        assert!(denied.to_string().contains("iam:CreateUser"), "{denied}");
        assert!(matches!(
            classify("LimitExceeded"),
            AwsError::LimitExceeded { .. }
        ));
        for code in ["Throttling", "ThrottlingException", "RequestLimitExceeded"] {
            assert!(classify(code).is_throttling(), "{code}");
        }
        assert!(classify("NoSuchEntity").is_not_found());
        assert!(matches!(
            classify("MalformedPolicyDocument"),
            AwsError::Service { ref code, .. } if code == "MalformedPolicyDocument"
        ));
    }
}
