//! Discord: an embed posted to a channel webhook.
//!
//! Values from an alert go in code spans ([`escape::markdown_code`]), where Discord neither
//! formats, links nor mentions; the title is backslash-escaped Markdown; and
//! `allowed_mentions` is empty, so not even a mention that slipped through could ping anyone.

use serde_json::{json, Value};

use crate::escape::{for_terminal, markdown, markdown_code, within};
use crate::render::{facts, playbook, playbook_text, title};
use crate::Notification;

/// Discord's limits on an embed, in characters.
pub const MAX_TITLE: usize = 256;
/// The description's limit.
pub const MAX_DESCRIPTION: usize = 4_096;
/// At most this many fields.
pub const MAX_FIELDS: usize = 25;
/// A field's name.
pub const MAX_FIELD_NAME: usize = 256;
/// A field's value.
pub const MAX_FIELD_VALUE: usize = 1_024;
/// The footer's text.
pub const MAX_FOOTER: usize = 2_048;
/// Title, description, field names and values and footer together.
pub const MAX_EMBED_TOTAL: usize = 6_000;

/// The webhook body: one embed, no mentions.
pub fn payload(notification: &Notification) -> Value {
    let mut divisor = 1;
    loop {
        let embed = embed(notification, divisor);
        if embed_characters(&embed) <= MAX_EMBED_TOTAL || divisor >= 64 {
            return json!({
                "username": "tripkey",
                "allowed_mentions": {"parse": []},
                "embeds": [embed],
            });
        }
        divisor *= 2;
    }
}

/// What Discord counts against the 6,000 characters of an embed.
pub fn embed_characters(embed: &Value) -> usize {
    let count = |value: &Value| value.as_str().map_or(0, |text| text.chars().count());
    let fields: usize = embed["fields"].as_array().map_or(0, |fields| {
        fields
            .iter()
            .map(|field| count(&field["name"]) + count(&field["value"]))
            .sum()
    });
    count(&embed["title"]) + count(&embed["description"]) + count(&embed["footer"]["text"]) + fields
}

fn embed(notification: &Notification, divisor: usize) -> Value {
    let alert = &notification.alert;
    let mut description = format!(
        "**{}** {}",
        alert.severity.to_string().to_uppercase(),
        within(&alert.summary, 1_500 / divisor, markdown_code)
    );
    if let Some(digest) = &notification.digest {
        description.push_str(&format!(
            "\n\n**{} alerts** for {} between {} and {}",
            digest.count,
            within(&digest.key, 200 / divisor, markdown_code),
            digest.first,
            digest.last
        ));
        for summary in digest.summaries.iter().take(10) {
            description.push_str(&format!(
                "\n• {}",
                within(summary, 200 / divisor, markdown_code)
            ));
        }
    }
    description.push_str("\n\n");
    description.push_str(&within(
        &playbook_text(&playbook(notification)),
        1_200 / divisor,
        markdown,
    ));
    let description = crate::escape::truncate(&description, MAX_DESCRIPTION).into_owned();
    let fields: Vec<Value> = facts(notification)
        .iter()
        .take(MAX_FIELDS)
        .map(|fact| {
            json!({
                "name": fact.label,
                "value": within(&fact.value, (MAX_FIELD_VALUE / divisor).max(16), markdown_code),
                "inline": fact.value.chars().count() <= 40,
            })
        })
        .collect();
    let mut embed = json!({
        // Titles are shown as plain text: controls made visible is enough.
        "title": within(&title(notification), MAX_TITLE, plain),
        "description": description,
        "color": match alert.severity {
            detect::Severity::Critical => 0xd0_1f_2e,
            detect::Severity::High => 0xe0_6c_00,
            detect::Severity::Medium => 0xe0_b0_00,
            detect::Severity::Low => 0x5a_6e_7f,
        },
        "fields": fields,
        "footer": {"text": within(&format!("tripkey · {}", alert.dedup_key), MAX_FOOTER / divisor, plain)},
        "timestamp": alert.event_time.to_string(),
    });
    if let Some(link) = &notification.link {
        embed["url"] = json!(link);
    }
    embed
}

fn plain(text: &str) -> String {
    for_terminal(text).into_owned()
}
