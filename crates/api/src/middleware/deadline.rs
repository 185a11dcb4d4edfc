//! Every request has a deadline (`REQUEST_TIMEOUT_MS`): one that has not answered by
//! then answers 503 with `Retry-After`, never hangs. Its handler is dropped where it
//! waits: a statement in flight is abandoned (its connection is checked or closed
//! before reuse), a transaction is rolled back, a batched write completes whole in its
//! batch. A streamed body (server-sent events) is not bounded: the deadline ends when
//! the response starts.
//!
//! It wraps each resource that waits on something ([`bounded`]), not the whole app:
//! answering after the deadline needs the request, and the app's router must hold the
//! only reference to it while it routes.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{HttpServiceFactory, ServiceFactory};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{Error, Resource, ResponseError};

use crate::error::ApiError;

/// The deadline of every request.
#[derive(Debug, Clone, Copy)]
pub struct RequestTimeout(pub Duration);

/// Answers 503 for a request still unanswered at its deadline.
pub async fn deadline(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(RequestTimeout(limit)) = req.app_data::<RequestTimeout>().copied() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let request = req.request().clone();
    match actix_web::rt::time::timeout(limit, next.call(req)).await {
        Ok(result) => result.map(ServiceResponse::map_into_boxed_body),
        Err(_) => {
            tracing::warn!(deadline_ms = limit.as_millis(), "request deadline passed");
            let answer = ApiError::unavailable("the request did not finish in time; retry");
            Ok(ServiceResponse::new(request, answer.error_response()))
        }
    }
}

/// `resource` under the request deadline.
pub fn bounded<T>(resource: Resource<T>) -> impl HttpServiceFactory
where
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse,
            Error = Error,
            InitError = (),
        > + 'static,
{
    resource.wrap(from_fn(deadline))
}
