//! Request extractors that turn raw input into validated values or a precise
//! problem: JSON bodies, query parameters, the bearer token, `If-Match`, path ids.

pub mod auth;
pub mod idempotency;
pub mod json;
pub mod path;
pub mod precondition;
pub mod query;

pub use auth::{Authenticated, authenticate_request};
pub use idempotency::{Keyed, idempotency};
pub use json::{JsonBody, parse_json};
pub use path::path_config;
pub use precondition::if_match;
pub use query::QueryParams;
