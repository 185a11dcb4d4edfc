//! `TaskRepository` writes: inserts, conditional updates and deletes, alone and in
//! parallel.

use super::*;

// Tasks
// ---------------------------------------------------------------------------------------

async fn inserted_task_is_found_by_id_unchanged(db: TestDb) {
    let owner = insert_user(&db, "owner@example.com", Role::User).await;
    let mut task = new_task(owner.id, "Write the report");
    task.description = description("Quarterly, with charts");
    task.priority = Priority::High;
    task.due_date = Some(at(3600));
    task.set_status(TaskStatus::Done, at(10));
    task.created_at = at(0);
    task.updated_at = at(10);
    insert_task(&db, &task).await;

    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), Some(task));
    assert_eq!(db.tasks.find_by_id(Uuid::now_v7()).await.unwrap(), None);
}

async fn task_for_a_missing_owner_is_not_found(db: TestDb) {
    let task = new_task(Uuid::now_v7(), "orphan");
    assert_not_found(db.tasks.insert(&task, &log_created(&task)).await);
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), None);
}

async fn update_with_the_current_version_writes_every_field(db: TestDb) {
    let owner = insert_user(&db, "o1@example.com", Role::User).await;
    let new_owner = insert_user(&db, "o2@example.com", Role::User).await;
    let task = new_task(owner.id, "before");
    insert_task(&db, &task).await;

    let mut changed = task.clone();
    changed.owner_id = new_owner.id;
    changed.title = Title::parse("AFTER").unwrap();
    changed.description = description("Now described");
    changed.priority = Priority::Low;
    changed.due_date = Some(at(500));
    changed.set_status(TaskStatus::InProgress, at(20));
    changed.updated_at = at(20);
    changed.version = 2;
    db.tasks
        .update(&changed, 1, &log_updated(&task, &changed))
        .await
        .unwrap();
    assert_eq!(
        db.tasks.find_by_id(task.id).await.unwrap(),
        Some(changed.clone())
    );

    // The search copies follow the new texts.
    let found = db
        .tasks
        .list(
            &TaskFilter {
                q: Some("after".into()),
                ..TaskFilter::default()
            },
            TaskSort::default(),
            all(),
        )
        .await
        .unwrap();
    assert_eq!(found.items, vec![changed.clone()]);
    let stale = db
        .tasks
        .list(
            &TaskFilter {
                q: Some("before".into()),
                ..TaskFilter::default()
            },
            TaskSort::default(),
            all(),
        )
        .await
        .unwrap();
    assert_eq!(stale.total, 0);

    // Clearing optional fields clears them.
    let mut cleared = changed.clone();
    cleared.description = None;
    cleared.due_date = None;
    cleared.version = 3;
    db.tasks
        .update(&cleared, 2, &log_updated(&changed, &cleared))
        .await
        .unwrap();
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), Some(cleared));
}

async fn stale_version_update_is_precondition_failed_and_changes_nothing(db: TestDb) {
    let owner = insert_user(&db, "stale@example.com", Role::User).await;
    let task = new_task(owner.id, "original");
    insert_task(&db, &task).await;

    let mut changed = task.clone();
    changed.title = Title::parse("overwritten").unwrap();
    changed.version = 3;
    assert_precondition_failed(
        db.tasks
            .update(&changed, 2, &log_updated(&task, &changed))
            .await,
    );
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), Some(task));
}

async fn updating_a_missing_task_is_not_found(db: TestDb) {
    let owner = insert_user(&db, "missing@example.com", Role::User).await;
    let task = new_task(owner.id, "never stored");
    assert_not_found(db.tasks.update(&task, 1, &log_updated(&task, &task)).await);
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), None);
}

async fn reassigning_a_task_to_a_missing_owner_is_not_found_and_changes_nothing(db: TestDb) {
    let owner = insert_user(&db, "keeper@example.com", Role::User).await;
    let task = new_task(owner.id, "mine");
    insert_task(&db, &task).await;
    let mut moved = task.clone();
    moved.owner_id = Uuid::now_v7();
    moved.version = 2;
    assert_not_found(
        db.tasks
            .update(&moved, 1, &log_updated(&task, &moved))
            .await,
    );
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), Some(task));
}

async fn parallel_updates_with_one_version_let_exactly_one_win(db: TestDb) {
    // Two tasks, so that on PostgreSQL the writers of both can share a batch, each
    // task's writers then taking their turns in it.
    let owner = insert_user(&db, "race@example.com", Role::User).await;
    let contended = [new_task(owner.id, "contended"), new_task(owner.id, "also")];
    for task in &contended {
        insert_task(&db, task).await;
    }

    let mut racers = JoinSet::new();
    for i in 0..8 {
        for task in &contended {
            let tasks = db.tasks.clone();
            let mut mine = task.clone();
            mine.title = Title::parse(&format!("writer {i}")).unwrap();
            mine.version = 2;
            let log = log_updated(task, &mine);
            racers.spawn(async move { (mine.clone(), tasks.update(&mine, 1, &log).await) });
        }
    }
    let results = racers.join_all().await;
    for task in &contended {
        let of_task: Vec<_> = results.iter().filter(|(t, _)| t.id == task.id).collect();
        let winners: Vec<&Task> = of_task
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(t, _)| t)
            .collect();
        assert_eq!(winners.len(), 1, "{of_task:?}");
        for (_, result) in of_task.iter().filter(|(_, r)| r.is_err()) {
            assert!(
                matches!(result, Err(DomainError::PreconditionFailed(_))),
                "{result:?}"
            );
        }
        assert_eq!(
            db.tasks.find_by_id(task.id).await.unwrap().as_ref(),
            Some(winners[0])
        );
    }
}

async fn parallel_updates_of_many_tasks_each_get_the_outcome_of_their_own_row(db: TestDb) {
    let owner = insert_user(&db, "updates@example.com", Role::User).await;
    let mut stored = Vec::new();
    for i in 0..24 {
        let task = new_task(owner.id, &format!("task {i}"));
        insert_task(&db, &task).await;
        stored.push(task);
    }
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Expect {
        Updated,
        Stale,
        Missing,
    }
    let mut running = JoinSet::new();
    for (i, task) in stored.iter().enumerate() {
        let mut changed = task.clone();
        changed.title = Title::parse(&format!("changed {i}")).unwrap();
        changed.version = 2;
        // A stale version changes nothing.
        let (expected_version, expect) = match i % 3 {
            1 => (7, Expect::Stale),
            _ => (1, Expect::Updated),
        };
        let tasks = db.tasks.clone();
        let log = log_updated(task, &changed);
        running.spawn(async move {
            let outcome = tasks.update(&changed, expected_version, &log).await;
            (changed, expect, outcome)
        });
    }
    // An update of a task that does not exist.
    let ghost = new_task(owner.id, "ghost");
    let tasks = db.tasks.clone();
    running.spawn(async move {
        let outcome = tasks.update(&ghost, 1, &log_updated(&ghost, &ghost)).await;
        (ghost, Expect::Missing, outcome)
    });
    for (changed, expect, outcome) in running.join_all().await {
        let now_stored = db.tasks.find_by_id(changed.id).await.unwrap();
        match expect {
            Expect::Updated => {
                outcome.unwrap();
                assert_eq!(now_stored, Some(changed));
            }
            Expect::Stale => {
                assert_precondition_failed(outcome);
                assert_eq!(now_stored.unwrap().version, 1);
            }
            Expect::Missing => {
                assert_not_found(outcome);
                assert!(now_stored.is_none_or(|t| t.version == 1));
            }
        }
    }
}

async fn an_update_to_a_missing_owner_fails_alone_among_parallel_updates(db: TestDb) {
    let owner = insert_user(&db, "orphaned@example.com", Role::User).await;
    let mut running = JoinSet::new();
    for i in 0..16 {
        let task = new_task(owner.id, &format!("task {i}"));
        insert_task(&db, &task).await;
        let mut changed = task.clone();
        changed.version = 2;
        let orphaned = i == 5;
        if orphaned {
            changed.owner_id = Uuid::now_v7(); // no such user
        }
        let tasks = db.tasks.clone();
        let log = log_updated(&task, &changed);
        running.spawn(async move {
            (
                changed.clone(),
                orphaned,
                tasks.update(&changed, 1, &log).await,
            )
        });
    }
    for (changed, orphaned, outcome) in running.join_all().await {
        let now_stored = db.tasks.find_by_id(changed.id).await.unwrap().unwrap();
        if orphaned {
            assert_not_found(outcome);
            assert_eq!(now_stored.version, 1);
        } else {
            outcome.unwrap();
            assert_eq!(now_stored, changed);
        }
    }
}

async fn chains_of_parallel_updates_apply_every_step_in_turn(db: TestDb) {
    // Each writer holds the version the one before it writes: all of them queue at
    // once, and each must still find exactly the version it expects.
    let owner = insert_user(&db, "chain@example.com", Role::User).await;
    let task = new_task(owner.id, "chain");
    insert_task(&db, &task).await;
    let mut running = JoinSet::new();
    for step in 1..=10 {
        let tasks = db.tasks.clone();
        let mut next = task.clone();
        next.version = step + 1;
        next.title = Title::parse(&format!("step {step}")).unwrap();
        let log = log_updated(&task, &next);
        running.spawn(async move {
            // A writer whose predecessor has not landed yet retries, as the domain does.
            for _ in 0..1000 {
                match tasks.update(&next, step, &log).await {
                    Err(DomainError::PreconditionFailed(_)) => {
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                    other => return other,
                }
            }
            panic!("step {step} never found version {step}");
        });
    }
    for outcome in running.join_all().await {
        outcome.unwrap();
    }
    let last = db.tasks.find_by_id(task.id).await.unwrap().unwrap();
    assert_eq!((last.version, last.title.as_str()), (11, "step 10"));
}

async fn delete_without_version_removes_the_task_and_a_second_is_not_found(db: TestDb) {
    let owner = insert_user(&db, "del@example.com", Role::User).await;
    let task = new_task(owner.id, "to delete");
    insert_task(&db, &task).await;
    let log = log_deleted(&task);
    db.tasks.delete(task.id, None, &log).await.unwrap();
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), None);
    assert_not_found(db.tasks.delete(task.id, None, &log).await);
    assert_not_found(db.tasks.delete(task.id, Some(1), &log).await);
}

async fn delete_with_the_current_version_removes_the_task(db: TestDb) {
    let owner = insert_user(&db, "delv@example.com", Role::User).await;
    let mut task = new_task(owner.id, "versioned");
    task.version = 4;
    insert_task(&db, &task).await;
    db.tasks
        .delete(task.id, Some(4), &log_deleted(&task))
        .await
        .unwrap();
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), None);
}

async fn delete_with_a_stale_version_is_precondition_failed_and_keeps_the_task(db: TestDb) {
    let owner = insert_user(&db, "dels@example.com", Role::User).await;
    let task = new_task(owner.id, "keep me");
    insert_task(&db, &task).await;
    assert_precondition_failed(db.tasks.delete(task.id, Some(2), &log_deleted(&task)).await);
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), Some(task));
}

async fn parallel_deletes_let_exactly_one_win_and_the_rest_are_not_found(db: TestDb) {
    let owner = insert_user(&db, "pdel@example.com", Role::User).await;
    for expected_version in [None, Some(1)] {
        let task = new_task(owner.id, "contended delete");
        insert_task(&db, &task).await;
        let mut racers = JoinSet::new();
        for _ in 0..8 {
            let tasks = db.tasks.clone();
            let log = log_deleted(&task);
            racers.spawn(async move { tasks.delete(task.id, expected_version, &log).await });
        }
        let results = racers.join_all().await;
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        for result in results.into_iter().filter(Result::is_err) {
            assert_not_found(result);
        }
        assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), None);
    }
}

contract!(
    inserted_task_is_found_by_id_unchanged,
    task_for_a_missing_owner_is_not_found,
    update_with_the_current_version_writes_every_field,
    stale_version_update_is_precondition_failed_and_changes_nothing,
    updating_a_missing_task_is_not_found,
    reassigning_a_task_to_a_missing_owner_is_not_found_and_changes_nothing,
    parallel_updates_with_one_version_let_exactly_one_win,
    parallel_updates_of_many_tasks_each_get_the_outcome_of_their_own_row,
    an_update_to_a_missing_owner_fails_alone_among_parallel_updates,
    chains_of_parallel_updates_apply_every_step_in_turn,
    delete_without_version_removes_the_task_and_a_second_is_not_found,
    delete_with_the_current_version_removes_the_task,
    delete_with_a_stale_version_is_precondition_failed_and_keeps_the_task,
    parallel_deletes_let_exactly_one_win_and_the_rest_are_not_found,
);
