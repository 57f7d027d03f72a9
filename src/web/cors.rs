//! CORS policy: an allowlist of origins (`CORS_ORIGINS`), credentials allowed, and
//! `Vary: Origin` always so caches never mix answers for different origins.
//! A foreign origin gets no `Access-Control-Allow-Origin` at all.

pub const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
pub const ALLOW_HEADERS: &str = "Content-Type, Authorization, X-API-Key, X-CSRF-Token, X-Request-Id, X-D1-Bookmark";
pub const EXPOSE_HEADERS: &str = "X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, Retry-After, X-D1-Bookmark";
/// Browsers cap this (Chromium at 2 hours); 10 minutes keeps policy changes quick to apply.
pub const MAX_AGE_SECS: &str = "600";

/// True when `origin` is in the allowlist (exact match, no trailing slash).
pub fn is_allowed(origin: &str, allowed: &[String]) -> bool {
    !origin.is_empty() && allowed.iter().any(|a| a == origin)
}

/// Headers for a normal (non-preflight) response.
pub fn response_headers(origin: Option<&str>, allowed: &[String]) -> Vec<(&'static str, String)> {
    let mut h = vec![("Vary", "Origin".to_owned())];
    if let Some(o) = origin.filter(|o| is_allowed(o, allowed)) {
        h.push(("Access-Control-Allow-Origin", o.to_owned()));
        h.push(("Access-Control-Allow-Credentials", "true".to_owned()));
        h.push(("Access-Control-Expose-Headers", EXPOSE_HEADERS.to_owned()));
    }
    h
}

/// Headers for a preflight answer, or `None` when the origin is not allowed.
pub fn preflight_headers(origin: Option<&str>, allowed: &[String]) -> Option<Vec<(&'static str, String)>> {
    let o = origin.filter(|o| is_allowed(o, allowed))?;
    Some(vec![
        ("Vary", "Origin".to_owned()),
        ("Access-Control-Allow-Origin", o.to_owned()),
        ("Access-Control-Allow-Credentials", "true".to_owned()),
        ("Access-Control-Allow-Methods", ALLOW_METHODS.to_owned()),
        ("Access-Control-Allow-Headers", ALLOW_HEADERS.to_owned()),
        ("Access-Control-Expose-Headers", EXPOSE_HEADERS.to_owned()),
        ("Access-Control-Max-Age", MAX_AGE_SECS.to_owned()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow() -> Vec<String> {
        vec!["https://app.example".into(), "http://localhost:3000".into()]
    }

    #[test]
    fn allowed_origin_is_echoed_with_credentials() {
        let h = response_headers(Some("https://app.example"), &allow());
        assert!(h.contains(&("Access-Control-Allow-Origin", "https://app.example".into())));
        assert!(h.contains(&("Access-Control-Allow-Credentials", "true".into())));
        assert!(h.contains(&("Vary", "Origin".into())));
    }

    #[test]
    fn foreign_or_missing_origin_gets_no_allow_origin() {
        for o in [Some("https://evil.example"), Some("https://app.example.evil"), Some("null"), Some(""), None] {
            let h = response_headers(o, &allow());
            assert!(h.iter().all(|(n, _)| *n != "Access-Control-Allow-Origin"), "{o:?}");
            assert!(h.contains(&("Vary", "Origin".into())));
            assert!(preflight_headers(o, &allow()).is_none());
        }
    }

    #[test]
    fn preflight_lists_methods_headers_and_max_age() {
        let h = preflight_headers(Some("http://localhost:3000"), &allow()).unwrap();
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()).unwrap();
        assert!(get("Access-Control-Allow-Headers").contains("X-API-Key"));
        assert!(get("Access-Control-Allow-Headers").contains("X-CSRF-Token"));
        assert!(get("Access-Control-Allow-Methods").contains("PATCH"));
        assert!(get("Access-Control-Expose-Headers").contains("Retry-After"));
        assert_eq!(get("Access-Control-Max-Age"), "600");
    }
}
