//! Renders every error response as RFC 9457 problem+json: the ones our handlers and
//! extractors return (their [`Problem`] rides in the response extensions) and the ones
//! actix produces itself (unknown route, wrong method, CORS refusals), which get a
//! problem derived from their status.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};

use super::request_context::RequestContext;
use crate::error::{ErrorCode, Problem};

/// The problem+json media type.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Rewrites error responses (status ≥ 400) into problem+json.
pub async fn render_problems(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    let already_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if status.as_u16() < 400 || already_problem {
        return Ok(res);
    }
    let (req, res) = res.into_parts();
    let problem = res
        .extensions()
        .get::<Problem>()
        .cloned()
        .unwrap_or_else(|| {
            let code = ErrorCode::from_status(status);
            Problem {
                code,
                detail: code.default_detail().to_owned(),
                errors: Vec::new(),
                extra: None,
            }
        });
    let (request_id, path) = match req.extensions().get::<RequestContext>() {
        Some(ctx) => (ctx.id.clone(), ctx.path.clone()),
        None => (String::new(), req.path().to_owned()),
    };
    let body = problem.to_json(&path, &request_id);
    let mut res = res.set_body(BoxBody::new(body));
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    res.headers_mut().remove(header::CONTENT_LENGTH);
    Ok(ServiceResponse::new(req, res))
}
