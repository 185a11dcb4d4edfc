//! Traces as an operator sees them: the release binary started with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a small OTLP/HTTP collector this test runs
//! itself, and one request sent with a W3C `traceparent`. Every span of that request —
//! the request, the services, the adapters and, on the PostgreSQL fast path, the batch
//! that served it — must arrive in the caller's trace.
//!
//! On PostgreSQL (the fast path) when `TEST_DATABASE_URL` is set, else on SQLite.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

/// The caller's trace and span, as a client would send them.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// Every span an OTLP/HTTP JSON export delivered, flattened.
type Received = Arc<Mutex<Vec<Value>>>;

/// A collector on a free port: each `POST /v1/traces` body is parsed and its spans kept.
fn collector() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the collector");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let spans: Received = Arc::default();
    let kept = Arc::clone(&spans);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            let mut path = String::new();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if path.is_empty() {
                    path = line
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            if path == "/v1/traces"
                && let Ok(export) = serde_json::from_slice::<Value>(&body)
            {
                let mut kept = kept.lock().unwrap();
                for resource in export["resourceSpans"].as_array().into_iter().flatten() {
                    for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                        kept.extend(scope["spans"].as_array().into_iter().flatten().cloned());
                    }
                }
            }
            let _ = reader.get_mut().write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
            );
        }
    });
    (address, spans)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("address")
        .port()
}

/// The server under test, stopped (SIGTERM) when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// A database for the server: a new PostgreSQL database (dropped at the end by the
/// returned guard) or a temporary SQLite file.
async fn database() -> (String, bool, Option<(String, String)>) {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("tf_traces_{}", uuid::Uuid::new_v4().simple());
            let admin = sea_orm::Database::connect(&admin_url).await.expect("admin");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create database");
            let base = admin_url.rsplit_once('/').expect("a database in the URL").0;
            (format!("{base}/{name}"), true, Some((admin_url, name)))
        }
        _ => {
            let path = std::env::temp_dir().join(format!("tf-traces-{}.db", std::process::id()));
            let _ = std::fs::remove_file(&path);
            (format!("sqlite://{}", path.display()), false, None)
        }
    }
}

fn spans_named<'a>(spans: &'a [Value], name: &str) -> Vec<&'a Value> {
    spans.iter().filter(|s| s["name"] == name).collect()
}

fn child_of<'a>(spans: &'a [Value], parent: &Value, name: &str) -> &'a Value {
    spans
        .iter()
        .find(|s| s["name"] == name && s["parentSpanId"] == parent["spanId"])
        .unwrap_or_else(|| panic!("no span {name} under {}: {spans:#?}", parent["name"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spans_of_one_request_arrive_in_the_callers_trace() {
    let (endpoint, received) = collector();
    let (database_url, postgres, cleanup) = database().await;
    let port = free_port();
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_taskforge"))
            .env_clear()
            .envs(HashMap::from([
                ("PORT", port.to_string()),
                ("DATABASE_URL", database_url),
                ("BCRYPT_COST", "4".to_owned()),
                ("RATE_LIMIT_ENABLED", "false".to_owned()),
                ("LOG_FORMAT", "json".to_owned()),
                ("RUST_LOG", "warn".to_owned()),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
                ("OTEL_SERVICE_NAME", "taskforge-under-test".to_owned()),
            ]))
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::null())
            .spawn()
            .expect("the binary starts"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("{base}/health")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server starts"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let credentials = json!({"email": "traced@example.com", "password": "traced-password"});
    let registered = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let tokens: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&credentials)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().expect("an access token");

    let created = http
        .post(format!("{base}/api/v1/tasks"))
        .bearer_auth(access)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .header("x-request-id", "traced-request-1")
        .json(&json!({"title": "Follow me"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    // Spans are exported every half second; wait for the whole request's.
    let wanted = if postgres { 5 } else { 4 };
    let started = Instant::now();
    let spans: Vec<Value> = loop {
        let spans: Vec<Value> = received
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s["traceId"] == TRACE_ID || s["name"] == "batch")
            .cloned()
            .collect();
        let in_trace = spans.iter().filter(|s| s["traceId"] == TRACE_ID).count();
        if in_trace >= wanted || started.elapsed() > Duration::from_secs(15) {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let in_trace: Vec<Value> = spans
        .iter()
        .filter(|s| s["traceId"] == TRACE_ID)
        .cloned()
        .collect();
    println!(
        "{} spans in the caller's trace: {:?}",
        in_trace.len(),
        in_trace.iter().map(|s| &s["name"]).collect::<Vec<_>>()
    );

    // The request continues the caller's span, and carries its id and route.
    let request = spans_named(&in_trace, "POST /api/v1/tasks");
    assert_eq!(request.len(), 1, "{in_trace:#?}");
    let request = request[0];
    assert_eq!(request["parentSpanId"], CALLER_SPAN);
    let attributes = request["attributes"].to_string();
    assert!(attributes.contains("traced-request-1"), "{attributes}");
    assert!(attributes.contains("/api/v1/tasks"), "{attributes}");

    // Under it: the authentication, then the service, then the adapter.
    child_of(&in_trace, request, "AuthService::authenticate");
    let service = child_of(&in_trace, request, "TaskService::create");
    let adapter = if postgres {
        "PgTaskRepository::insert"
    } else {
        "SeaTaskRepository::insert"
    };
    let insert = child_of(&in_trace, service, adapter);
    if postgres {
        // The insert's batch: its own span, linked to the insert it served, whose id
        // and size the insert's span records.
        let attribute = |span: &Value, key: &str| {
            span["attributes"]
                .as_array()
                .and_then(|a| a.iter().find(|kv| kv["key"] == key))
                .map(|kv| kv["value"].clone())
                .unwrap_or_else(|| panic!("no {key} on {span:#?}"))
        };
        let batch = spans
            .iter()
            .filter(|s| s["name"] == "batch")
            .find(|s| {
                s["links"]
                    .as_array()
                    .is_some_and(|links| links.iter().any(|l| l["spanId"] == insert["spanId"]))
            })
            .unwrap_or_else(|| panic!("a batch span linked to the insert: {spans:#?}"));
        assert_eq!(
            attribute(batch, "batch.kind"),
            json!({"stringValue": "inserts"})
        );
        assert_eq!(attribute(batch, "batch.id"), attribute(insert, "batch.id"));
        assert_eq!(
            attribute(batch, "batch.size"),
            attribute(insert, "batch.size")
        );
    }
    drop(_server);
    if let Some((admin_url, name)) = cleanup {
        let admin = sea_orm::Database::connect(&admin_url).await.expect("admin");
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}
