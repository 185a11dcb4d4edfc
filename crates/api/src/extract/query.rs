//! Query parameters, parsed one by one so that every bad value is reported as a 422
//! naming the parameter (actix's `Query<T>` answers a plain 400 that names nothing).

use std::str::FromStr;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use chrono::{DateTime, Utc};
use futures_util::future::{Ready, ready};
use taskforge_domain::DomainError;
use taskforge_domain::Validator;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::json::NUL_MESSAGE;

/// The decoded query string, with typed accessors that collect errors.
#[derive(Debug, Default)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
    errors: Validator,
}

impl QueryParams {
    /// Decodes a query string.
    pub fn parse(query: &str) -> Self {
        Self {
            pairs: serde_urlencoded::from_str(query).unwrap_or_default(),
            errors: Validator::new(),
        }
    }

    /// The raw value of a parameter (the last one when repeated).
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn typed<T>(
        &mut self,
        name: &str,
        expect: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let raw = self.raw(name)?.to_owned();
        let parsed = parse(&raw);
        if parsed.is_none() {
            self.errors.push(name, expect);
        }
        parsed
    }

    /// A non-negative decimal integer.
    pub fn u64(&mut self, name: &str) -> Option<u64> {
        self.typed(name, "must be a non-negative decimal integer", |s| {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // A number too large for u64 is still a number: report it as out of range.
            Some(u64::from_str(s).unwrap_or(u64::MAX))
        })
    }

    /// `true` or `false`.
    pub fn bool(&mut self, name: &str) -> Option<bool> {
        self.typed(name, "must be true or false", |s| match s {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        })
    }

    /// An RFC 3339 timestamp with offset.
    pub fn datetime(&mut self, name: &str) -> Option<DateTime<Utc>> {
        self.typed(
            name,
            "must be an RFC 3339 timestamp, e.g. 2026-11-22T10:15:00Z",
            |s| {
                DateTime::parse_from_rfc3339(s)
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            },
        )
    }

    /// A UUID.
    pub fn uuid(&mut self, name: &str) -> Option<Uuid> {
        self.typed(name, "must be a UUID", |s| Uuid::parse_str(s).ok())
    }

    /// Free text: anything but a NUL character, which no database stores.
    pub fn text(&mut self, name: &str) -> Option<String> {
        self.typed(name, NUL_MESSAGE, |s| {
            (!s.contains('\0')).then(|| s.to_owned())
        })
    }

    /// A value parsed by a domain parser (enums, sort keys); its field errors are
    /// re-labelled with the parameter's name.
    pub fn domain<T>(
        &mut self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, DomainError>,
    ) -> Option<T> {
        let raw = self.raw(name)?.to_owned();
        match parse(&raw) {
            Ok(value) => Some(value),
            Err(DomainError::Validation(errors)) => {
                for e in errors {
                    self.errors.push(name, e.message);
                }
                None
            }
            Err(other) => {
                self.errors.push(name, other.to_string());
                None
            }
        }
    }

    /// Adds the field errors of a domain check (e.g. page bounds).
    pub fn check<T>(&mut self, result: Result<T, DomainError>) -> Option<T> {
        self.errors.check(result)
    }

    /// `Ok` when every accessor succeeded, else one 422 listing every bad parameter.
    ///
    /// # Errors
    /// 422 naming each bad parameter.
    pub fn finish(self) -> Result<(), ApiError> {
        self.errors.finish().map_err(ApiError::from)
    }
}

impl FromRequest for QueryParams {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::parse(req.query_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_parameter_is_named() {
        let mut q =
            QueryParams::parse("limit=abc&offset=-1&completed=yes&due_before=tomorrow&owner_id=x");
        assert_eq!(q.u64("limit"), None);
        assert_eq!(q.u64("offset"), None);
        assert_eq!(q.bool("completed"), None);
        assert_eq!(q.datetime("due_before"), None);
        assert_eq!(q.uuid("owner_id"), None);
        let err = q.finish().unwrap_err();
        let fields: Vec<_> = err
            .problem()
            .errors
            .iter()
            .map(|e| e.field.as_str())
            .collect();
        assert_eq!(
            fields,
            ["limit", "offset", "completed", "due_before", "owner_id"]
        );
    }

    #[test]
    fn good_parameters_parse() {
        let mut q = QueryParams::parse(
            "limit=5&completed=true&due_after=2026-11-22T10%3A15%3A00%2B01%3A00&q=a%25b",
        );
        assert_eq!(q.u64("limit"), Some(5));
        assert_eq!(q.bool("completed"), Some(true));
        assert_eq!(
            q.datetime("due_after").map(|t| t.to_rfc3339()),
            Some("2026-11-22T09:15:00+00:00".to_owned())
        );
        assert_eq!(q.text("q").as_deref(), Some("a%b"));
        assert_eq!(q.u64("absent"), None);
        assert!(q.finish().is_ok());
    }
}
