//! The `smtp` mail transport end to end: a real SMTP server (Python's `aiosmtpd`,
//! started by the test on a free port) receives the reset mail, and the link in it
//! completes the reset.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use taskforge_tests::{json_of, spawn_app_with};

use crate::outbox::{RESET_URL, token_in};

/// An `aiosmtpd` server printing every message it receives; killed on drop.
struct SmtpSink {
    child: Child,
    port: u16,
    received: Arc<Mutex<String>>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first Python that has `aiosmtpd` (Debian's `python3-aiosmtpd` installs it for
/// the system Python, which may not be the first `python3` on the path).
fn python_with_aiosmtpd() -> String {
    for python in ["/usr/bin/python3", "python3"] {
        let found = Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if found {
            return python.to_owned();
        }
    }
    panic!("no python3 with aiosmtpd: install python3-aiosmtpd (see .ci/run)");
}

impl SmtpSink {
    /// An aiosmtpd on a free port. The port is free when picked but may be taken
    /// before aiosmtpd binds it (other tests start servers on free ports all the
    /// while): a sink is only taken once its own SMTP greeting answers on the port,
    /// else it is tried again on another.
    fn start() -> Self {
        for _ in 0..5 {
            if let Some(sink) = Self::try_start() {
                return sink;
            }
        }
        panic!("aiosmtpd did not start listening on any of five free ports");
    }

    fn try_start() -> Option<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = Command::new(python_with_aiosmtpd())
            .args([
                "-u",
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let received = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&received);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut sink = Self {
            child,
            port,
            received,
        };
        while !sink.greets() {
            let exited = matches!(sink.child.try_wait(), Ok(Some(_)));
            if exited || Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(sink)
    }

    /// Whether the port answers with an SMTP greeting (`220 …`): aiosmtpd, not a
    /// server of another test that took the port first.
    fn greets(&self) -> bool {
        let Ok(stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        if stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .is_err()
        {
            return false;
        }
        let mut greeting = String::new();
        BufReader::new(stream).read_line(&mut greeting).is_ok() && greeting.starts_with("220")
    }

    /// Waits (up to 15 s) for a whole message to arrive and returns what was printed.
    async fn wait_for_message(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = self.received.lock().unwrap().clone();
            if text.contains("END MESSAGE") {
                return text;
            }
            assert!(Instant::now() < deadline, "no message arrived: {text}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn a_reset_mail_sent_over_smtp_arrives_and_its_link_completes_the_reset() {
    let sink = SmtpSink::start();
    // A relay on this host, spoken to without TLS (`tls=none`); `smtp://` alone would
    // require STARTTLS.
    let url = format!("smtp://127.0.0.1:{}?tls=none", sink.port);
    let app = spawn_app_with(&[
        ("MAIL_TRANSPORT", "smtp"),
        ("SMTP_URL", url.as_str()),
        ("MAIL_FROM", "Taskforge <no-reply@example.test>"),
        ("PASSWORD_RESET_URL", RESET_URL),
    ])
    .await;
    let alice = app.user("alice@example.com").await;
    let res = app
        .post_json(
            "/api/v1/auth/password-reset",
            &json!({"email": "alice@example.com"}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 202);

    let message = sink.wait_for_message().await;
    assert!(message.contains("To: alice@example.com"), "{message}");
    assert!(
        message.contains("Subject: Reset your Taskforge password"),
        "{message}"
    );
    assert!(
        message.contains("text/plain") && message.contains("text/html"),
        "{message}"
    );
    let token = token_in(&message);

    let res = app
        .post_json(
            "/api/v1/auth/password-reset/confirm",
            &json!({"token": token, "new_password": "from-the-mail-1"}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 204);
    let (status, _) = json_of(
        app.post_json(
            "/api/v1/auth/login",
            &json!({"email": "alice@example.com", "password": "from-the-mail-1"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.get_auth("/api/v1/users/me", &alice.access)
            .await
            .status()
            .as_u16(),
        401,
        "the sessions from before the reset are over"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"mail_messages_total{outcome="sent"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_unreachable_relay_is_retried_then_counted_as_failed_and_the_request_is_not_held_up() {
    // Nothing listens on this port.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("smtp://127.0.0.1:{port}?tls=none");
    let app = spawn_app_with(&[("MAIL_TRANSPORT", "smtp"), ("SMTP_URL", url.as_str())]).await;
    let start = Instant::now();
    let res = app
        .post_json(
            "/api/v1/auth/password-reset",
            &json!({"email": "admin@example.com"}),
        )
        .await;
    assert_eq!(res.status().as_u16(), 202);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "the answer does not wait for the relay"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        if metrics.contains(r#"mail_messages_total{outcome="retried"} 1"#) {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
