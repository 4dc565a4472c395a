//! Google Chat: a card (cards v2) posted to a space's incoming webhook.
//!
//! Card text takes a small HTML subset, so every value from an alert goes through
//! [`escape::html`]; the card carries no top-level `text`, whose own markup could mention
//! `<users/all>`.

use serde_json::{json, Value};

use crate::escape::{for_terminal, html, within};
use crate::render::{facts, playbook, playbook_text, title};
use crate::Notification;

/// Google Chat refuses a message over 32,000 bytes; this leaves room for the envelope.
pub const MAX_PAYLOAD_BYTES: usize = 30_000;

/// The webhook body: one card.
pub fn payload(notification: &Notification) -> Value {
    super::fit(MAX_PAYLOAD_BYTES, |divisor| card(notification, divisor))
}

fn card(notification: &Notification, divisor: usize) -> Value {
    let alert = &notification.alert;
    let plain = |text: &str| for_terminal(text).into_owned();
    let mut sections = vec![json!({
        "widgets": [{"textParagraph": {"text": format!(
            "<b>{}</b> {}",
            alert.severity.to_string().to_uppercase(),
            within(&alert.summary, 1_000 / divisor, html)
        )}}]
    })];
    let facts: Vec<Value> = facts(notification)
        .iter()
        .map(|fact| {
            json!({"decoratedText": {
                "topLabel": fact.label,
                "text": within(&fact.value, 500 / divisor, html),
                "wrapText": true,
            }})
        })
        .collect();
    sections.push(json!({"header": "Facts", "widgets": facts}));
    if let Some(digest) = &notification.digest {
        let mut lines = vec![html(&format!(
            "{} alerts for {} between {} and {}",
            digest.count, digest.key, digest.first, digest.last
        ))];
        lines.extend(
            digest
                .summaries
                .iter()
                .take(10)
                .map(|summary| format!("• {}", within(summary, 280 / divisor, html))),
        );
        sections.push(json!({
            "header": "Digest",
            "widgets": [{"textParagraph": {"text": lines.join("<br>")}}],
        }));
    }
    let playbook = within(
        &playbook_text(&playbook(notification)),
        2_000 / divisor,
        html,
    );
    sections.push(json!({
        "header": "What to do",
        "widgets": [{"textParagraph": {"text": playbook.replace('\n', "<br>")}}],
    }));
    if let Some(link) = &notification.link {
        sections.push(json!({"widgets": [{"buttonList": {"buttons": [
            {"text": "Open in tripkey", "onClick": {"openLink": {"url": link}}},
            {"text": "Playbook", "onClick": {"openLink": {"url": format!("{link}#playbook")}}},
        ]}}]}));
    }
    json!({
        "cardsV2": [{
            "cardId": "tripkey-alert",
            "card": {
                "header": {
                    "title": within(&title(notification), 200, plain),
                    "subtitle": format!("tripkey · {}", alert.rule),
                },
                "sections": sections,
            },
        }],
    })
}
