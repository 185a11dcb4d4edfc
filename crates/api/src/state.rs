//! What handlers share: the domain services, the probes of the outside world and the
//! metrics.

use std::sync::Arc;

use actix_web::http::header::HeaderMap;
use async_trait::async_trait;
use taskforge_domain::auth::{AuthService, PasswordResetService};
use taskforge_domain::task::{TaskEvents, TaskService};
use taskforge_domain::user::UserService;
use tokio::sync::watch;

use crate::metrics::Metrics;

/// Whether the database answers; implemented by the binary over its pool, so this
/// crate never sees SQL.
#[async_trait]
pub trait DatabaseProbe: Send + Sync {
    /// `true` when a trivial round trip to the database succeeds in time.
    async fn is_reachable(&self) -> bool;

    /// The pool's connections right now (no I/O), for the metrics.
    fn pool_stats(&self) -> PoolStats;
}

/// Continues a caller's trace in the span of its request (W3C Trace Context:
/// `traceparent`, `tracestate`). The binary provides one when traces are exported, so
/// this crate needs no tracing backend of its own.
pub trait TraceContext: Send + Sync {
    /// Makes `span`, not yet entered, a child of the caller's span that `headers`
    /// name, if they name one.
    fn continue_trace(&self, headers: &HeaderMap, span: &tracing::Span);

    /// Names the exported span once the request is routed (`GET /api/v1/tasks/{id}`):
    /// the route is known only after the span has started.
    fn name_span(&self, span: &tracing::Span, name: String);
}

/// Where the server is in its life: serving, or draining before it stops.
#[derive(Debug)]
pub struct Lifecycle {
    draining: watch::Sender<bool>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            draining: watch::channel(false).0,
        }
    }
}

impl Lifecycle {
    /// Starts draining: readiness answers 503, every response closes its connection
    /// and event streams end, so clients and load balancers move away before the
    /// server stops.
    pub fn start_draining(&self) {
        self.draining.send_replace(true);
    }

    /// Whether the server is draining.
    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }

    /// Resolves once the server drains.
    pub async fn drained(&self) {
        let mut draining = self.draining.subscribe();
        // The sender lives as long as `self`: `wait_for` cannot fail while we wait.
        let _ = draining.wait_for(|draining| *draining).await;
    }
}

/// A snapshot of the database pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections waiting for work.
    pub idle: u32,
    /// Open connections lent to a request.
    pub in_use: u32,
    /// The most connections the pool will open.
    pub max: u32,
}

/// Application state, one per server (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    /// Sessions and tokens.
    pub auth: Arc<AuthService>,
    /// Accounts.
    pub users: Arc<UserService>,
    /// Password reset by mail.
    pub resets: Arc<PasswordResetService>,
    /// Room for password reset requests being worked on after their answer (see
    /// `routes::auth::reset`): one permit each.
    pub reset_jobs: Arc<tokio::sync::Semaphore>,
    /// Tasks.
    pub tasks: Arc<TaskService>,
    /// Live task events.
    pub events: Arc<TaskEvents>,
    /// The event streams open in this process, and their limits.
    pub streams: Arc<crate::streams::Streams>,
    /// Readiness probe and pool statistics.
    pub database: Arc<dyn DatabaseProbe>,
    /// The process's Prometheus metrics, shared by every worker.
    pub metrics: Arc<Metrics>,
    /// Joins requests to their callers' traces when traces are exported.
    pub trace_context: Option<Arc<dyn TraceContext>>,
    /// Serving or draining, shared by every worker.
    pub lifecycle: Arc<Lifecycle>,
}
