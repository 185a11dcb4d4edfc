//! `UserRepository`: uniqueness, credentials, updates with their session effects, the
//! last-admin guard, deletes that cascade, and the admin list.

use super::*;

async fn inserted_user_is_found_by_id_and_by_email_unchanged(db: TestDb) {
    let mut user = new_user("Alice@Example.com", Some("Alice_1"), Role::Admin);
    user.created_at = at(0);
    user.updated_at = at(1);
    db.users.insert(&user, &hash_of("alice")).await.unwrap();

    assert_eq!(
        db.users.find_by_id(user.id).await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(
        db.users.find_by_email("alice@example.com").await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(db.users.find_by_id(Uuid::now_v7()).await.unwrap(), None);
    assert_eq!(
        db.users.find_by_email("bob@example.com").await.unwrap(),
        None
    );

    // Optional fields left empty come back empty.
    let mut bare = new_user("bare@example.com", None, Role::User);
    bare.full_name = None;
    bare.is_active = false;
    db.users.insert(&bare, &hash_of("bare")).await.unwrap();
    assert_eq!(db.users.find_by_id(bare.id).await.unwrap(), Some(bare));
}

async fn credentials_are_found_by_email_and_by_username_in_any_case(db: TestDb) {
    let user = new_user("carol@example.com", Some("Carol.Dev"), Role::User);
    db.users.insert(&user, &hash_of("carol")).await.unwrap();

    for raw in [
        "carol@example.com",
        " CAROL@example.COM ",
        "carol.dev",
        "CAROL.DEV",
        "Carol.Dev",
    ] {
        let found = db
            .users
            .find_credentials(&LoginIdentifier::parse(raw))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{raw} finds carol"));
        assert_eq!(found.user, user);
        assert_eq!(found.password_hash, hash_of("carol"));
    }
    for raw in ["nobody@example.com", "carol", "carol@example"] {
        assert!(
            db.users
                .find_credentials(&LoginIdentifier::parse(raw))
                .await
                .unwrap()
                .is_none(),
            "{raw} finds nobody"
        );
    }
}

async fn password_hash_is_returned_for_a_known_user_only(db: TestDb) {
    let user = insert_user(&db, "dave@example.com", Role::User).await;
    assert_eq!(
        db.users.password_hash(user.id).await.unwrap(),
        Some(hash_of("dave@example.com"))
    );
    assert_eq!(db.users.password_hash(Uuid::now_v7()).await.unwrap(), None);
}

async fn duplicate_email_is_conflict_email_already_registered(db: TestDb) {
    let first = insert_user(&db, "erin@example.com", Role::User).await;
    let second = new_user("erin@example.com", Some("erin2"), Role::User);
    assert_conflict(
        db.users.insert(&second, &hash_of("x")).await,
        "email already registered",
    );
    assert_eq!(db.users.find_by_id(second.id).await.unwrap(), None);
    assert_eq!(
        db.users.find_by_email("erin@example.com").await.unwrap(),
        Some(first)
    );
}

async fn username_differing_only_in_case_is_conflict_username_already_taken(db: TestDb) {
    let first = new_user("frank@example.com", Some("Frank"), Role::User);
    db.users.insert(&first, &hash_of("frank")).await.unwrap();
    let second = new_user("other@example.com", Some("fRANK"), Role::User);
    assert_conflict(
        db.users.insert(&second, &hash_of("x")).await,
        "username already taken",
    );
    assert_eq!(db.users.find_by_id(second.id).await.unwrap(), None);

    // Several users without a username do not clash.
    insert_user(&db, "nousername1@example.com", Role::User).await;
    insert_user(&db, "nousername2@example.com", Role::User).await;
}

async fn parallel_inserts_of_one_email_let_exactly_one_win(db: TestDb) {
    let mut racers = JoinSet::new();
    for i in 0..8 {
        let users = db.users.clone();
        racers.spawn(async move {
            let user = new_user("race@example.com", Some(&format!("racer{i}")), Role::User);
            users.insert(&user, &hash_of("race")).await
        });
    }
    let results = racers.join_all().await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    for result in results.into_iter().filter(Result::is_err) {
        assert_conflict(result, "email already registered");
    }
    let listed = db.users.list(&UserFilter::default(), all()).await.unwrap();
    assert_eq!(listed.total, 1);
}

async fn user_update_writes_every_field_and_keeps_the_password_hash_unless_given(db: TestDb) {
    let user = new_user("gina@example.com", Some("gina"), Role::User);
    db.users.insert(&user, &hash_of("old")).await.unwrap();

    let mut changed = user.clone();
    changed.email = Email::parse("gina.new@example.com").unwrap();
    changed.username = Some(Username::parse("Gina_New").unwrap());
    changed.full_name = None;
    changed.role = Role::Admin;
    changed.is_active = false;
    let stored = db
        .users
        .update(&changed, None, SessionEffect::Keep, at(99))
        .await
        .unwrap();
    // Every field as given, but `updated_at`: the instant of the write.
    assert_eq!(
        stored,
        User {
            updated_at: at(99),
            ..changed.clone()
        }
    );
    assert_eq!(
        db.users.find_by_id(user.id).await.unwrap(),
        Some(stored.clone())
    );
    assert_eq!(
        db.users.password_hash(user.id).await.unwrap(),
        Some(hash_of("old"))
    );
    // The new username is the one logins find, case-insensitively; the old one is free.
    let by_name = db
        .users
        .find_credentials(&LoginIdentifier::parse("gina_new"))
        .await
        .unwrap();
    assert_eq!(by_name.map(|c| c.user.id), Some(user.id));
    assert!(
        db.users
            .find_credentials(&LoginIdentifier::parse("gina"))
            .await
            .unwrap()
            .is_none()
    );

    db.users
        .update(&stored, Some(hash_of("new")), SessionEffect::Keep, now())
        .await
        .unwrap();
    assert_eq!(
        db.users.password_hash(user.id).await.unwrap(),
        Some(hash_of("new"))
    );
}

async fn a_user_written_since_it_was_read_is_a_conflict_and_the_other_write_stays(db: TestDb) {
    let user = new_user("ivy@example.com", None, Role::Admin);
    db.users.insert(&user, &hash_of("old")).await.unwrap();
    let other_admin = new_user("root@example.com", None, Role::Admin);
    db.users.insert(&other_admin, &hash_of("r")).await.unwrap();
    // Two requests read the same version: one demotes and deactivates (an admin), the
    // other renames (the user). The rename, second, must not undo the demotion.
    let read = db.users.find_by_id(user.id).await.unwrap().unwrap();
    let mut demoted = read.clone();
    demoted.role = Role::User;
    demoted.is_active = false;
    let stored = db
        .users
        .update(&demoted, None, SessionEffect::RevokeAll, at(50))
        .await
        .unwrap();
    let mut renamed = read.clone();
    renamed.full_name = FullName::parse("Ivy").unwrap();
    let DomainError::Conflict(meanwhile) = taskforge_domain::user::changed_meanwhile(user.id)
    else {
        panic!("changed_meanwhile is a conflict");
    };
    assert_conflict(
        db.users
            .update(&renamed, Some(hash_of("new")), SessionEffect::Keep, at(60))
            .await,
        &meanwhile,
    );
    assert_eq!(db.users.find_by_id(user.id).await.unwrap(), Some(stored));
    assert_eq!(
        db.users.password_hash(user.id).await.unwrap(),
        Some(hash_of("old"))
    );
}

async fn updating_a_missing_user_is_not_found(db: TestDb) {
    let ghost = new_user("ghost@example.com", None, Role::User);
    assert_not_found(
        db.users
            .update(&ghost, None, SessionEffect::Keep, now())
            .await,
    );
    assert_eq!(db.users.find_by_id(ghost.id).await.unwrap(), None);
}

async fn updating_to_a_taken_email_or_username_is_conflict_and_changes_nothing(db: TestDb) {
    let taken = new_user("taken@example.com", Some("TakenName"), Role::User);
    db.users.insert(&taken, &hash_of("t")).await.unwrap();
    let user = new_user("hank@example.com", Some("hank"), Role::User);
    db.users.insert(&user, &hash_of("h")).await.unwrap();

    let mut same_email = user.clone();
    same_email.email = Email::parse("taken@example.com").unwrap();
    assert_conflict(
        db.users
            .update(&same_email, None, SessionEffect::Keep, now())
            .await,
        "email already registered",
    );

    let mut same_username = user.clone();
    same_username.username = Some(Username::parse("takenname").unwrap());
    assert_conflict(
        db.users
            .update(
                &same_username,
                Some(hash_of("other")),
                SessionEffect::Keep,
                now(),
            )
            .await,
        "username already taken",
    );

    assert_eq!(
        db.users.find_by_id(user.id).await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(
        db.users.password_hash(user.id).await.unwrap(),
        Some(hash_of("h"))
    );
}

async fn demoting_or_deactivating_the_last_active_admin_is_conflict_and_changes_nothing(
    db: TestDb,
) {
    let admin = insert_user(&db, "root@example.com", Role::Admin).await;
    // An inactive admin does not count as another active admin.
    let mut dormant = new_user("dormant@example.com", None, Role::Admin);
    dormant.is_active = false;
    db.users.insert(&dormant, &hash_of("d")).await.unwrap();
    let session = insert_session(&db, admin.id).await;

    let mut demoted = admin.clone();
    demoted.role = Role::User;
    assert_conflict(
        db.users
            .update(
                &demoted,
                Some(hash_of("new")),
                SessionEffect::RevokeAll,
                now(),
            )
            .await,
        "cannot demote or deactivate the last active admin",
    );

    let mut deactivated = admin.clone();
    deactivated.is_active = false;
    assert_conflict(
        db.users
            .update(&deactivated, None, SessionEffect::RevokeAll, now())
            .await,
        "cannot demote or deactivate the last active admin",
    );

    assert_eq!(
        db.users.find_by_id(admin.id).await.unwrap(),
        Some(admin.clone())
    );
    assert_eq!(
        db.users.password_hash(admin.id).await.unwrap(),
        Some(hash_of("root@example.com"))
    );
    assert_eq!(
        db.sessions.find_session_user(session.id).await.unwrap(),
        Some(admin.clone())
    );

    // Changing anything else of the last admin is fine.
    let mut renamed = admin.clone();
    renamed.full_name = FullName::parse("Still Admin").unwrap();
    assert_eq!(
        db.users
            .update(&renamed, None, SessionEffect::Keep, at(10))
            .await
            .unwrap(),
        User {
            updated_at: at(10),
            ..renamed
        }
    );
}

async fn with_two_admins_one_may_be_demoted_but_then_not_the_other(db: TestDb) {
    let first = insert_user(&db, "admin1@example.com", Role::Admin).await;
    let second = insert_user(&db, "admin2@example.com", Role::Admin).await;

    let mut demoted = first.clone();
    demoted.role = Role::User;
    assert_eq!(
        db.users
            .update(&demoted, None, SessionEffect::Keep, now())
            .await
            .unwrap()
            .role,
        Role::User
    );

    let mut deactivated = second.clone();
    deactivated.is_active = false;
    assert_conflict(
        db.users
            .update(&deactivated, None, SessionEffect::RevokeAll, now())
            .await,
        "cannot demote or deactivate the last active admin",
    );
    assert_eq!(db.users.find_by_id(second.id).await.unwrap(), Some(second));
}

async fn parallel_demotions_of_every_admin_leave_exactly_one_active_admin(db: TestDb) {
    let mut admins = Vec::new();
    for i in 0..8 {
        admins.push(insert_user(&db, &format!("pa{i}@example.com"), Role::Admin).await);
    }
    let mut racers = JoinSet::new();
    for (i, admin) in admins.into_iter().enumerate() {
        let users = db.users.clone();
        racers.spawn(async move {
            // Half demote, half deactivate: both are guarded the same way.
            let mut changed = admin;
            if i % 2 == 0 {
                changed.role = Role::User;
            } else {
                changed.is_active = false;
            }
            users
                .update(&changed, None, SessionEffect::Keep, now())
                .await
        });
    }
    let results = racers.join_all().await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        7,
        "{results:?}"
    );
    for result in results.into_iter().filter(Result::is_err) {
        assert_conflict(result, "cannot demote or deactivate the last active admin");
    }
    let filter = UserFilter {
        role: Some(Role::Admin),
        is_active: Some(true),
        ..UserFilter::default()
    };
    assert_eq!(db.users.list(&filter, all()).await.unwrap().total, 1);
}

async fn update_with_revoke_all_revokes_every_session_of_that_user_only(db: TestDb) {
    let user = insert_user(&db, "ivy@example.com", Role::User).await;
    let other = insert_user(&db, "jack@example.com", Role::User).await;
    let sessions = [
        insert_session(&db, user.id).await,
        insert_session(&db, user.id).await,
    ];
    let others = insert_session(&db, other.id).await;

    let revoked_at = now();
    let mut deactivated = user.clone();
    deactivated.is_active = false;
    db.users
        .update(&deactivated, None, SessionEffect::RevokeAll, revoked_at)
        .await
        .unwrap();

    for session in &sessions {
        assert_eq!(
            db.sessions.find_session_user(session.id).await.unwrap(),
            None
        );
        let stored = stored_session(&db, session.id).await.unwrap();
        assert_eq!(stored.revoked_at, Some(revoked_at));
    }
    assert_eq!(
        db.sessions.find_session_user(others.id).await.unwrap(),
        Some(other)
    );
}

async fn update_with_keep_leaves_sessions_alone(db: TestDb) {
    let user = insert_user(&db, "kate@example.com", Role::User).await;
    let session = insert_session(&db, user.id).await;
    let mut renamed = user.clone();
    renamed.full_name = FullName::parse("Kate K").unwrap();
    let stored = db
        .users
        .update(&renamed, None, SessionEffect::Keep, now())
        .await
        .unwrap();
    assert_eq!(stored.full_name, renamed.full_name);
    assert_eq!(
        db.sessions.find_session_user(session.id).await.unwrap(),
        Some(stored)
    );
}

async fn deleting_a_user_removes_their_tasks_and_sessions_only(db: TestDb) {
    let user = insert_user(&db, "leo@example.com", Role::User).await;
    let other = insert_user(&db, "mia@example.com", Role::User).await;
    let task = new_task(user.id, "leo's");
    insert_task(&db, &task).await;
    let kept_task = new_task(other.id, "mia's");
    insert_task(&db, &kept_task).await;
    let session = insert_session(&db, user.id).await;
    let kept_session = insert_session(&db, other.id).await;

    db.users.delete(user.id, other.id, now()).await.unwrap();

    assert_eq!(db.users.find_by_id(user.id).await.unwrap(), None);
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), None);
    assert_eq!(stored_session(&db, session.id).await, None);
    assert_eq!(
        db.tasks.find_by_id(kept_task.id).await.unwrap(),
        Some(kept_task)
    );
    assert_eq!(
        db.sessions
            .find_session_user(kept_session.id)
            .await
            .unwrap(),
        Some(other)
    );
}

async fn deleting_the_last_active_admin_is_conflict_and_deletes_nothing(db: TestDb) {
    let admin = insert_user(&db, "boss@example.com", Role::Admin).await;
    let task = new_task(admin.id, "boss task");
    insert_task(&db, &task).await;
    let session = insert_session(&db, admin.id).await;

    assert_conflict(
        db.users.delete(admin.id, admin.id, now()).await,
        "cannot delete the last active admin",
    );
    assert_eq!(
        db.users.find_by_id(admin.id).await.unwrap(),
        Some(admin.clone())
    );
    assert_eq!(db.tasks.find_by_id(task.id).await.unwrap(), Some(task));
    assert_eq!(
        db.sessions.find_session_user(session.id).await.unwrap(),
        Some(admin)
    );
}

async fn deleting_one_of_two_admins_works(db: TestDb) {
    let first = insert_user(&db, "ad1@example.com", Role::Admin).await;
    let second = insert_user(&db, "ad2@example.com", Role::Admin).await;
    db.users.delete(first.id, second.id, now()).await.unwrap();
    assert_eq!(db.users.find_by_id(first.id).await.unwrap(), None);
    assert_conflict(
        db.users.delete(second.id, second.id, now()).await,
        "cannot delete the last active admin",
    );
}

async fn deleting_a_missing_user_is_not_found(db: TestDb) {
    assert_not_found(db.users.delete(Uuid::now_v7(), Uuid::now_v7(), now()).await);
}

async fn user_list_is_newest_first_with_id_tie_breaks_and_pages(db: TestDb) {
    let mut users = Vec::new();
    for i in 0..7 {
        let mut user = new_user(&format!("list{i}@example.com"), None, Role::User);
        // Pairs share a creation instant, so the id has to break ties.
        user.created_at = at(i / 2);
        user.updated_at = user.created_at;
        db.users.insert(&user, &hash_of("l")).await.unwrap();
        users.push(user);
    }
    let mut expected = users.clone();
    expected.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));

    let full = db.users.list(&UserFilter::default(), all()).await.unwrap();
    assert_eq!(full.items, expected);
    assert_eq!(full.total, 7);

    let mut paged = Vec::new();
    for offset in (0..7).step_by(3) {
        let page = db
            .users
            .list(&UserFilter::default(), page(3, offset))
            .await
            .unwrap();
        assert_eq!(page.total, 7);
        paged.extend(page.items);
    }
    assert_eq!(paged, expected);

    let beyond = db
        .users
        .list(&UserFilter::default(), page(3, 50))
        .await
        .unwrap();
    assert!(beyond.items.is_empty());
    assert_eq!(beyond.total, 7);

    // Capped at 5, every page says "more than 5": those that skip the cap's worth of
    // rows (their rows prove it) and those past the end (which count alone) included.
    for offset in 0..9 {
        let mut window = page(3, offset);
        window.count_cap = 5;
        let slice = db.users.list(&UserFilter::default(), window).await.unwrap();
        assert_eq!(
            (slice.total, slice.total_exact),
            (5, false),
            "offset {offset}"
        );
        assert_eq!(slice.items.len() as u64, 7u64.saturating_sub(offset).min(3));
    }
}

async fn user_pages_by_position_walk_the_list_exactly_once(db: TestDb) {
    let mut users = Vec::new();
    for i in 0..7 {
        let mut user = new_user(&format!("walk{i}@example.com"), None, Role::User);
        // Pairs share a creation instant, so the id has to break ties.
        user.created_at = at(i / 2);
        user.updated_at = user.created_at;
        db.users.insert(&user, &hash_of("w")).await.unwrap();
        users.push(user);
    }
    users.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let mut seen = Vec::new();
    let mut window = page(2, 0);
    window.count_cap = 5;
    loop {
        let slice = db
            .users
            .list(&UserFilter::default(), window.clone())
            .await
            .unwrap();
        assert_eq!((slice.total, slice.total_exact), (5, false));
        seen.extend(slice.items.iter().cloned());
        match slice.items.last() {
            Some(last) if slice.more => {
                window = window.after(UserPosition {
                    created_at: last.created_at,
                    id: last.id,
                });
            }
            _ => break,
        }
    }
    assert_eq!(seen, users);
}

async fn user_list_filters_by_role_and_activity(db: TestDb) {
    let admin = insert_user(&db, "a@example.com", Role::Admin).await;
    let user = insert_user(&db, "u@example.com", Role::User).await;
    let mut inactive = new_user("i@example.com", None, Role::User);
    inactive.is_active = false;
    db.users.insert(&inactive, &hash_of("i")).await.unwrap();

    let listed = |filter: UserFilter| {
        let users = db.users.clone();
        async move {
            let page = users.list(&filter, all()).await.unwrap();
            assert_eq!(page.total, page.items.len() as u64);
            page.items.into_iter().map(|u| u.id).collect::<HashSet<_>>()
        }
    };
    let role = |role| UserFilter {
        role: Some(role),
        ..UserFilter::default()
    };
    let active = |is_active| UserFilter {
        is_active: Some(is_active),
        ..UserFilter::default()
    };
    assert_eq!(listed(role(Role::Admin)).await, HashSet::from([admin.id]));
    assert_eq!(
        listed(role(Role::User)).await,
        HashSet::from([user.id, inactive.id])
    );
    assert_eq!(listed(active(false)).await, HashSet::from([inactive.id]));
    assert_eq!(
        listed(active(true)).await,
        HashSet::from([admin.id, user.id])
    );
    let active_users = UserFilter {
        role: Some(Role::User),
        is_active: Some(true),
        q: None,
    };
    assert_eq!(listed(active_users).await, HashSet::from([user.id]));
}

async fn user_list_q_matches_email_or_username_literally_and_case_insensitively(db: TestDb) {
    let percent = new_user("100%off@example.com", Some("Deal_Hunter"), Role::User);
    let plain = new_user("100xoff@example.com", Some("DealXHunter"), Role::User);
    let other = new_user("zed@example.org", Some("zed"), Role::User);
    for user in [&percent, &plain, &other] {
        db.users.insert(user, &hash_of("q")).await.unwrap();
    }
    let search = |q: &str| {
        let users = db.users.clone();
        let filter = UserFilter {
            q: Some(q.to_owned()),
            ..UserFilter::default()
        };
        async move {
            let page = users.list(&filter, all()).await.unwrap();
            assert_eq!(page.total, page.items.len() as u64);
            page.items.into_iter().map(|u| u.id).collect::<HashSet<_>>()
        }
    };
    assert_eq!(search("%").await, HashSet::from([percent.id]));
    assert_eq!(search("0%O").await, HashSet::from([percent.id]));
    assert_eq!(search("l_h").await, HashSet::from([percent.id]));
    assert_eq!(search("DEAL").await, HashSet::from([percent.id, plain.id]));
    assert_eq!(
        search("EXAMPLE.COM").await,
        HashSet::from([percent.id, plain.id])
    );
    assert_eq!(search("ZED").await, HashSet::from([other.id]));
    assert_eq!(search("nobody").await, HashSet::new());
}

// ---------------------------------------------------------------------------------------

contract!(
    user_pages_by_position_walk_the_list_exactly_once,
    demoting_or_deactivating_the_last_active_admin_is_conflict_and_changes_nothing,
    inserted_user_is_found_by_id_and_by_email_unchanged,
    credentials_are_found_by_email_and_by_username_in_any_case,
    password_hash_is_returned_for_a_known_user_only,
    duplicate_email_is_conflict_email_already_registered,
    username_differing_only_in_case_is_conflict_username_already_taken,
    parallel_inserts_of_one_email_let_exactly_one_win,
    user_update_writes_every_field_and_keeps_the_password_hash_unless_given,
    a_user_written_since_it_was_read_is_a_conflict_and_the_other_write_stays,
    updating_a_missing_user_is_not_found,
    updating_to_a_taken_email_or_username_is_conflict_and_changes_nothing,
    with_two_admins_one_may_be_demoted_but_then_not_the_other,
    parallel_demotions_of_every_admin_leave_exactly_one_active_admin,
    update_with_revoke_all_revokes_every_session_of_that_user_only,
    update_with_keep_leaves_sessions_alone,
    deleting_a_user_removes_their_tasks_and_sessions_only,
    deleting_the_last_active_admin_is_conflict_and_deletes_nothing,
    deleting_one_of_two_admins_works,
    deleting_a_missing_user_is_not_found,
    user_list_is_newest_first_with_id_tie_breaks_and_pages,
    user_list_filters_by_role_and_activity,
    user_list_q_matches_email_or_username_literally_and_case_insensitively,
);
