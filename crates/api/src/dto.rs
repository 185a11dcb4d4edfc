//! Request bodies and response shapes of the HTTP contract, and their conversion to
//! and from domain values. Every response key is always present (`null` when empty).

pub mod account;
pub mod auth;
pub mod change;
pub mod enums;
pub mod page;
pub mod task;
pub mod user;

use serde::{Deserialize, Deserializer};
use taskforge_domain::Validator;

/// For PATCH fields: distinguishes an absent key (`None`) from an explicit `null`
/// (`Some(None)`). Use with `#[serde(default, deserialize_with = "nullable")]`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A PATCH field that may be absent but not `null`.
pub fn not_null<T>(field: &str, value: Option<Option<T>>, errors: &mut Validator) -> Option<T> {
    match value {
        Some(None) => {
            errors.push(field, "must not be null");
            None
        }
        Some(Some(value)) => Some(value),
        None => None,
    }
}

/// RFC 3339 in UTC with at most microseconds, `Z` suffix.
pub mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::Serializer;

    /// Serialises an instant.
    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    /// Serialises an optional instant (`null` when absent).
    pub fn option<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => serialize(t, s),
            None => s.serialize_none(),
        }
    }
}
