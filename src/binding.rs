//! Session binding (`SESSION_BIND_USER_AGENT`, `SESSION_BIND_IP`): a session is tied to
//! attributes of the client that opened it, so that a refresh token copied to another
//! device stops working. The attributes never sit readable in a token or in D1: the
//! session stores a keyed hash of them (HMAC-SHA-256 under a key derived from
//! `JWT_SECRET`), prefixed by the binding mode it was computed under.
//!
//! The User-Agent is bound by its *product family*: the header with every digit removed,
//! so `Chrome/120.0.6099.71` and `Chrome/121.0.6167.85` (a browser update, an OS version
//! bump) bind alike while another browser or platform does not. The IP is bound by its
//! /24 (IPv4) or /64 (IPv6) prefix, or exactly.

use crate::crypto::encoding::hex_encode;
use crate::crypto::mac::hmac_sha256;
use std::net::IpAddr;
use subtle::ConstantTimeEq;

/// How much of the client address a session is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpBinding {
    Off,
    /// The /24 (IPv4) or /64 (IPv6) the session was opened from.
    Prefix,
    /// The exact address.
    Exact,
}

impl IpBinding {
    pub fn parse(raw: &str) -> Option<IpBinding> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "false" | "off" | "no" | "0" => Some(IpBinding::Off),
            "prefix" => Some(IpBinding::Prefix),
            "exact" => Some(IpBinding::Exact),
            _ => None,
        }
    }
}

/// What sessions are bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingPolicy {
    pub user_agent: bool,
    pub ip: IpBinding,
}

impl BindingPolicy {
    /// The mode label stored in front of the hash: a session opened under another mode is
    /// not compared (see [`check`]).
    fn mode(&self) -> Option<&'static str> {
        match (self.user_agent, self.ip) {
            (false, IpBinding::Off) => None,
            (true, IpBinding::Off) => Some("ua"),
            (false, IpBinding::Prefix) => Some("net"),
            (false, IpBinding::Exact) => Some("ip"),
            (true, IpBinding::Prefix) => Some("ua+net"),
            (true, IpBinding::Exact) => Some("ua+ip"),
        }
    }
}

/// At most this much of the User-Agent header is read (and stored for display).
pub const MAX_USER_AGENT: usize = 256;

/// The first [`MAX_USER_AGENT`] characters of a header value.
pub fn truncated(ua: &str) -> &str {
    match ua.char_indices().nth(MAX_USER_AGENT) {
        Some((at, _)) => ua.get(..at).unwrap_or(ua),
        None => ua,
    }
}

/// The User-Agent's product family: the (truncated) header without its digits.
pub fn ua_family(ua: &str) -> String {
    truncated(ua).chars().filter(|c| !c.is_ascii_digit()).collect()
}

/// The /24 (IPv4) or /64 (IPv6) network of an address, e.g. `203.0.113.0/24`; `None`
/// when the text is not an address (no client IP known).
pub fn ip_prefix(ip: &str) -> Option<String> {
    match ip.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Some(format!("{a}.{b}.{c}.0/24"))
        }
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            Some(format!("{a:x}:{b:x}:{c:x}:{d:x}::/64"))
        }
    }
}

/// The value stored with a new session: `<mode>:<hex HMAC>` of the bound attributes, or
/// `None` when nothing is bound.
pub fn fingerprint(key: &[u8; 32], policy: BindingPolicy, ua: &str, ip: &str) -> Option<String> {
    let mode = policy.mode()?;
    let mut message = String::from(mode);
    if policy.user_agent {
        message.push_str("\nua=");
        message.push_str(&ua_family(ua));
    }
    let net = match policy.ip {
        IpBinding::Off => None,
        IpBinding::Prefix => Some(ip_prefix(ip).unwrap_or_else(|| "unknown".to_owned())),
        IpBinding::Exact => Some(ip.trim().parse::<IpAddr>().map_or_else(|_| "unknown".to_owned(), |a| a.to_string())),
    };
    if let Some(net) = net {
        message.push_str("\nip=");
        message.push_str(&net);
    }
    Some(format!("{mode}:{}", hex_encode(&hmac_sha256(key, message.as_bytes()))))
}

/// Whether a refresh may go on, given the session's stored fingerprint and the request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Match,
    /// Nothing to compare: the session was opened while nothing was bound, or under
    /// another binding mode (a setting changed since); it is not re-bound.
    Unbound,
    /// Another client: the session must end.
    Mismatch,
}

pub fn check(stored: Option<&str>, current: Option<&str>) -> Verdict {
    let (Some(stored), Some(current)) = (stored, current) else {
        return Verdict::Unbound;
    };
    let mode = |s: &str| s.split_once(':').map(|(m, _)| m.to_owned());
    if mode(stored) != mode(current) {
        return Verdict::Unbound;
    }
    if bool::from(stored.as_bytes().ct_eq(current.as_bytes())) {
        Verdict::Match
    } else {
        Verdict::Mismatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];
    const CHROME_120: &str =
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Safari/537.36";
    const CHROME_121: &str =
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.85 Safari/537.36";
    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
    const UA: BindingPolicy = BindingPolicy { user_agent: true, ip: IpBinding::Off };

    fn fp(policy: BindingPolicy, ua: &str, ip: &str) -> Option<String> {
        fingerprint(&KEY, policy, ua, ip)
    }

    #[test]
    fn a_browser_update_keeps_the_binding_another_browser_breaks_it() {
        let opened = fp(UA, CHROME_120, "198.51.100.7");
        assert_eq!(check(opened.as_deref(), fp(UA, CHROME_121, "203.0.113.9").as_deref()), Verdict::Match);
        assert_eq!(check(opened.as_deref(), fp(UA, FIREFOX, "198.51.100.7").as_deref()), Verdict::Mismatch);
        assert_eq!(check(opened.as_deref(), fp(UA, "", "198.51.100.7").as_deref()), Verdict::Mismatch);
    }

    #[test]
    fn ip_prefix_binding_tolerates_a_change_inside_the_prefix_only() {
        let net = BindingPolicy { user_agent: true, ip: IpBinding::Prefix };
        let opened = fp(net, FIREFOX, "198.51.100.7");
        assert_eq!(check(opened.as_deref(), fp(net, FIREFOX, "198.51.100.200").as_deref()), Verdict::Match);
        assert_eq!(check(opened.as_deref(), fp(net, FIREFOX, "198.51.101.7").as_deref()), Verdict::Mismatch);
        let exact = BindingPolicy { user_agent: false, ip: IpBinding::Exact };
        let opened = fp(exact, FIREFOX, "2001:db8::1");
        assert_eq!(check(opened.as_deref(), fp(exact, CHROME_120, "2001:db8:0::1").as_deref()), Verdict::Match);
        assert_eq!(check(opened.as_deref(), fp(exact, FIREFOX, "2001:db8::2").as_deref()), Verdict::Mismatch);
    }

    #[test]
    fn nothing_bound_or_another_mode_is_not_compared() {
        let off = BindingPolicy { user_agent: false, ip: IpBinding::Off };
        assert_eq!(fp(off, FIREFOX, "198.51.100.7"), None);
        assert_eq!(check(None, fp(UA, FIREFOX, "1.2.3.4").as_deref()), Verdict::Unbound);
        assert_eq!(check(fp(UA, FIREFOX, "1.2.3.4").as_deref(), None), Verdict::Unbound);
        let net = BindingPolicy { user_agent: true, ip: IpBinding::Prefix };
        let opened = fp(UA, FIREFOX, "1.2.3.4");
        assert_eq!(check(opened.as_deref(), fp(net, CHROME_120, "1.2.3.4").as_deref()), Verdict::Unbound);
    }

    #[test]
    fn the_fingerprint_reveals_neither_attribute_and_depends_on_the_key() {
        let f = fp(UA, FIREFOX, "198.51.100.7").unwrap();
        assert!(f.starts_with("ua:") && f.len() == 3 + 64, "{f}");
        assert!(!f.contains("Firefox") && !f.contains("198.51"));
        assert_ne!(fingerprint(&[8; 32], UA, FIREFOX, "198.51.100.7").unwrap(), f);
    }

    #[test]
    fn prefixes_and_families() {
        assert_eq!(ip_prefix("203.0.113.77").as_deref(), Some("203.0.113.0/24"));
        assert_eq!(ip_prefix("2001:db8:85a3:8d3:1319:8a2e:370:7348").as_deref(), Some("2001:db8:85a3:8d3::/64"));
        assert_eq!(ip_prefix("unknown"), None);
        assert_eq!(ua_family("Chrome/120.0.1"), "Chrome/..");
        let long = "é".repeat(300);
        assert_eq!(truncated(&long).chars().count(), MAX_USER_AGENT);
        assert_eq!(IpBinding::parse(" Prefix "), Some(IpBinding::Prefix));
        assert_eq!(IpBinding::parse("false"), Some(IpBinding::Off));
        assert_eq!(IpBinding::parse("maybe"), None);
    }
}
