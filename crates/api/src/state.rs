//! What handlers share: the domain services and the probes of the outside world.

use std::sync::Arc;

use async_trait::async_trait;
use taskforge_domain::auth::AuthService;
use taskforge_domain::task::TaskService;
use taskforge_domain::user::UserService;

/// Whether the database answers; implemented by the binary over its pool, so this
/// crate never sees SQL.
#[async_trait]
pub trait DatabaseProbe: Send + Sync {
    /// `true` when a trivial round trip to the database succeeds in time.
    async fn is_reachable(&self) -> bool;
}

/// Application state, one per server (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    /// Sessions and tokens.
    pub auth: Arc<AuthService>,
    /// Accounts.
    pub users: Arc<UserService>,
    /// Tasks.
    pub tasks: Arc<TaskService>,
    /// Readiness probe.
    pub database: Arc<dyn DatabaseProbe>,
}
