//! Sending an e-mail notification over SMTP (lettre on rustls): STARTTLS or TLS from
//! the first byte, with the system's CAs and ADC_SMTP_CA_FILE's.

use crate::config::{SmtpConfig, SmtpTls};
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// Refuses a configuration that could never send: a From that is no address, a CA file
/// that cannot be read. Checked as the server starts.
pub fn check(c: &SmtpConfig) -> anyhow::Result<()> {
    c.from.parse::<Mailbox>().map_err(|e| {
        anyhow::anyhow!(
            "ADC_SMTP_FROM `{}` is not an e-mail address ({e}); give one such as `ad-connect <adc@example.com>`",
            c.from
        )
    })?;
    if let Some(ca) = &c.ca_file {
        let pem = std::fs::read(ca)
            .map_err(|e| anyhow::anyhow!("cannot read ADC_SMTP_CA_FILE `{}`: {e}", ca.display()))?;
        Certificate::from_pem(&pem).map_err(|e| {
            anyhow::anyhow!(
                "ADC_SMTP_CA_FILE `{}` holds no PEM certificate: {e}",
                ca.display()
            )
        })?;
    }
    Ok(())
}

/// Whether `address` is one e-mail address, as a recipient is given.
pub fn check_address(address: &str) -> Result<String, String> {
    let a = address.trim();
    match a.parse::<lettre::Address>() {
        Ok(parsed) => Ok(parsed.to_string()),
        Err(e) => Err(format!("`{a}` is not an e-mail address ({e})")),
    }
}

fn transport(c: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host)
        .port(c.port)
        .timeout(Some(Duration::from_secs(15)));
    if c.tls != SmtpTls::None {
        let mut params = TlsParameters::builder(c.host.clone());
        if let Some(ca) = &c.ca_file {
            let pem =
                std::fs::read(ca).map_err(|e| format!("cannot read {}: {e}", ca.display()))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", ca.display()))?;
            params = params.add_root_certificate(cert);
        }
        let params = params
            .build_rustls()
            .map_err(|e| format!("TLS settings for {}: {e}", c.host))?;
        builder = builder.tls(match c.tls {
            SmtpTls::Tls => Tls::Wrapper(params),
            _ => Tls::Required(params),
        });
    }
    if let (Some(user), Some(password)) = (&c.username, &c.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    Ok(builder.build())
}

/// Sends one message to `to`; what went wrong otherwise, for the delivery log.
pub async fn send(
    c: &SmtpConfig,
    to: &str,
    subject: &str,
    body: String,
    delivery_id: &str,
) -> Result<(), String> {
    let from: Mailbox = c.from.parse().map_err(|e| format!("ADC_SMTP_FROM: {e}"))?;
    let to: Mailbox = to.parse().map_err(|e| format!("`{to}`: {e}"))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .message_id(Some(format!("<{delivery_id}@ad-connect>")))
        .body(body)
        .map_err(|e| format!("cannot build the message: {e}"))?;
    transport(c)?.send(message).await.map(|_| ()).map_err(|e| {
        let mut msg = format!("SMTP {}:{}: {e}", c.host, c.port);
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        msg
    })
}
