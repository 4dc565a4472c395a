//! The chat and paging formats: Microsoft Teams, Discord, Google Chat and PagerDuty. Each
//! against a golden payload and a local receiver, with the hostile userAgent of the escaping
//! tests, a 300-character string of bidirectional controls and a digest of 200 alerts, and
//! each within its service's documented limits.

mod common;

use axum::http::StatusCode;
use common::{receiver, spec};
use detect::Details;
use notify::formats::{discord, google_chat, pagerduty, teams};
use notify::{build_sink, Digest, Notification, SinkError};
use serde_json::Value;
use trail::EventTime;

const NOW: EventTime = EventTime(1_764_000_000_000);
const USER_AGENT: &str =
    "<script>alert(document.cookie)</script>\r\nBcc: victim@example.com\r\n\r\n<!channel> @everyone <@123> [click](https://evil.example) **bold** {{DATE(2026-01-01T00:00:00Z)}} <at>all</at> <users/all>";

/// 300 characters of bidirectional overrides and isolates around a key, as an attacker would
/// write to make a log line read differently from what it is.
fn bidi() -> String {
    let pattern = "\u{202e}\u{2066}AKIA\u{2069}\u{202c}";
    pattern.chars().cycle().take(300).collect()
}

/// The sample alert made hostile, with a digest of 200 alerts.
fn notification() -> Notification {
    let mut notification = notify::sample_notification(NOW);
    notification.alert.call.user_agent = Some(USER_AGENT.to_owned());
    notification.alert.summary = format!("Canary used by {}", bidi());
    if let Details::Canary(canary) = &mut notification.alert.details {
        canary.canary = "svc-export\r\nBcc: attacker@evil.example".to_owned();
        canary.memo = Some(bidi());
        canary
            .labels
            .insert("host".to_owned(), USER_AGENT.to_owned());
    }
    notification.link = Some("https://tripkey.example.com/alerts/test%3A1".to_owned());
    notification.digest = Some(Digest {
        count: 200,
        first: NOW.offset(-3_600_000),
        last: NOW,
        summaries: (0..200)
            .map(|n| format!("#{n} used from 203.0.113.{} by {USER_AGENT}", n % 250))
            .collect(),
        key: "svc-export".to_owned(),
        dedup_keys: (0..200)
            .map(|n| format!("canary-use:svc-export:{n}"))
            .collect(),
    });
    notification
}

/// Compares a payload with its golden file; `TRIPKEY_UPDATE_GOLDEN=1` writes the file instead.
fn golden(name: &str, payload: &Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    let text = format!("{}\n", serde_json::to_string_pretty(payload).unwrap());
    if std::env::var_os("TRIPKEY_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (TRIPKEY_UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    assert!(
        text == expected,
        "{name} differs from {}; if the change is meant, rerun with TRIPKEY_UPDATE_GOLDEN=1 and review the diff",
        path.display()
    );
}

fn bytes(payload: &Value) -> usize {
    serde_json::to_vec(payload).unwrap().len()
}

/// Every string in a payload, for checks that nothing live got through.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| strings(item, out)),
        Value::Object(members) => members.values().for_each(|item| strings(item, out)),
        _ => {}
    }
}

fn all_text(payload: &Value) -> String {
    let mut out = Vec::new();
    strings(payload, &mut out);
    out.join("\n")
}

/// No raw bidirectional control or CR reaches any service; each is shown as `shown` (the
/// visible escape, as the format writes it).
fn assert_controls_visible(name: &str, payload: &Value, shown: &str) {
    let text = all_text(payload);
    assert!(
        !text.contains(['\u{202e}', '\u{2066}', '\u{2069}', '\u{202c}', '\r']),
        "{name}: a raw control reached the payload"
    );
    assert!(
        text.contains(shown),
        "{name}: controls are shown, not dropped"
    );
}

#[test]
fn teams_gets_an_adaptive_card_with_every_markdown_character_escaped() {
    let payload = teams::payload(&notification());
    golden("teams", &payload);
    assert!(bytes(&payload) <= 28_000, "{} bytes", bytes(&payload));
    assert_controls_visible("teams", &payload, r"\\u\{202e\}");
    let card = &payload["attachments"][0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(
        payload["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let text = all_text(card);
    for live in ["[click](", "**bold**", "{{DATE(", "<at>", "<script>"] {
        assert!(!text.contains(live), "teams: {live} is live");
    }
    assert!(text.contains(r"\[click\]\(https\:\/\/evil\.example\)"));
    assert_eq!(
        card["actions"][1]["url"],
        "https://tripkey.example.com/alerts/test%3A1#playbook"
    );
}

#[test]
fn discord_gets_an_embed_in_code_spans_with_no_mentions_allowed() {
    let payload = discord::payload(&notification());
    golden("discord", &payload);
    assert_eq!(payload["allowed_mentions"]["parse"], serde_json::json!([]));
    let embed = &payload["embeds"][0];
    assert!(discord::embed_characters(embed) <= discord::MAX_EMBED_TOTAL);
    assert!(embed["title"].as_str().unwrap().chars().count() <= discord::MAX_TITLE);
    assert!(embed["description"].as_str().unwrap().chars().count() <= discord::MAX_DESCRIPTION);
    let fields = embed["fields"].as_array().unwrap();
    assert!(fields.len() <= discord::MAX_FIELDS);
    for field in fields {
        let value = field["value"].as_str().unwrap();
        assert!(value.chars().count() <= discord::MAX_FIELD_VALUE, "{value}");
        assert!(
            value.starts_with('`') && value.ends_with('`'),
            "values are code spans: {value}"
        );
        assert_eq!(
            value.matches('`').count(),
            2,
            "no span closes early: {value}"
        );
    }
    assert_controls_visible("discord", &payload, r"\u{202e}");
}

#[test]
fn google_chat_gets_a_card_with_html_escaped_and_no_mentionable_text() {
    let payload = google_chat::payload(&notification());
    golden("google_chat", &payload);
    assert!(bytes(&payload) <= 32_000, "{} bytes", bytes(&payload));
    assert!(
        payload.get("text").is_none(),
        "no top-level text that could mention <users/all>"
    );
    assert_controls_visible("google_chat", &payload, r"\u{202e}");
    let text = all_text(&payload);
    assert!(!text.contains("<script>") && !text.contains("<users/all>"));
    assert!(text.contains("&lt;script&gt;"));
}

#[test]
fn pagerduty_gets_a_trigger_keyed_by_the_dedup_key_within_its_limits() {
    let payload = pagerduty::trigger(&notification(), "R0UT1NGKEY");
    golden("pagerduty", &payload);
    assert_eq!(payload["event_action"], "trigger");
    assert_eq!(payload["dedup_key"], format!("test:{}", NOW.millis()));
    assert_eq!(payload["payload"]["severity"], "critical");
    let summary = payload["payload"]["summary"].as_str().unwrap();
    assert!(summary.chars().count() <= pagerduty::MAX_SUMMARY);
    assert_eq!(payload["payload"]["custom_details"]["Digest"]["count"], 200);
    assert!(bytes(&payload) <= pagerduty::MAX_PAYLOAD_BYTES);
    assert_controls_visible("pagerduty", &payload, r"\u{202e}");
    let long = "k".repeat(400);
    let key = pagerduty::incident_key(&long);
    assert!(key.len() <= pagerduty::MAX_DEDUP_KEY);
    assert_ne!(
        key,
        pagerduty::incident_key(&"k".repeat(401)),
        "distinct keys stay distinct"
    );
    let resolve = pagerduty::resolve(&long, "R0UT1NGKEY");
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], key);
}

#[tokio::test]
async fn each_sink_posts_its_format_and_sorts_failures_without_naming_its_secret() {
    let (base, receiver) = receiver().await;
    let notification = notification();
    let cases: [(&str, Value); 4] = [
        (
            "type = \"teams\"\nwebhook_url = \"BASE/workflows/SECRET-TOKEN\"",
            teams::payload(&notification),
        ),
        (
            "type = \"discord\"\nwebhook_url = \"BASE/api/webhooks/1/SECRET-TOKEN\"",
            discord::payload(&notification),
        ),
        (
            "type = \"google-chat\"\nwebhook_url = \"BASE/v1/spaces/S/messages?key=K&token=SECRET-TOKEN\"",
            google_chat::payload(&notification),
        ),
        (
            "type = \"pagerduty\"\nrouting_key = \"SECRET-TOKEN\"\nurl = \"BASE/v2/enqueue\"",
            pagerduty::trigger(&notification, "SECRET-TOKEN"),
        ),
    ];
    for (table, expected) in cases {
        let table = table.replace("BASE", &base);
        let sink = build_sink(&spec(&format!("[[sink]]\nname = \"chat\"\n{table}\n"))).unwrap();
        *receiver.status.lock().unwrap() = if table.contains("pagerduty") {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        };
        sink.deliver(&notification).await.unwrap();
        let taken = receiver.received.lock().unwrap().pop().unwrap();
        assert_eq!(taken.headers["content-type"], "application/json");
        let received: Value = serde_json::from_slice(&taken.body).unwrap();
        assert_eq!(received, expected, "{table}");

        *receiver.status.lock().unwrap() = StatusCode::BAD_REQUEST;
        let Err(SinkError::Permanent(message)) = sink.deliver(&notification).await else {
            panic!("{table}: a 400 is permanent");
        };
        assert!(!message.contains("SECRET-TOKEN"), "{message}");
        *receiver.status.lock().unwrap() = StatusCode::TOO_MANY_REQUESTS;
        assert!(matches!(
            sink.deliver(&notification).await,
            Err(SinkError::Retryable(_))
        ));
    }
}

#[test]
fn a_sink_without_its_credential_says_where_to_get_one() {
    for (kind, hint) in [
        ("teams", "Workflows"),
        ("discord", "Webhooks"),
        ("google-chat", "Webhooks"),
        ("pagerduty", "Events API v2"),
    ] {
        let error = build_sink(&spec(&format!(
            "[[sink]]\nname = \"x\"\ntype = \"{kind}\"\n"
        )))
        .err()
        .unwrap()
        .to_string();
        assert!(error.contains(hint), "{kind}: {error}");
    }
}

#[tokio::test]
async fn a_withdrawn_alert_resolves_its_pagerduty_incident_instead_of_paging_again() {
    let (base, receiver) = receiver().await;
    *receiver.status.lock().unwrap() = StatusCode::ACCEPTED;
    let mut notification = notification();
    notification.digest = None;
    notification.alert.status = detect::AlertStatus::Withdrawn;
    notification.alert.withdrawn_because = Some("records that arrived late took it back".into());
    let pager = build_sink(&spec(&format!(
        "[[sink]]\nname = \"pager\"\ntype = \"pagerduty\"\nrouting_key = \"R0UT1NGKEY\"\nurl = \"{base}/v2/enqueue\"\n"
    )))
    .unwrap();
    pager.deliver(&notification).await.unwrap();
    let body = receiver.received.lock().unwrap().pop().unwrap().body;
    let received: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        received,
        pagerduty::resolve(&notification.alert.dedup_key, "R0UT1NGKEY")
    );
}

#[tokio::test]
async fn resolving_sends_pagerduty_a_resolve_and_the_chat_services_nothing() {
    let (base, receiver) = receiver().await;
    *receiver.status.lock().unwrap() = StatusCode::ACCEPTED;
    let notification = notification();
    let pager = build_sink(&spec(&format!(
        "[[sink]]\nname = \"pager\"\ntype = \"pagerduty\"\nrouting_key = \"R0UT1NGKEY\"\nurl = \"{base}/v2/enqueue\"\n"
    )))
    .unwrap();
    pager
        .resolve(&notification)
        .expect("PagerDuty keeps incidents")
        .await
        .unwrap();
    let body = receiver.received.lock().unwrap().pop().unwrap().body;
    let received: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        received,
        pagerduty::resolve(&notification.alert.dedup_key, "R0UT1NGKEY")
    );
    let teams = build_sink(&spec(&format!(
        "[[sink]]\nname = \"teams\"\ntype = \"teams\"\nwebhook_url = \"{base}/workflows/x\"\n"
    )))
    .unwrap();
    assert!(
        teams.resolve(&notification).is_none(),
        "Teams keeps no incident"
    );
    assert!(
        receiver.received.lock().unwrap().is_empty(),
        "nothing posted"
    );
}
