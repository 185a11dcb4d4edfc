//! Taskforge's rules without HTTP, SQL or cryptography: register two users, log in,
//! create, change and list tasks, and watch the rules refuse what they must.
//!
//! ```sh
//! cargo run -p taskforge-domain --example in_memory --features testing
//! ```

use taskforge_domain::DomainError;
use taskforge_domain::idempotency::{Idempotency, IdempotencyKey};
use taskforge_domain::page::{ListRequest, PageRequest};
use taskforge_domain::task::{
    Precondition, TaskDraft, TaskFilter, TaskPatch, TaskScope, TaskSort, TaskStatus, Title,
};
use taskforge_domain::testing::Fixture;
use taskforge_domain::user::{Email, NewAccount, Password, Role};

fn account(email: &str) -> Result<NewAccount, DomainError> {
    Ok(NewAccount {
        email: Email::parse(email)?,
        password: Password::parse("correct horse")?,
        username: None,
        full_name: None,
        role: Role::User,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), DomainError> {
    let app = Fixture::new();

    let ada = app
        .users
        .register(account("ada@example.com")?, None)
        .await?;
    let bob = app
        .users
        .register(account("bob@example.com")?, None)
        .await?;
    println!(
        "registered {} ({}) and {}",
        ada.email.as_str(),
        ada.id,
        bob.email.as_str()
    );

    // Logging in starts a session; the access token names it.
    let tokens = app.auth.login("ada@example.com", "correct horse").await?;
    let me = app.auth.authenticate(&tokens.access_token).await?;
    println!("logged in as {}", me.email.as_str());

    // Sent with an idempotency key, a create is done once however often it is retried.
    let once = Idempotency {
        key: IdempotencyKey::parse("create-the-report")?,
        fingerprint: "POST /api/v1/tasks {\"title\":\"Write the report\"}".to_owned(),
    };
    let draft = || Title::parse("Write the report").map(TaskDraft::new);
    let report = app
        .tasks
        .create(&me, TaskScope::Visible, draft()?, Some(&once))
        .await?
        .value;
    println!(
        "created {:?} at version {}",
        report.title.as_str(),
        report.version
    );
    let retried = app
        .tasks
        .create(&me, TaskScope::Visible, draft()?, Some(&once))
        .await?;
    println!(
        "retried: the same task ({}), replayed: {}",
        retried.value.id == report.id,
        retried.replayed
    );

    // A write that names the version it read; a stale one changes nothing.
    let patch = TaskPatch {
        status: Some(TaskStatus::InProgress),
        ..TaskPatch::default()
    };
    let started = app
        .tasks
        .patch(
            &me,
            TaskScope::Visible,
            report.id,
            Some(Precondition::Versions(vec![1])),
            patch.clone(),
            None,
        )
        .await?
        .value;
    println!(
        "now {} at version {}",
        started.status.as_str(),
        started.version
    );
    let stale = app
        .tasks
        .patch(
            &me,
            TaskScope::Visible,
            report.id,
            Some(Precondition::Versions(vec![1])),
            patch,
            None,
        )
        .await;
    println!("the same change with the old version: {stale:?}");

    // Another user cannot see it: "not found", not "forbidden".
    let hidden = app.tasks.get(&bob, TaskScope::Visible, report.id).await;
    println!("bob reads ada's task: {hidden:?}");

    let done = app
        .tasks
        .toggle_complete(&me, TaskScope::Visible, report.id, None, None)
        .await?
        .value;
    println!(
        "toggled: {} (completed at {:?})",
        done.status.as_str(),
        done.completed_at
    );

    let page = app
        .tasks
        .list(
            &me,
            TaskScope::Visible,
            TaskFilter::default(),
            TaskSort::default(),
            &ListRequest::default(),
        )
        .await?;
    println!("ada's list: {} task(s) of {}", page.items.len(), page.total);

    // Every write left an event in the change log: a task's history, field by field.
    let history = app
        .tasks
        .history(&me, TaskScope::Visible, report.id, PageRequest::default())
        .await?;
    for event in history.items {
        let fields: Vec<&str> = event
            .change
            .changes
            .iter()
            .map(|c| c.field.as_str())
            .collect();
        println!(
            "  v{} {:?}: {}",
            event.change.version,
            event.change.op,
            fields.join(", ")
        );
    }

    // Logging out everywhere revokes the access token at once.
    app.auth.logout_everywhere(me.id).await?;
    let after = app.auth.authenticate(&tokens.access_token).await;
    println!("the old token after logout: {after:?}");
    Ok(())
}
