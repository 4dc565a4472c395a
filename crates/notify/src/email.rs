//! The email sink: SMTP through lettre, STARTTLS by default, with a plain-text and an HTML
//! body.

use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox, Mailboxes, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Tls;
use crate::{render, ConfigError, Delivery, Notification, Sink, SinkError};

/// Sends each notification as one email to the configured recipients.
pub struct EmailSink {
    name: String,
    from: Mailbox,
    to: Mailboxes,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl EmailSink {
    /// An email sink through the relay at `host:port`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        host: &str,
        port: u16,
        tls: Tls,
        login: Option<(String, String)>,
        from: &str,
        to: &[String],
        timeout: Duration,
    ) -> Result<EmailSink, ConfigError> {
        let from: Mailbox = from.parse().map_err(|e| {
            ConfigError(format!(
                "sink {name:?}: from {from:?} is not an address ({e})"
            ))
        })?;
        if to.is_empty() {
            return Err(ConfigError(format!(
                "sink {name:?}: `to` lists no recipients"
            )));
        }
        let mut recipients = Mailboxes::new();
        for address in to {
            let mailbox: Mailbox = address.parse().map_err(|e| {
                ConfigError(format!(
                    "sink {name:?}: recipient {address:?} is not an address ({e})"
                ))
            })?;
            recipients.push(mailbox);
        }
        let relay_error = |e: lettre::transport::smtp::Error| {
            ConfigError(format!("sink {name:?}: relay {host}: {e}"))
        };
        let builder = match tls {
            Tls::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(relay_error)?
            }
            Tls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(relay_error)?,
            Tls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        };
        let mut builder = builder.port(port).timeout(Some(timeout));
        if let Some((user, password)) = login {
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(EmailSink {
            name,
            from,
            to: recipients,
            transport: builder.build(),
        })
    }

    fn message(&self, notification: &Notification) -> Result<Message, SinkError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(render::email_subject(notification));
        for recipient in self.to.iter() {
            builder = builder.to(recipient.clone());
        }
        builder
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(render::email_text(notification)),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(render::email_html(notification)),
                    ),
            )
            .map_err(|e| SinkError::Permanent(format!("cannot build the email: {e}")))
    }
}

impl Sink for EmailSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, notification: &'a Notification) -> Delivery<'a> {
        Box::pin(async move {
            let message = self.message(notification)?;
            match self.transport.send(message).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(SinkError::Permanent(format!(
                    "the relay refused the email: {e}"
                ))),
                Err(e) => Err(SinkError::Retryable(format!("email not sent: {e}"))),
            }
        })
    }
}
