//! Black-box tests: each test starts the real server on a free port against a fresh
//! database (PostgreSQL when `TEST_DATABASE_URL` is set, else a temporary SQLite file)
//! and talks HTTP to it.

mod cross_cutting;
mod errors;
mod health;
