//! Idempotency keys (`IdempotencyRepository`): claimed once, completed by the write
//! they guard (in its transaction, through `WriteLog::completion`), given back when
//! the write fails, taken again once stale or expired, purged.

use super::*;

/// The fingerprint of a request, and of another one.
const REQUEST: &str = "POST /api/v1/tasks 5f0c…";
const OTHER_REQUEST: &str = "POST /api/v1/tasks 77aa…";

fn key(raw: &str) -> IdempotencyKey {
    IdempotencyKey::parse(raw).expect("valid key")
}

/// Claims `key` at `when`, for a day, counting claims older than ten minutes as stale.
async fn claim_at(
    db: &TestDb,
    user: Uuid,
    key: &IdempotencyKey,
    fingerprint: &str,
    when: DateTime<Utc>,
) -> Claim {
    db.idempotency
        .claim(
            user,
            key,
            fingerprint,
            when,
            when + TimeDelta::days(1),
            when - TimeDelta::minutes(10),
        )
        .await
        .expect("claim")
}

async fn claim(db: &TestDb, user: Uuid, key: &IdempotencyKey, fingerprint: &str) -> Claim {
    claim_at(db, user, key, fingerprint, now()).await
}

/// A write's log that completes `key` of `user` with `outcome`.
fn completing(
    change: TaskChange,
    user: Uuid,
    key: &IdempotencyKey,
    outcome: IdempotentOutcome,
) -> WriteLog {
    WriteLog {
        change,
        completion: Some(Completion {
            user_id: user,
            key: key.clone(),
            outcome,
        }),
    }
}

fn task_outcome(task: &Task) -> IdempotentOutcome {
    IdempotentOutcome::Task(Box::new(task.clone()))
}

/// Inserts `task`, created by its owner, in the transaction that completes the owner's
/// `key` with it.
async fn insert_completing(db: &TestDb, task: &Task, key: &IdempotencyKey) {
    db.tasks
        .insert(
            task,
            &completing(
                TaskChange::created(task, task.owner_id),
                task.owner_id,
                key,
                task_outcome(task),
            ),
        )
        .await
        .expect("insert a task that completes its key");
}

async fn a_free_key_is_claimed_once_and_then_found_running_or_used_for_another_request(db: TestDb) {
    let alice = insert_user(&db, "key-alice@example.com", Role::User).await;
    let bob = insert_user(&db, "key-bob@example.com", Role::User).await;
    let k = key("create-1");
    assert_eq!(claim(&db, alice.id, &k, REQUEST).await, Claim::Claimed);
    assert_eq!(claim(&db, alice.id, &k, REQUEST).await, Claim::InProgress);
    assert_eq!(
        claim(&db, alice.id, &k, OTHER_REQUEST).await,
        Claim::Mismatch
    );
    // Keys are per user, and per key.
    assert_eq!(claim(&db, bob.id, &k, OTHER_REQUEST).await, Claim::Claimed);
    assert_eq!(
        claim(&db, alice.id, &key("create-2"), REQUEST).await,
        Claim::Claimed
    );
    assert_eq!(claim(&db, alice.id, &k, REQUEST).await, Claim::InProgress);
    assert_eq!(
        claim(&db, bob.id, &k, OTHER_REQUEST).await,
        Claim::InProgress
    );
    assert_eq!(claim(&db, bob.id, &k, REQUEST).await, Claim::Mismatch);
}

async fn a_write_completes_its_key_with_its_outcome_in_its_own_transaction(db: TestDb) {
    let alice = insert_user(&db, "done@example.com", Role::User).await;
    let (create, update, delete) = (key("c"), key("u"), key("d"));
    for k in [&create, &update, &delete] {
        assert_eq!(claim(&db, alice.id, k, REQUEST).await, Claim::Claimed);
    }

    let mut task = new_task(alice.id, "created under a key");
    task.description = description("every field, so that every field comes back");
    task.priority = Priority::Low;
    task.due_date = Some(at(86_400));
    insert_completing(&db, &task, &create).await;
    assert_eq!(
        claim(&db, alice.id, &create, REQUEST).await,
        Claim::Done(task_outcome(&task))
    );

    let mut changed = task.clone();
    changed.set_status(TaskStatus::Done, at(40));
    changed.updated_at = at(40);
    changed.version = 2;
    db.tasks
        .update(
            &changed,
            1,
            &completing(
                TaskChange::updated(&task, &changed, alice.id),
                alice.id,
                &update,
                task_outcome(&changed),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        claim(&db, alice.id, &update, REQUEST).await,
        Claim::Done(task_outcome(&changed))
    );

    db.tasks
        .delete(
            task.id,
            Some(2),
            &completing(
                TaskChange::deleted(&changed, alice.id, now()),
                alice.id,
                &delete,
                IdempotentOutcome::Deleted,
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        claim(&db, alice.id, &delete, REQUEST).await,
        Claim::Done(IdempotentOutcome::Deleted)
    );

    // Each outcome stays what it was; another request with a done key is refused.
    assert_eq!(
        claim(&db, alice.id, &create, REQUEST).await,
        Claim::Done(task_outcome(&task))
    );
    assert_eq!(
        claim(&db, alice.id, &create, OTHER_REQUEST).await,
        Claim::Mismatch
    );
    assert_eq!(
        claim(&db, alice.id, &delete, OTHER_REQUEST).await,
        Claim::Mismatch
    );
}

async fn a_write_that_fails_leaves_its_key_running_until_it_is_given_back(db: TestDb) {
    let alice = insert_user(&db, "failed@example.com", Role::User).await;
    let task = new_task(alice.id, "stays at version one");
    insert_task(&db, &task).await;
    let (stale, missing, orphan) = (key("stale"), key("missing"), key("orphan"));
    for k in [&stale, &missing, &orphan] {
        assert_eq!(claim(&db, alice.id, k, REQUEST).await, Claim::Claimed);
    }

    let mut changed = task.clone();
    changed.version = 6;
    assert_precondition_failed(
        db.tasks
            .update(
                &changed,
                5,
                &completing(
                    TaskChange::updated(&task, &changed, alice.id),
                    alice.id,
                    &stale,
                    task_outcome(&changed),
                ),
            )
            .await,
    );
    assert_not_found(
        db.tasks
            .delete(
                Uuid::now_v7(),
                None,
                &completing(
                    TaskChange::deleted(&task, alice.id, now()),
                    alice.id,
                    &missing,
                    IdempotentOutcome::Deleted,
                ),
            )
            .await,
    );
    let nobodys = new_task(Uuid::now_v7(), "no owner");
    assert_not_found(
        db.tasks
            .insert(
                &nobodys,
                &completing(
                    TaskChange::created(&nobodys, alice.id),
                    alice.id,
                    &orphan,
                    task_outcome(&nobodys),
                ),
            )
            .await,
    );
    for k in [&stale, &missing, &orphan] {
        assert_eq!(claim(&db, alice.id, k, REQUEST).await, Claim::InProgress);
        db.idempotency.release(alice.id, k).await.unwrap();
        assert_eq!(claim(&db, alice.id, k, OTHER_REQUEST).await, Claim::Claimed);
    }
}

async fn release_frees_a_running_key_but_not_a_done_one(db: TestDb) {
    let alice = insert_user(&db, "release@example.com", Role::User).await;
    let bob = insert_user(&db, "release-bob@example.com", Role::User).await;
    let (running, done) = (key("running"), key("done"));
    assert_eq!(
        claim(&db, alice.id, &running, REQUEST).await,
        Claim::Claimed
    );
    assert_eq!(claim(&db, alice.id, &done, REQUEST).await, Claim::Claimed);
    assert_eq!(claim(&db, bob.id, &running, REQUEST).await, Claim::Claimed);
    let task = new_task(alice.id, "done under a key");
    insert_completing(&db, &task, &done).await;

    db.idempotency.release(alice.id, &running).await.unwrap();
    db.idempotency.release(alice.id, &done).await.unwrap();
    // Releasing what is not there is fine.
    db.idempotency
        .release(alice.id, &key("never-claimed"))
        .await
        .unwrap();
    assert_eq!(
        claim(&db, alice.id, &running, OTHER_REQUEST).await,
        Claim::Claimed
    );
    assert_eq!(
        claim(&db, alice.id, &done, REQUEST).await,
        Claim::Done(task_outcome(&task))
    );
    // Another user's key of the same name is theirs.
    assert_eq!(
        claim(&db, bob.id, &running, REQUEST).await,
        Claim::InProgress
    );
}

async fn a_completion_for_a_key_not_claimed_stores_nothing(db: TestDb) {
    let alice = insert_user(&db, "unclaimed@example.com", Role::User).await;
    let k = key("not-claimed");
    let task = new_task(alice.id, "written anyway");
    insert_completing(&db, &task, &k).await;
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), Some(task));
    assert_eq!(claim(&db, alice.id, &k, REQUEST).await, Claim::Claimed);
}

async fn a_key_claimed_before_stale_before_and_never_finished_can_be_claimed_again(db: TestDb) {
    let alice = insert_user(&db, "stale-key@example.com", Role::User).await;
    let (k, finished) = (key("abandoned"), key("finished"));
    let claim_with = |k: IdempotencyKey, fingerprint: &'static str, when: i64, stale: i64| {
        let repository = db.idempotency.clone();
        async move {
            repository
                .claim(
                    alice.id,
                    &k,
                    fingerprint,
                    at(when),
                    at(when + 86_400),
                    at(stale),
                )
                .await
                .unwrap()
        }
    };
    assert_eq!(
        claim_with(k.clone(), REQUEST, 0, -600).await,
        Claim::Claimed
    );
    // Claimed at 0: not stale for claims counting from 0 on...
    assert_eq!(
        claim_with(k.clone(), REQUEST, 300, 0).await,
        Claim::InProgress
    );
    assert_eq!(
        claim_with(k.clone(), OTHER_REQUEST, 300, 0).await,
        Claim::Mismatch
    );
    // ...stale for those counting from later: taken again, by whichever request.
    assert_eq!(
        claim_with(k.clone(), OTHER_REQUEST, 700, 1).await,
        Claim::Claimed
    );
    assert_eq!(
        claim_with(k.clone(), OTHER_REQUEST, 710, 100).await,
        Claim::InProgress
    );
    assert_eq!(
        claim_with(k.clone(), REQUEST, 710, 100).await,
        Claim::Mismatch
    );

    // A finished key is never stale, only expired.
    assert_eq!(
        claim_with(finished.clone(), REQUEST, 0, -600).await,
        Claim::Claimed
    );
    let task = new_task(alice.id, "finished");
    insert_completing(&db, &task, &finished).await;
    assert_eq!(
        claim_with(finished.clone(), REQUEST, 5000, 4000).await,
        Claim::Done(task_outcome(&task))
    );
}

async fn expired_keys_are_claimed_again_and_purged(db: TestDb) {
    let alice = insert_user(&db, "expired@example.com", Role::User).await;
    let claim_until = |k: &'static str, fingerprint: &'static str, when: i64, until: i64| {
        let repository = db.idempotency.clone();
        async move {
            repository
                .claim(
                    alice.id,
                    &key(k),
                    fingerprint,
                    at(when),
                    at(until),
                    at(when - 600),
                )
                .await
                .unwrap()
        }
    };
    // A finished key that expires at 100, a running one at 50, one that lasts.
    assert_eq!(claim_until("done", REQUEST, 0, 100).await, Claim::Claimed);
    let task = new_task(alice.id, "done, then expired");
    insert_completing(&db, &task, &key("done")).await;
    assert_eq!(claim_until("running", REQUEST, 0, 50).await, Claim::Claimed);
    assert_eq!(
        claim_until("lasting", REQUEST, 0, 10_000).await,
        Claim::Claimed
    );

    assert_eq!(
        claim_until("done", REQUEST, 99, 1000).await,
        Claim::Done(task_outcome(&task))
    );
    assert_eq!(
        claim_until("running", REQUEST, 49, 1000).await,
        Claim::InProgress
    );
    // Expired (at their expiry or after): free again, for any request.
    assert_eq!(
        claim_until("done", OTHER_REQUEST, 100, 1000).await,
        Claim::Claimed
    );
    assert_eq!(
        claim_until("running", OTHER_REQUEST, 60, 1000).await,
        Claim::Claimed
    );
    assert_eq!(
        claim_until("done", OTHER_REQUEST, 101, 1000).await,
        Claim::InProgress
    );

    // Purging at 999 keeps all three (1000, 1000, 10 000); at 1000, two go.
    assert_eq!(db.idempotency.purge(at(999)).await.unwrap(), 0);
    assert_eq!(db.idempotency.purge(at(1000)).await.unwrap(), 2);
    assert_eq!(db.idempotency.purge(at(1000)).await.unwrap(), 0);
    // Purged keys are free; the lasting one is still held.
    assert_eq!(
        claim_until("done", REQUEST, 1001, 2000).await,
        Claim::Claimed
    );
    assert_eq!(
        claim_until("running", REQUEST, 1001, 2000).await,
        Claim::Claimed
    );
    assert_eq!(
        claim_until("lasting", OTHER_REQUEST, 500, 2000).await,
        Claim::Mismatch
    );
}

async fn parallel_claims_of_one_key_let_exactly_one_claim_it(db: TestDb) {
    const CLAIMS: usize = 16;
    let alice = insert_user(&db, "parallel-keys@example.com", Role::User).await;
    // Free keys; an expired done key; a stale running one: each taken exactly once.
    let expired = key("expired");
    assert_eq!(
        claim_at(&db, alice.id, &expired, REQUEST, at(0)).await,
        Claim::Claimed
    );
    let task = new_task(alice.id, "expired outcome");
    insert_completing(&db, &task, &expired).await;
    let stale = key("stale");
    assert_eq!(
        claim_at(&db, alice.id, &stale, REQUEST, at(0)).await,
        Claim::Claimed
    );

    let mut contended: Vec<IdempotencyKey> = (0..8).map(|i| key(&format!("free-{i}"))).collect();
    contended.push(expired);
    contended.push(stale);
    let when = now();
    for k in contended {
        for fingerprints in [vec![REQUEST], vec![REQUEST, OTHER_REQUEST]] {
            let k = if fingerprints.len() == 1 {
                k.clone()
            } else {
                key(&format!("{}-mixed", k.as_str()))
            };
            let mut racers = JoinSet::new();
            for i in 0..CLAIMS {
                let repository = db.idempotency.clone();
                let (k, fingerprint) = (k.clone(), fingerprints[i % fingerprints.len()]);
                racers.spawn(async move {
                    let claim = repository
                        .claim(
                            alice.id,
                            &k,
                            fingerprint,
                            when,
                            when + TimeDelta::days(1),
                            when - TimeDelta::minutes(10),
                        )
                        .await
                        .unwrap();
                    (fingerprint, claim)
                });
            }
            let claims = racers.join_all().await;
            let winners: Vec<&str> = claims
                .iter()
                .filter(|(_, claim)| *claim == Claim::Claimed)
                .map(|(fingerprint, _)| *fingerprint)
                .collect();
            assert_eq!(winners.len(), 1, "{}: {claims:?}", k.as_str());
            for (fingerprint, claim) in claims.iter().filter(|(_, c)| *c != Claim::Claimed) {
                let expected = if *fingerprint == winners[0] {
                    Claim::InProgress
                } else {
                    Claim::Mismatch
                };
                assert_eq!(claim, &expected, "{}: {claims:?}", k.as_str());
            }
        }
    }
}

/// A purge chooses expired keys, then deletes them; a key that another request claims
/// again in between (its expiry moved on, committed while the purge waits for its row)
/// must survive, or that request's write would complete a key that is gone and a
/// retry would run it a second time.
async fn a_key_claimed_again_while_a_purge_runs_survives_it(db: TestDb) {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
    use sea_orm::{StatementBuilder, TransactionTrait};

    let alice = insert_user(&db, "purged-meanwhile@example.com", Role::User).await;
    for (k, until) in [("taken-again", 100), ("left-expired", 100)] {
        let claim = db
            .idempotency
            .claim(alice.id, &key(k), REQUEST, at(0), at(until), at(-600))
            .await
            .unwrap();
        assert_eq!(claim, Claim::Claimed);
    }
    let Storage::Sql(conn) = &db.storage else {
        panic!("SQL backends only");
    };
    let backend = conn.get_database_backend();
    let count = |k: &'static str| async move {
        let select = Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from(Alias::new("idempotency_keys"))
            .and_where(Expr::col(Alias::new("key")).eq(k))
            .to_owned();
        let row = conn
            .query_one_raw(StatementBuilder::build(&select, &backend))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    };
    // Another request takes "taken-again" over: its row is changed in a transaction
    // that is still open when the purge starts.
    let other = conn.begin().await.unwrap();
    let take_over = Query::update()
        .table(Alias::new("idempotency_keys"))
        .value(Alias::new("expires_at"), at(10_000))
        .and_where(Expr::col(Alias::new("key")).eq("taken-again"))
        .to_owned();
    other
        .execute_raw(StatementBuilder::build(&take_over, &backend))
        .await
        .unwrap();
    let purge = tokio::spawn({
        let keys = db.idempotency.clone();
        async move { keys.purge(at(1000)).await }
    });
    // The purge waits for the row (PostgreSQL) or for the write lock (SQLite).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    other.commit().await.unwrap();
    assert_eq!(purge.await.unwrap().unwrap(), 1);
    assert_eq!(
        count("taken-again").await,
        1,
        "the key claimed again was purged"
    );
    assert_eq!(count("left-expired").await, 0);
}

mod purging {
    use super::*;

    sql_contract!(a_key_claimed_again_while_a_purge_runs_survives_it);
}

contract!(
    a_free_key_is_claimed_once_and_then_found_running_or_used_for_another_request,
    a_write_completes_its_key_with_its_outcome_in_its_own_transaction,
    a_write_that_fails_leaves_its_key_running_until_it_is_given_back,
    release_frees_a_running_key_but_not_a_done_one,
    a_completion_for_a_key_not_claimed_stores_nothing,
    a_key_claimed_before_stale_before_and_never_finished_can_be_claimed_again,
    expired_keys_are_claimed_again_and_purged,
    parallel_claims_of_one_key_let_exactly_one_claim_it,
);
