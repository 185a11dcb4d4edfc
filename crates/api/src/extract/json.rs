//! `JsonBody<T>`: a JSON request body, with the contract's statuses instead of
//! actix's plain-text 400s: wrong content type 415, too large 413, empty or
//! malformed 400, and well-formed JSON of the wrong shape 422 naming the field.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use taskforge_domain::FieldError;

use crate::error::{ApiError, ErrorCode};

/// A deserialised JSON body.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// Whether a request declares a JSON body (`application/json` or `application/*+json`).
pub fn is_json(req: &HttpRequest) -> Option<bool> {
    let content_type = req.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    Some(
        essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json")),
    )
}

/// Reads the body within the configured limit (`PayloadConfig`).
pub async fn read_body(req: &HttpRequest, payload: &mut Payload) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, payload).await.map_err(|err| {
        if err.as_response_error().status_code().as_u16() == 413 {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                "the request body exceeds the size limit",
            )
        } else {
            ApiError::new(ErrorCode::BadRequest, "the request body could not be read")
        }
    })
}

impl<T: DeserializeOwned> JsonBody<T> {
    /// Reads and parses the body of `req` from `payload`.
    ///
    /// # Errors
    /// 415, 413, 400 or 422 as described on the type.
    pub async fn from_payload(req: &HttpRequest, payload: &mut Payload) -> Result<Self, ApiError> {
        parse_json(&read_json(req, payload).await?).map(JsonBody)
    }
}

/// Reads a body that is declared JSON (415 otherwise; no content type is fine only for
/// an empty body, which is then 400 when parsed) within the size limit (413).
///
/// # Errors
/// As above.
pub async fn read_json(req: &HttpRequest, payload: &mut Payload) -> Result<Bytes, ApiError> {
    let declared = is_json(req);
    if declared == Some(false) {
        return Err(unsupported_media_type());
    }
    let body = read_body(req, payload).await?;
    if declared.is_none() && !body.is_empty() {
        return Err(unsupported_media_type());
    }
    Ok(body)
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move { Self::from_payload(&req, &mut payload).await })
    }
}

fn unsupported_media_type() -> ApiError {
    ApiError::new(
        ErrorCode::UnsupportedMediaType,
        "the request body must be sent as Content-Type: application/json",
    )
}

/// Parses bytes as JSON (400 when empty or malformed), then as `T` (422 naming the field).
///
/// # Errors
/// As above.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "the request body is empty; JSON was expected",
        ));
    }
    if let Some(parsed) = parse_plain_object(body) {
        return Ok(parsed);
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|err| ApiError::new(ErrorCode::BadRequest, format!("malformed JSON: {err}")))?;
    if !value.is_object() {
        return Err(ApiError::validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )]));
    }
    let mut nul = Vec::new();
    find_nul(&value, "", &mut nul);
    if !nul.is_empty() {
        return Err(ApiError::validation(nul));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let message = err.inner().to_string();
        ApiError::validation(vec![field_error(&path, &message)])
    })
}

/// The common case in one pass: an object with no NUL character in it (JSON can only
/// spell one `\u0000`) that is well-formed and of the right shape. Anything else is
/// `None`, and [`parse_json`] reads it again through a `Value` to say what is wrong,
/// so the answers are the same either way; this only skips building the `Value` (a
/// twentieth of the server's work on a create).
fn parse_plain_object<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' || body.windows(6).any(|w| w == b"\\u0000") {
        return None;
    }
    let mut json = serde_json::Deserializer::from_slice(body);
    let parsed = T::deserialize(&mut json).ok()?;
    json.end().ok()?;
    Some(parsed)
}

/// The message for text holding a NUL character.
pub(crate) const NUL_MESSAGE: &str = "must not contain NUL characters";

/// Every string (value or key) of `value` holding a NUL character, named by its path
/// (`title`, `tags[2]`): neither database can store one, and refusing it here gives
/// the same 422 on both instead of an error deep in the driver.
fn find_nul(value: &serde_json::Value, path: &str, found: &mut Vec<FieldError>) {
    let join = |key: &str| match path {
        "" => key.to_owned(),
        _ => format!("{path}.{key}"),
    };
    match value {
        serde_json::Value::String(text) if text.contains('\0') => {
            found.push(FieldError::new(path, NUL_MESSAGE));
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                find_nul(item, &format!("{path}[{i}]"), found);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                if key.contains('\0') {
                    found.push(FieldError::new(
                        "body",
                        "keys must not contain NUL characters",
                    ));
                } else {
                    find_nul(item, &join(key), found);
                }
            }
        }
        _ => {}
    }
}

/// Names the field of a serde error: its path, or for errors raised on the object
/// itself (missing or unknown key) the key quoted in the message.
pub(crate) fn field_error(path: &str, message: &str) -> FieldError {
    let quoted = message
        .split('`')
        .nth(1)
        .filter(|_| message.starts_with("missing field") || message.starts_with("unknown field"));
    // For a missing key serde reports the enclosing object's path; for an unknown
    // key, the key's own path.
    let field = match (path, quoted) {
        (".", Some(key)) => key.to_owned(),
        (".", None) => "body".to_owned(),
        (path, Some(key)) if message.starts_with("missing field") => format!("{path}.{key}"),
        (path, _) => path.to_owned(),
    };
    let message = if message.starts_with("unknown field") {
        "is not a known field".to_owned()
    } else if message.starts_with("missing field") {
        "is required".to_owned()
    } else {
        message.to_owned()
    };
    FieldError::new(field, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        title: String,
        count: Option<u8>,
    }

    fn field_of(body: &str) -> (u16, Vec<String>) {
        let err = parse_json::<Body>(body.as_bytes()).unwrap_err();
        let fields = err
            .problem()
            .errors
            .iter()
            .map(|e| e.field.clone())
            .collect();
        (err.problem().code.status().as_u16(), fields)
    }

    #[test]
    fn missing_unknown_and_mistyped_keys_are_named() {
        assert_eq!(field_of("{}"), (422, vec!["title".to_owned()]));
        assert_eq!(
            field_of(r#"{"title":"a","x":1}"#),
            (422, vec!["x".to_owned()])
        );
        assert_eq!(field_of(r#"{"title":5}"#), (422, vec!["title".to_owned()]));
        assert_eq!(
            field_of(r#"{"title":"a","count":300}"#),
            (422, vec!["count".to_owned()])
        );
        assert_eq!(field_of("[1]"), (422, vec!["body".to_owned()]));
    }

    #[test]
    fn nul_characters_anywhere_are_named_by_their_field() {
        assert_eq!(
            field_of("{\"title\":\"a\\u0000b\"}"),
            (422, vec!["title".to_owned()])
        );
        assert_eq!(
            field_of("{\"title\":\"ok\",\"count\":1,\"x\":{\"y\":[\"\\u0000\"]}}"),
            (422, vec!["x.y[0]".to_owned()])
        );
    }

    #[test]
    fn empty_and_malformed_bodies_are_bad_requests() {
        assert_eq!(field_of("").0, 400);
        assert_eq!(field_of("  ").0, 400);
        assert_eq!(field_of("{\"title\":").0, 400);
    }

    #[test]
    fn only_plain_well_formed_objects_skip_the_value() {
        let plain = r#" {"title":"a\u0001\"b","count":3} "#;
        assert_eq!(
            parse_plain_object::<Body>(plain.as_bytes()),
            Some(Body {
                title: "a\u{1}\"b".into(),
                count: Some(3)
            })
        );
        assert_eq!(
            parse_plain_object::<Body>(plain.as_bytes()),
            parse_json::<Body>(plain.as_bytes()).ok()
        );
        // A struct would take an array of its fields, which the contract refuses; the
        // rest must be read again to say what is wrong.
        for body in [
            r#"["a", 3]"#,
            "{\"title\":\"a\\u0000b\"}",
            r#"{"title":"a"} x"#,
            r#"{"title":"a","title":"b"}"#,
            r#"{"title":"a","x":1}"#,
            r#"{"title":"#,
            "",
        ] {
            assert_eq!(parse_plain_object::<Body>(body.as_bytes()), None, "{body}");
        }
        // A repeated key is still taken, as it always was: the last one wins.
        assert_eq!(
            parse_json::<Body>(br#"{"title":"a","title":"b"}"#).ok(),
            Some(Body {
                title: "b".into(),
                count: None
            })
        );
    }
}
