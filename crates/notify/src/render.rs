//! An alert rendered for each sink: the webhook's JSON, Slack's Block Kit, the email's subject
//! and bodies, a JSON line.
//!
//! All of them show the same facts ([`facts`]), raw; each format escapes every value itself,
//! because every value but the rule and severity can come from an attacker.

use detect::{AlertStatus, Details, Playbook, Rule};
use serde::Serialize;
use serde_json::{json, Value};

use crate::escape::{header_line, html, slack_code_within, truncate};
use crate::{Digest, Notification};

/// The longest value a notification shows; the webhook and JSON lines carry everything.
const MAX_VALUE: usize = 600;
/// The longest line of the playbook a notification shows (a denial burst's meaning lists the
/// calls denied, as many as the attacker tried).
const MAX_PLAYBOOK_LINE: usize = 1_000;

/// One labelled fact of an alert, raw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fact {
    /// What it is ("User agent").
    pub label: &'static str,
    /// Its value, unescaped.
    pub value: String,
}

fn push(facts: &mut Vec<Fact>, label: &'static str, value: Option<impl Into<String>>) {
    if let Some(value) = value {
        let value = value.into();
        if !value.is_empty() {
            facts.push(Fact { label, value });
        }
    }
}

/// A canary's labels, memo and recorded placements.
fn push_where_planted(
    facts: &mut Vec<Fact>,
    notification: &Notification,
    labels: &std::collections::BTreeMap<String, String>,
    memo: &Option<String>,
) {
    let labels: Vec<String> = labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    push(facts, "Labels", Some(labels.join(", ")));
    push(facts, "Memo", memo.as_deref());
    let planted: Vec<String> = notification
        .placements
        .iter()
        .map(ToString::to_string)
        .collect();
    push(facts, "Planted at", Some(planted.join(", ")));
}

/// What a person needs to act on the alert, in reading order.
pub fn facts(notification: &Notification) -> Vec<Fact> {
    let alert = &notification.alert;
    let call = &alert.call;
    let mut facts = Vec::new();
    if alert.status == AlertStatus::Withdrawn {
        push(
            &mut facts,
            "Withdrawn because",
            Some(
                alert
                    .withdrawn_because
                    .as_deref()
                    .unwrap_or("records that arrived late"),
            ),
        );
    }
    push(&mut facts, "Rule", Some(alert.rule.as_str()));
    push(&mut facts, "Severity", Some(alert.severity.to_string()));
    match &alert.details {
        Details::Canary(canary) => {
            push(&mut facts, "Canary", Some(canary.canary.as_str()));
            push_where_planted(&mut facts, notification, &canary.labels, &canary.memo);
            push(
                &mut facts,
                "Matched by",
                Some(canary.matched_by.to_string()),
            );
        }
        Details::Exfiltration(exfiltration) => {
            push(
                &mut facts,
                "Instance",
                Some(exfiltration.instance_id.as_str()),
            );
            push(
                &mut facts,
                "Session",
                Some(exfiltration.session_arn.as_str()),
            );
            push(
                &mut facts,
                "Why",
                Some(format!("{:?}", exfiltration.reason)),
            );
            push(
                &mut facts,
                "Locked to",
                Some(exfiltration.locked_ips.join(", ")),
            );
            push(
                &mut facts,
                "Used from",
                Some(exfiltration.offending_ip.as_str()),
            );
            if exfiltration.imds_v1 {
                push(&mut facts, "IMDS", Some("v1 (reachable by SSRF)"));
            }
        }
        Details::ForeignVpcEndpoint(foreign) => {
            push(&mut facts, "Instance", Some(foreign.instance_id.as_str()));
            push(&mut facts, "Session", Some(foreign.session_arn.as_str()));
            push(
                &mut facts,
                "Endpoint owner",
                Some(foreign.vpc_endpoint_account_id.as_str()),
            );
        }
        Details::DenialBurst(burst) => {
            push(&mut facts, "Denials", Some(burst.count.to_string()));
            push(
                &mut facts,
                "Denied calls",
                Some(burst.event_names.join(", ")),
            );
            push(
                &mut facts,
                "Error codes",
                Some(burst.error_codes.join(", ")),
            );
            push(&mut facts, "Regions", Some(burst.regions.join(", ")));
            push(
                &mut facts,
                "Burst",
                Some(format!("{} to {}", burst.first_time, burst.last_time)),
            );
        }
        Details::CanaryDrift(change) | Details::CanaryExposed(change) => {
            push(&mut facts, "Canaries", Some(change.canaries.join(", ")));
            push(&mut facts, "Change", Some(change.describe()));
            push_where_planted(&mut facts, notification, &change.labels, &change.memo);
        }
    }
    push(&mut facts, "Principal", call.principal.as_deref());
    push(&mut facts, "Identity type", call.identity_type.as_deref());
    push(&mut facts, "Access key", call.access_key_id.as_deref());
    push(&mut facts, "Account", call.account_id.as_deref());
    push(
        &mut facts,
        "Event",
        Some(format!("{} {}", call.event_source, call.event_name)),
    );
    push(&mut facts, "Region", Some(call.region.as_str()));
    push(&mut facts, "Source IP", call.source_ip.as_deref());
    push(&mut facts, "User agent", call.user_agent.as_deref());
    push(&mut facts, "Error code", call.error_code.as_deref());
    push(&mut facts, "VPC endpoint", call.vpc_endpoint_id.as_deref());
    push(&mut facts, "Event ID", call.event_id.as_deref());
    push(&mut facts, "Event time", Some(alert.event_time.to_string()));
    push(
        &mut facts,
        "Detected",
        Some(notification.detected_at.to_string()),
    );
    push(&mut facts, "Delay", Some(delay_text(notification)));
    if let Some(digest) = &notification.digest {
        push(&mut facts, "Digest", Some(digest_text(digest)));
    }
    push(&mut facts, "Dashboard", notification.link.as_deref());
    push(&mut facts, "Playbook", playbook_link(notification));
    push(&mut facts, "Dedup key", Some(alert.dedup_key.as_str()));
    facts
}

/// The playbook's place on the alert's dashboard page, when `[serve] public_url` is set.
pub fn playbook_link(notification: &Notification) -> Option<String> {
    notification
        .link
        .as_ref()
        .map(|link| format!("{link}#playbook"))
}

/// The alert's playbook, with where its canary was planted filled in. Raw: every format
/// escapes it like the facts.
pub fn playbook(notification: &Notification) -> Playbook {
    let planted: Vec<String> = notification
        .placements
        .iter()
        .map(ToString::to_string)
        .collect();
    let placement = (!planted.is_empty()).then(|| planted.join("; "));
    detect::playbook(&notification.alert, placement.as_deref())
}

fn delay_text(notification: &Notification) -> String {
    let delay = notification.delay();
    if delay.as_secs() < 120 {
        format!("{:.1} s", delay.as_secs_f64())
    } else {
        format!("{} min", delay.as_secs() / 60)
    }
}

fn digest_text(digest: &Digest) -> String {
    format!(
        "{} alerts for {} between {} and {}",
        digest.count, digest.key, digest.first, digest.last
    )
}

fn rule_title(rule: Rule) -> &'static str {
    match rule {
        Rule::CanaryUse => "Canary credential used",
        Rule::InstanceCredentialExfiltration => "Instance credentials used off the instance",
        Rule::ForeignVpcEndpoint => "Instance credentials used through a foreign VPC endpoint",
        Rule::AccessDeniedBurst => "Burst of AccessDenied errors",
        Rule::CanaryDrift => "Canary gained a way to act",
        Rule::CanaryExposed => "Canary key found in public by AWS",
    }
}

/// What the alert is about: the canary's name, else the principal.
fn subject_of(notification: &Notification) -> String {
    let alert = &notification.alert;
    match &alert.details {
        Details::Canary(canary) => canary.canary.clone(),
        Details::Exfiltration(e) => e.instance_id.clone(),
        Details::ForeignVpcEndpoint(f) => f.instance_id.clone(),
        Details::DenialBurst(b) => b.principal_key.clone(),
        Details::CanaryDrift(change) | Details::CanaryExposed(change) => change.subject.clone(),
    }
}

/// A one-line title, raw: "Canary credential used: svc-billing-sync", with the count for a
/// digest.
pub fn title(notification: &Notification) -> String {
    let base = format!(
        "{}{}: {}",
        if notification.alert.status == AlertStatus::Withdrawn {
            "Withdrawn: "
        } else {
            ""
        },
        rule_title(notification.alert.rule),
        subject_of(notification)
    );
    match &notification.digest {
        Some(digest) => format!("{base} ({} alerts)", digest.count),
        None => base,
    }
}

/// The webhook's and JSON lines' document.
#[derive(Serialize)]
struct Document<'a> {
    /// Version of this document's shape.
    version: u32,
    kind: &'static str,
    title: String,
    dedup_key: &'a str,
    rule: Rule,
    severity: detect::Severity,
    summary: &'a str,
    event_time: trail::EventTime,
    detected_at: trail::EventTime,
    delay_ms: u128,
    link: Option<&'a str>,
    /// Only when `[serve] public_url` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    links: Option<Links<'a>>,
    digest: Option<&'a Digest>,
    placements: &'a [crate::PlacementNote],
    alert: &'a detect::Alert,
}

/// Where the alert and its playbook are in the dashboard.
#[derive(Serialize)]
struct Links<'a> {
    alert: &'a str,
    playbook: String,
}

fn document(notification: &Notification) -> Document<'_> {
    Document {
        version: 1,
        kind: if notification.digest.is_some() {
            "digest"
        } else if notification.alert.status == AlertStatus::Withdrawn {
            "withdrawal"
        } else {
            "alert"
        },
        title: title(notification),
        dedup_key: &notification.alert.dedup_key,
        rule: notification.alert.rule,
        severity: notification.alert.severity,
        summary: &notification.alert.summary,
        event_time: notification.alert.event_time,
        detected_at: notification.detected_at,
        delay_ms: notification.delay().as_millis(),
        link: notification.link.as_deref(),
        links: notification.link.as_deref().map(|alert| Links {
            alert,
            playbook: format!("{alert}#playbook"),
        }),
        digest: notification.digest.as_ref(),
        placements: &notification.placements,
        alert: &notification.alert,
    }
}

/// The webhook's body: a JSON document with the alert in full, the record included. JSON
/// string escaping is all the escaping a JSON consumer needs.
pub fn webhook_body(notification: &Notification) -> Vec<u8> {
    serde_json::to_vec(&document(notification)).expect("an alert always serialises")
}

/// One line of JSON, newline-terminated.
pub fn json_line(notification: &Notification) -> Vec<u8> {
    let mut line = webhook_body(notification);
    line.push(b'\n');
    line
}

fn severity_emoji(severity: detect::Severity) -> &'static str {
    match severity {
        detect::Severity::Critical => ":rotating_light:",
        detect::Severity::High => ":red_circle:",
        detect::Severity::Medium => ":large_orange_circle:",
        detect::Severity::Low => ":large_blue_circle:",
    }
}

/// Slack Block Kit: a header, the facts as fields in code spans, the digest's summaries and a
/// button to the dashboard. Plain-text parts are not parsed by Slack; mrkdwn parts hold
/// values only inside [`slack_code`] spans.
pub fn slack_payload(notification: &Notification) -> Value {
    let title = title(notification);
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(&crate::escape::for_terminal(&title), 150), "emoji": false}
    })];
    let facts = facts(notification);
    let fields: Vec<Value> = facts
        .iter()
        .map(|fact| {
            json!({
                "type": "mrkdwn",
                "text": format!("*{}*\n{}", fact.label, slack_code_within(&fact.value, SLACK_FIELD_VALUE))
            })
        })
        .collect();
    blocks.push(json!({
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": format!(
                "{} *{}* {}",
                severity_emoji(notification.alert.severity),
                notification.alert.severity.to_string().to_uppercase(),
                slack_code_within(&notification.alert.summary, SLACK_SUMMARY),
            )
        }
    }));
    // Slack allows ten fields a section.
    for chunk in fields.chunks(10) {
        blocks.push(json!({"type": "section", "fields": chunk}));
    }
    if let Some(digest) = &notification.digest {
        // Ten lines of at most 282 characters stay under a section's 3,000: whole lines only,
        // so no escape or code span is cut open.
        let lines: Vec<String> = digest
            .summaries
            .iter()
            .take(10)
            .map(|summary| format!("• {}", slack_code_within(summary, 280)))
            .collect();
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": lines.join("\n")}
        }));
    }
    // Escaped as mrkdwn like the fallback text: no mention or link in it can come alive.
    let playbook = playbook(notification);
    blocks.push(json!({
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": slack_text_within(&playbook_text(&playbook), SLACK_SUMMARY),
        }
    }));
    if let Some(link) = &notification.link {
        blocks.push(json!({
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open in tripkey"},
                    "url": link,
                },
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Playbook"},
                    "url": format!("{link}#playbook"),
                },
            ]
        }));
    }
    json!({
        // The fallback text for notifications and screen readers: Slack reads it as mrkdwn,
        // so it is escaped as such (no mention or link can come alive in it).
        "text": slack_text(&title),
        "blocks": blocks,
    })
}

/// What the alert means and the first three checks' titles, one line each, with every line
/// break an attacker may have put in them made visible: none can start a line of its own.
pub(crate) fn playbook_text(playbook: &Playbook) -> String {
    let mut lines = vec![
        format!("What it means: {}", playbook.meaning),
        String::new(),
        "First checks:".to_owned(),
    ];
    for (number, check) in playbook.checks.iter().enumerate() {
        lines.push(format!("{}. {}", number + 1, check.title));
    }
    lines
        .iter()
        .map(|line| crate::escape::for_terminal(&truncate(line, MAX_PLAYBOOK_LINE)).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Slack's own escapes, of `&`, `<` and `>`, over text with its controls made visible.
fn slack_text(text: &str) -> String {
    crate::escape::for_terminal(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// [`slack_text`] of at most `max` characters: the text is cut before escaping, as far as
/// needed, so that no entity is cut in half.
fn slack_text_within(text: &str, max: usize) -> String {
    crate::escape::within(text, max, slack_text)
}

/// Slack's limit on a field is 2,000 characters, with the label in bold before the value.
const SLACK_FIELD_VALUE: usize = 1_900;
/// Slack's limit on a section's text is 3,000 characters, with the severity before the summary.
const SLACK_SUMMARY: usize = 2_900;

/// The email subject: one line with no control characters, so nothing in an alert can add
/// a header.
pub fn email_subject(notification: &Notification) -> String {
    header_line(
        &format!(
            "[tripkey] {} {}",
            notification.alert.severity.to_string().to_uppercase(),
            title(notification)
        ),
        160,
    )
}

/// The plain-text body, controls made visible.
pub fn email_text(notification: &Notification) -> String {
    let mut text = String::new();
    text.push_str(&crate::escape::for_terminal(&title(notification)));
    text.push_str("\n\n");
    text.push_str(&crate::escape::for_terminal(&notification.alert.summary));
    text.push_str("\n\n");
    text.push_str(&playbook_text(&playbook(notification)));
    text.push_str("\n\n");
    for fact in facts(notification) {
        text.push_str(&format!(
            "{:<14} {}\n",
            format!("{}:", fact.label),
            crate::escape::for_terminal(&truncate(&fact.value, MAX_VALUE))
        ));
    }
    if let Some(digest) = &notification.digest {
        text.push_str("\nAlerts in this digest:\n");
        for summary in &digest.summaries {
            text.push_str(&format!("  - {}\n", crate::escape::for_terminal(summary)));
        }
    }
    text.push_str("\nSent by tripkey. Every value above comes from CloudTrail and may have been written by the attacker.\n");
    text
}

/// The HTML body: a table of the facts, every value escaped.
pub fn email_html(notification: &Notification) -> String {
    let mut rows = String::new();
    for fact in facts(notification) {
        rows.push_str(&format!(
            "<tr><th align=\"left\" valign=\"top\">{}</th><td><code>{}</code></td></tr>\n",
            html(fact.label),
            html(&truncate(&fact.value, MAX_VALUE))
        ));
    }
    let mut digest = String::new();
    if let Some(d) = &notification.digest {
        digest.push_str("<h3>Alerts in this digest</h3>\n<ul>\n");
        for summary in &d.summaries {
            digest.push_str(&format!("<li><code>{}</code></li>\n", html(summary)));
        }
        digest.push_str("</ul>\n");
    }
    let link = notification
        .link
        .as_ref()
        .map(|link| {
            format!(
                "<p><a href=\"{link}\">Open in tripkey</a> · <a href=\"{link}#playbook\">Playbook</a></p>\n",
                link = html(link)
            )
        })
        .unwrap_or_default();
    let playbook = playbook(notification);
    let checks: String = playbook
        .checks
        .iter()
        .map(|check| format!("<li>{}</li>\n", html(&check.title)))
        .collect();
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head><body>\n\
         <h2>{title}</h2>\n<p>{summary}</p>\n<p>{meaning}</p>\n<h3>First checks</h3>\n<ol>\n{checks}</ol>\n\
         <table cellpadding=\"4\">\n{rows}</table>\n{digest}{link}\
         <p><small>Sent by tripkey. Every value above comes from CloudTrail and may have been written by the attacker.</small></p>\n\
         </body></html>\n",
        title = html(&title(notification)),
        summary = html(&notification.alert.summary),
        meaning = html(&playbook.meaning),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample_notification;
    use trail::EventTime;

    fn hostile() -> Notification {
        let mut notification = sample_notification(EventTime(1_764_000_000_000));
        notification.alert.call.user_agent =
            Some("<script>alert(1)</script>\r\nBcc: victim@example.com `<!channel>`".to_owned());
        notification.alert.summary = "used by <b>\r\nX-Evil: 1".to_owned();
        if let Details::Canary(canary) = &mut notification.alert.details {
            canary.canary = "svc\r\nBcc: x@evil.example".to_owned();
        }
        notification.placements = vec![crate::PlacementNote {
            host: Some("<img src=x>".to_owned()),
            path: Some("~/.aws/credentials\r\nBcc: y@evil.example".to_owned()),
            format: Some("aws-credentials".to_owned()),
            user: Some("<!here>".to_owned()),
        }];
        notification
    }

    #[test]
    fn facts_carry_the_context_a_responder_needs() {
        let notification = sample_notification(EventTime(1_764_000_000_000));
        let labels: Vec<&str> = facts(&notification).iter().map(|f| f.label).collect();
        for needed in [
            "Canary",
            "Labels",
            "Memo",
            "Planted at",
            "Event",
            "Region",
            "Source IP",
            "User agent",
            "Event time",
            "Detected",
            "Delay",
        ] {
            assert!(labels.contains(&needed), "{needed} missing from {labels:?}");
        }
    }

    #[test]
    fn a_withdrawal_says_so_and_why_in_every_format() {
        let mut notification = sample_notification(EventTime(1_764_000_000_000));
        notification.alert.status = detect::AlertStatus::Withdrawn;
        notification.alert.withdrawn_because =
            Some("a call from 54.1.2.3 that arrived late shows it was the first address".into());
        assert!(title(&notification).starts_with("Withdrawn: "));
        assert!(email_subject(&notification).contains("Withdrawn: "));
        let reason = facts(&notification)
            .into_iter()
            .find(|fact| fact.label == "Withdrawn because")
            .expect("the reason is a fact");
        assert!(reason.value.contains("arrived late"));
        let body: Value = serde_json::from_slice(&webhook_body(&notification)).unwrap();
        assert_eq!(body["kind"], "withdrawal");
        assert_eq!(body["alert"]["status"], "withdrawn");
        assert!(body["alert"]["withdrawn_because"]
            .as_str()
            .unwrap()
            .contains("arrived late"));
        assert!(email_text(&notification).contains("Withdrawn because"));
        assert!(slack_payload(&notification)
            .to_string()
            .contains("Withdrawn because"));
    }

    #[test]
    fn hostile_text_is_inert_in_every_format() {
        let notification = hostile();
        let subject = email_subject(&notification);
        assert!(
            !subject.contains('\r') && !subject.contains('\n'),
            "{subject}"
        );

        let page = email_html(&notification);
        assert!(!page.contains("<script>") && page.contains("&lt;script&gt;"));
        assert!(!page.contains("<b>"));

        let text = email_text(&notification);
        assert!(!text.contains("\r\nBcc"));
        assert!(text.contains("\\u{d}\\u{a}Bcc"));

        assert!(!page.contains("<img"), "placements are escaped too");
        assert!(!text.contains("\r\nBcc: y@"));

        let slack = slack_payload(&notification).to_string();
        assert!(!slack.contains("<!channel>") && !slack.contains("<script>"));
        assert!(!slack.contains("<!here>"));

        let body: Value = serde_json::from_slice(&webhook_body(&notification)).unwrap();
        assert_eq!(
            body["alert"]["user_agent"],
            notification.alert.call.user_agent.clone().unwrap()
        );
        assert_eq!(
            body["placements"][0]["host"], "<img src=x>",
            "JSON carries it as data"
        );
    }

    #[test]
    fn links_to_the_alert_and_its_playbook_only_when_configured() {
        let mut notification = sample_notification(EventTime(1_764_000_000_000));
        let body: Value = serde_json::from_slice(&webhook_body(&notification)).unwrap();
        assert!(body.get("links").is_none(), "{body}");
        assert!(!email_text(&notification).contains("Playbook:"));
        assert!(!slack_payload(&notification)
            .to_string()
            .contains("#playbook"));

        let page = "https://tripkey.example.com/alerts/test%3A1";
        notification.link = Some(page.to_owned());
        let body: Value = serde_json::from_slice(&json_line(&notification)).unwrap();
        assert_eq!(body["links"]["alert"], page);
        assert_eq!(body["links"]["playbook"], format!("{page}#playbook"));
        assert!(email_text(&notification).contains(&format!("Playbook:      {page}#playbook")));
        assert!(email_html(&notification)
            .contains(&format!("<a href=\"{page}#playbook\">Playbook</a>")));
        let slack = slack_payload(&notification);
        let buttons = slack["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|block| block["type"] == "actions")
            .unwrap();
        assert_eq!(buttons["elements"][1]["url"], format!("{page}#playbook"));
    }

    #[test]
    fn email_and_slack_say_what_the_alert_means_and_what_to_check_first() {
        let notification = sample_notification(EventTime(1_764_000_000_000));
        let playbook = playbook(&notification);
        assert!(playbook.checks[2].title.contains("test:tripkey alert test"));
        let text = email_text(&notification);
        let page = email_html(&notification);
        let slack = slack_payload(&notification).to_string();
        assert!(
            text.contains(&format!("What it means: {}", playbook.meaning)),
            "{text}"
        );
        for (number, check) in playbook.checks.iter().enumerate() {
            assert!(
                text.contains(&format!("\n{}. {}\n", number + 1, check.title)),
                "{text}"
            );
            assert!(
                page.contains(&format!("<li>{}</li>", html(&check.title))),
                "{page}"
            );
            assert!(slack.contains(&check.title), "{slack}");
        }
        assert!(page.contains(&html(&playbook.meaning)));
    }

    #[test]
    fn hostile_text_in_the_playbook_and_links_is_inert() {
        let mut notification = hostile();
        notification.link = Some("https://t.example/alerts/x\"><script>".to_owned());
        let page = email_html(&notification);
        assert!(
            !page.contains("<script>") && !page.contains("<img"),
            "{page}"
        );
        assert!(
            page.contains("x&quot;&gt;&lt;script&gt;#playbook"),
            "{page}"
        );
        let text = email_text(&notification);
        assert!(
            !text.lines().any(|line| line.starts_with("Bcc")),
            "no attacker line break survives in the playbook: {text}"
        );
        let slack = slack_payload(&notification);
        let section = slack["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|block| {
                block["text"]["text"]
                    .as_str()
                    .is_some_and(|text| text.starts_with("What it means"))
            })
            .unwrap();
        let shown = section["text"]["text"].as_str().unwrap();
        assert!(shown.contains("svc\\u{d}\\u{a}Bcc"), "{shown}");
        assert!(shown.contains("&lt;img src=x&gt;"), "{shown}");
        assert!(!shown.contains('\r') && !shown.contains('<'));
        let body: Value = serde_json::from_slice(&webhook_body(&notification)).unwrap();
        assert_eq!(
            body["links"]["playbook"], "https://t.example/alerts/x\"><script>#playbook",
            "JSON carries it as data"
        );
    }

    #[test]
    fn slack_text_fits_its_limit_with_whole_entities() {
        let text = "<&>".repeat(400);
        let cut = slack_text_within(&text, 100);
        assert!(cut.chars().count() <= 100, "{cut}");
        assert!(cut.ends_with('…'), "{cut}");
        assert!(!cut.contains('<') && !cut.contains("&a…") && !cut.contains("&l…"));
        assert_eq!(slack_text_within("a<b", 100), "a&lt;b");
    }
}
