//! CSRF defence for cookie-authenticated writes: the request must come from an allowed
//! origin (`Origin` header), or, without `Origin`, carry `Sec-Fetch-Site: same-origin`
//! (OWASP CSRF Prevention Cheat Sheet: "Verifying Origin with standard headers" and
//! "Fetch Metadata"). Both headers are set by browsers and cannot be forged by a page;
//! non-browser clients hold no victim cookies. Bearer and API-key requests are exempt.

/// True for methods that change state.
pub fn is_state_changing(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH" | "DELETE")
}

/// Whether a cookie-authenticated state-changing request may proceed.
pub fn cookie_write_allowed(origin: Option<&str>, sec_fetch_site: Option<&str>, allowed: &[String]) -> bool {
    match origin.filter(|o| !o.is_empty()) {
        Some(o) => super::cors::is_allowed(o, allowed) || sec_fetch_site == Some("same-origin"),
        None => sec_fetch_site == Some("same-origin"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_allowlist_or_same_origin_fetch_metadata() {
        let allow = vec!["https://app.example".to_owned()];
        assert!(cookie_write_allowed(Some("https://app.example"), None, &allow));
        assert!(cookie_write_allowed(None, Some("same-origin"), &allow));
        assert!(cookie_write_allowed(Some("https://api.example"), Some("same-origin"), &allow));
        assert!(!cookie_write_allowed(Some("https://evil.example"), None, &allow));
        assert!(!cookie_write_allowed(Some("https://evil.example"), Some("cross-site"), &allow));
        assert!(!cookie_write_allowed(None, Some("same-site"), &allow));
        assert!(!cookie_write_allowed(None, Some("cross-site"), &allow));
        assert!(!cookie_write_allowed(None, None, &allow));
        assert!(!cookie_write_allowed(Some("null"), None, &allow));
    }

    #[test]
    fn only_writes_are_checked() {
        for m in ["POST", "PUT", "PATCH", "DELETE"] {
            assert!(is_state_changing(m));
        }
        for m in ["GET", "HEAD", "OPTIONS"] {
            assert!(!is_state_changing(m));
        }
    }
}
