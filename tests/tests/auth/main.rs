//! Black-box tests of the Auth and Users sections of the contract: registration,
//! login, tokens, refresh and logout, the caller's own account, user administration,
//! `Cache-Control: no-store` on the auth routes, their rate limits, the per-account
//! login throttle, the caller's sessions, and password reset by mail (file and SMTP).

mod admin;
mod cache_control;
mod jwt;
mod login;
mod me;
mod outbox;
mod password_reset;
mod rate_limits;
mod register;
mod sessions;
mod smtp;
mod support;
mod throttle;
mod tokens;
