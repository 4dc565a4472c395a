//! The SNS sink against a real moto server (started by `scripts/test`): what an SQS
//! subscriber of the topic receives (the envelope's subject, the webhook document, the rule
//! and severity attributes, which filter policies see), and how failures are classified.
//!
//! moto, like SNS, picks the `sqs` entry of a `MessageStructure=json` message for an SQS
//! subscriber, so these tests see the webhook document there; what email subscribers get
//! (the `email` entry, plain text) is checked by the unit tests, as moto delivers no email.

use std::time::{Duration, SystemTime};

use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use notify::{Notification, Sink, SinkError};
use serde_json::{json, Value};
use tripkey_aws::{AwsOptions, Secret, StaticCredentials};
use tripkey_aws_sources::{sns_client, SnsSink};

fn moto() -> String {
    std::env::var("TRIPKEY_TEST_MOTO_ENDPOINT")
        .expect("TRIPKEY_TEST_MOTO_ENDPOINT is unset: run through scripts/test, which starts moto")
}

fn options(endpoint: String) -> AwsOptions {
    AwsOptions {
        endpoint_url: Some(endpoint),
        region: Some("us-east-1".to_owned()),
        credentials: Some(StaticCredentials {
            access_key_id: "testing".to_owned(),
            secret_access_key: Secret::new("testing"),
            session_token: None,
        }),
        ..AwsOptions::default()
    }
}

/// A name unique to this test run, for topics and queues on the shared server.
fn unique(stem: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{stem}-{}-{nanos}", std::process::id())
}

/// The sample alert with a user agent an attacker chose (markup and a line break), and a
/// canary name, which the subject shows, with a line break and non-ASCII characters.
fn hostile_notification() -> Notification {
    let mut notification = notify::sample_notification(trail::EventTime::from(SystemTime::now()));
    notification.alert.call.user_agent =
        Some("<script>alert(1)</script>\r\nSubject: pwned".to_owned());
    if let detect::Details::Canary(canary) = &mut notification.alert.details {
        canary.canary =
            "svc-reporting-export\r\nBcc: victim@example.com \u{2014} \u{fc}".to_owned();
    }
    notification
}

/// A queue subscribed to `topic`, with these subscription attributes; its URL.
async fn subscribed_queue(
    sns: &aws_sdk_sns::Client,
    sqs: &aws_sdk_sqs::Client,
    topic: &str,
    attributes: &[(&str, &str)],
) -> String {
    let url = sqs
        .create_queue()
        .queue_name(unique("alert-subscriber"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove(&QueueAttributeName::QueueArn)
        .unwrap();
    let mut subscribe = sns
        .subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(arn);
    for (name, value) in attributes {
        subscribe = subscribe.attributes(*name, *value);
    }
    subscribe.send().await.unwrap();
    url
}

/// Every message on the queue now (SNS to SQS is immediate in moto; a short poll covers the
/// real service's delay).
async fn received(sqs: &aws_sdk_sqs::Client, queue: &str) -> Vec<aws_sdk_sqs::types::Message> {
    sqs.receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default()
}

#[tokio::test]
async fn sqs_subscribers_get_the_webhook_document_a_safe_subject_and_filterable_attributes() {
    let options = options(moto());
    let (_, sqs) = tripkey_aws_sources::clients(&options).await;
    let sns = sns_client(&options).await;
    let topic = sns
        .create_topic()
        .name(unique("tripkey-alerts"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let enveloped = subscribed_queue(&sns, &sqs, &topic, &[]).await;
    let raw = subscribed_queue(
        &sns,
        &sqs,
        &topic,
        &[
            ("RawMessageDelivery", "true"),
            (
                "FilterPolicy",
                r#"{"tripkey.severity": ["critical", "high"]}"#,
            ),
        ],
    )
    .await;
    let filtered_out = subscribed_queue(
        &sns,
        &sqs,
        &topic,
        &[(
            "FilterPolicy",
            r#"{"tripkey.rule": ["access-denied-burst"]}"#,
        )],
    )
    .await;

    let notification = hostile_notification();
    let sink = SnsSink::new(sns.clone(), "pager".to_owned(), topic.clone());
    assert_eq!(sink.name(), "pager");
    assert_eq!(sink.topic_arn(), topic);
    sink.deliver(&notification).await.unwrap();

    let webhook: Value =
        serde_json::from_slice(&notify::render::webhook_body(&notification)).unwrap();

    // The standard SNS envelope.
    let messages = received(&sqs, &enveloped).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let envelope: Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["TopicArn"], topic.as_str());
    let subject = envelope["Subject"].as_str().unwrap();
    assert!(
        subject.len() <= 100
            && subject
                .chars()
                .all(|c| c.is_ascii() && !c.is_ascii_control()),
        "{subject:?}"
    );
    // The rule's title and the canary, the line break made a space, the rest made `?`.
    assert_eq!(
        subject,
        "[tripkey] CRITICAL Canary credential used: svc-reporting-export  Bcc: victim@example.com ? ?"
    );
    let document: Value = serde_json::from_str(envelope["Message"].as_str().unwrap())
        .expect("an SQS subscriber gets the webhook document, not the text");
    assert_eq!(document, webhook);
    // JSON's own escaping is all a program needs: the value arrives exactly as recorded.
    assert_eq!(
        document["alert"]["user_agent"],
        "<script>alert(1)</script>\r\nSubject: pwned"
    );
    assert_eq!(
        envelope["MessageAttributes"],
        json!({
            "tripkey.rule": {"Type": "String", "Value": "canary-use"},
            "tripkey.severity": {"Type": "String", "Value": "critical"},
        })
    );

    // Raw delivery: the document is the body and the attributes are the SQS message's own;
    // the severity filter let it through.
    let messages = received(&sqs, &raw).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let body: Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(body, webhook);
    let attributes = messages[0].message_attributes().unwrap();
    let string = |value: &str| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .unwrap()
    };
    assert_eq!(attributes["tripkey.rule"], string("canary-use"));
    assert_eq!(attributes["tripkey.severity"], string("critical"));

    // A filter policy on another rule keeps the alert away.
    assert!(received(&sqs, &filtered_out).await.is_empty());
}

#[tokio::test]
async fn a_missing_topic_is_a_permanent_failure() {
    let sns = sns_client(&options(moto())).await;
    let topic = format!(
        "arn:aws:sns:us-east-1:123456789012:{}",
        unique("no-such-topic")
    );
    let sink = SnsSink::new(sns, "gone".to_owned(), topic.clone());
    match sink.deliver(&hostile_notification()).await {
        Err(SinkError::Permanent(text)) => {
            assert!(text.contains("NotFound"), "{text}");
            assert!(text.contains(&topic), "{text}");
        }
        other => panic!("expected a permanent failure, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_retryable() {
    // Nothing listens on port 1; the SDK's own retries fail fast against a refused connection.
    let sns = sns_client(&options("http://127.0.0.1:1".to_owned())).await;
    let sink = SnsSink::new(
        sns,
        "down".to_owned(),
        "arn:aws:sns:us-east-1:123456789012:alerts".to_owned(),
    );
    let started = std::time::Instant::now();
    match sink.deliver(&hostile_notification()).await {
        Err(SinkError::Retryable(text)) => {
            assert!(text.contains("could not reach"), "{text}");
            assert!(text.contains("Connection refused"), "{text}");
            assert!(text.contains("check the network"), "{text}");
            for internal in [
                "DispatchFailure",
                "ConnectorError",
                "Response {",
                "{ source",
                "Some(",
                "\\u{",
            ] {
                assert!(!text.contains(internal), "{internal:?} in: {text}");
            }
        }
        other => panic!("expected a retryable failure, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(30));
}
