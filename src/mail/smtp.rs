//! The SMTP transport (lettre, rustls with the webpki roots).

use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::settings::{Security, SmtpSettings};
use super::MailError;

/// Bounds every SMTP command, so a server that stops answering does not hold a request.
const TIMEOUT: Duration = Duration::from_secs(15);

pub(super) struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Smtp {
    pub(super) fn new(settings: &SmtpSettings) -> Result<Smtp, MailError> {
        let tls_error = |e: lettre::transport::smtp::Error| {
            MailError::Config(format!("mail.smtp_url: TLS set-up: {e}"))
        };
        let builder = match settings.security {
            // `Tls::Required`: if the server does not offer STARTTLS (or a man in the
            // middle strips it), nothing is sent: no downgrade to clear text.
            Security::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)
                    .map_err(tls_error)?
            }
            Security::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host).map_err(tls_error)?
            }
            // Only loopback reaches here (`SmtpSettings::parse`).
            Security::Plain => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
            }
        };
        let mut builder = builder.port(settings.port).timeout(Some(TIMEOUT));
        if let Some(login) = &settings.login {
            builder =
                builder.credentials(Credentials::new(login.user.clone(), login.password.clone()));
        }
        Ok(Smtp {
            transport: builder.build(),
        })
    }

    pub(super) async fn send(&self, email: lettre::Message) -> Result<(), MailError> {
        self.transport
            .send(email)
            .await
            .map(|_| ())
            .map_err(|e| MailError::Send(e.to_string()))
    }
}
