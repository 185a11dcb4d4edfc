//! Concurrent calls, each of which must get exactly the answer of its own arguments and
//! never an older one (on the fast path these share batched statements).

use super::*;

// On PostgreSQL the server's repositories answer concurrent lookups and identical
// pages together (batches of one statement); each caller must still get exactly the
// answer of its own arguments, never an older one.

async fn parallel_session_checks_and_task_reads_each_get_the_answer_of_their_own_key(db: TestDb) {
    let alice = insert_user(&db, "batch-a@example.com", Role::User).await;
    let bob = insert_user(&db, "batch-b@example.com", Role::Admin).await;
    let alice_session = insert_session(&db, alice.id).await;
    let bob_session = insert_session(&db, bob.id).await;
    let revoked = insert_session(&db, alice.id).await;
    db.sessions.revoke(revoked.id, now()).await.unwrap();
    let alice_task = new_task(alice.id, "alice's");
    let bob_task = new_task(bob.id, "bob's");
    insert_task(&db, &alice_task).await;
    insert_task(&db, &bob_task).await;
    // A session id that is a task's id, and a task id that is a session's: each kind
    // of key must find only its own kind.
    let sessions: Vec<(Uuid, Option<User>)> = vec![
        (alice_session.id, Some(alice.clone())),
        (bob_session.id, Some(bob.clone())),
        (revoked.id, None),
        (alice_task.id, None),
        (Uuid::now_v7(), None),
    ];
    let tasks: Vec<(Uuid, Option<Task>)> = vec![
        (alice_task.id, Some(alice_task.clone())),
        (bob_task.id, Some(bob_task.clone())),
        (alice_session.id, None),
        (Uuid::now_v7(), None),
    ];
    let mut running = JoinSet::new();
    for round in 0..20 {
        for (session_id, expected) in sessions.clone() {
            let repository = db.sessions.clone();
            running.spawn(async move {
                let found = repository.find_session_user(session_id).await.unwrap();
                assert_eq!(found, expected, "round {round}: session {session_id}");
            });
        }
        for (task_id, expected) in tasks.clone() {
            let repository = db.tasks.clone();
            running.spawn(async move {
                let found = repository.find_by_id(task_id).await.unwrap();
                assert_eq!(found, expected, "round {round}: task {task_id}");
            });
        }
    }
    running.join_all().await;
}

async fn parallel_lists_each_get_their_own_page(db: TestDb) {
    let alice = insert_user(&db, "pages-a@example.com", Role::User).await;
    let bob = insert_user(&db, "pages-b@example.com", Role::User).await;
    let mut done = 0;
    for (owner, count) in [(alice.id, 7), (bob.id, 3)] {
        for i in 0..count {
            let mut task = new_task(owner, &format!("task {i}"));
            if i % 2 == 0 {
                task.status = TaskStatus::Done;
                done += 1;
            }
            insert_task(&db, &task).await;
        }
    }
    assert_eq!(done, 6);
    let mut running = JoinSet::new();
    for round in 0..20 {
        for (owner, status, limit, items, total) in [
            (alice.id, None, 5, 5, 7),
            (alice.id, None, 20, 7, 7),
            (alice.id, Some(TaskStatus::Done), 20, 4, 4),
            (bob.id, None, 20, 3, 3),
            (bob.id, Some(TaskStatus::Done), 1, 1, 2),
        ] {
            let tasks = db.tasks.clone();
            running.spawn(async move {
                let filter = TaskFilter {
                    owner_id: Some(owner),
                    status,
                    ..TaskFilter::default()
                };
                let page = tasks
                    .list(&filter, TaskSort::default(), page(limit, 0))
                    .await
                    .unwrap();
                let what = format!("round {round}: owner {owner}, {status:?}, limit {limit}");
                assert_eq!((page.items.len(), page.total), (items, total), "{what}");
                assert!(page.items.iter().all(|t| t.owner_id == owner), "{what}");
                assert!(
                    page.items
                        .iter()
                        .all(|t| status.is_none_or(|s| t.status == s)),
                    "{what}"
                );
            });
        }
    }
    running.join_all().await;
}

async fn parallel_inserts_each_get_the_outcome_of_their_own_row(db: TestDb) {
    let owner = insert_user(&db, "inserts@example.com", Role::User).await;
    let gone = Uuid::now_v7(); // no such user
    let twice = new_task(owner.id, "inserted twice");
    let mut running = JoinSet::new();
    for i in 0..40 {
        let tasks = db.tasks.clone();
        let (task, should_work) = match i % 8 {
            // An owner that does not exist fails its own insert only.
            3 => (new_task(gone, &format!("orphan {i}")), false),
            _ => (new_task(owner.id, &format!("task {i}")), true),
        };
        running.spawn(async move {
            let log = log_created(&task);
            (task.clone(), should_work, tasks.insert(&task, &log).await)
        });
    }
    for _ in 0..2 {
        let (tasks, task) = (db.tasks.clone(), twice.clone());
        running.spawn(async move {
            let log = log_created(&task);
            (task.clone(), true, tasks.insert(&task, &log).await)
        });
    }
    let mut twice_outcomes = Vec::new();
    for (task, should_work, outcome) in running.join_all().await {
        if task.id == twice.id {
            twice_outcomes.push(outcome);
        } else if should_work {
            outcome.unwrap();
            assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), Some(task));
        } else {
            assert_not_found(outcome);
            assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), None);
        }
    }
    // Of two inserts of one id exactly one is stored; the other is a conflict.
    let stored = twice_outcomes
        .iter()
        .filter(|outcome| outcome.is_ok())
        .count();
    assert_eq!(stored, 1, "{twice_outcomes:?}");
    assert!(
        twice_outcomes
            .iter()
            .any(|outcome| matches!(outcome, Err(DomainError::Conflict(_)))),
        "{twice_outcomes:?}"
    );
    assert_eq!(db.tasks.find_by_id(twice.id).await.unwrap(), Some(twice));
}

async fn a_task_written_before_a_list_is_in_it_while_others_list_the_same_page(db: TestDb) {
    let user = insert_user(&db, "fresh@example.com", Role::User).await;
    let filter = TaskFilter {
        owner_id: Some(user.id),
        ..TaskFilter::default()
    };
    // Others keep asking for the very page the writer reads back, so that its reads
    // queue behind theirs and are answered together with them.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = JoinSet::new();
    for _ in 0..8 {
        let (tasks, filter, stop) = (db.tasks.clone(), filter.clone(), stop.clone());
        readers.spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tasks
                    .list(&filter, TaskSort::default(), all())
                    .await
                    .unwrap();
            }
        });
    }
    for i in 0..30 {
        let task = new_task(user.id, &format!("written {i}"));
        insert_task(&db, &task).await;
        let listed = db
            .tasks
            .list(&filter, TaskSort::default(), all())
            .await
            .unwrap();
        assert_eq!(listed.total, i + 1);
        assert!(
            listed.items.iter().any(|t| t.id == task.id),
            "write {i} missing"
        );

        let mut changed = task.clone();
        changed.version = 2;
        changed.title = Title::parse("changed").unwrap();
        db.tasks
            .update(&changed, 1, &log_updated(&task, &changed))
            .await
            .unwrap();
        let listed = db
            .tasks
            .list(&filter, TaskSort::default(), all())
            .await
            .unwrap();
        let read_back = listed.items.iter().find(|t| t.id == task.id).unwrap();
        assert_eq!(read_back.version, 2, "update {i} not seen");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    readers.join_all().await;
}

contract!(
    parallel_session_checks_and_task_reads_each_get_the_answer_of_their_own_key,
    parallel_lists_each_get_their_own_page,
    parallel_inserts_each_get_the_outcome_of_their_own_row,
    a_task_written_before_a_list_is_in_it_while_others_list_the_same_page,
);
