//! Reading what the server mailed: the `.eml` files of the `file` transport.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use taskforge_tests::{TestApp, spawn_app_with};

/// A server whose mail goes to an outbox of its own (removed on drop).
pub struct MailApp {
    pub app: TestApp,
    pub outbox: Outbox,
}

/// A temporary outbox directory.
pub struct Outbox(pub PathBuf);

impl Drop for Outbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Outbox {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!(
            "taskforge-outbox-{}",
            uuid::Uuid::new_v4().simple()
        )))
    }

    /// The complete messages written so far (temporary files aside).
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.0) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("a readable message"))
            .collect()
    }

    /// Waits (up to 10 s) until at least `n` messages are there, and returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let messages = self.messages();
            if messages.len() >= n || Instant::now() > deadline {
                assert!(
                    messages.len() >= n,
                    "expected {n} messages, found {}",
                    messages.len()
                );
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// Where the test server's reset links point.
pub const RESET_URL: &str = "https://app.example.test/reset?token=";

/// A server with its own outbox, reset links to [`RESET_URL`], and `extra` settings.
pub async fn mail_app(extra: &[(&str, &str)]) -> MailApp {
    let outbox = Outbox::new();
    let dir = outbox.path().display().to_string();
    let mut vars = vec![
        ("MAIL_TRANSPORT", "file"),
        ("MAIL_OUTBOX_DIR", dir.as_str()),
        ("PASSWORD_RESET_URL", RESET_URL),
        ("MAIL_FROM", "Taskforge <no-reply@example.test>"),
    ];
    vars.extend_from_slice(extra);
    MailApp {
        app: spawn_app_with(&vars).await,
        outbox,
    }
}

/// The plain-text part of a message, decoded as a mail client would (lettre picks
/// quoted-printable for long lines: soft line breaks and `=XX` escapes).
pub fn plain_text(message: &str) -> String {
    let message = message.replace("\r\n", "\n");
    let part = message
        .find("Content-Type: text/plain")
        .expect("a text/plain part");
    let rest = &message[part..];
    let body_start = rest.find("\n\n").expect("part headers end") + 2;
    let headers = &rest[..body_start];
    let body = &rest[body_start..];
    let body = &body[..body.find("\n--").unwrap_or(body.len())];
    if headers.contains("quoted-printable") {
        decode_quoted_printable(body)
    } else {
        body.to_owned()
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'=')
            .then(|| joined.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(byte) = escaped {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8 text")
}

/// The token of the reset link in a message's plain-text part.
pub fn token_in(message: &str) -> String {
    let text = plain_text(message);
    let start = text
        .find(RESET_URL)
        .expect("the message holds the reset link")
        + RESET_URL.len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}
