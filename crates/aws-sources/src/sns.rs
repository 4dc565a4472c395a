//! An SNS topic as a notification sink. One `Publish` carries every audience at once: with
//! `MessageStructure=json`, email and SMS subscribers get the plain-text alert while SQS,
//! Lambda and HTTP(S) subscribers get the webhook's JSON document, and the rule and severity
//! travel as message attributes so subscription filter policies can route on them.

use std::borrow::Cow;
use std::time::Duration;

use aws_sdk_sns::config::http::HttpResponse;
use aws_sdk_sns::config::timeout::TimeoutConfig;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;
use notify::{Delivery, Notification, Sink, SinkError};
use serde_json::{json, Map, Value};
use tripkey_aws::AwsError;

const ACTION: &str = "sns:Publish";

/// SNS refuses longer subjects.
const SUBJECT_MAX: usize = 100;

/// SNS refuses a publish over 262,144 bytes, message attributes and subject included; the
/// margin covers both (a 100-byte subject, two short attributes) with room to spare.
const MESSAGE_BUDGET: usize = 256 * 1024 - 6 * 1024;

/// The plain text is read by people, and is in the message twice (`default` and `email`),
/// JSON-escaped: capped so that, even doubled by escaping, it always leaves room for the
/// machine-readable copies.
const TEXT_MAX: usize = 32 * 1024;

/// The longest string kept in the smallest machine-readable form, which must fit whatever
/// an attacker put in the record.
const MINIMAL_VALUE_MAX: usize = 1_024;

/// Publishing must not hang the delivery of everything queued behind it: a stalled attempt
/// is cut off (the SDK then retries it) and the whole call is bounded, so a dead network ends
/// as a retryable failure rather than a stuck sink.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// A notification sink publishing to one SNS topic.
///
/// Built by `tripkey serve` from a `[[sink]]` of kind `sns`, because it needs the AWS
/// connection that `notify` (which knows no AWS) cannot make.
pub struct SnsSink {
    name: String,
    topic_arn: String,
    client: Client,
}

impl SnsSink {
    /// A sink named `name` (the `[[sink]]` name routes refer to) publishing to `topic_arn`
    /// with `client`, which [`sns_client`] makes; the topic must be in the client's region.
    pub fn new(client: Client, name: String, topic_arn: String) -> SnsSink {
        SnsSink {
            name,
            topic_arn,
            client,
        }
    }

    /// The topic, for `tripkey serve` to show where alerts go.
    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }

    async fn publish(&self, notification: &Notification) -> Result<(), SinkError> {
        let alert = &notification.alert;
        let published = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(sns_subject(&notify::render::email_subject(notification)))
            .message_structure("json")
            .message(sns_message(notification))
            .message_attributes("tripkey.rule", string_attribute(alert.rule.as_str()))
            .message_attributes(
                "tripkey.severity",
                string_attribute(&alert.severity.to_string()),
            )
            .send()
            .await;
        match published {
            Ok(output) => {
                tracing::debug!(
                    sink = %self.name,
                    message_id = output.message_id().unwrap_or("?"),
                    "published to SNS"
                );
                Ok(())
            }
            Err(error) => Err(publish_error(&self.topic_arn, error)),
        }
    }
}

impl Sink for SnsSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, notification: &'a Notification) -> Delivery<'a> {
        Box::pin(self.publish(notification))
    }
}

/// The SNS client for `options`, built from the same shared configuration as
/// [`crate::clients`] so a profile, region or endpoint (moto, LocalStack) applies to the sink
/// as it does to the sources; only the timeouts are the sink's own.
pub async fn sns_client(options: &tripkey_aws::AwsOptions) -> Client {
    let shared = tripkey_aws::sdk_config(options).await;
    // Set on top of the shared timeouts: the builder keeps the connect timeout it inherits.
    let config = aws_sdk_sns::config::Builder::from(&shared)
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .build();
    Client::from_conf(config)
}

fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("the data type is set")
}

/// `text` as SNS accepts a subject: printable ASCII only (anything else becomes `?`, control
/// characters a space, so nothing can break the line), starting with a letter, digit or
/// punctuation mark, and at most 100 characters, cut with `...`.
fn sns_subject(text: &str) -> String {
    let ascii: String = text
        .chars()
        .map(|c| match c {
            ' '..='~' => c,
            c if c.is_control() => ' ',
            _ => '?',
        })
        .collect();
    let ascii = ascii.trim();
    if ascii.is_empty() {
        return "tripkey alert".to_owned();
    }
    if ascii.len() <= SUBJECT_MAX {
        return ascii.to_owned();
    }
    // All ASCII: every byte index is a character boundary.
    format!("{}...", ascii[..SUBJECT_MAX - 3].trim_end())
}

/// `text` cut to at most `max` bytes on a character boundary, saying so when cut.
fn truncate_bytes(text: &str, max: usize) -> Cow<'_, str> {
    const CUT: &str = "\n[cut: the alert is too long for SNS; tripkey has all of it]\n";
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max.saturating_sub(CUT.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{CUT}", &text[..end]))
}

/// The `Message` for `MessageStructure=json`: `default` (SMS, mobile push, and any protocol
/// not named) and `email` get the plain text; the protocols programs read get the webhook's
/// document. The document shrinks until the whole fits SNS's limit: first without the
/// CloudTrail record, then to the fields a receiver needs to look the alert up in tripkey.
fn sns_message(notification: &Notification) -> String {
    let text = notify::render::email_text(notification);
    let text = truncate_bytes(&text, TEXT_MAX);
    let full = notify::render::webhook_body(notification);
    let mut message = structured(&text, &String::from_utf8_lossy(&full));
    if message.len() <= MESSAGE_BUDGET {
        return message;
    }
    let document: Value = serde_json::from_slice(&full).expect("the webhook body is JSON");
    for smaller in [without_record(&document), minimal(&document)] {
        message = structured(&text, &smaller.to_string());
        if message.len() <= MESSAGE_BUDGET {
            break;
        }
    }
    // The minimal document is a few KiB at most and the text at most twice TEXT_MAX once
    // escaped, so the last candidate always fits.
    message
}

fn structured(text: &str, document: &str) -> String {
    json!({
        "default": text,
        "email": text,
        "sqs": document,
        "lambda": document,
        "https": document,
        "http": document,
    })
    .to_string()
}

/// The document with the CloudTrail record left out, marked so a receiver knows to look in
/// tripkey rather than think the record empty.
fn without_record(document: &Value) -> Value {
    let mut smaller = document.clone();
    if let Some(alert) = smaller.get_mut("alert").and_then(Value::as_object_mut) {
        alert.insert("record".to_owned(), Value::Null);
    }
    if let Some(fields) = smaller.as_object_mut() {
        fields.insert("truncated".to_owned(), Value::Bool(true));
    }
    smaller
}

/// The document's top-level facts only, each string cut short: enough to recognise the alert
/// and find it in tripkey whatever its record holds.
fn minimal(document: &Value) -> Value {
    let mut fields = Map::new();
    for key in [
        "version",
        "kind",
        "title",
        "dedup_key",
        "rule",
        "severity",
        "summary",
        "event_time",
        "detected_at",
        "delay_ms",
        "link",
        "links",
    ] {
        let value = match document.get(key) {
            Some(Value::String(text)) => {
                Value::String(notify::escape::truncate(text, MINIMAL_VALUE_MAX).into_owned())
            }
            Some(value) => value.clone(),
            None => continue,
        };
        fields.insert(key.to_owned(), value);
    }
    fields.insert("truncated".to_owned(), Value::Bool(true));
    Value::Object(fields)
}

/// Whether trying the same publish again later can succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retry {
    Later,
    Never,
}

/// What an SNS error code means for retrying, with what to do about it for the person reading
/// the error. `status` decides for codes not listed.
fn classify(code: &str, status: Option<u16>) -> (Retry, &'static str) {
    const PASSING: &str = "a passing failure on AWS's side: trying again later can succeed";
    const UNKNOWN: &str = "look up the error code for sns:Publish in the AWS documentation";
    match code {
        "Throttled"
        | "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "KMSThrottling"
        | "InternalError"
        | "InternalFailure"
        | "ServiceUnavailable" => (Retry::Later, PASSING),
        // Session credentials are refreshed by the SDK's provider: the next attempt can work.
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => (
            Retry::Later,
            "the session credentials expired: they are refreshed for the next attempt, else              renew them",
        ),
        "NotFound" => (
            Retry::Never,
            "check that the topic exists, in the region tripkey is configured for",
        ),
        "AuthorizationError" | "AccessDenied" | "AccessDeniedException" => (
            Retry::Never,
            "allow sns:Publish on the topic to the principal tripkey runs as",
        ),
        "KMSAccessDenied" | "KMSDisabled" | "KMSInvalidState" | "KMSNotFound"
        | "KMSOptInRequired" => (
            Retry::Never,
            "the topic's KMS key must exist, be enabled and allow kms:GenerateDataKey* and \
             kms:Decrypt to the principal tripkey runs as",
        ),
        "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "InvalidSecurity"
        | "UnrecognizedClientException"
        | "IncompleteSignature" => (
            Retry::Never,
            "check the AWS credentials tripkey runs with: the profile, the access key and \
             secret, and that a session token has not expired",
        ),
        "InvalidParameter"
        | "ParameterValueInvalid"
        | "InvalidParameterValue"
        | "ValidationException"
        | "EndpointDisabled"
        | "PlatformApplicationDisabled" => (
            Retry::Never,
            "SNS refused the message or the topic's settings: see AWS's message",
        ),
        _ => match status {
            Some(429) => (Retry::Later, PASSING),
            Some(status) if status >= 500 => (Retry::Later, PASSING),
            _ => (Retry::Never, UNKNOWN),
        },
    }
}

fn publish_error(topic_arn: &str, error: SdkError<PublishError, HttpResponse>) -> SinkError {
    let status = error.raw_response().map(|r| r.status().as_u16());
    let code = error.code().unwrap_or_default();
    let retry = match &error {
        // SNS's own error, with a code to act on.
        SdkError::ServiceError(_) | SdkError::ResponseError(_) if !code.is_empty() => {
            let (retry, hint) = classify(code, status);
            let said = match error.message().filter(|m| !m.is_empty()) {
                Some(message) => format!("{code}: {message}"),
                None => code.to_owned(),
            };
            let text = format!("{ACTION} to {topic_arn} failed (AWS said {said}): {hint}");
            return sink_error(retry, text);
        }
        // Nothing reached SNS, or no answer came back in time: the network, DNS, the
        // endpoint or the credential provider may recover.
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => Retry::Later,
        // An answer that is not an SNS error document (a proxy's page, a truncated body):
        // the status decides.
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => classify("", status).0,
        // The request could not be built: the same request will fail the same way.
        _ => Retry::Never,
    };
    let text = format!(
        "publishing to {topic_arn}: {}",
        AwsError::from_sdk(ACTION, error)
    );
    sink_error(retry, text)
}

fn sink_error(retry: Retry, text: String) -> SinkError {
    match retry {
        Retry::Later => SinkError::Retryable(text),
        Retry::Never => SinkError::Permanent(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::sample_notification;
    use trail::EventTime;

    fn sample() -> Notification {
        sample_notification(EventTime(1_764_000_000_000))
    }

    fn parse(message: &str) -> Value {
        serde_json::from_str(message).unwrap()
    }

    #[test]
    fn subjects_are_one_short_line_of_ascii() {
        assert_eq!(sns_subject("[tripkey] CRITICAL x"), "[tripkey] CRITICAL x");
        assert_eq!(sns_subject("a\r\nb\u{7f}ü…"), "a  b ??");
        assert_eq!(sns_subject("  \u{202e}"), "?");
        assert_eq!(sns_subject(" \r\n "), "tripkey alert");
        let long = sns_subject(&format!("{} {}", "x".repeat(98), "y".repeat(50)));
        assert_eq!(long, format!("{}...", "x".repeat(97)));
        let long = sns_subject(&"z".repeat(500));
        assert_eq!(long.len(), SUBJECT_MAX);
        assert!(long.ends_with("..."));
        for text in ["ü".repeat(300), "\u{1b}[2J".repeat(80)] {
            let subject = sns_subject(&text);
            assert!(subject.len() <= SUBJECT_MAX, "{subject}");
            assert!(subject
                .chars()
                .all(|c| c.is_ascii() && !c.is_ascii_control()));
            assert!(!subject.starts_with(' '));
        }
    }

    #[test]
    fn every_audience_gets_its_own_form() {
        let notification = sample();
        let message = parse(&sns_message(&notification));
        let text = notify::render::email_text(&notification);
        assert_eq!(message["default"], text.as_str());
        assert_eq!(message["email"], text.as_str());
        let body: Value = serde_json::from_slice(&notify::render::webhook_body(&notification))
            .expect("the webhook body is JSON");
        for protocol in ["sqs", "lambda", "https", "http"] {
            let document = parse(message[protocol].as_str().unwrap());
            assert_eq!(document, body, "{protocol}");
        }
    }

    #[test]
    fn huge_alerts_shrink_to_fit_and_say_so() {
        let mut notification = sample();
        // A record and a summary far beyond the limit, of characters JSON escaping doubles.
        let hostile = "\"\\".repeat(200_000);
        notification.alert.summary = hostile.clone();
        notification.alert.call.user_agent = Some(hostile.clone());
        let record = serde_json::json!({ "requestParameters": { "x": hostile } }).to_string();
        notification.alert.record = serde_json::value::RawValue::from_string(record).unwrap();
        let message = sns_message(&notification);
        assert!(message.len() <= MESSAGE_BUDGET, "{}", message.len());
        let message = parse(&message);
        let document = parse(message["sqs"].as_str().unwrap());
        assert_eq!(document["truncated"], true);
        assert_eq!(document["rule"], "canary-use");
        assert!(message["default"]
            .as_str()
            .unwrap()
            .ends_with("tripkey has all of it]\n"));

        // Only the record too big: everything else is kept.
        let mut notification = sample();
        let record = serde_json::json!({ "requestParameters": { "x": "r".repeat(300_000) } });
        notification.alert.record =
            serde_json::value::RawValue::from_string(record.to_string()).unwrap();
        let message = sns_message(&notification);
        assert!(message.len() <= MESSAGE_BUDGET);
        let document = parse(parse(&message)["https"].as_str().unwrap());
        assert_eq!(document["truncated"], true);
        assert_eq!(document["alert"]["record"], Value::Null);
        assert_eq!(document["alert"]["region"], "us-east-1");
    }

    #[test]
    fn the_playbook_and_its_link_reach_every_audience() {
        let mut notification = sample();
        notification.link = Some("https://tripkey.example.com/alerts/test%3A1".to_owned());
        let message = parse(&sns_message(&notification));
        let text = message["email"].as_str().unwrap();
        assert!(text.contains("What it means: "), "{text}");
        assert!(
            text.contains("Playbook:      https://tripkey.example.com/alerts/test%3A1#playbook"),
            "{text}"
        );
        let document = parse(message["sqs"].as_str().unwrap());
        assert_eq!(
            document["links"]["playbook"],
            "https://tripkey.example.com/alerts/test%3A1#playbook"
        );
        let smallest = minimal(&document);
        assert_eq!(
            smallest["links"], document["links"],
            "the smallest form keeps them"
        );
    }

    #[test]
    fn text_is_cut_on_a_character_boundary() {
        let text = "é".repeat(10);
        let cut = truncate_bytes(&text, 70);
        assert!(cut.len() <= 70, "{cut}");
        assert!(cut.starts_with("éé"));
        assert_eq!(truncate_bytes("short", 70), "short");
    }

    #[test]
    fn errors_are_retried_only_when_waiting_can_help() {
        for code in ["Throttled", "Throttling", "KMSThrottling", "InternalError"] {
            assert_eq!(classify(code, Some(400)).0, Retry::Later, "{code}");
        }
        for code in [
            "NotFound",
            "AuthorizationError",
            "InvalidParameter",
            "ParameterValueInvalid",
            "KMSAccessDenied",
            "KMSDisabled",
            "KMSNotFound",
            "KMSInvalidState",
            "KMSOptInRequired",
            "InvalidClientTokenId",
        ] {
            assert_eq!(classify(code, Some(500)).0, Retry::Never, "{code}");
        }
        assert_eq!(classify("SomethingNew", Some(503)).0, Retry::Later);
        assert_eq!(classify("SomethingNew", Some(429)).0, Retry::Later);
        assert_eq!(classify("SomethingNew", Some(400)).0, Retry::Never);
        assert_eq!(classify("", None).0, Retry::Never);
    }

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:alerts";

    /// An HTTP answer (its body type is reached through S3's byte streams: SNS has none).
    fn answer(status: u16, body: &str) -> HttpResponse {
        let body = aws_sdk_s3::primitives::ByteStream::from(body.as_bytes().to_vec());
        HttpResponse::new(status.try_into().unwrap(), body.into_inner())
    }

    fn assert_plain(text: &str) {
        for internal in [
            "DispatchFailure",
            "ConnectorError",
            "Response {",
            "{ source",
            "Some(",
            "\\u{",
            "dispatch failure",
        ] {
            assert!(!text.contains(internal), "{internal:?} in: {text}");
        }
    }

    #[test]
    fn failures_read_as_what_failed_and_what_to_do() {
        use aws_sdk_sns::error::{ConnectorError, ErrorMetadata};

        let refused = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let error = SdkError::dispatch_failure(ConnectorError::io(Box::new(refused)));
        match publish_error(TOPIC, error) {
            SinkError::Retryable(text) => {
                assert_eq!(
                    text,
                    format!(
                        "publishing to {TOPIC}: could not reach the AWS endpoint for \
                         sns:Publish (Connection refused (os error 111)): check the network, \
                         the region and endpoint_url / AWS_ENDPOINT_URL"
                    )
                );
            }
            other => panic!("expected a retryable failure, got {other:?}"),
        }

        let missing = PublishError::generic(
            ErrorMetadata::builder()
                .code("NotFound")
                .message("Topic does not exist")
                .build(),
        );
        let error = SdkError::service_error(missing, answer(404, ""));
        match publish_error(TOPIC, error) {
            SinkError::Permanent(text) => {
                assert_eq!(
                    text,
                    format!(
                        "sns:Publish to {TOPIC} failed (AWS said NotFound: Topic does not \
                         exist): check that the topic exists, in the region tripkey is \
                         configured for"
                    )
                );
            }
            other => panic!("expected a permanent failure, got {other:?}"),
        }

        let throttled = PublishError::generic(ErrorMetadata::builder().code("Throttling").build());
        let error = SdkError::service_error(throttled, answer(400, ""));
        match publish_error(TOPIC, error) {
            SinkError::Retryable(text) => {
                assert!(text.contains("(AWS said Throttling): "), "{text}");
                assert_plain(&text);
            }
            other => panic!("expected a retryable failure, got {other:?}"),
        }

        // A gateway's page: no SNS error code, the status decides, and no parser dump shows.
        let page = PublishError::generic(ErrorMetadata::builder().build());
        let error = SdkError::service_error(page, answer(502, "<html>Bad Gateway</html>"));
        match publish_error(TOPIC, error) {
            SinkError::Retryable(text) => {
                assert!(
                    text.contains("unexpected response from sns:Publish: HTTP 502"),
                    "{text}"
                );
                assert_plain(&text);
            }
            other => panic!("expected a retryable failure, got {other:?}"),
        }
    }
}
