//! The settings of accounts: mail, password reset, and the per-account login throttle.

use std::path::PathBuf;

use secrecy::SecretString;
use taskforge_domain::auth::ResetSettings;
use taskforge_infra::mail::MailTransport;

use super::{ConfigError, Raw};

/// Mail, password reset and login throttle settings.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    /// `MAIL_TRANSPORT` (`file`, `smtp` or `off`) with `MAIL_OUTBOX_DIR` or `SMTP_URL`.
    pub mail_transport: MailTransport,
    /// `MAIL_FROM`: the sender of every message.
    pub mail_from: String,
    /// `PASSWORD_RESET_EXPIRE_MINUTES` and `PASSWORD_RESET_URL`.
    pub reset: ResetSettings,
    /// `RATE_LIMIT_RESET_PER_MIN`: reset requests per client IP and minute.
    pub rate_limit_reset_per_min: u32,
    /// `LOGIN_THROTTLE_ENABLED`: the per-account throttle of failed logins.
    pub login_throttle_enabled: bool,
}

impl AccountSettings {
    pub(super) fn parse(raw: &Raw) -> Result<Self, ConfigError> {
        let mail_transport = match raw
            .string("MAIL_TRANSPORT", "file")
            .to_ascii_lowercase()
            .as_str()
        {
            "file" => MailTransport::File(PathBuf::from(
                raw.string("MAIL_OUTBOX_DIR", "./mail-outbox"),
            )),
            "smtp" => {
                let Some(url) = raw.get("SMTP_URL").map(str::trim) else {
                    return Err(ConfigError::new(
                        "SMTP_URL",
                        "is required with MAIL_TRANSPORT=smtp",
                    ));
                };
                if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                    // Never echo the URL: it may hold a password.
                    return Err(ConfigError::new(
                        "SMTP_URL",
                        "must start with smtp:// (STARTTLS) or smtps:// (implicit TLS)",
                    ));
                }
                MailTransport::Smtp(SecretString::from(url.to_owned()))
            }
            "off" => MailTransport::Off,
            other => {
                return Err(ConfigError::new(
                    "MAIL_TRANSPORT",
                    format!("must be file, smtp or off, got {other:?}"),
                ));
            }
        };
        let link_base = raw.string(
            "PASSWORD_RESET_URL",
            "http://localhost:8000/reset-password?token=",
        );
        if !(link_base.starts_with("http://") || link_base.starts_with("https://")) {
            return Err(ConfigError::new(
                "PASSWORD_RESET_URL",
                format!("{link_base:?} is not an http(s) URL"),
            ));
        }
        let minutes: i64 = raw.number("PASSWORD_RESET_EXPIRE_MINUTES", 30, 1, 10_080)?;
        Ok(Self {
            mail_transport,
            mail_from: raw.string("MAIL_FROM", "Taskforge <taskforge@localhost>"),
            reset: ResetSettings {
                lifetime: chrono::Duration::minutes(minutes),
                link_base,
            },
            rate_limit_reset_per_min: raw.number("RATE_LIMIT_RESET_PER_MIN", 5, 1, 1_000_000)?,
            login_throttle_enabled: raw.boolean("LOGIN_THROTTLE_ENABLED", true)?,
        })
    }
}
