//! The checked email address: the only way an outside string becomes an account key.
//!
//! CONTRACT.md "Auth": emails are trimmed and lower-cased before use, must look like
//! `local@domain.tld`, ASCII only (IDN domains in punycode), at most 254 characters.
//! Normalising here, once, is what makes `Race@X.com` and ` race@x.com ` the same
//! account (the 409 on register, the lockout key, the reset lookup).
//!
//! The grammar is a deliberate subset of RFC 5321/5322: dot-atom local parts only (no
//! quoted strings, comments or IP-literal domains), which is what real mailboxes use.

use std::fmt;

/// Whole address limit: RFC 5321 §4.5.3.1.3 path limit (256) minus the angle brackets
/// (RFC 3696 erratum 1690); also the contract's "at most 254 characters".
pub const MAX_EMAIL_LEN: usize = 254;
/// Local-part limit, RFC 5321 §4.5.3.1.1.
pub const MAX_LOCAL_LEN: usize = 64;
/// DNS label limit, RFC 1035 §2.3.4.
pub const MAX_LABEL_LEN: usize = 63;

/// Non-alphanumeric characters allowed in a dot-atom local part (RFC 5322 §3.2.3
/// `atext`), plus the dot, whose placement is checked separately.
const LOCAL_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~.-";

/// A syntactically valid, trimmed, lower-case ASCII email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// Trims, lower-cases and validates `raw`. The error is a human-readable
    /// message suitable for a `validation_failed` detail on the `email` field.
    pub fn parse(raw: &str) -> Result<Email, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("Email is required".into());
        }
        if !s.is_ascii() {
            return Err("Email must contain ASCII characters only (use punycode for international domains)".into());
        }
        if s.len() > MAX_EMAIL_LEN {
            return Err(format!("Email must be at most {MAX_EMAIL_LEN} characters"));
        }
        let s = s.to_ascii_lowercase();
        let mut parts = s.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err("Email must contain exactly one '@'".into());
        };
        check_local(local)?;
        check_domain(domain)?;
        Ok(Email(s))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The normalised address, owned.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Email {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

fn check_local(local: &str) -> Result<(), String> {
    if local.is_empty() {
        return Err("Email is missing the part before '@'".into());
    }
    if local.len() > MAX_LOCAL_LEN {
        return Err(format!("The part before '@' must be at most {MAX_LOCAL_LEN} characters"));
    }
    if let Some(c) = local.chars().find(|c| !(c.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(*c))) {
        return Err(format!("Email contains a character that is not allowed: {c:?}"));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("The part before '@' must not start or end with a dot or contain two dots in a row".into());
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        return Err("Email is missing the domain after '@'".into());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("Email domain must have a top-level domain (like example.com)".into());
    }
    for label in &labels {
        if label.is_empty() {
            return Err("Email domain must not start or end with a dot or contain two dots in a row".into());
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(format!("Each part of the email domain must be at most {MAX_LABEL_LEN} characters"));
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err("Email domain may contain only letters, digits, hyphens and dots".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("Parts of the email domain must not start or end with a hyphen".into());
        }
    }
    let tld = labels.last().copied().unwrap_or_default();
    let alphabetic = tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic());
    // Punycode A-label (RFC 5890 §2.3.2.1): "xn--" then at least one character.
    let punycode = tld.len() > 4 && tld.starts_with("xn--");
    if !(alphabetic || punycode) {
        return Err("Email top-level domain must be at least two letters (or punycode)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises_good_addresses() {
        let cases = [
            ("  Race@X.com ", "race@x.com"),
            ("race@x.com", "race@x.com"),
            ("USER@EXAMPLE.ORG", "user@example.org"),
            ("\tfirst.last@sub.example.co.uk\n", "first.last@sub.example.co.uk"),
            ("a+tag@example.com", "a+tag@example.com"),
            ("o'brien@example.ie", "o'brien@example.ie"),
            ("x!#$%&'*+/=?^_`{|}~-y@example.com", "x!#$%&'*+/=?^_`{|}~-y@example.com"),
            ("a@b.co", "a@b.co"),
            ("user@my-host.example", "user@my-host.example"),
            ("user@123.example", "user@123.example"),
            ("user@xn--bcher-kva.xn--p1ai", "user@xn--bcher-kva.xn--p1ai"),
            ("user@example.XN--P1AI", "user@example.xn--p1ai"),
        ];
        for (raw, want) in cases {
            let e = Email::parse(raw).unwrap_or_else(|m| panic!("{raw:?} rejected: {m}"));
            assert_eq!(e.as_str(), want, "{raw:?}");
        }
    }

    #[test]
    fn rejects_bad_addresses() {
        let cases = [
            "",
            "   ",
            "plainaddress",
            "@example.com",
            "user@",
            "user@@example.com",
            "a@b@example.com",
            "user@localhost",
            "user@example",
            "user@example.c",
            "user@example.c0m",
            "user@example.123",
            "user@.example.com",
            "user@example.com.",
            "user@example..com",
            "user@-example.com",
            "user@example-.com",
            "user@exa_mple.com",
            "user@exa mple.com",
            "user@[127.0.0.1]",
            "user@xn--.com.xn--",
            ".user@example.com",
            "user.@example.com",
            "us..er@example.com",
            "us er@example.com",
            "\"quoted\"@example.com",
            "user(comment)@example.com",
            "user,name@example.com",
            "usér@example.com",
            "user@bücher.de",
            "user@example.com\u{0}",
        ];
        for raw in cases {
            assert!(Email::parse(raw).is_err(), "{raw:?} accepted");
        }
    }

    #[test]
    fn enforces_length_limits() {
        let local64 = "a".repeat(64);
        assert!(Email::parse(&format!("{local64}@example.com")).is_ok());
        assert!(Email::parse(&format!("a{local64}@example.com")).is_err());

        let label63 = "b".repeat(63);
        assert!(Email::parse(&format!("u@{label63}.com")).is_ok());
        assert!(Email::parse(&format!("u@b{label63}.com")).is_err());

        // 254 exactly: "u@" + 63 + "." + 63 + "." + 63 + "." + 56 + ".com"
        let l = "c".repeat(63);
        let tail = "d".repeat(56);
        let at254 = format!("u@{l}.{l}.{l}.{tail}.com");
        assert_eq!(at254.len(), 254);
        assert!(Email::parse(&at254).is_ok());
        let at255 = format!("u@{l}.{l}.{l}.{tail}e.com");
        assert_eq!(at255.len(), 255);
        assert!(Email::parse(&at255).is_err());
        // Surrounding whitespace does not count against the limit.
        assert!(Email::parse(&format!("  {at254}  ")).is_ok());
    }

    #[test]
    fn messages_are_human_readable() {
        assert_eq!(Email::parse("").unwrap_err(), "Email is required");
        assert!(Email::parse("a@b@c.com").unwrap_err().contains("exactly one '@'"));
        assert!(Email::parse("us er@example.com").unwrap_err().contains("' '"));
        assert!(Email::parse("usér@example.com").unwrap_err().contains("ASCII"));
    }

    #[test]
    fn display_serialize_and_into_inner_show_the_normalised_form() {
        let e = Email::parse(" A@B.CO ").unwrap();
        assert_eq!(e.to_string(), "a@b.co");
        assert_eq!(serde_json::to_value(&e).unwrap(), "a@b.co");
        assert_eq!(e.clone().into_inner(), "a@b.co");
        assert_eq!(e, Email::parse("a@b.co").unwrap());
    }
}
