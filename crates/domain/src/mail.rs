//! Outgoing mail as a port: the domain says what to send, an adapter decides how (a
//! file per message, SMTP, or nothing at all) and when (after the caller's
//! transaction, never holding up a request).

use async_trait::async_trait;

use crate::DomainError;

/// One message, in plain text and HTML.
#[derive(Clone, PartialEq, Eq)]
pub struct MailMessage {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body (the same content).
    pub html: String,
}

impl std::fmt::Debug for MailMessage {
    /// Never prints the bodies: they may carry a one-time token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailMessage")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Sends mail.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Hands `message` over for delivery. Adapters return once the message is queued,
    /// not delivered: delivery retries and its failures are the adapter's to report.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] when the message cannot even be queued (the queue
    /// is full or mail is switched off).
    async fn send(&self, message: MailMessage) -> Result<(), DomainError>;
}

/// Escapes text for an HTML body or attribute.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
