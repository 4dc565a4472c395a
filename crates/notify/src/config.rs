//! `[[sink]]` tables and the sinks they build.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::{EmailSink, FormatSink, JsonLinesSink, Sink, SlackSink, WebhookSink};

/// One `[[sink]]` table: a name that routes refer to, and the sink's settings.
#[derive(Clone, Debug, Deserialize)]
pub struct SinkSpec {
    /// The sink's name, unique among sinks.
    pub name: String,
    /// What kind of sink it is and how to reach it.
    #[serde(flatten)]
    pub config: SinkConfig,
}

/// A secret given inline or, better, by the name of the environment variable holding it.
#[derive(Clone, Default, Deserialize)]
pub struct SecretSource {
    /// The value itself (keep the file's mode at 0600 if you do this).
    #[serde(default)]
    value: Option<String>,
    /// The environment variable holding the value.
    #[serde(default)]
    env: Option<String>,
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretSource")
            .field("value", &self.value.as_ref().map(|_| "<redacted>"))
            .field("env", &self.env)
            .finish()
    }
}

impl SecretSource {
    fn resolve(&self, what: &str, sink: &str) -> Result<Option<String>, ConfigError> {
        match (&self.value, &self.env) {
            (Some(_), Some(_)) => Err(ConfigError(format!(
                "sink {sink:?}: give {what} or {what}_env, not both"
            ))),
            (Some(value), None) if value.is_empty() => Err(ConfigError(format!(
                "sink {sink:?}: {what} is empty; give the real value, or {what}_env"
            ))),
            (Some(value), None) => Ok(Some(value.clone())),
            (None, Some(var)) => match std::env::var(var) {
                Ok(value) if !value.is_empty() => Ok(Some(value)),
                _ => Err(ConfigError(format!(
                    "sink {sink:?}: {what}_env names {var}, which is not set; export it before starting tripkey"
                ))),
            },
            (None, None) => Ok(None),
        }
    }
}

/// How the email sink secures its SMTP connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tls {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host or a test server.
    None,
}

/// The settings of each kind of sink, chosen by `type`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SinkConfig {
    /// JSON POSTed to a URL, signed with HMAC-SHA256.
    Webhook {
        /// Where to POST.
        url: String,
        /// The signing secret (prefer `secret_env`).
        secret: Option<String>,
        /// Environment variable holding the signing secret.
        secret_env: Option<String>,
        /// Per-request timeout in seconds [default: 10].
        timeout_secs: Option<u64>,
    },
    /// A Slack incoming webhook, with Block Kit.
    Slack {
        /// The incoming webhook URL (prefer `webhook_url_env`: the URL is the credential).
        webhook_url: Option<String>,
        /// Environment variable holding the webhook URL.
        webhook_url_env: Option<String>,
        /// Per-request timeout in seconds [default: 10].
        timeout_secs: Option<u64>,
    },
    /// A Microsoft Teams channel, through a Workflows webhook, with an Adaptive Card.
    Teams {
        /// The workflow's webhook URL (prefer `webhook_url_env`: the URL is the credential).
        webhook_url: Option<String>,
        /// Environment variable holding the webhook URL.
        webhook_url_env: Option<String>,
        /// Per-request timeout in seconds [default: 10].
        timeout_secs: Option<u64>,
    },
    /// A Discord channel webhook, with an embed.
    Discord {
        /// The webhook URL (prefer `webhook_url_env`: the URL is the credential).
        webhook_url: Option<String>,
        /// Environment variable holding the webhook URL.
        webhook_url_env: Option<String>,
        /// Per-request timeout in seconds [default: 10].
        timeout_secs: Option<u64>,
    },
    /// A Google Chat space's incoming webhook, with a card.
    GoogleChat {
        /// The webhook URL (prefer `webhook_url_env`: the URL holds the key and token).
        webhook_url: Option<String>,
        /// Environment variable holding the webhook URL.
        webhook_url_env: Option<String>,
        /// Per-request timeout in seconds [default: 10].
        timeout_secs: Option<u64>,
    },
    /// A PagerDuty service, through the Events API v2: a trigger per alert, keyed by its
    /// dedup key.
    Pagerduty {
        /// The service's integration (routing) key (prefer `routing_key_env`).
        routing_key: Option<String>,
        /// Environment variable holding the routing key.
        routing_key_env: Option<String>,
        /// The Events API endpoint [default: https://events.pagerduty.com/v2/enqueue; EU
        /// accounts use https://events.eu.pagerduty.com/v2/enqueue].
        url: Option<String>,
        /// Per-request timeout in seconds [default: 10].
        timeout_secs: Option<u64>,
    },
    /// Email through an SMTP relay.
    Email {
        /// The relay's host name.
        host: String,
        /// The relay's port [default: 587, or 465 with `tls = "tls"`].
        port: Option<u16>,
        /// `starttls` (default), `tls` or `none`.
        #[serde(default)]
        tls: Tls,
        /// SMTP user, when the relay wants a login.
        username: Option<String>,
        /// SMTP password (prefer `password_env`).
        password: Option<String>,
        /// Environment variable holding the SMTP password.
        password_env: Option<String>,
        /// The From address.
        from: String,
        /// Recipients.
        to: Vec<String>,
        /// Per-message timeout in seconds [default: 30].
        timeout_secs: Option<u64>,
    },
    /// One JSON object per line, appended to a file or written to stdout (`path = "-"`).
    JsonLines {
        /// The file, or `-` for standard output.
        path: PathBuf,
    },
    /// An SNS topic; built by `tripkey serve` with its AWS connection.
    Sns {
        /// The topic's ARN.
        topic_arn: String,
    },
}

/// A `[[sink]]` table that cannot be used as written.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn timeout(secs: Option<u64>, default: u64) -> Duration {
    Duration::from_secs(secs.unwrap_or(default).max(1))
}

/// A chat service's sink, posting to a webhook URL that is itself the credential.
fn chat_sink(
    name: &str,
    service: &'static str,
    webhook_url: &Option<String>,
    webhook_url_env: &Option<String>,
    where_to_get_it: &str,
    timeout_secs: Option<u64>,
    render: crate::http::RenderJson,
) -> Result<Box<dyn Sink>, ConfigError> {
    let source = SecretSource {
        value: webhook_url.clone(),
        env: webhook_url_env.clone(),
    };
    let url = source.resolve("webhook_url", name)?.ok_or_else(|| {
        ConfigError(format!(
            "sink {name:?}: a {service} sink needs webhook_url_env (or webhook_url), {where_to_get_it}"
        ))
    })?;
    Ok(Box::new(FormatSink::new(
        name.to_owned(),
        service,
        &url,
        timeout(timeout_secs, 10),
        render,
    )?))
}

/// Builds the sink a `[[sink]]` table describes. SNS needs an AWS connection and is refused
/// here; `tripkey serve` builds it.
pub fn build_sink(spec: &SinkSpec) -> Result<Box<dyn Sink>, ConfigError> {
    let name = spec.name.clone();
    if name.is_empty() {
        return Err(ConfigError("a [[sink]] needs a name".to_owned()));
    }
    match &spec.config {
        SinkConfig::Webhook {
            url,
            secret,
            secret_env,
            timeout_secs,
        } => {
            let source = SecretSource {
                value: secret.clone(),
                env: secret_env.clone(),
            };
            let secret = source.resolve("secret", &name)?.ok_or_else(|| {
                ConfigError(format!(
                    "sink {name:?}: a webhook needs a signing secret so the receiver can tell tripkey's alerts from forgeries; \
                     generate one (openssl rand -hex 32), give it to the receiver and set secret_env"
                ))
            })?;
            Ok(Box::new(WebhookSink::new(
                name,
                url,
                secret,
                timeout(*timeout_secs, 10),
            )?))
        }
        SinkConfig::Slack {
            webhook_url,
            webhook_url_env,
            timeout_secs,
        } => {
            let source = SecretSource {
                value: webhook_url.clone(),
                env: webhook_url_env.clone(),
            };
            let url = source.resolve("webhook_url", &name)?.ok_or_else(|| {
                ConfigError(format!(
                    "sink {name:?}: a Slack sink needs webhook_url_env (or webhook_url), from Slack's Incoming Webhooks app"
                ))
            })?;
            Ok(Box::new(SlackSink::new(
                name,
                &url,
                timeout(*timeout_secs, 10),
            )?))
        }
        SinkConfig::Teams {
            webhook_url,
            webhook_url_env,
            timeout_secs,
        } => chat_sink(
            &name,
            "Microsoft Teams",
            webhook_url,
            webhook_url_env,
            "from the channel's Workflows app (\"Post to a channel when a webhook request is received\")",
            *timeout_secs,
            Box::new(crate::formats::teams::payload),
        ),
        SinkConfig::Discord {
            webhook_url,
            webhook_url_env,
            timeout_secs,
        } => chat_sink(
            &name,
            "Discord",
            webhook_url,
            webhook_url_env,
            "from the channel's Integrations, Webhooks",
            *timeout_secs,
            Box::new(crate::formats::discord::payload),
        ),
        SinkConfig::GoogleChat {
            webhook_url,
            webhook_url_env,
            timeout_secs,
        } => chat_sink(
            &name,
            "Google Chat",
            webhook_url,
            webhook_url_env,
            "from the space's Apps & integrations, Webhooks",
            *timeout_secs,
            Box::new(crate::formats::google_chat::payload),
        ),
        SinkConfig::Pagerduty {
            routing_key,
            routing_key_env,
            url,
            timeout_secs,
        } => {
            let source = SecretSource {
                value: routing_key.clone(),
                env: routing_key_env.clone(),
            };
            let key = source.resolve("routing_key", &name)?.ok_or_else(|| {
                ConfigError(format!(
                    "sink {name:?}: a PagerDuty sink needs routing_key_env (or routing_key), the \
                     integration key of an Events API v2 integration on the service"
                ))
            })?;
            let resolving_key = key.clone();
            Ok(Box::new(
                FormatSink::new(
                    name,
                    "PagerDuty",
                    url.as_deref()
                        .unwrap_or(crate::formats::pagerduty::DEFAULT_URL),
                    timeout(*timeout_secs, 10),
                    Box::new(move |notification| {
                        crate::formats::pagerduty::event_for(notification, &key)
                    }),
                )?
                .resolving_with(Box::new(move |notification| {
                    crate::formats::pagerduty::resolve(
                        &notification.alert.dedup_key,
                        &resolving_key,
                    )
                })),
            ))
        }
        SinkConfig::Email {
            host,
            port,
            tls,
            username,
            password,
            password_env,
            from,
            to,
            timeout_secs,
        } => {
            let source = SecretSource {
                value: password.clone(),
                env: password_env.clone(),
            };
            let password = source.resolve("password", &name)?;
            let login = match (username, password) {
                (Some(user), Some(password)) => Some((user.clone(), password)),
                (None, None) => None,
                _ => {
                    return Err(ConfigError(format!(
                        "sink {name:?}: give both username and password_env, or neither"
                    )))
                }
            };
            let port = port.unwrap_or(if *tls == Tls::Tls { 465 } else { 587 });
            Ok(Box::new(EmailSink::new(
                name,
                host,
                port,
                *tls,
                login,
                from,
                to,
                timeout(*timeout_secs, 30),
            )?))
        }
        SinkConfig::JsonLines { path } => Ok(Box::new(JsonLinesSink::new(name, path.clone()))),
        SinkConfig::Sns { .. } => Err(ConfigError(format!(
            "sink {name:?}: SNS sinks are built with an AWS connection by tripkey serve"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_text: &str) -> SinkSpec {
        #[derive(Deserialize)]
        struct File {
            sink: Vec<SinkSpec>,
        }
        let mut file: File = toml::from_str(toml_text).unwrap();
        file.sink.remove(0)
    }

    #[test]
    fn secrets_come_from_the_environment_and_never_print() {
        let webhook = spec(
            "[[sink]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\nsecret_env = \"TRIPKEY_NOTIFY_TEST_UNSET\"\n",
        );
        let error = build_sink(&webhook).err().unwrap().to_string();
        assert!(
            error.contains("TRIPKEY_NOTIFY_TEST_UNSET") && error.contains("not set"),
            "{error}"
        );

        let inline = spec("[[sink]]\nname = \"slack\"\ntype = \"slack\"\nwebhook_url = \"https://hooks.slack.com/services/T/B/sekrit\"\n");
        let sink = build_sink(&inline).unwrap();
        assert_eq!(sink.name(), "slack");
        let source = SecretSource {
            value: Some("sekrit".to_owned()),
            env: None,
        };
        assert!(!format!("{source:?}").contains("sekrit"));
    }

    #[test]
    fn unusable_tables_say_what_to_do() {
        let unsigned =
            spec("[[sink]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n");
        assert!(build_sink(&unsigned)
            .err()
            .unwrap()
            .to_string()
            .contains("openssl rand"));
        let bad_address = spec(
            "[[sink]]\nname = \"mail\"\ntype = \"email\"\nhost = \"localhost\"\nfrom = \"not an address\"\nto = [\"soc@example.com\"]\n",
        );
        assert!(build_sink(&bad_address)
            .err()
            .unwrap()
            .to_string()
            .contains("not an address"));
        let no_recipients = spec(
            "[[sink]]\nname = \"mail\"\ntype = \"email\"\nhost = \"localhost\"\nfrom = \"tripkey@example.com\"\nto = []\n",
        );
        assert!(build_sink(&no_recipients).is_err());
        let bad_url = spec(
            "[[sink]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"ftp://x\"\nsecret = \"s\"\n",
        );
        assert!(build_sink(&bad_url)
            .err()
            .unwrap()
            .to_string()
            .contains("http"));
        let email = spec(
            "[[sink]]\nname = \"mail\"\ntype = \"email\"\nhost = \"localhost\"\ntls = \"tls\"\nfrom = \"tripkey@example.com\"\nto = [\"soc@example.com\"]\n",
        );
        assert!(matches!(
            email.config,
            SinkConfig::Email { tls: Tls::Tls, .. }
        ));
    }
}
