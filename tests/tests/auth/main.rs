//! Black-box tests of the Auth and Users sections of the contract: registration,
//! login, tokens, refresh and logout, the caller's own account, user administration,
//! `Cache-Control: no-store` on the auth routes, and their rate limits.

mod admin;
mod cache_control;
mod jwt;
mod login;
mod me;
mod rate_limits;
mod register;
mod support;
mod tokens;
