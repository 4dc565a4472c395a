//! Notifications for tripkey alerts: the sinks that carry them (a signed webhook, Slack,
//! Microsoft Teams, Discord, Google Chat, PagerDuty, email and JSON lines; SNS lives with the
//! other AWS clients), the routing of alerts to
//! sinks by rule and severity, and the rendering of an alert for each sink's format.
//!
//! Every string in an alert that came from a CloudTrail record (userAgent, ARNs, error codes,
//! labels typed by whoever planted the canary) is treated as hostile: [`escape`] makes it
//! inert for terminals, HTML, Slack mrkdwn and mail headers, and [`render`] uses it on every
//! such value.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use detect::Alert;
use serde::Serialize;
use trail::EventTime;

mod config;
mod email;
pub mod escape;
pub mod formats;
mod http;
mod jsonl;
pub mod render;
mod route;
mod sample;
pub mod suppress;

pub use config::{build_sink, ConfigError, SinkConfig, SinkSpec, Tls};
pub use email::EmailSink;
pub use http::{sign, verify_signature, FormatSink, RenderJson, SlackSink, WebhookSink};
pub use jsonl::JsonLinesSink;
pub use route::{Route, Router};
pub use sample::sample_notification;
pub use suppress::{suppressed_by, Suppression, SuppressionError, PROTECTED_RULES};

/// One message to a sink: an alert, or a digest of several alerts for one canary or principal
/// led by the newest.
#[derive(Clone, Debug, Serialize)]
pub struct Notification {
    /// The alert (the newest, for a digest).
    pub alert: Alert,
    /// When tripkey committed the alert.
    pub detected_at: EventTime,
    /// The alert's page in the dashboard, when `[serve] public_url` is set.
    pub link: Option<String>,
    /// Present when this notification stands for several alerts held back by the rate limit.
    pub digest: Option<Digest>,
    /// Where the alert's canary was planted, as recorded by `tripkey plant` or the API.
    pub placements: Vec<PlacementNote>,
}

/// One place a canary was planted, as a notification tells it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PlacementNote {
    /// The host name.
    pub host: Option<String>,
    /// The file or secret written.
    pub path: Option<String>,
    /// The placement format, e.g. `aws-credentials`.
    pub format: Option<String>,
    /// The user whose file it is.
    pub user: Option<String>,
}

impl std::fmt::Display for PlacementNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let user = self
            .user
            .as_deref()
            .map(|user| format!("{user}@"))
            .unwrap_or_default();
        write!(
            f,
            "{user}{}:{}",
            self.host.as_deref().unwrap_or("?"),
            self.path.as_deref().unwrap_or("?")
        )?;
        if let Some(format) = &self.format {
            write!(f, " ({format})")?;
        }
        Ok(())
    }
}

impl Notification {
    /// Detection delay: commit time minus the record's event time, never negative.
    pub fn delay(&self) -> Duration {
        let millis = self.detected_at.millis() - self.alert.event_time.millis();
        Duration::from_millis(u64::try_from(millis).unwrap_or(0))
    }
}

/// Several alerts for one canary or principal, sent as one notification.
#[derive(Clone, Debug, Serialize)]
pub struct Digest {
    /// How many alerts it stands for.
    pub count: u64,
    /// Event time of the earliest.
    pub first: EventTime,
    /// Event time of the latest.
    pub last: EventTime,
    /// One-line summaries of the first alerts (at most a screenful; `count` covers them all).
    pub summaries: Vec<String>,
    /// The canary or principal the alerts share.
    pub key: String,
    /// The dedup key of every alert it stands for, so a receiver can reconcile each one.
    pub dedup_keys: Vec<String>,
}

/// Why a sink did not take a notification.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// Worth trying again later: a timeout, a refused connection, a 5xx or a 429.
    #[error("{0}")]
    Retryable(String),
    /// Trying again will not help until someone changes the configuration or the receiver:
    /// a 4xx, a rejected recipient, a deleted topic.
    #[error("{0}")]
    Permanent(String),
}

/// What [`Sink::deliver`] returns.
pub type Delivery<'a> = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>>;

/// Somewhere notifications go.
pub trait Sink: Send + Sync {
    /// The sink's name from `[[sink]]`, used by routes and the outbox.
    fn name(&self) -> &str;
    /// Sends one notification. Returns once the receiver has taken it.
    fn deliver<'a>(&'a self, notification: &'a Notification) -> Delivery<'a>;

    /// Tells the receiver that the notification's alert was resolved in tripkey. Only a sink
    /// that keeps an incident open for an alert (PagerDuty) has anything to tell; the others
    /// answer `None`, and the notice is settled without counting as a delivery, so that it
    /// cannot make a failing sink look healthy.
    fn resolve<'a>(&'a self, _notification: &'a Notification) -> Option<Delivery<'a>> {
        None
    }
}

/// The wait before retry number `attempt + 1`: `base` doubled per attempt up to `cap`, of
/// which a random half is taken off so that sinks recovering together are not hit together.
pub fn retry_delay(
    attempt: u32,
    base: Duration,
    cap: Duration,
    rng: &mut impl rand::Rng,
) -> Duration {
    let ceiling = base
        .saturating_mul(2u32.saturating_pow(attempt.min(30)))
        .min(cap);
    let half = ceiling / 2;
    half + half.mul_f64(rng.random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn retries_back_off_to_the_cap_with_jitter() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let base = Duration::from_secs(2);
        let cap = Duration::from_secs(600);
        let first = retry_delay(0, base, cap, &mut rng);
        assert!(
            first >= Duration::from_secs(1) && first <= base,
            "{first:?}"
        );
        let fourth = retry_delay(3, base, cap, &mut rng);
        assert!(fourth >= Duration::from_secs(8) && fourth <= Duration::from_secs(16));
        for attempt in [10, 31, u32::MAX] {
            let late = retry_delay(attempt, base, cap, &mut rng);
            assert!(late >= cap / 2 && late <= cap, "{attempt}: {late:?}");
        }
        let spread: std::collections::HashSet<Duration> = (0..20)
            .map(|_| retry_delay(4, base, cap, &mut rng))
            .collect();
        assert!(spread.len() > 10, "jitter spreads the retries");
    }
}
