//! Path parameters: a path id that is not a UUID cannot name anything, so it is a 404.

use actix_web::web::PathConfig;

use crate::error::{ApiError, ErrorCode};

/// Answers 404 problem+json for path segments that do not parse (non-UUID ids).
pub fn path_config() -> PathConfig {
    PathConfig::default().error_handler(|_, req| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("nothing exists at {}", req.path()),
        )
        .into()
    })
}
