//! The three services over in-memory adapters, in one value.

use std::sync::Arc;

use crate::auth::{AuthService, PasswordResetService, ResetSettings, TokenLifetimes};
use crate::task::TaskService;
use crate::user::UserService;

use super::{
    FixedClock, InMemoryStore, PlainHasher, PlainOneTimeTokens, PlainTokens, RecordingMailer,
    SequentialIds,
};

/// [`UserService`], [`TaskService`] and [`AuthService`] wired to one [`InMemoryStore`],
/// a [`FixedClock`], [`SequentialIds`], [`PlainHasher`] and [`PlainTokens`]: a whole
/// Taskforge without HTTP, SQL or cryptography, for tests and examples.
pub struct Fixture {
    /// The data behind every repository.
    pub store: InMemoryStore,
    /// The clock every service reads; move it to expire tokens.
    pub clock: Arc<FixedClock>,
    /// The id source every service draws from.
    pub ids: Arc<SequentialIds>,
    /// Accounts.
    pub users: UserService,
    /// Tasks.
    pub tasks: TaskService,
    /// Login (throttled per account), refresh, logout, sessions and token checks.
    pub auth: AuthService,
    /// Password reset by mail.
    pub resets: PasswordResetService,
    /// Every message the services sent.
    pub mailer: Arc<RecordingMailer>,
}

impl Fixture {
    /// Everything wired, the clock at its default instant, default token lifetimes.
    pub fn new() -> Self {
        let store = InMemoryStore::new();
        let clock = Arc::new(FixedClock::default());
        let ids = Arc::new(SequentialIds::new());
        let users = Arc::new(store.users());
        let mailer = Arc::new(RecordingMailer::default());
        Self {
            resets: PasswordResetService::new(
                users.clone(),
                Arc::new(store.resets()),
                Arc::new(PlainHasher),
                Arc::new(PlainOneTimeTokens::default()),
                Some(mailer.clone()),
                clock.clone(),
                ResetSettings::default(),
            ),
            mailer,
            users: UserService::new(
                users.clone(),
                Arc::new(PlainHasher),
                clock.clone(),
                ids.clone(),
            ),
            tasks: TaskService::new(
                Arc::new(store.tasks()),
                users.clone(),
                Arc::new(store.changes()),
                Arc::new(store.idempotency()),
                clock.clone(),
                ids.clone(),
            ),
            auth: AuthService::new(
                users,
                Arc::new(store.sessions()),
                Arc::new(PlainHasher),
                Arc::new(PlainTokens::new(clock.clone())),
                clock.clone(),
                ids.clone(),
                TokenLifetimes::default(),
            )
            .with_login_throttle(Arc::new(store.login_throttle())),
            store,
            clock,
            ids,
        }
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}
