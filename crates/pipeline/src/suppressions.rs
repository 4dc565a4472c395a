//! Making and ending suppressions, for the command line and the API alike: checked, stored
//! and audited in one place.

use serde::{Deserialize, Serialize};
use serde_json::json;
use store::{AuditOutcome, NewAuditEntry, NewSuppression, Store, SuppressionRecord};
use trail::EventTime;

/// A suppression as asked for, by the command line, the API (`POST /api/v1/suppressions`)
/// and the dashboard alike: read, checked and audited by [`create`]. Every condition given
/// must hold; at least one is needed.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SuppressionAsk {
    /// Only alerts of this rule.
    pub rule: Option<String>,
    /// Only alerts whose principal ARN, access key or subject is this, exactly.
    #[cfg_attr(feature = "openapi", schema(max_length = 1024))]
    pub principal: Option<String>,
    /// Only calls from this network, e.g. `10.20.0.0/16`.
    pub source_cidr: Option<String>,
    /// Only calls whose userAgent matches this pattern; `*` matches any run of characters.
    #[cfg_attr(feature = "openapi", schema(max_length = 1024))]
    pub user_agent: Option<String>,
    /// How long it lasts: a span like `24h` or `7d`, or an RFC 3339 time to end at; at most
    /// 366 days.
    #[serde(rename = "for")]
    pub lasts: String,
    /// Why, for whoever reads a suppressed alert later.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 4096))]
    pub reason: String,
    /// Let it cover canary-use and canary-drift alerts too; the audit log records it.
    #[serde(default)]
    pub include_canaries: bool,
}

/// Who asks.
#[derive(Clone, Copy, Debug)]
pub struct Actor<'a> {
    /// A token's name, or `cli`.
    pub name: &'a str,
    /// Their scopes, space-separated, as the audit log records them.
    pub scope: &'a str,
    /// Whether they may let a suppression cover canary-use and canary-drift alerts.
    pub admin: bool,
    /// Their address, for the audit log.
    pub address: Option<&'a str>,
}

/// Why a suppression was not made or ended.
#[derive(Debug, thiserror::Error)]
pub enum SuppressionServiceError {
    /// The request is not a suppression tripkey will make.
    #[error("{0}")]
    Refused(String),
    /// No suppression in force has that id.
    #[error("no suppression in force has the id {0:?}: `tripkey alert suppressions` lists them")]
    Unknown(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// Reads, checks and stores a suppression, and records the attempt in the audit log, refused
/// or not (a length that cannot be read included). Covering canary-use and canary-drift
/// alerts takes an admin, and the entry says so.
pub async fn create(
    store: &Store,
    ask: SuppressionAsk,
    actor: Actor<'_>,
    now: EventTime,
) -> Result<SuppressionRecord, SuppressionServiceError> {
    let expires_at = ends_at(&ask.lasts, now).map_err(|error| format!("for: {error}"));
    let new = normalised(NewSuppression {
        rule: ask.rule,
        principal: ask.principal,
        source_cidr: ask.source_cidr,
        user_agent: ask.user_agent,
        reason: ask.reason,
        expires_at: expires_at.clone().unwrap_or(now),
        covers_canaries: ask.include_canaries,
        created_by: actor.name.to_owned(),
    });
    // The refusal, when there is one, is the entry's `reason`, as for every refused call;
    // the suppression's own reason stays with its terms.
    let detail = json!({
        "suppression": {
            "rule": new.rule, "principal": new.principal, "source_cidr": new.source_cidr,
            "user_agent": new.user_agent, "reason": new.reason, "for": ask.lasts,
            "expires_at": expires_at.as_ref().ok().map(ToString::to_string),
        },
        "covers_canaries": new.covers_canaries,
    });
    if let Err(refusal) = expires_at.and_then(|_| check(&new, actor, now)) {
        let mut detail = detail;
        detail["reason"] = json!(refusal);
        record(
            store,
            actor,
            now,
            "suppression.create",
            None,
            AuditOutcome::Denied,
            detail,
        )
        .await?;
        return Err(SuppressionServiceError::Refused(refusal));
    }
    let made = store.create_suppression(&new, now).await?;
    record(
        store,
        actor,
        now,
        "suppression.create",
        Some(&made.id),
        AuditOutcome::Allowed,
        detail,
    )
    .await?;
    Ok(made)
}

/// Ends a suppression, and records it in the audit log.
pub async fn remove(
    store: &Store,
    id: &str,
    actor: Actor<'_>,
    now: EventTime,
) -> Result<SuppressionRecord, SuppressionServiceError> {
    let removed = store.remove_suppression(id, actor.name, now).await?;
    let outcome = if removed.is_some() {
        AuditOutcome::Allowed
    } else {
        AuditOutcome::Failed
    };
    record(
        store,
        actor,
        now,
        "suppression.remove",
        Some(id),
        outcome,
        json!({}),
    )
    .await?;
    removed.ok_or_else(|| SuppressionServiceError::Unknown(id.to_owned()))
}

async fn record(
    store: &Store,
    actor: Actor<'_>,
    now: EventTime,
    action: &str,
    object: Option<&str>,
    outcome: AuditOutcome,
    detail: serde_json::Value,
) -> Result<i64, store::StoreError> {
    store
        .audit(&NewAuditEntry {
            at: now,
            actor: actor.name,
            scope: actor.scope,
            action,
            object,
            address: actor.address,
            outcome,
            detail,
        })
        .await
}

/// The longest reason a suppression may give.
pub const MAX_REASON_BYTES: usize = 4 * 1024;
/// The longest principal, network or userAgent pattern a suppression may name.
pub const MAX_CONDITION_BYTES: usize = 1024;

/// When a suppression that lasts `text` ends: a span from `now` (`24h`, `7d`), or an
/// RFC 3339 time.
fn ends_at(text: &str, now: EventTime) -> Result<EventTime, String> {
    if let Ok(span) = text.parse::<detect::Span>() {
        return Ok(now.offset(span.millis()));
    }
    EventTime::parse(text).map_err(|_| {
        format!("{text:?} is neither a span (24h, 7d) nor an RFC 3339 time (2026-12-31T00:00:00Z)")
    })
}

/// The longest a suppression may last. A longer one would in effect never end, which the
/// expiry is there to prevent; one that is still needed is made again.
pub const MAX_LIFETIME: detect::Span = detect::Span::hours(366 * 24);

/// `new` with its conditions trimmed and empty ones left out, so that the command line, the
/// API and the dashboard make the same suppression from the same words.
fn normalised(new: NewSuppression) -> NewSuppression {
    let condition = |value: Option<String>| {
        value
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    NewSuppression {
        rule: condition(new.rule),
        principal: condition(new.principal),
        source_cidr: condition(new.source_cidr),
        user_agent: condition(new.user_agent),
        ..new
    }
}

/// Why `new` may not be made by `actor` at `now`, if it may not.
fn check(new: &NewSuppression, actor: Actor<'_>, now: EventTime) -> Result<(), String> {
    let latest = now.offset(MAX_LIFETIME.millis());
    if new.expires_at > latest {
        return Err(format!(
            "it would last until {}; a suppression lasts at most {} (until {latest}): make it \
             again when it ends if it is still needed",
            new.expires_at, MAX_LIFETIME
        ));
    }
    if new.reason.len() > MAX_REASON_BYTES {
        return Err(format!(
            "the reason is {} bytes; give at most {MAX_REASON_BYTES}",
            new.reason.len()
        ));
    }
    let conditions = [
        ("principal", &new.principal),
        ("source CIDR", &new.source_cidr),
        ("userAgent pattern", &new.user_agent),
    ];
    for (name, value) in conditions {
        if let Some(value) = value
            .as_ref()
            .filter(|value| value.len() > MAX_CONDITION_BYTES)
        {
            return Err(format!(
                "the {name} is {} bytes; give at most {MAX_CONDITION_BYTES}",
                value.len()
            ));
        }
    }
    if new.covers_canaries && !actor.admin {
        return Err(
            "only an admin may let a suppression cover canary-use and canary-drift alerts"
                .to_owned(),
        );
    }
    matcher(String::new(), new)?
        .validate(now)
        .map_err(|error| error.to_string())
}

/// The suppression `id` as the routing matches it, or why its rule or network cannot be
/// read.
pub fn matcher(id: String, stored: &NewSuppression) -> Result<notify::Suppression, String> {
    let rule = match &stored.rule {
        Some(rule) => Some(
            serde_json::from_value::<detect::Rule>(json!(rule))
                .map_err(|_| format!("there is no rule {rule:?}: see docs/detection.md"))?,
        ),
        None => None,
    };
    let source_cidr = match &stored.source_cidr {
        Some(cidr) => Some(cidr.parse().map_err(|_| {
            format!("{cidr:?} is not a network: give one like 10.0.0.0/8 or 2001:db8::/32")
        })?),
        None => None,
    };
    Ok(notify::Suppression {
        id,
        rule,
        principal: stored.principal.clone(),
        source_cidr,
        user_agent: stored.user_agent.clone(),
        reason: stored.reason.clone(),
        expires_at: stored.expires_at,
        covers_canaries: stored.covers_canaries,
    })
}
