//! Security headers sent on every response, errors and 404 included (contract
//! "Security headers"; OWASP Secure Headers Project recommendations for APIs).

/// Headers on every response.
pub const SECURITY_HEADERS: [(&str, &str); 9] = [
    ("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("X-XSS-Protection", "0"),
    // API answers are per-caller and often carry tokens: never cache them anywhere.
    ("Cache-Control", "no-store"),
];

/// The largest request body accepted (contract: over 64 KiB is 413).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// True when a `Content-Type` value is JSON (`application/json`, optionally with parameters,
/// or a `+json` structured suffix).
pub fn is_json_content_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        for ok in
            ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"]
        {
            assert!(is_json_content_type(ok), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "",
            "json",
            "text/json+x",
        ] {
            assert!(!is_json_content_type(bad), "{bad}");
        }
    }

    #[test]
    fn every_contract_header_is_present() {
        let names: Vec<&str> = SECURITY_HEADERS.iter().map(|(n, _)| *n).collect();
        for n in [
            "Strict-Transport-Security",
            "Content-Security-Policy",
            "X-Frame-Options",
            "X-Content-Type-Options",
            "Referrer-Policy",
            "Cross-Origin-Opener-Policy",
            "Cross-Origin-Resource-Policy",
            "X-XSS-Protection",
            "Cache-Control",
        ] {
            assert!(names.contains(&n), "{n}");
        }
    }
}
