//! Outgoing mail: one [`Mailer`] that sends a [`Message`] (to, subject, text and HTML
//! bodies) through the configured transport:
//!
//! - `console` (the embedded default): the [`Outbox`] writes each message to the log and
//!   keeps the last ones in memory (tests, and later the admin pages, read them there);
//! - `smtp`: an SMTP server through `lettre`, with STARTTLS, implicit TLS, or in clear
//!   text to a loopback host only (see [`settings`]).
//!
//! Messages are rendered from templates (`templates/mail/`, text + HTML) by the functions
//! in [`templates`]. Every message is checked and built the same way whatever the
//! transport, so what the console accepts is what SMTP accepts.

pub mod console;
pub mod settings;
mod smtp;
pub mod templates;

use lettre::message::{Mailbox, MultiPart};

use crate::config::MailConfig;
pub use console::Outbox;
pub use settings::{Security, SmtpSettings};

/// One email, before it is addressed from `mail.from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The recipient: `a@example.com` or `Name <a@example.com>`.
    pub to: String,
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body (sent as the alternative to `text`).
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail: the recipient is not an email address: {0}")]
    Recipient(String),
    #[error("mail: the subject contains a line break")]
    SubjectLineBreak,
    #[error("mail: rendering template {0}: {1}")]
    Template(&'static str, String),
    #[error("mail: building the message: {0}")]
    Build(String),
    #[error("mail: the SMTP server did not take the message: {0}")]
    Send(String),
    #[error("{0}")]
    Config(String),
}

/// The configured transport.
enum Transport {
    Console(Outbox),
    Smtp(smtp::Smtp),
}

/// Sends mail from `mail.from` through `mail.transport`. Cheap to share (`Arc` in the
/// app state); SMTP connections are pooled and opened on the first message.
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

impl Mailer {
    /// The mailer `[mail]` describes. Nothing is connected yet.
    pub fn from_config(config: &MailConfig) -> Result<Mailer, MailError> {
        settings::validate(config).map_err(MailError::Config)?;
        let from = parse_mailbox(&config.from).map_err(MailError::Config)?;
        let transport = match config.transport.as_str() {
            "smtp" => Transport::Smtp(smtp::Smtp::new(
                &SmtpSettings::parse(&config.smtp_url).map_err(MailError::Config)?,
            )?),
            _ => Transport::Console(Outbox::new(console::KEEP)),
        };
        Ok(Mailer { from, transport })
    }

    /// A console mailer (tests, tools).
    pub fn console(from: &str) -> Result<Mailer, MailError> {
        Ok(Mailer {
            from: parse_mailbox(from).map_err(MailError::Config)?,
            transport: Transport::Console(Outbox::new(console::KEEP)),
        })
    }

    /// Checks and sends one message. Returns once the console kept it or the SMTP server
    /// accepted it.
    pub async fn send(&self, message: Message) -> Result<(), MailError> {
        let email = self.build(&message)?;
        match &self.transport {
            Transport::Console(outbox) => {
                outbox.keep(&self.from, message);
                Ok(())
            }
            Transport::Smtp(smtp) => smtp.send(email).await,
        }
    }

    /// The console outbox, when that is the transport.
    pub fn outbox(&self) -> Option<&Outbox> {
        match &self.transport {
            Transport::Console(outbox) => Some(outbox),
            Transport::Smtp(_) => None,
        }
    }

    fn build(&self, message: &Message) -> Result<lettre::Message, MailError> {
        let to = parse_mailbox(&message.to).map_err(MailError::Recipient)?;
        // A line break in a header value would start a header of the caller's choosing
        // (a `Bcc:` to an attacker, a second body): header injection. Subjects are one
        // line; refuse rather than rewrite what the template produced.
        if message.subject.contains(['\r', '\n']) {
            return Err(MailError::SubjectLineBreak);
        }
        lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                message.text.clone(),
                message.html.clone(),
            ))
            .map_err(|e| MailError::Build(e.to_string()))
    }
}

/// `a@example.com` or `Name <a@example.com>`; one mailbox, nothing else.
pub(crate) fn parse_mailbox(raw: &str) -> Result<Mailbox, String> {
    if raw.chars().any(|c| c.is_control()) {
        return Err("contains a control character".into());
    }
    raw.trim().parse::<Mailbox>().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(to: &str, subject: &str) -> Message {
        Message {
            to: to.into(),
            subject: subject.into(),
            text: "text".into(),
            html: "<p>html</p>".into(),
        }
    }

    #[tokio::test]
    async fn the_console_keeps_what_it_sends() {
        let mailer = Mailer::from_config(&MailConfig::default()).expect("default mailer");
        mailer
            .send(message("Alice <alice@example.com>", "Hello"))
            .await
            .expect("sent");
        let kept = mailer.outbox().expect("console").messages();
        assert_eq!(kept.len(), 1);
        assert_eq!(
            kept[0].message,
            message("Alice <alice@example.com>", "Hello")
        );
        assert_eq!(kept[0].from, "ssogate <no-reply@localhost>");
    }

    #[tokio::test]
    async fn a_line_break_in_the_subject_is_refused_by_every_transport() {
        let mailer = Mailer::console("ssogate <no-reply@example.com>").expect("mailer");
        for subject in ["Hi\r\nBcc: mallory@evil.example", "Hi\nX: y", "Hi\r"] {
            let err = mailer
                .send(message("alice@example.com", subject))
                .await
                .unwrap_err();
            assert!(
                matches!(err, MailError::SubjectLineBreak),
                "{subject:?}: {err}"
            );
        }
        assert!(mailer.outbox().expect("console").messages().is_empty());
    }

    #[tokio::test]
    async fn a_recipient_must_be_one_mailbox() {
        let mailer = Mailer::console("ssogate <no-reply@example.com>").expect("mailer");
        for to in [
            "",
            "not an address",
            "a@example.com, b@example.com",
            "a@example.com\r\nBcc: mallory@evil.example",
        ] {
            let err = mailer.send(message(to, "Hi")).await.unwrap_err();
            assert!(matches!(err, MailError::Recipient(_)), "{to:?}: {err}");
        }
    }
}
