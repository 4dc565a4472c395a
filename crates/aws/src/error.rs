use std::error::Error as StdError;
use std::future::Future;

use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::config::{Credentials, ProvideCredentials};
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};

/// Everything that can go wrong talking to AWS, phrased as what to do about it.
///
/// Every message says what failed, with AWS's own error code and message where AWS gave them,
/// and what to do, in a sentence or two with no Rust internals. `action` fields name the API
/// call, as IAM policies do (`iam:CreateUser`), so an [`AwsError::AccessDenied`] says which
/// permission to grant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AwsError {
    /// AWS did not accept the credentials at all (unknown key, wrong secret, expired token).
    #[error(
        "the AWS credentials were rejected on {action} ({}): check the profile, the access key \
         and secret, and that a session token has not expired",
        said(.code, .message)
    )]
    CredentialsRejected {
        /// The API call that was refused.
        action: &'static str,
        /// AWS's error code, e.g. `InvalidClientTokenId`.
        code: String,
        /// AWS's message.
        message: String,
    },
    /// No credentials were found (no profile, environment variables, `~/.aws` files, SSO
    /// session or instance role gave any), so nothing was sent.
    #[error(
        "no AWS credentials were found for {action} ({detail}): name a profile (--profile or \
         AWS_PROFILE), set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, add a key to \
         ~/.aws/credentials, log in with `aws sso login`, or run where an instance or container \
         role provides them; to make canaries without AWS, pass --offline-account ACCOUNT"
    )]
    NoCredentials {
        /// The API call that could not be sent.
        action: &'static str,
        /// Where the SDK looked, and why each place gave nothing.
        detail: String,
    },
    /// The credentials are valid but lack a permission.
    #[error(
        "access denied for {action} ({}): grant {action} to the principal tripkey runs as \
         (`tripkey setup aws` prints the least-privilege policy for issuing canaries)",
        said(.code, .message)
    )]
    AccessDenied {
        /// The API call that was refused: the missing permission.
        action: &'static str,
        /// AWS's error code, e.g. `AccessDenied`.
        code: String,
        /// AWS's message, which often names the principal and resource.
        message: String,
    },
    /// An account quota is reached: 5,000 IAM users per account, 2 access keys per user.
    #[error(
        "AWS quota reached on {action} ({}; IAM allows at most 5,000 users per account and 2 \
         access keys per user): revoke unused canaries, issue a short-term kind, or use another \
         account",
        said(.code, .message)
    )]
    LimitExceeded {
        /// The API call that hit the quota.
        action: &'static str,
        /// AWS's error code, e.g. `LimitExceeded`.
        code: String,
        /// AWS's message, which names the quota.
        message: String,
    },
    /// AWS kept throttling the call after every retry.
    #[error(
        "AWS throttled {action} ({}) and it still failed after {}: wait and try again, or poll \
         less often",
        said(.code, .message),
        count_attempts(.attempts)
    )]
    Throttled {
        /// The throttled API call.
        action: &'static str,
        /// How many attempts were made.
        attempts: u32,
        /// AWS's error code, e.g. `Throttling`.
        code: String,
        /// AWS's message.
        message: String,
    },
    /// The named entity (user, key, policy, role) does not exist.
    #[error(
        "{action} failed: not found ({}): check the name, and that the credentials are for the \
         account that holds it",
        said(.code, .message)
    )]
    NotFound {
        /// The API call.
        action: &'static str,
        /// AWS's error code, e.g. `NoSuchEntity`.
        code: String,
        /// AWS's message, naming the entity.
        message: String,
    },
    /// An entity of that name exists already.
    #[error(
        "{action} failed: it already exists ({}): choose another name, or remove the existing \
         one first",
        said(.code, .message)
    )]
    AlreadyExists {
        /// The API call.
        action: &'static str,
        /// AWS's error code, e.g. `EntityAlreadyExists`.
        code: String,
        /// AWS's message, naming the entity.
        message: String,
    },
    /// AWS (or the configured endpoint) could not be reached, or did not answer in time.
    #[error(
        "could not reach the AWS endpoint for {action}{} ({detail}): check the network, the \
         region and endpoint_url / AWS_ENDPOINT_URL",
        at(.endpoint)
    )]
    EndpointUnreachable {
        /// The API call.
        action: &'static str,
        /// The URL called, when known.
        endpoint: Option<String>,
        /// What the HTTP client reported, cause by cause.
        detail: String,
    },
    /// The request could not be built, so nothing was sent (a region that is no region, an
    /// endpoint URL that is no URL).
    #[error(
        "could not build the {action} request ({detail}): check the AWS configuration: the \
         region, the profile and endpoint_url / AWS_ENDPOINT_URL"
    )]
    Request {
        /// The API call.
        action: &'static str,
        /// The SDK's description, cause by cause.
        detail: String,
    },
    /// Any other error AWS returned.
    #[error("{action} failed ({}): {}", said(.code, .message), service_hint(.code, .action))]
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
    #[error(
        "unexpected response from {action}: {detail}; is endpoint_url / AWS_ENDPOINT_URL an AWS \
         endpoint (or a service compatible with it)?"
    )]
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

/// AWS's own words: `AWS said CODE: MESSAGE`.
fn said(code: &str, message: &str) -> String {
    let message = readable(message);
    if message.is_empty() {
        format!("AWS said {code}")
    } else {
        format!("AWS said {code}: {message}")
    }
}

fn count_attempts(n: &u32) -> String {
    if *n == 1 {
        "1 attempt".to_owned()
    } else {
        format!("{n} attempts")
    }
}

fn at(endpoint: &Option<String>) -> String {
    endpoint
        .as_deref()
        .map_or_else(String::new, |url| format!(" at {url}"))
}

/// What to do about an error code without a variant of its own.
fn service_hint(code: &str, action: &str) -> String {
    match code {
        "MalformedPolicyDocument" | "MalformedPolicyDocumentException" => {
            "the policy document was refused: correct it as AWS's message says".to_owned()
        }
        "ValidationError"
        | "ValidationException"
        | "InvalidInput"
        | "InvalidInputException"
        | "InvalidParameter"
        | "InvalidParameterValue"
        | "InvalidParameterValueException" => {
            "an argument was refused: correct it as AWS's message says".to_owned()
        }
        "DeleteConflict" | "DeleteConflictException" => {
            "something still depends on it: remove that first".to_owned()
        }
        "EntityTemporarilyUnmodifiable" | "ConcurrentModification" => {
            "another change is in progress: try again shortly".to_owned()
        }
        "ServiceFailure"
        | "ServiceFailureException"
        | "InternalFailure"
        | "InternalError"
        | "ServiceUnavailable"
        | "ServiceUnavailableException" => "this failed on AWS's side: try again later".to_owned(),
        _ => format!("look up the error code for {action} in the AWS documentation"),
    }
}

impl AwsError {
    /// Whether this is AWS throttling the caller: worth retrying after a pause.
    pub fn is_throttling(&self) -> bool {
        matches!(self, AwsError::Throttled { .. })
    }

    /// Whether an entity of that name exists already.
    pub fn is_already_exists(&self) -> bool {
        matches!(self, AwsError::AlreadyExists { .. })
    }

    /// Whether the entity the call named does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, AwsError::NotFound { .. })
    }

    /// Names the URL that was called, in an [`AwsError::EndpointUnreachable`] that does not
    /// name one yet; any other error is returned as it is.
    pub fn with_endpoint(self, url: &str) -> Self {
        match self {
            AwsError::EndpointUnreachable {
                action,
                endpoint: None,
                detail,
            } => AwsError::EndpointUnreachable {
                action,
                endpoint: Some(url.to_owned()),
                detail,
            },
            other => other,
        }
    }

    /// Turns an SDK error of any AWS client into the variant that says what to do.
    pub fn from_sdk<E>(action: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        if let Some(detail) = missing_credentials(&err) {
            return AwsError::NoCredentials { action, detail };
        }
        match &err {
            SdkError::ServiceError(_) | SdkError::ResponseError(_) => {}
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                return AwsError::EndpointUnreachable {
                    action,
                    endpoint: None,
                    detail: describe_chain(&err),
                }
            }
            _ => {
                return AwsError::Request {
                    action,
                    detail: describe_chain(&err),
                }
            }
        }
        let code = err.code().unwrap_or_default().to_owned();
        let message = err.message().unwrap_or_default().to_owned();
        if code.is_empty() {
            let status = err
                .raw_response()
                .map_or_else(String::new, |r| format!("HTTP {} ", r.status().as_u16()));
            return AwsError::UnexpectedResponse {
                action,
                detail: format!(
                    "{status}with a body that is no AWS answer ({})",
                    describe_chain(&err)
                ),
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
            | "IncompleteSignature" => AwsError::CredentialsRejected {
                action,
                code,
                message,
            },
            "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
                AwsError::AccessDenied {
                    action,
                    code,
                    message,
                }
            }
            "LimitExceeded" | "LimitExceededException" => AwsError::LimitExceeded {
                action,
                code,
                message,
            },
            "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => AwsError::Throttled {
                action,
                attempts: 1,
                code,
                message,
            },
            "NoSuchEntity" | "NoSuchEntityException" | "NoSuchKey" => AwsError::NotFound {
                action,
                code,
                message,
            },
            "EntityAlreadyExists" | "EntityAlreadyExistsException" => AwsError::AlreadyExists {
                action,
                code,
                message,
            },
            _ => AwsError::Service {
                action,
                code,
                message,
            },
        }
    }
}

/// An error and its causes (`source()`, one after the other) as one line: each cause's own
/// text, joined with `: `.
///
/// Made for people: a cause whose text the one before it already holds is left out (and a text
/// the next cause repeats gives way to that cause), as are the AWS SDK's bare wrapper labels
/// (`dispatch failure`, `io error`, `service error`...) when anything else is left; line breaks
/// become `; `, control characters spaces, and a text that slides into a Rust debug dump
/// (`Name { ... }`, `Some(...)`) is cut off there with `…`.
///
/// ```
/// # use std::io;
/// let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "Connection refused");
/// let err = io::Error::other(refused);
/// assert_eq!(tripkey_aws::describe_chain(&err), "Connection refused");
/// ```
pub fn describe_chain(error: &dyn StdError) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    let mut cause = Some(error);
    while let Some(current) = cause {
        cause = current.source();
        let text = readable(&current.to_string());
        if text.is_empty()
            || parts
                .last()
                .is_some_and(|last| last.contains(text.as_str()))
        {
            continue;
        }
        if is_sdk_label(&text) {
            labels.push(text);
            continue;
        }
        // A cause that repeats the text before it and adds to it says it all.
        if parts
            .last()
            .is_some_and(|last| text.contains(last.as_str()))
        {
            parts.pop();
        }
        parts.push(text);
    }
    if parts.is_empty() {
        labels.join(": ")
    } else {
        parts.join(": ")
    }
}

/// The AWS SDK's names for its own wrappers (and its HTTP client's), which say nothing their
/// causes do not.
fn is_sdk_label(text: &str) -> bool {
    matches!(
        text,
        "dispatch failure"
            | "service error"
            | "response error"
            | "failed to construct request"
            | "unhandled error"
            | "io error"
            | "user error"
            | "other"
            | "timeout"
    ) || text.ends_with("interceptor encountered an error")
        // The HTTP client's (hyper's) stage, e.g. `client error (Connect)`: its cause says more.
        || (text.starts_with("client error (") && text.ends_with(')'))
}

/// `text` as one readable line: lines joined with `; ` (a space after a line ending in `:`),
/// control characters as spaces, `\u{..}` escapes as `?`, and cut with `…` where a Rust debug
/// dump (`Name {`, `Name(` of a CamelCase name) begins.
fn readable(text: &str) -> String {
    let mut line = String::new();
    for piece in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(piece);
    }
    let mut line = cut_debug_dump(&line);
    while let Some(start) = line.find("\\u{") {
        let end = line[start..]
            .find('}')
            .map_or(line.len(), |i| start + i + 1);
        line.replace_range(start..end, "?");
    }
    line.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn cut_debug_dump(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if starts_word && bytes[i].is_ascii_uppercase() {
            let end = i + bytes[i..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                .count();
            let camel = text[i + 1..end].bytes().any(|b| b.is_ascii_lowercase());
            let rest = &text[end..];
            if camel && (rest.starts_with('(') || rest.starts_with(" {") || rest.starts_with('{')) {
                let kept = text[..i].trim_end_matches(|c: char| c.is_whitespace() || c == ':');
                return format!("{kept} …");
            }
            i = end;
        } else {
            i += 1;
        }
    }
    text.to_owned()
}

/// Why no credentials were there to sign with, if that is what `error` is about: the
/// credential provider found none (or failed to load them), or no provider was configured.
fn missing_credentials(error: &(dyn StdError + 'static)) -> Option<String> {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if is_credentials_error(current) {
            return Some(describe_chain(current));
        }
        if current
            .to_string()
            .contains("there was no identity resolver")
        {
            return Some("no credentials provider is configured".to_owned());
        }
        cause = current.source();
    }
    None
}

/// Whether `cause` is the SDK's `CredentialsError` (of the `aws-credential-types` crate), which
/// every credential provider fails with. That crate is no dependency of this one: the type is
/// reached as the error of what [`ProvideCredentials::provide_credentials`] returns.
fn is_credentials_error(cause: &(dyn StdError + 'static)) -> bool {
    fn error_type_is<F, T, E>(
        _provide: impl FnOnce(&'static Credentials) -> F,
        cause: &(dyn StdError + 'static),
    ) -> bool
    where
        F: Future<Output = Result<T, E>>,
        E: StdError + 'static,
    {
        cause.is::<E>()
    }
    error_type_is(|c: &'static Credentials| c.provide_credentials(), cause)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

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
            assert!(
                err.to_string().contains(&format!("AWS said {code}: msg")),
                "{err}"
            );
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

    #[test]
    fn every_message_says_what_failed_what_aws_said_and_what_to_do() {
        for (code, hint) in [
            ("InvalidClientTokenId", "check the profile"),
            ("AccessDenied", "grant iam:CreateUser"),
            ("LimitExceeded", "revoke unused canaries"),
            ("Throttling", "try again"),
            ("NoSuchEntity", "check the name"),
            ("EntityAlreadyExists", "choose another name"),
            ("MalformedPolicyDocument", "correct it"),
            ("ServiceFailure", "try again later"),
            ("SomethingNew", "look up the error code for iam:CreateUser"),
        ] {
            let text = classify(code).to_string();
            assert!(text.contains("iam:CreateUser"), "{text}");
            assert!(text.contains(&format!("AWS said {code}: msg")), "{text}");
            assert!(text.contains(hint), "{code}: {text}");
        }
        let throttled = AwsError::Throttled {
            action: "iam:GetAccessKeyLastUsed",
            attempts: 1,
            code: "Throttling".into(),
            message: String::new(),
        };
        assert_eq!(
            throttled.to_string(),
            "AWS throttled iam:GetAccessKeyLastUsed (AWS said Throttling) and it still failed \
             after 1 attempt: wait and try again, or poll less often"
        );
    }

    #[test]
    fn the_endpoint_is_named_once_known() {
        let err = AwsError::EndpointUnreachable {
            action: "sts:GetCallerIdentity",
            endpoint: None,
            detail: "tcp connect error: Connection refused (os error 111)".into(),
        };
        assert!(!err.to_string().contains(" at "), "{err}");
        let err = err
            .with_endpoint("http://127.0.0.1:9")
            .with_endpoint("http://elsewhere");
        assert_eq!(
            err.to_string(),
            "could not reach the AWS endpoint for sts:GetCallerIdentity at http://127.0.0.1:9 \
             (tcp connect error: Connection refused (os error 111)): check the network, the \
             region and endpoint_url / AWS_ENDPOINT_URL"
        );
        assert!(classify("NoSuchEntity")
            .with_endpoint("http://x")
            .is_not_found());
    }

    /// An error with a text and an optional cause, like the SDK's wrappers.
    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Layer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    fn chain(texts: &[&'static str]) -> Layer {
        let mut cause = None;
        for text in texts.iter().rev() {
            cause = Some(Box::new(Layer(text, cause)));
        }
        *cause.unwrap()
    }

    #[test]
    fn a_chain_reads_as_one_line_of_causes() {
        let connect = chain(&[
            "dispatch failure",
            "io error",
            "client error (Connect)",
            "tcp connect error",
            "Connection refused (os error 111)",
        ]);
        assert_eq!(
            describe_chain(&connect),
            "tcp connect error: Connection refused (os error 111)"
        );
        // A cause the text before it already holds is said once.
        let repeated = chain(&["error sending request: timed out", "timed out"]);
        assert_eq!(
            describe_chain(&repeated),
            "error sending request: timed out"
        );
        let growing = chain(&["not enabled", "none found: Environment: not enabled"]);
        assert_eq!(
            describe_chain(&growing),
            "none found: Environment: not enabled"
        );
        // Nothing but labels: the labels are all there is to say.
        assert_eq!(
            describe_chain(&chain(&["dispatch failure", "other"])),
            "dispatch failure: other"
        );
        let interceptor = chain(&[
            "failed to construct request",
            "GetCallerIdentityEndpointParamsInterceptor read_before_execution interceptor \
             encountered an error",
            "endpoint params could not be built",
            "invalid value for field: `region` - must be a valid host label",
        ]);
        assert_eq!(
            describe_chain(&interceptor),
            "endpoint params could not be built: invalid value for field: `region` - must be a \
             valid host label"
        );
    }

    #[test]
    fn debug_dumps_escapes_and_line_breaks_are_left_out() {
        assert_eq!(
            readable(
                "error parsing XML: invalid root, expected GetCallerIdentityResponse got \
                 StartEl { name: Name { prefix: \"\", local: \"html\" } }"
            ),
            "error parsing XML: invalid root, expected GetCallerIdentityResponse got …"
        );
        assert_eq!(
            readable("dispatch failure: DispatchFailure(DispatchFailure { source: x })"),
            "dispatch failure …"
        );
        assert_eq!(readable("value Some(\"x\")"), "value …");
        assert_eq!(readable("bad \\u{1b}[2J name"), "bad ?[2J name");
        assert_eq!(readable("a\u{7}b"), "a b");
        assert_eq!(
            readable("no credentials found in chain. Attempted:\n  Environment: not set\n  Profile: not enabled\n"),
            "no credentials found in chain. Attempted: Environment: not set; Profile: not enabled"
        );
        // Plain text with parentheses and capitals stays whole.
        for text in [
            "client error (Connect)",
            "Connection refused (os error 111)",
            "HTTP(S) proxy refused",
            "The user with name x cannot be found.",
        ] {
            assert_eq!(readable(text), text);
        }
    }
}
