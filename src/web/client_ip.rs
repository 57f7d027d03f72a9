//! The client IP: `CF-Connecting-IP` (set by Cloudflare's edge and not forgeable there),
//! else the first `X-Forwarded-For` entry only when `TRUST_FORWARDED_FOR=true` (behind a
//! proxy the operator controls), else `unknown`.

use std::net::IpAddr;

pub fn client_ip(cf_connecting_ip: Option<&str>, x_forwarded_for: Option<&str>, trust_forwarded_for: bool) -> String {
    let valid = |s: &str| s.trim().parse::<IpAddr>().ok().map(|ip| ip.to_string());
    if let Some(ip) = cf_connecting_ip.and_then(valid) {
        return ip;
    }
    if trust_forwarded_for {
        if let Some(ip) = x_forwarded_for.and_then(|x| x.split(',').next()).and_then(valid) {
            return ip;
        }
    }
    "unknown".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_cf_connecting_ip() {
        assert_eq!(client_ip(Some("203.0.113.7"), Some("198.51.100.1"), true), "203.0.113.7");
        assert_eq!(client_ip(Some(" 2001:db8::1 "), None, false), "2001:db8::1");
    }

    #[test]
    fn forwarded_for_only_when_trusted() {
        assert_eq!(client_ip(None, Some("198.51.100.1, 10.0.0.1"), true), "198.51.100.1");
        assert_eq!(client_ip(None, Some("198.51.100.1"), false), "unknown");
        assert_eq!(client_ip(None, None, true), "unknown");
    }

    #[test]
    fn garbage_is_never_used_as_an_ip() {
        assert_eq!(client_ip(Some("not-an-ip"), None, false), "unknown");
        assert_eq!(client_ip(Some("1.2.3.4; DROP"), Some("x"), true), "unknown");
    }
}
