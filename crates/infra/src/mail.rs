//! Outgoing mail: the domain's [`Mailer`] port over a bounded queue whose worker
//! delivers each message through the configured transport, with retries.
//!
//! - [`MailTransport::File`] (the default) writes each message as an `.eml` file, so a
//!   server with no mail relay still works; [`MailTransport::Smtp`] talks to a relay
//!   (STARTTLS or implicit TLS, credentials in the URL); [`MailTransport::Off`] sends
//!   nothing and has no queue.
//! - [`MailQueue::send`] only queues: a request never waits for a mail server. A full
//!   queue refuses the message at once. The worker retries a failed delivery with
//!   growing pauses, then gives it up; every outcome is logged (recipient and error,
//!   never a body: bodies carry tokens) and reported to the caller's observer, which
//!   the binary turns into `/metrics` counters.

mod deliver;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use taskforge_domain::DomainError;
use taskforge_domain::mail::{MailMessage, Mailer};
use tokio::sync::mpsc;

pub use deliver::Delivery;

/// How mail leaves the server (`MAIL_TRANSPORT`).
#[derive(Debug, Clone)]
pub enum MailTransport {
    /// One `.eml` file per message in this directory (`MAIL_OUTBOX_DIR`).
    File(PathBuf),
    /// An SMTP relay: `SMTP_URL`, `smtp://` (STARTTLS, required unless the URL says
    /// `?tls=opportunistic` or `?tls=none`) or `smtps://` (implicit TLS), with
    /// `user:password@` when the relay wants them.
    Smtp(SecretString),
    /// No mail: features that need it are switched off.
    Off,
}

/// The queue's bounds.
#[derive(Debug, Clone, Copy)]
pub struct QueueSettings {
    /// Messages waiting at most; more are refused.
    pub capacity: usize,
    /// Delivery attempts per message.
    pub attempts: u32,
    /// The pause after the first failed attempt; doubled after each further one.
    pub first_backoff: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            capacity: 1_000,
            attempts: 5,
            first_backoff: Duration::from_secs(1),
        }
    }
}

/// What happened to a message, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailOutcome {
    /// Delivered (written, or accepted by the relay).
    Sent,
    /// One attempt failed; another follows.
    Retried,
    /// Every attempt failed; the message is given up.
    Failed,
    /// The queue was full; the message was never queued.
    Dropped,
}

impl MailOutcome {
    /// The `outcome` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            MailOutcome::Sent => "sent",
            MailOutcome::Retried => "retried",
            MailOutcome::Failed => "failed",
            MailOutcome::Dropped => "dropped",
        }
    }
}

/// Told of every [`MailOutcome`].
pub type OutcomeObserver = Arc<dyn Fn(MailOutcome) + Send + Sync>;

/// The [`Mailer`] of a transport: `None` for [`MailTransport::Off`], else a queue whose
/// worker runs on the current tokio runtime for as long as the mailer lives.
///
/// # Errors
/// What is wrong with the transport's settings (an `SMTP_URL` lettre refuses, a
/// `MAIL_FROM` that is no address).
pub fn mailer(
    transport: &MailTransport,
    from: &str,
    settings: QueueSettings,
    observer: OutcomeObserver,
) -> Result<Option<Arc<dyn Mailer>>, String> {
    let Some(delivery) = Delivery::new(transport, from)? else {
        return Ok(None);
    };
    Ok(Some(Arc::new(MailQueue::start(
        delivery, settings, observer,
    ))))
}

/// A bounded queue of messages and the worker that delivers them.
pub struct MailQueue {
    queue: mpsc::Sender<MailMessage>,
    observer: OutcomeObserver,
}

impl MailQueue {
    /// Starts the worker on the current tokio runtime; it ends when the queue is dropped
    /// and empty.
    pub fn start(delivery: Delivery, settings: QueueSettings, observer: OutcomeObserver) -> Self {
        let (queue, mut waiting) = mpsc::channel::<MailMessage>(settings.capacity.max(1));
        let worker_observer = observer.clone();
        tokio::spawn(async move {
            while let Some(message) = waiting.recv().await {
                deliver_with_retries(&delivery, &message, settings, &worker_observer).await;
            }
        });
        Self { queue, observer }
    }
}

/// Delivers one message, retrying with doubling pauses; one message at a time, so a
/// slow relay slows the queue, never a request.
async fn deliver_with_retries(
    delivery: &Delivery,
    message: &MailMessage,
    settings: QueueSettings,
    observer: &OutcomeObserver,
) {
    let mut backoff = settings.first_backoff;
    let attempts = settings.attempts.max(1);
    for attempt in 1..=attempts {
        match delivery.deliver(message).await {
            Ok(()) => {
                tracing::info!(subject = %message.subject, attempt, "mail delivered");
                observer(MailOutcome::Sent);
                return;
            }
            Err(error) if attempt < attempts => {
                tracing::warn!(%error, attempt, retry_in_ms = backoff.as_millis() as u64, "mail delivery failed; retrying");
                observer(MailOutcome::Retried);
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
            }
            Err(error) => {
                tracing::error!(%error, attempts, "mail delivery failed; message given up");
                observer(MailOutcome::Failed);
            }
        }
    }
}

#[async_trait]
impl Mailer for MailQueue {
    async fn send(&self, message: MailMessage) -> Result<(), DomainError> {
        self.queue.try_send(message).map_err(|_| {
            tracing::error!("mail queue full or closed; message dropped");
            (self.observer)(MailOutcome::Dropped);
            DomainError::Unavailable("the mail queue is full".into())
        })
    }
}
