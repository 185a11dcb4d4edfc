//! Security headers on every response. A route that needs a looser
//! Content-Security-Policy (the docs pages) sets its own; these are defaults only.

use actix_web::middleware::DefaultHeaders;

/// The strict policy for an API: nothing may load, nothing may frame us.
pub const STRICT_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// `nosniff`, `DENY`, `no-referrer` and the strict CSP, unless a response set its own.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Content-Security-Policy", STRICT_CSP))
}
