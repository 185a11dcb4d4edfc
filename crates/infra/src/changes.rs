//! The task change log and the idempotency keys of task writes, in SQL.
//!
//! Every task write appends its change in its own transaction ([`log::record`], or the
//! fast path's statements), and completes its idempotency key there too. Readers follow
//! the log by position ([`cursor::Position`]), always below a watermark under which no
//! change can still appear, so a reader that continues from a cursor misses nothing and
//! gets nothing twice. [`signal`] wakes this process's live streams when a write
//! commits; PostgreSQL's `NOTIFY` wakes those of every instance.

pub(crate) mod cursor;
mod idempotency;
pub(crate) mod log;
pub(crate) mod rows;
pub(crate) mod signal;

pub use idempotency::SeaIdempotencyRepository;
pub use log::SeaTaskChangeLog;
