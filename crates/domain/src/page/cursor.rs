//! The opaque `next_cursor` strings: a position in a list, bound to the list's filter
//! and sort.
//!
//! A cursor holds the last row's id and sort value, and a fingerprint of the list it
//! was made for (what is listed, every filter, the sort). Used on another list it is
//! refused (422 on `cursor`) instead of silently starting somewhere meaningless. It is
//! not signed: a forged cursor is only a position in a list its bearer may read
//! anyway. On the wire it is hex, so it needs no escaping in a query string.

use uuid::Uuid;

use crate::DomainError;

/// Separates the cursor's fields; the sort value comes last, so it may contain one.
const SEPARATOR: char = '|';
/// The layout of the fields; a cursor of another layout is refused.
const LAYOUT: &str = "c1";

/// A cursor of the list described by `list` (a canonical description of what is
/// listed, its filters and its sort), after the row `id` whose sort value reads `value`.
pub fn encode(list: &str, id: Uuid, value: &str) -> String {
    let plain = format!(
        "{LAYOUT}{SEPARATOR}{:016x}{SEPARATOR}{}{SEPARATOR}{value}",
        fingerprint(list),
        id.simple()
    );
    let mut hex = String::with_capacity(plain.len() * 2);
    for byte in plain.bytes() {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// The row id and sort value of a cursor made by [`encode`] for the same `list`.
///
/// # Errors
/// [`DomainError::Validation`] on `cursor` when `raw` is not such a cursor or was
/// made for another list (another filter or sort).
pub fn decode(raw: &str, list: &str) -> Result<(Uuid, String), DomainError> {
    let plain = unhex(raw).ok_or_else(malformed)?;
    let mut fields = plain.splitn(4, SEPARATOR);
    let (Some(LAYOUT), Some(print), Some(id), Some(value)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(malformed());
    };
    if print != format!("{:016x}", fingerprint(list)) {
        return Err(DomainError::invalid(
            "cursor",
            "was made for another sort or filter",
        ));
    }
    let id = Uuid::try_parse(id).map_err(|_| malformed())?;
    Ok((id, value.to_owned()))
}

/// A cursor of the list described by `list` that carries the offset of the next page:
/// for lists that only grow at their end (a task's history, oldest first), where an
/// offset points at the same row however many are added after it.
pub fn encode_offset(list: &str, offset: u64) -> String {
    encode(list, Uuid::nil(), &offset.to_string())
}

/// The offset a cursor made by [`encode_offset`] for the same `list` carries.
///
/// # Errors
/// As [`decode`].
pub fn decode_offset(raw: &str, list: &str) -> Result<u64, DomainError> {
    let (_, offset) = decode(raw, list)?;
    offset.parse().map_err(|_| malformed())
}

/// The error of a cursor whose value part does not parse.
pub fn malformed() -> DomainError {
    DomainError::invalid("cursor", "is not a cursor of this list")
}

/// The text of a hex string, if it is one of valid UTF-8 without NUL (which no
/// database could compare with).
fn unhex(raw: &str) -> Option<String> {
    if !raw.len().is_multiple_of(2) || raw.len() > 4096 {
        return None;
    }
    let bytes = (0..raw.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(raw.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok().filter(|s| !s.contains('\0'))
}

/// FNV-1a: stable across builds and instances, unlike std's hasher, so a cursor
/// made by one instance is understood by every other.
fn fingerprint(list: &str) -> u64 {
    list.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_gives_back_its_position_on_the_same_list_only() {
        let id = Uuid::now_v7();
        let cursor = encode("tasks|sort=title", id, "a|b");
        assert_eq!(
            decode(&cursor, "tasks|sort=title").unwrap(),
            (id, "a|b".to_owned())
        );
        assert!(matches!(
            decode(&cursor, "tasks|sort=-title"),
            Err(DomainError::Validation(e)) if e[0].field == "cursor"
        ));
    }

    #[test]
    fn an_offset_cursor_gives_back_its_offset_on_the_same_list_only() {
        let cursor = encode_offset("history a", 40);
        assert_eq!(decode_offset(&cursor, "history a").unwrap(), 40);
        assert!(decode_offset(&cursor, "history b").is_err());
        let not_an_offset = encode("history a", Uuid::nil(), "x");
        assert!(decode_offset(&not_an_offset, "history a").is_err());
    }

    #[test]
    fn garbage_and_nul_are_refused() {
        for raw in ["", "zz", "abc", "00", &encode("l", Uuid::nil(), "\0")] {
            assert!(decode(raw, "l").is_err(), "{raw}");
        }
    }
}
