//! The `If-Match` header as a domain [`Precondition`].

use actix_web::HttpRequest;
use actix_web::http::header;
use taskforge_domain::task::Precondition;

/// `None` without the header; `*` → any version; otherwise the listed entity tags
/// `"3"` or `W/"3"` (entries that are no version never match, so they give 412).
pub fn if_match(req: &HttpRequest) -> Option<Precondition> {
    let values: Vec<&str> = req
        .headers()
        .get_all(header::IF_MATCH)
        .map(|v| v.to_str().unwrap_or(""))
        .collect();
    if values.is_empty() {
        return None;
    }
    let tags: Vec<&str> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if tags.contains(&"*") {
        return Some(Precondition::Any);
    }
    let versions = tags
        .iter()
        .filter_map(|tag| {
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag.strip_prefix('"')?
                .strip_suffix('"')?
                .parse::<i64>()
                .ok()
        })
        .collect();
    Some(Precondition::Versions(versions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn parse(value: &str) -> Option<Precondition> {
        if_match(
            &TestRequest::default()
                .insert_header((header::IF_MATCH, value))
                .to_http_request(),
        )
    }

    #[test]
    fn strong_weak_star_and_garbage() {
        assert_eq!(parse("\"3\""), Some(Precondition::Versions(vec![3])));
        assert_eq!(
            parse("W/\"4\", \"5\""),
            Some(Precondition::Versions(vec![4, 5]))
        );
        assert_eq!(parse("*"), Some(Precondition::Any));
        assert_eq!(parse("3"), Some(Precondition::Versions(vec![])));
        assert_eq!(if_match(&TestRequest::default().to_http_request()), None);
    }
}
