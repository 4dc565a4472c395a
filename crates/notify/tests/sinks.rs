//! Each sink against a real receiver: a local HTTP server for the webhook and Slack, the
//! aiosmtpd server scripts/test starts for email, a file for JSON lines.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{receiver, spec};
use detect::Details;
use notify::{build_sink, verify_signature, Notification, SinkError};
use trail::EventTime;

/// The sample alert with a userAgent and canary name an attacker would write.
fn hostile(now: EventTime) -> Notification {
    let mut notification = notify::sample_notification(now);
    notification.alert.call.user_agent = Some(
        "<script>alert(document.cookie)</script>\r\nBcc: victim@example.com\r\n\r\n<!channel>"
            .to_owned(),
    );
    if let Details::Canary(canary) = &mut notification.alert.details {
        canary.canary = "svc-export\r\nBcc: attacker@evil.example".to_owned();
    }
    notification.link = Some("https://tripkey.example.com/alerts/test%3A1".to_owned());
    notification
}

#[tokio::test]
async fn the_webhook_posts_signed_json_and_sorts_failures() {
    let (base, receiver) = receiver().await;
    let sink = build_sink(&spec(&format!(
        "[[sink]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{base}/tripkey\"\nsecret = \"receiver-shared-secret\"\n"
    )))
    .unwrap();
    let notification = hostile(store_now());
    sink.deliver(&notification).await.unwrap();

    let received = receiver.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    let timestamp = request.headers["x-tripkey-timestamp"].to_str().unwrap();
    let signature = request.headers["x-tripkey-signature"].to_str().unwrap();
    assert!(verify_signature(
        b"receiver-shared-secret",
        timestamp,
        &request.body,
        signature
    ));
    assert!(!verify_signature(
        b"wrong-secret",
        timestamp,
        &request.body,
        signature
    ));
    let sent_at: u64 = timestamp.parse().unwrap();
    assert!(sent_at.abs_diff(u64::try_from(store_now().millis() / 1000).unwrap()) < 60);
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(
        request.headers["x-tripkey-dedup-key"],
        notification.alert.dedup_key
    );

    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["version"], 1);
    assert_eq!(body["kind"], "alert");
    assert_eq!(body["rule"], "canary-use");
    assert_eq!(body["dedup_key"], notification.alert.dedup_key.as_str());
    assert_eq!(body["delay_ms"], 4_200);
    assert_eq!(body["alert"]["details"]["labels"]["host"], "test");
    assert_eq!(
        body["alert"]["user_agent"].as_str(),
        notification.alert.call.user_agent.as_deref(),
        "JSON carries the value exactly; the receiver escapes it for its own output"
    );

    *receiver.status.lock().unwrap() = StatusCode::SERVICE_UNAVAILABLE;
    assert!(matches!(
        sink.deliver(&notification).await,
        Err(SinkError::Retryable(_))
    ));
    *receiver.status.lock().unwrap() = StatusCode::TOO_MANY_REQUESTS;
    assert!(matches!(
        sink.deliver(&notification).await,
        Err(SinkError::Retryable(_))
    ));
    *receiver.status.lock().unwrap() = StatusCode::MOVED_PERMANENTLY;
    let moved = sink.deliver(&notification).await.unwrap_err();
    assert!(
        matches!(moved, SinkError::Permanent(ref m) if m.contains("redirect")),
        "a redirect is not followed, so the alert is not lost to a GET: {moved:?}"
    );
    *receiver.status.lock().unwrap() = StatusCode::GONE;
    let refused = sink.deliver(&notification).await.unwrap_err();
    assert!(
        matches!(refused, SinkError::Permanent(ref m) if m.contains("410")),
        "{refused:?}"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = build_sink(&spec(&format!(
        "[[sink]]\nname = \"down\"\ntype = \"webhook\"\nurl = \"http://bot:pa55word@127.0.0.1:{port}/hook?token=t0ken\"\nsecret = \"s\"\ntimeout_secs = 2\n"
    )))
    .unwrap();
    let error = unreachable.deliver(&notification).await.unwrap_err();
    assert!(
        matches!(error, SinkError::Retryable(ref m) if m.contains("could not connect")),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("http://127.0.0.1:{port}"))
            && !message.contains("pa55word")
            && !message.contains("t0ken"),
        "errors name the receiver without its credentials: {message}"
    );
}

#[tokio::test]
async fn slack_gets_block_kit_with_nothing_live_from_the_attacker() {
    let (base, receiver) = receiver().await;
    let sink = build_sink(&spec(&format!(
        "[[sink]]\nname = \"slack\"\ntype = \"slack\"\nwebhook_url = \"{base}/services/T000/B000/XXXX\"\n"
    )))
    .unwrap();
    sink.deliver(&hostile(store_now())).await.unwrap();

    let received = receiver.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let payload: serde_json::Value = serde_json::from_slice(&received[0].body).unwrap();
    let blocks = payload["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert!(blocks[0]["text"]["text"]
        .as_str()
        .unwrap()
        .starts_with("Canary credential used"));
    let buttons = blocks.iter().find(|b| b["type"] == "actions").unwrap();
    assert_eq!(
        buttons["elements"][0]["url"], "https://tripkey.example.com/alerts/test%3A1",
        "a button to the alert's page"
    );
    assert_eq!(
        buttons["elements"][1]["url"], "https://tripkey.example.com/alerts/test%3A1#playbook",
        "and one to its playbook"
    );
    assert!(blocks.iter().any(|b| b["text"]["text"]
        .as_str()
        .is_some_and(|text| text.starts_with("What it means: Someone used the canary"))));
    let text = String::from_utf8(received[0].body.to_vec()).unwrap();
    assert!(
        !text.contains("<!channel>"),
        "no mention reaches Slack: {text}"
    );
    assert!(!text.contains("<script>"));
    assert!(text.contains("&lt;!channel&gt;"));

    *receiver.status.lock().unwrap() = StatusCode::NOT_FOUND;
    let error = sink.deliver(&hostile(store_now())).await.unwrap_err();
    let SinkError::Permanent(message) = error else {
        panic!("404 is permanent")
    };
    assert!(
        !message.contains("XXXX"),
        "the webhook URL is a credential: {message}"
    );
}

#[tokio::test]
async fn json_lines_append_one_document_per_alert() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let sink = build_sink(&spec(&format!(
        "[[sink]]\nname = \"siem\"\ntype = \"json-lines\"\npath = {:?}\n",
        path.display().to_string()
    )))
    .unwrap();
    let first = hostile(store_now());
    let mut second = first.clone();
    second.alert.dedup_key = "test:second".to_owned();
    sink.deliver(&first).await.unwrap();
    sink.deliver(&second).await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let keys: Vec<String> = text
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["dedup_key"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        keys,
        [first.alert.dedup_key.clone(), "test:second".to_owned()]
    );
    let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(
        line["links"],
        serde_json::json!({
            "alert": "https://tripkey.example.com/alerts/test%3A1",
            "playbook": "https://tripkey.example.com/alerts/test%3A1#playbook",
        })
    );

    let missing = build_sink(&spec(
        "[[sink]]\nname = \"siem\"\ntype = \"json-lines\"\npath = \"/nonexistent-dir/alerts.jsonl\"\n",
    ))
    .unwrap();
    assert!(matches!(
        missing.deliver(&first).await,
        Err(SinkError::Retryable(_))
    ));
}

fn store_now() -> EventTime {
    EventTime::from(std::time::SystemTime::now())
}

/// The aiosmtpd server scripts/test starts, and the Maildir it writes messages to.
fn smtp_server() -> (String, u16, std::path::PathBuf) {
    let address = std::env::var("TRIPKEY_TEST_SMTP").expect(
        "TRIPKEY_TEST_SMTP is not set: run the tests through scripts/test, which starts aiosmtpd",
    );
    let maildir = std::env::var("TRIPKEY_TEST_SMTP_MAILDIR")
        .expect("TRIPKEY_TEST_SMTP_MAILDIR is not set: run the tests through scripts/test");
    let (host, port) = address
        .rsplit_once(':')
        .expect("TRIPKEY_TEST_SMTP is host:port");
    (host.to_owned(), port.parse().unwrap(), maildir.into())
}

/// Waits for the message whose body mentions `marker`, returning its raw bytes.
async fn wait_for_mail(maildir: &std::path::Path, marker: &str) -> Vec<u8> {
    for _ in 0..100 {
        if let Ok(entries) = std::fs::read_dir(maildir.join("new")) {
            for entry in entries.flatten() {
                let bytes = std::fs::read(entry.path()).unwrap();
                let parsed = mailparse::parse_mail(&bytes).unwrap();
                let bodies: Vec<String> = parsed
                    .subparts
                    .iter()
                    .map(|p| p.get_body().unwrap())
                    .collect();
                if bodies.iter().any(|body| body.contains(marker)) {
                    return bytes;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no email mentioning {marker} arrived in {}",
        maildir.display()
    );
}

#[tokio::test]
async fn email_arrives_with_both_bodies_and_no_injected_headers() {
    let (host, port, maildir) = smtp_server();
    let sink = build_sink(&spec(&format!(
        "[[sink]]\nname = \"soc-mail\"\ntype = \"email\"\nhost = \"{host}\"\nport = {port}\ntls = \"none\"\n\
         from = \"tripkey <tripkey@example.com>\"\nto = [\"soc@example.com\", \"oncall@example.com\"]\n"
    )))
    .unwrap();
    let mut notification = hostile(store_now());
    let marker = format!("test:email-{}", store_now().millis());
    notification.alert.dedup_key = marker.clone();
    sink.deliver(&notification).await.unwrap();

    let raw = wait_for_mail(&maildir, &marker).await;
    let parsed = mailparse::parse_mail(&raw).unwrap();
    let recipients: Vec<String> = parsed
        .headers
        .iter()
        .filter(|h| h.get_key() == "Delivered-To")
        .map(|h| h.get_value())
        .collect();
    assert_eq!(recipients, ["soc@example.com", "oncall@example.com"]);
    let header_names: Vec<String> = parsed
        .headers
        .iter()
        .map(|h| h.get_key().to_ascii_lowercase())
        .collect();
    assert!(
        !header_names.contains(&"bcc".to_owned()),
        "no header injected: {header_names:?}"
    );
    let subject = parsed
        .headers
        .iter()
        .find(|h| h.get_key() == "Subject")
        .unwrap()
        .get_value();
    assert!(
        subject.starts_with("[tripkey] CRITICAL Canary credential used: svc-export"),
        "{subject}"
    );
    assert!(!subject.contains('\n') && !subject.contains('\r'));

    assert_eq!(parsed.ctype.mimetype, "multipart/alternative");
    let text = parsed
        .subparts
        .iter()
        .find(|p| p.ctype.mimetype == "text/plain")
        .unwrap()
        .get_body()
        .unwrap();
    let page = parsed
        .subparts
        .iter()
        .find(|p| p.ctype.mimetype == "text/html")
        .unwrap()
        .get_body()
        .unwrap();
    assert!(text.contains("203.0.113.7") && text.contains("location=tripkey alert test"));
    assert!(
        text.contains("<script>alert(document.cookie)</script>\\u{d}\\u{a}Bcc"),
        "{text}"
    );
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(document.cookie)&lt;/script&gt;"));
    assert!(page.contains("href=\"https://tripkey.example.com/alerts/test%3A1\""));
}

#[tokio::test]
async fn a_relay_that_is_down_is_a_retry_not_a_loss() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let sink = build_sink(&spec(&format!(
        "[[sink]]\nname = \"mail\"\ntype = \"email\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout_secs = 2\n\
         from = \"tripkey@example.com\"\nto = [\"soc@example.com\"]\n"
    )))
    .unwrap();
    assert!(matches!(
        sink.deliver(&hostile(store_now())).await,
        Err(SinkError::Retryable(_))
    ));
}

#[test]
fn an_empty_signing_secret_is_refused() {
    let error = build_sink(&spec(
        "[[sink]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"https://soc.example/\"\nsecret = \"\"\n",
    ))
    .err()
    .expect("an empty secret signs nothing anyone could not forge");
    assert!(error.to_string().contains("empty"), "{error}");
}
