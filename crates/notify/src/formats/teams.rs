//! Microsoft Teams: an Adaptive Card posted to a Workflows webhook ("Post to a channel when
//! a webhook request is received"), which replaced the Office 365 connectors.
//!
//! Adaptive Card text is Markdown: every value from an alert goes through
//! [`escape::markdown`], so no link, emphasis, `<at>` mention or `{{DATE()}}` function an
//! attacker writes comes alive.

use serde_json::{json, Value};

use crate::escape::{markdown, within};
use crate::render::{facts, playbook, playbook_text, title};
use crate::Notification;

/// Teams refuses a webhook message over 28 KB; this leaves room for the envelope.
pub const MAX_PAYLOAD_BYTES: usize = 27_000;

/// The Workflows webhook body: a message with one Adaptive Card.
pub fn payload(notification: &Notification) -> Value {
    super::fit(MAX_PAYLOAD_BYTES, |divisor| card(notification, divisor))
}

fn card(notification: &Notification, divisor: usize) -> Value {
    let alert = &notification.alert;
    let urgent = matches!(
        alert.severity,
        detect::Severity::Critical | detect::Severity::High
    );
    let mut body = vec![
        json!({
            "type": "TextBlock", "text": within(&title(notification), 200 / divisor.min(4), markdown),
            "weight": "Bolder", "size": "Medium", "wrap": true,
            "color": if urgent { "Attention" } else { "Default" },
        }),
        json!({
            "type": "TextBlock", "wrap": true,
            "text": format!(
                "**{}** {}",
                alert.severity.to_string().to_uppercase(),
                within(&alert.summary, 1_000 / divisor, markdown)
            ),
        }),
    ];
    let facts: Vec<Value> = facts(notification)
        .iter()
        .map(|fact| {
            json!({"title": fact.label, "value": within(&fact.value, 500 / divisor, markdown)})
        })
        .collect();
    body.push(json!({"type": "FactSet", "facts": facts}));
    if let Some(digest) = &notification.digest {
        body.push(json!({
            "type": "TextBlock", "wrap": true, "weight": "Bolder",
            "text": markdown(&format!(
                "{} alerts for {} between {} and {}",
                digest.count, digest.key, digest.first, digest.last
            )),
        }));
        for summary in digest.summaries.iter().take(10) {
            body.push(json!({
                "type": "TextBlock", "wrap": true, "spacing": "None",
                "text": within(summary, 280 / divisor, markdown),
            }));
        }
    }
    body.push(json!({
        "type": "TextBlock", "wrap": true, "separator": true,
        "text": within(&playbook_text(&playbook(notification)), 2_000 / divisor, markdown),
    }));
    let mut content = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if let Some(link) = &notification.link {
        content["actions"] = json!([
            {"type": "Action.OpenUrl", "title": "Open in tripkey", "url": link},
            {"type": "Action.OpenUrl", "title": "Playbook", "url": format!("{link}#playbook")},
        ]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": content,
        }],
    })
}
