//! A mailer that keeps every message, and one-time tokens anyone can predict.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;

use crate::DomainError;
use crate::auth::OneTimeTokens;
use crate::mail::{MailMessage, Mailer};

/// A [`Mailer`] that keeps what it is handed, for assertions.
#[derive(Debug, Default)]
pub struct RecordingMailer {
    sent: Mutex<Vec<MailMessage>>,
}

impl RecordingMailer {
    /// Every message handed over so far, oldest first.
    pub fn sent(&self) -> Vec<MailMessage> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, message: MailMessage) -> Result<(), DomainError> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(message);
        Ok(())
    }
}

/// [`OneTimeTokens`] handing out `token-1`, `token-2`, … with the digest `digest:<token>`.
/// **Insecure by design**: for tests only.
#[derive(Debug, Default)]
pub struct PlainOneTimeTokens {
    next: AtomicU64,
}

impl OneTimeTokens for PlainOneTimeTokens {
    fn generate(&self) -> Result<String, DomainError> {
        Ok(format!(
            "token-{}",
            self.next.fetch_add(1, Ordering::Relaxed) + 1
        ))
    }

    fn digest(&self, token: &str) -> String {
        format!("digest:{token}")
    }
}
