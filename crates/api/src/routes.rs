//! Route modules, one per resource, each with a `configure` function, and the
//! response helpers they share.

pub mod auth;
pub mod changes;
pub mod docs;
pub mod events;
pub mod health;
pub mod metrics;
pub mod tasks;
pub mod users;

use actix_web::HttpResponse;
use actix_web::http::header;
use serde::Serialize;

/// 201 with `Location` and a JSON body.
pub fn created(location: &str, body: &impl Serialize) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(body)
}
