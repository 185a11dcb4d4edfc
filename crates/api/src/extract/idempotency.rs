//! The `Idempotency-Key` header of a task write, and what the request was: a write
//! sent again with the same key is answered, not done, again (see
//! [`taskforge_domain::idempotency`]).

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use taskforge_domain::idempotency::{Idempotency, IdempotencyKey};

use super::json::{parse_json, read_json};
use crate::error::ApiError;

/// The header's name.
pub const HEADER: &str = "Idempotency-Key";

/// The key of a request, if it sent one: 422 on `Idempotency-Key` when it is malformed
/// (empty, longer than 255 characters, not visible ASCII) or sent twice.
///
/// # Errors
/// As above.
pub fn idempotency_key(req: &HttpRequest) -> Result<Option<IdempotencyKey>, ApiError> {
    let mut values = req.headers().get_all(HEADER);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let raw = if values.next().is_some() {
        // Two keys: which one the client meant is anyone's guess.
        ""
    } else {
        value.to_str().unwrap_or("")
    };
    IdempotencyKey::parse(raw).map(Some).map_err(ApiError::from)
}

/// What identifies a request for its key: a SHA-256 digest of its method, its path
/// (a trailing slash aside) and its body.
pub fn fingerprint(req: &HttpRequest, body: &[u8]) -> String {
    let path = req.path();
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let digest = Sha256::new()
        .chain_update(req.method().as_str())
        .chain_update([0])
        .chain_update(path)
        .chain_update([0])
        .chain_update(body)
        .finalize();
    format!("{digest:x}")
}

/// The idempotency of a request without a body (a toggle, a delete).
///
/// # Errors
/// As [`idempotency_key`].
pub fn idempotency(req: &HttpRequest) -> Result<Option<Idempotency>, ApiError> {
    Ok(idempotency_key(req)?.map(|key| Idempotency {
        key,
        fingerprint: fingerprint(req, b""),
    }))
}

/// A JSON body and the request's idempotency, its key checked before the body.
#[derive(Debug)]
pub struct Keyed<T> {
    /// The body.
    pub body: T,
    /// The key and the request's fingerprint, if a key was sent.
    pub once: Option<Idempotency>,
}

impl<T: DeserializeOwned + 'static> FromRequest for Keyed<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let key = idempotency_key(&req)?;
            let bytes = read_json(&req, &mut payload).await?;
            let body = parse_json(&bytes)?;
            Ok(Self {
                body,
                once: key.map(|key| Idempotency {
                    key,
                    fingerprint: fingerprint(&req, &bytes),
                }),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn key_of(values: &[&str]) -> Result<Option<IdempotencyKey>, ApiError> {
        let mut req = TestRequest::default();
        for value in values {
            req = req.append_header((HEADER, *value));
        }
        idempotency_key(&req.to_http_request())
    }

    #[test]
    fn keys_are_one_to_255_visible_ascii_characters_sent_once() {
        assert_eq!(key_of(&[]).unwrap(), None);
        assert_eq!(key_of(&["a-1"]).unwrap().unwrap().as_str(), "a-1");
        assert!(key_of(&[&"k".repeat(255)]).unwrap().is_some());
        for bad in ["", " ", "a b", &"k".repeat(256)] {
            assert!(key_of(&[bad]).is_err(), "{bad:?}");
        }
        assert!(key_of(&["a", "b"]).is_err());
    }

    #[test]
    fn the_fingerprint_tells_method_path_and_body_apart_but_not_a_trailing_slash() {
        let at = |method: actix_web::http::Method, path: &str| {
            TestRequest::default()
                .method(method)
                .uri(path)
                .to_http_request()
        };
        use actix_web::http::Method;
        let base = fingerprint(&at(Method::POST, "/api/v1/tasks"), b"{}");
        assert_eq!(
            base,
            fingerprint(&at(Method::POST, "/api/v1/tasks/"), b"{}")
        );
        assert_ne!(base, fingerprint(&at(Method::PUT, "/api/v1/tasks"), b"{}"));
        assert_ne!(base, fingerprint(&at(Method::POST, "/api/v1/task"), b"{}"));
        assert_ne!(
            base,
            fingerprint(&at(Method::POST, "/api/v1/tasks"), b"{ }")
        );
        assert_eq!(base.len(), 64);
    }
}
