//! PagerDuty: an Events API v2 `trigger`, keyed by the alert's dedup key, so a repeat
//! delivery updates the same incident instead of opening another; a `resolve` closes it when
//! the alert is resolved in tripkey or withdrawn.
//!
//! PagerDuty shows text as text; values only have their controls made visible, and are cut
//! to the API's limits.

use serde_json::{json, Map, Value};

use crate::escape::{for_terminal, truncate, within};
use crate::render::{facts, playbook, playbook_text, title};
use crate::Notification;

/// The Events API v2 endpoint (`https://events.eu.pagerduty.com/v2/enqueue` for EU
/// accounts).
pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// The longest `payload.summary` PagerDuty takes.
pub const MAX_SUMMARY: usize = 1_024;
/// The longest `dedup_key` PagerDuty takes.
pub const MAX_DEDUP_KEY: usize = 255;
/// PagerDuty refuses an event over 512 KB.
pub const MAX_PAYLOAD_BYTES: usize = 500_000;

/// The event a notification becomes: a [`trigger`], or, when records that arrived late
/// withdrew the alert, the [`resolve`] of its incident, since the alert no longer stands and
/// nobody should stay paged for it.
pub fn event_for(notification: &Notification, routing_key: &str) -> Value {
    if notification.alert.status == detect::AlertStatus::Withdrawn {
        return resolve(&notification.alert.dedup_key, routing_key);
    }
    trigger(notification, routing_key)
}

/// The `trigger` event for a notification, to the service of `routing_key`.
pub fn trigger(notification: &Notification, routing_key: &str) -> Value {
    super::fit(MAX_PAYLOAD_BYTES, |divisor| {
        event(notification, routing_key, divisor)
    })
}

/// The `resolve` event that closes the incident a [`trigger`] with `dedup_key` opened.
pub fn resolve(dedup_key: &str, routing_key: &str) -> Value {
    json!({
        "routing_key": routing_key,
        "event_action": "resolve",
        "dedup_key": incident_key(dedup_key),
    })
}

/// A dedup key PagerDuty takes: the alert's own, or, past 255 characters, its start and a
/// hash of the whole, so distinct alerts keep distinct incidents.
pub fn incident_key(dedup_key: &str) -> String {
    if dedup_key.len() <= MAX_DEDUP_KEY {
        return dedup_key.to_owned();
    }
    let hash = format!(":{:016x}", detect::fingerprint(dedup_key));
    let mut end = MAX_DEDUP_KEY - hash.len();
    while !dedup_key.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{hash}", &dedup_key[..end])
}

fn event(notification: &Notification, routing_key: &str, divisor: usize) -> Value {
    let alert = &notification.alert;
    let plain = |text: &str| for_terminal(text).into_owned();
    let mut details = Map::new();
    for fact in facts(notification) {
        details.insert(
            fact.label.to_owned(),
            json!(within(&fact.value, 4_000 / divisor, plain)),
        );
    }
    details.insert(
        "Playbook".to_owned(),
        json!(within(
            &playbook_text(&playbook(notification)),
            8_000 / divisor,
            plain
        )),
    );
    if let Some(digest) = &notification.digest {
        details.insert(
            "Digest".to_owned(),
            json!({
                "count": digest.count,
                "first": digest.first.to_string(),
                "last": digest.last.to_string(),
                // The first twenty: `count` covers the rest, and the incident stays readable.
                "summaries": digest.summaries.iter().take(20).map(|summary| within(summary, 500 / divisor, plain)).collect::<Vec<_>>(),
                "dedup_keys": digest.dedup_keys,
            }),
        );
    }
    let summary = format!("{}: {}", title(notification), alert.summary);
    let mut event = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": incident_key(&alert.dedup_key),
        "client": "tripkey",
        "payload": {
            "summary": within(&summary, MAX_SUMMARY, plain),
            "source": truncate(&plain(alert.call.principal.as_deref().unwrap_or("tripkey")), 255),
            "severity": match alert.severity {
                detect::Severity::Critical => "critical",
                detect::Severity::High => "error",
                detect::Severity::Medium => "warning",
                detect::Severity::Low => "info",
            },
            "timestamp": alert.event_time.to_string(),
            "component": plain(&alert.call.event_source),
            "group": plain(alert.call.account_id.as_deref().unwrap_or_default()),
            "class": alert.rule.as_str(),
            "custom_details": details,
        },
    });
    if let Some(link) = &notification.link {
        event["client_url"] = json!(link);
        event["links"] = json!([
            {"href": link, "text": "Open in tripkey"},
            {"href": format!("{link}#playbook"), "text": "Playbook"},
        ]);
    }
    event
}
