//! Input no database can store (a NUL character): 422 naming the field, the same on
//! both databases, and never an error for anyone else.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cluster::PgCluster;
use crate::load::{Outcome, hammer, observe, report};
use crate::server::{Server, settings};

/// The fields named by a 422.
fn fields(outcome: &Outcome) -> Vec<String> {
    let body: Value = serde_json::from_str(&outcome.body).unwrap_or_default();
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str().map(str::to_owned))
        .collect()
}

async fn nul_input_is_its_own_422(database_url: &str) {
    let server = Arc::new(Server::start(&settings(database_url)).await);
    let token = Arc::new(server.user("hostile").await);
    let task = Arc::new(server.task(&token, "mine").await);
    let mut bystanders = Vec::new();
    for i in 0..16 {
        bystanders.push(server.user(&format!("bystander{i}")).await);
    }
    let bystanders = Arc::new(bystanders);
    let until = Instant::now() + Duration::from_secs(3);
    let (server_, token_, task_) = (Arc::clone(&server), Arc::clone(&token), Arc::clone(&task));
    let outcomes = hammer(17, until, move |client, round| {
        let (server, token, task, bystanders) = (
            Arc::clone(&server_),
            Arc::clone(&token_),
            Arc::clone(&task_),
            Arc::clone(&bystanders),
        );
        async move {
            let http = &server.http;
            if client > 0 {
                let token = &bystanders[client - 1];
                let url = server.url("/api/v1/tasks?q=report");
                return observe("bystander", http.get(url).bearer_auth(token)).await;
            }
            let token = &*token;
            let nul = "a\u{0}b";
            match round % 6 {
                0 => {
                    observe(
                        "q",
                        http.get(server.url("/api/v1/tasks?q=%00"))
                            .bearer_auth(token),
                    )
                    .await
                }
                1 => {
                    let body = json!({"title": nul});
                    observe(
                        "title",
                        http.post(server.url("/api/v1/tasks"))
                            .bearer_auth(token)
                            .json(&body),
                    )
                    .await
                }
                2 => {
                    let url = server.url(&format!("/api/v1/tasks/{task}"));
                    observe(
                        "description",
                        http.patch(url)
                            .bearer_auth(token)
                            .json(&json!({"description": nul})),
                    )
                    .await
                }
                3 => {
                    let url = server.url(&format!("/api/v1/tasks/{task}"));
                    observe(
                        "title",
                        http.put(url)
                            .bearer_auth(token)
                            .json(&json!({"title": nul})),
                    )
                    .await
                }
                4 => {
                    let body = json!({"email": "x\u{0}@example.com", "password": "whatever-1"});
                    observe(
                        "email",
                        http.post(server.url("/api/v1/auth/login")).json(&body),
                    )
                    .await
                }
                _ => {
                    observe(
                        "full_name",
                        http.patch(server.url("/api/v1/users/me"))
                            .bearer_auth(token)
                            .json(&json!({"full_name": nul})),
                    )
                    .await
                }
            }
        }
    })
    .await;
    let (bystander, hostile): (Vec<Outcome>, Vec<Outcome>) =
        outcomes.into_iter().partition(|o| o.label == "bystander");
    report("NUL input", &hostile);
    report("bystanders meanwhile", &bystander);
    for outcome in &hostile {
        assert_eq!(
            outcome.status,
            Some(422),
            "{}: {}",
            outcome.label,
            outcome.body
        );
        assert_eq!(fields(outcome), [outcome.label], "{}", outcome.body);
    }
    assert!(
        bystander.iter().all(|o| o.is(200)),
        "{:?}",
        crate::load::tally(&bystander)
    );
    // The form login names its field too.
    let form = server
        .http
        .post(server.url("/api/v1/auth/login"))
        .form(&[("username", "ada\u{0}"), ("password", "whatever-1")]);
    let form = observe("username", form).await;
    assert_eq!(
        (form.status, fields(&form)),
        (Some(422), vec!["username".to_owned()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nul_input_is_a_422_of_its_own_on_postgresql() {
    let _serial = crate::SERIAL.lock().await;
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    cluster.create_database("taskforge").await;
    nul_input_is_its_own_422(&cluster.url("taskforge")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nul_input_is_a_422_of_its_own_on_sqlite() {
    let _serial = crate::SERIAL.lock().await;
    let path = std::env::temp_dir().join(format!("tf-faults-{}.db", uuid::Uuid::new_v4()));
    nul_input_is_its_own_422(&format!("sqlite://{}", path.display())).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
