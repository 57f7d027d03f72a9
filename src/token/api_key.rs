//! API key format: `sk_live_` + base64url(32 random bytes).
//!
//! The prefix makes leaked keys recognisable to secret scanners (GitHub secret
//! scanning, gitleaks) and to humans. Keys are stored only as a SHA-256 digest plus
//! a short display prefix (OWASP REST Security Cheat Sheet, "API Keys"); a fast hash
//! is enough because the key carries 256 bits of randomness, so there is nothing to
//! brute-force.

use crate::crypto::encoding::{b64url_decode, b64url_encode};
use crate::crypto::mac::sha256_hex;

/// Prefix of every API key.
pub const PREFIX: &str = "sk_live_";

/// Random bytes in a key (256 bits).
const RANDOM_LEN: usize = 32;

/// Length of base64url(32 bytes) without padding.
const BODY_LEN: usize = 43;

/// Total key length: 8 + 43.
pub const KEY_LEN: usize = 8 + BODY_LEN;

/// Characters kept by [`key_prefix`]: the prefix plus 8 body characters (48 bits),
/// enough to recognise a key in a list, far too little to guess the rest.
pub const DISPLAY_PREFIX_LEN: usize = 16;

/// `sk_live_` + base64url (no padding) of 32 random bytes: 51 characters.
pub fn format_key(random: &[u8; 32]) -> String {
    format!("{PREFIX}{}", b64url_encode(random))
}

/// The first 16 characters of a key, stored and shown so a user can tell keys apart.
pub fn key_prefix(key: &str) -> String {
    key.chars().take(DISPLAY_PREFIX_LEN).collect()
}

/// The storage key of an API key: lowercase hex SHA-256 of the whole key string.
pub fn hash_key(key: &str) -> String {
    sha256_hex(key.as_bytes())
}

/// Exactly the shape [`format_key`] produces: the prefix, 51 characters in all, and a
/// canonical base64url body of 32 bytes.
pub fn looks_valid(key: &str) -> bool {
    key.len() == KEY_LEN
        && key.strip_prefix(PREFIX).and_then(b64url_decode).is_some_and(|bytes| bytes.len() == RANDOM_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_prefix_and_hash() {
        let k = format_key(&[0x5a; 32]);
        assert_eq!(k.len(), KEY_LEN);
        assert_eq!(k.len(), 51);
        assert!(k.starts_with(PREFIX));
        assert!(looks_valid(&k));
        let p = key_prefix(&k);
        assert_eq!(p.len(), 16);
        assert_eq!(p, k[..16]);
        assert!(p.starts_with(PREFIX));
        assert_eq!(hash_key(&k), sha256_hex(k.as_bytes()));
        assert_eq!(hash_key(&k).len(), 64);
        assert_ne!(hash_key(&k), hash_key(&format_key(&[0x5b; 32])));
        assert_eq!(key_prefix("short"), "short");
        assert_eq!(key_prefix(""), "");
        assert_eq!(key_prefix("ééééééééééééééééé").chars().count(), 16, "no panic on multibyte");
    }

    #[test]
    fn all_byte_values_give_valid_keys() {
        for b in [0x00u8, 0x3e, 0x3f, 0xfb, 0xff] {
            assert!(looks_valid(&format_key(&[b; 32])));
        }
    }

    #[test]
    fn looks_valid_rejects_junk() {
        let good = format_key(&[7; 32]);
        let body = good.strip_prefix(PREFIX).unwrap().to_owned();
        for bad in [
            String::new(),
            PREFIX.into(),
            body.clone(),
            format!("sk_test_{body}"),
            format!("SK_LIVE_{body}"),
            format!("rt_{body}"),
            format!("{PREFIX}{}", &body[..42]),
            format!("{PREFIX}{body}A"),
            format!("{PREFIX}{body}="),
            format!("{PREFIX}{}+", &body[..42]),
            format!("{PREFIX}{}/", &body[..42]),
            format!("{PREFIX}{} ", &body[..42]),
            format!("{PREFIX}{}é", &body[..41]),
            format!(" {good}"),
            "x".repeat(51),
        ] {
            assert!(!looks_valid(&bad), "{bad:?}");
        }
    }
}
