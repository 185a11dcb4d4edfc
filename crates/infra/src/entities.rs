//! SeaORM entities: the tables as the adapters see them. Private to this crate — the
//! repositories map them to and from domain types, so nothing outside `infra` ever
//! depends on a column layout.

pub(crate) mod idempotency_key;
pub(crate) mod login_throttle;
pub(crate) mod password_reset;
pub(crate) mod session;
pub(crate) mod task;
pub(crate) mod task_change;
pub(crate) mod task_recency;
pub(crate) mod user;
