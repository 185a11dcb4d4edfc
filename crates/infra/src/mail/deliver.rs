//! One delivery attempt over a transport: the message built with lettre (plain text
//! and HTML alternatives), then written to a file or handed to an SMTP relay.

use std::path::PathBuf;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use taskforge_domain::mail::MailMessage;

use super::MailTransport;

/// Where one delivery goes.
pub enum Delivery {
    /// A file per message in this directory.
    File {
        /// The outbox.
        dir: PathBuf,
        /// The sender.
        from: Mailbox,
    },
    /// An SMTP relay.
    Smtp {
        /// lettre's pooled transport.
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// The sender.
        from: Mailbox,
    },
}

/// `SMTP_URL` as lettre reads it: `smtp://` requires STARTTLS unless it says otherwise
/// (`?tls=opportunistic`, or `?tls=none` for a relay on the same host); `smtps://` is
/// implicit TLS.
fn lettre_url(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    let tls = params
        .iter()
        .find_map(|p| p.strip_prefix("tls="))
        .map(str::to_owned);
    if base.starts_with("smtp://") {
        match tls.as_deref() {
            None => params.push("tls=required"),
            // lettre's spelling of "no TLS" is no `tls` parameter at all.
            Some("none") => params.retain(|p| !p.starts_with("tls=")),
            Some(_) => {}
        }
    }
    if params.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", params.join("&"))
    }
}

impl Delivery {
    /// The delivery of a transport; `None` when mail is off.
    ///
    /// # Errors
    /// A setting lettre or the file system refuses, said without the URL's password.
    pub fn new(transport: &MailTransport, from: &str) -> Result<Option<Self>, String> {
        let from_mailbox = || -> Result<Mailbox, String> {
            from.parse::<Mailbox>()
                .map_err(|e| format!("MAIL_FROM {from:?} is not an address: {e}"))
        };
        match transport {
            MailTransport::Off => Ok(None),
            // The outbox is made when the first message is written: a server that
            // never sends mail leaves no empty directory behind.
            MailTransport::File(dir) => Ok(Some(Delivery::File {
                dir: dir.clone(),
                from: from_mailbox()?,
            })),
            MailTransport::Smtp(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&lettre_url(
                    url.expose_secret(),
                ))
                .map_err(|e| format!("SMTP_URL is not usable: {e}"))?
                .build();
                Ok(Some(Delivery::Smtp {
                    transport,
                    from: from_mailbox()?,
                }))
            }
        }
    }

    fn from(&self) -> &Mailbox {
        match self {
            Delivery::File { from, .. } | Delivery::Smtp { from, .. } => from,
        }
    }

    fn build(&self, message: &MailMessage) -> Result<Message, String> {
        let to: Mailbox = message
            .to
            .parse()
            .map_err(|e| format!("recipient is not an address: {e}"))?;
        Message::builder()
            .from(self.from().clone())
            .to(to)
            .subject(message.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                message.text.clone(),
                message.html.clone(),
            ))
            .map_err(|e| format!("cannot build the message: {e}"))
    }

    /// One attempt. The error says what failed, never what the message says.
    ///
    /// # Errors
    /// As above.
    pub async fn deliver(&self, message: &MailMessage) -> Result<(), String> {
        let email = self.build(message)?;
        match self {
            Delivery::File { dir, .. } => {
                // Written under a temporary name and renamed, so a reader of the
                // outbox never sees half a message; on the blocking pool, as file I/O
                // blocks.
                let name = uuid::Uuid::now_v7();
                let partial = dir.join(format!(".{name}.eml.partial"));
                let done = dir.join(format!("{name}.eml"));
                let bytes = email.formatted();
                let outbox = dir.clone();
                tokio::task::spawn_blocking(move || {
                    std::fs::create_dir_all(&outbox)?;
                    std::fs::write(&partial, bytes)?;
                    std::fs::rename(&partial, &done)
                })
                .await
                .map_err(|e| format!("cannot write to the outbox: {e}"))?
                .map_err(|e| format!("cannot write to the outbox: {e}"))
            }
            Delivery::Smtp { transport, .. } => transport
                .send(email)
                .await
                .map(|_| ())
                .map_err(|e| format!("SMTP delivery failed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::lettre_url;

    #[test]
    fn smtp_requires_starttls_unless_the_url_says_otherwise() {
        assert_eq!(
            lettre_url("smtp://u:p@relay:587"),
            "smtp://u:p@relay:587?tls=required"
        );
        assert_eq!(
            lettre_url("smtp://relay:25?tls=opportunistic"),
            "smtp://relay:25?tls=opportunistic"
        );
        assert_eq!(
            lettre_url("smtp://127.0.0.1:2525?tls=none"),
            "smtp://127.0.0.1:2525"
        );
        assert_eq!(lettre_url("smtps://relay:465"), "smtps://relay:465");
    }
}
