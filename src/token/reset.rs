//! Password-reset tokens (OWASP Forgot Password Cheat Sheet): at least 32 random bytes,
//! single use, expiring, stored only as SHA-256. The token travels only in the delivered
//! message (outbox / queue), never in logs or the audit log.

use crate::crypto::{encoding, mac};

pub const PREFIX: &str = "prt_";
/// `prt_` + base64url (no padding) of 32 bytes.
pub const TOKEN_LEN: usize = 4 + 43;

pub fn format_token(random: &[u8; 32]) -> String {
    format!("{PREFIX}{}", encoding::b64url_encode(random))
}

pub fn hash_token(token: &str) -> String {
    mac::sha256_hex(token.as_bytes())
}

/// Shape check before any lookup: prefix, length and alphabet.
pub fn looks_valid(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token.strip_prefix(PREFIX).and_then(encoding::b64url_decode).is_some_and(|b| b.len() == 32)
}

/// The link delivered to the user.
pub fn reset_link(app_url: &str, token: &str) -> String {
    format!("{}/reset-password?token={token}", app_url.trim_end_matches('/'))
}

/// The message body of a reset email.
pub fn message_body(app_url: &str, token: &str, ttl_secs: i64) -> String {
    let minutes = (ttl_secs + 59) / 60;
    format!(
        "Someone asked to reset the password of your account.\n\n\
         To choose a new password, open this link within {minutes} minutes:\n{}\n\n\
         If this was not you, ignore this message: your password stays as it is.",
        reset_link(app_url, token)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_carry_256_bits() {
        let t = format_token(&[7u8; 32]);
        assert!(t.starts_with("prt_"));
        assert_eq!(t.len(), TOKEN_LEN);
        assert!(looks_valid(&t));
        assert_ne!(format_token(&[7u8; 32]), format_token(&[8u8; 32]));
        assert_eq!(hash_token(&t).len(), 64);
        assert_eq!(hash_token(&t), hash_token(&t));
        assert_ne!(hash_token(&t), t);
    }

    #[test]
    fn malformed_tokens_are_rejected_before_lookup() {
        let t = format_token(&[1u8; 32]);
        for bad in [
            "",
            "prt_",
            "rt_abc",
            &t[..TOKEN_LEN - 1],
            &format!("{t}A"),
            &t.replace("prt_", "PRT_"),
            &format!("prt_{}", "!".repeat(43)),
        ] {
            assert!(!looks_valid(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_message_carries_the_link_and_lifetime() {
        let body = message_body("https://app.example/", "prt_x", 1800);
        assert!(body.contains("https://app.example/reset-password?token=prt_x"));
        assert!(body.contains("30 minutes"));
    }
}
