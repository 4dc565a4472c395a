//! The HTTP sinks: a generic signed webhook, a Slack incoming webhook, and the chat and paging
//! services whose payloads [`crate::formats`] renders.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::{Client, StatusCode, Url};
use sha2::Sha256;

use crate::escape::{for_terminal, truncate};
use crate::{render, ConfigError, Delivery, Notification, Sink, SinkError};

/// Header with the Unix time (seconds) the request was signed at.
pub const TIMESTAMP_HEADER: &str = "X-Tripkey-Timestamp";
/// Header with `sha256=` and the hex HMAC-SHA256 of `"{timestamp}.{body}"`.
pub const SIGNATURE_HEADER: &str = "X-Tripkey-Signature";
/// Header with the alert's dedup key, so a receiver can drop a repeat of a delivery that
/// timed out after it arrived.
pub const DEDUP_HEADER: &str = "X-Tripkey-Dedup-Key";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header's value for `body` sent at `timestamp`: `sha256=` and the hex HMAC.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256={hex}")
}

/// Checks a webhook request as a receiver should, in constant time. A receiver should also
/// refuse timestamps more than a few minutes from its clock, which stops replays.
pub fn verify_signature(secret: &[u8], timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.strip_prefix("sha256=") else {
        return false;
    };
    if hex.len() != 64 || !hex.is_ascii() {
        return false;
    }
    let bytes: Option<Vec<u8>> = (0..32)
        .map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).ok())
        .collect();
    match bytes {
        Some(bytes) => mac(secret, timestamp, body).verify_slice(&bytes).is_ok(),
        None => false,
    }
}

fn client(timeout: Duration) -> Result<Client, ConfigError> {
    Client::builder()
        .timeout(timeout)
        // A redirected POST becomes a GET without the alert, and its 200 would count as
        // delivered; a redirect is reported instead, so the URL gets fixed.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tripkey/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConfigError(format!("cannot set up an HTTP client: {e}")))
}

fn http_url(name: &str, url: &str, what: &str) -> Result<Url, ConfigError> {
    let parsed = Url::parse(url)
        .map_err(|e| ConfigError(format!("sink {name:?}: {what} is not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError(format!(
            "sink {name:?}: {what} must be an http or https URL"
        )));
    }
    Ok(parsed)
}

/// The URL's scheme, host and port, to name it in errors and logs: a path or query may hold
/// a token, and `user:password@` a password.
fn origin(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// POSTs `body` and sorts the outcome: 2xx delivered; 408, 425, 429 and 5xx worth a retry;
/// any other status refused. `shown_url` stands in for the URL in errors, since a Slack URL
/// is itself a credential.
async fn post(
    client: &Client,
    url: &Url,
    shown_url: &str,
    headers: HeaderMap,
    body: Vec<u8>,
) -> Result<(), SinkError> {
    let response = client
        .post(url.clone())
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "failed"
            };
            SinkError::Retryable(format!("POST to {shown_url} {kind}: {}", e.without_url()))
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    if status.is_redirection() {
        let moved = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|location| location.to_str().ok())
            .and_then(|location| url.join(location).ok())
            .map_or_else(|| "elsewhere".to_owned(), |to| origin(&to));
        return Err(SinkError::Permanent(format!(
            "POST to {shown_url} answered {status}, a redirect to {moved}: put the final URL in the sink"
        )));
    }
    let text = response.text().await.unwrap_or_default();
    let message = format!(
        "POST to {shown_url} answered {status}: {}",
        for_terminal(&truncate(text.trim(), 200))
    );
    let retryable = status.is_server_error()
        || matches!(
            status,
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_EARLY | StatusCode::TOO_MANY_REQUESTS
        );
    Err(if retryable {
        SinkError::Retryable(message)
    } else {
        SinkError::Permanent(message)
    })
}

/// Percent-encodes all but visible ASCII, so an attacker-influenced key is a valid header.
fn header_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_graphic() && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// POSTs each notification as JSON ([`render::webhook_body`]) with an HMAC-SHA256 signature
/// over the timestamp and body.
pub struct WebhookSink {
    name: String,
    url: Url,
    secret: Vec<u8>,
    client: Client,
}

impl WebhookSink {
    /// A webhook to `url`, signing with `secret`.
    pub fn new(
        name: String,
        url: &str,
        secret: String,
        timeout: Duration,
    ) -> Result<WebhookSink, ConfigError> {
        Ok(WebhookSink {
            url: http_url(&name, url, "url")?,
            client: client(timeout)?,
            secret: secret.into_bytes(),
            name,
        })
    }
}

impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, notification: &'a Notification) -> Delivery<'a> {
        Box::pin(async move {
            let body = render::webhook_body(notification);
            let timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs()
                .to_string();
            let signature = sign(&self.secret, &timestamp, &body);
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            let values = [
                (TIMESTAMP_HEADER, timestamp),
                (SIGNATURE_HEADER, signature),
                (DEDUP_HEADER, header_safe(&notification.alert.dedup_key)),
            ];
            for (name, value) in values {
                let value = HeaderValue::from_str(&value)
                    .map_err(|e| SinkError::Permanent(format!("header {name}: {e}")))?;
                headers.insert(name, value);
            }
            post(&self.client, &self.url, &origin(&self.url), headers, body).await
        })
    }
}

/// Posts Block Kit messages ([`render::slack_payload`]) to a Slack incoming webhook.
pub struct SlackSink {
    name: String,
    url: Url,
    client: Client,
}

impl SlackSink {
    /// A Slack sink posting to an incoming webhook URL.
    pub fn new(name: String, url: &str, timeout: Duration) -> Result<SlackSink, ConfigError> {
        Ok(SlackSink {
            url: http_url(&name, url, "webhook_url")?,
            client: client(timeout)?,
            name,
        })
    }
}

impl Sink for SlackSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, notification: &'a Notification) -> Delivery<'a> {
        Box::pin(async move {
            let body = serde_json::to_vec(&render::slack_payload(notification))
                .expect("a JSON value always serialises");
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            let shown = format!("the Slack webhook of sink {:?}", self.name);
            post(&self.client, &self.url, &shown, headers, body).await
        })
    }
}

/// Renders a notification as a service's JSON body.
pub type RenderJson = Box<dyn Fn(&Notification) -> serde_json::Value + Send + Sync>;

/// Posts the JSON a format renders ([`crate::formats`]) to a chat or paging service: Microsoft
/// Teams, Discord, Google Chat or PagerDuty.
pub struct FormatSink {
    name: String,
    service: &'static str,
    url: Url,
    client: Client,
    render: RenderJson,
    render_resolution: Option<RenderJson>,
}

impl FormatSink {
    /// A sink posting `render`'s JSON to `url`, for the service named `service` in errors.
    pub fn new(
        name: String,
        service: &'static str,
        url: &str,
        timeout: Duration,
        render: RenderJson,
    ) -> Result<FormatSink, ConfigError> {
        Ok(FormatSink {
            url: http_url(&name, url, "the URL")?,
            client: client(timeout)?,
            name,
            service,
            render,
            render_resolution: None,
        })
    }

    /// Also tells the service when an alert is resolved in tripkey, with the JSON
    /// `render_resolution` makes (PagerDuty's `resolve` event).
    pub fn resolving_with(mut self, render_resolution: RenderJson) -> FormatSink {
        self.render_resolution = Some(render_resolution);
        self
    }

    async fn post_json(&self, body: serde_json::Value) -> Result<(), SinkError> {
        let body = serde_json::to_vec(&body).expect("a JSON value always serialises");
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // A webhook URL holds its token: errors name the sink, never the URL.
        let shown = format!("the {} endpoint of sink {:?}", self.service, self.name);
        post(&self.client, &self.url, &shown, headers, body).await
    }
}

impl Sink for FormatSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, notification: &'a Notification) -> Delivery<'a> {
        Box::pin(async move { self.post_json((self.render)(notification)).await })
    }

    fn resolve<'a>(&'a self, notification: &'a Notification) -> Option<Delivery<'a>> {
        let render = self.render_resolution.as_ref()?;
        Some(Box::pin(async move {
            self.post_json(render(notification)).await
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_tampering_does_not() {
        let signature = sign(b"s3cret", "1764000000", b"{\"a\":1}");
        assert!(signature.starts_with("sha256=") && signature.len() == 71);
        assert!(verify_signature(
            b"s3cret",
            "1764000000",
            b"{\"a\":1}",
            &signature
        ));
        assert!(!verify_signature(
            b"s3cret",
            "1764000001",
            b"{\"a\":1}",
            &signature
        ));
        assert!(!verify_signature(
            b"s3cret",
            "1764000000",
            b"{\"a\":2}",
            &signature
        ));
        assert!(!verify_signature(
            b"other",
            "1764000000",
            b"{\"a\":1}",
            &signature
        ));
        assert!(!verify_signature(
            b"s3cret",
            "1764000000",
            b"{\"a\":1}",
            "sha256=zz"
        ));
    }

    #[test]
    fn header_values_stay_printable() {
        assert_eq!(
            header_safe("canary:AKIA\r\nX: y"),
            "canary:AKIA%0D%0AX:%20y"
        );
    }
}
