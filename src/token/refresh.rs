//! Opaque refresh tokens and the rotation decision.
//!
//! A refresh token is `rt_` + base64url(32 random bytes): 256 bits of entropy, no
//! structure to attack. Only its SHA-256 digest is stored, so a database leak does
//! not yield usable tokens (OWASP Session Management Cheat Sheet; a fast hash is
//! enough because the input is random, not a password).
//!
//! Rotation follows RFC 9700 (OAuth 2.0 Security BCP) §4.14.2 / RFC 6749 §10.4:
//! every use rotates the token; presenting an already-rotated token is treated as
//! theft and revokes the whole family (session), except within a short grace
//! window that absorbs benign races (two tabs, a retried request).
//! [`decide`] is that policy as a pure function of the stored row and the clock.

use crate::crypto::encoding::{b64url_decode, b64url_encode};
use crate::crypto::mac::sha256_hex;

/// Prefix of every refresh token (recognisable in logs and by secret scanners).
pub const PREFIX: &str = "rt_";

/// Longest string [`looks_valid`] accepts.
pub const MAX_LEN: usize = 200;

/// Random bytes in a token (256 bits).
const RANDOM_LEN: usize = 32;

/// `rt_` + base64url (no padding) of 32 random bytes: 46 characters.
pub fn format_token(random: &[u8; 32]) -> String {
    format!("{PREFIX}{}", b64url_encode(random))
}

/// The storage key of a token: lowercase hex SHA-256 of the whole token string.
pub fn hash_token(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// The one successor of the token whose hash is `parent_hash`: `rt_` + base64url of
/// HMAC-SHA-256(`key`, `parent_hash`). Deterministic, so a rotated token presented again
/// within the grace window gets the *same* successor as the first presenter (one live
/// branch per session: a replayed stolen token joins the victim's chain, where the next
/// reuse detection sees it, instead of starting a parallel one). Unpredictable without
/// the server's key, like a random token.
pub fn successor(key: &[u8], parent_hash: &str) -> String {
    format_token(&crate::crypto::mac::hmac_sha256(key, parent_hash.as_bytes()))
}

/// Cheap sanity check before any database lookup: at most [`MAX_LEN`] characters,
/// the `rt_` prefix, and a strict base64url body of at least 32 bytes.
pub fn looks_valid(token: &str) -> bool {
    if token.len() > MAX_LEN {
        return false;
    }
    token.strip_prefix(PREFIX).and_then(b64url_decode).is_some_and(|bytes| bytes.len() >= RANDOM_LEN)
}

/// The stored state of one refresh token and of its family (session).
/// All times are unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredRefresh {
    /// The token stops working at this instant.
    pub expires_at: i64,
    /// When this token was exchanged for a successor, if it was.
    pub rotated_at: Option<i64>,
    /// This token was revoked (logout).
    pub revoked: bool,
    /// Absolute end of the session: rotation never extends past it.
    pub family_expires_at: i64,
    /// The whole session was revoked (logout everywhere, reuse detected, password change).
    pub family_revoked: bool,
}

/// What to do with a presented refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Valid and unused: issue a successor and mark this one rotated.
    Rotate,
    /// Already rotated, but within the grace window: a benign concurrent retry.
    /// Issue new tokens in the same family without revoking anything.
    GraceReissue,
    /// Already rotated and outside the grace window: presumed stolen. The caller
    /// revokes the whole family and answers `refresh_token_reused`.
    Reuse,
    /// Unknown, revoked or expired: refuse, change nothing.
    Reject,
}

/// The rotation policy. Checks, in order:
///
/// 1. `None` (no such token hash) → [`RefreshDecision::Reject`].
/// 2. Family revoked or token revoked → `Reject`. A revoked family is final: even
///    a reuse of one of its tokens has nothing left to revoke.
/// 3. Family expired (`now >= family_expires_at`) or token expired
///    (`now >= expires_at`) → `Reject`. Expiry is checked before reuse so that an
///    old, expired token cannot be replayed to kill a live session.
/// 4. Never rotated → [`RefreshDecision::Rotate`].
/// 5. Rotated at `t` and `now - t <= grace_secs` → [`RefreshDecision::GraceReissue`]
///    (with `grace_secs == 0`, only a retry within the same second qualifies; a
///    negative grace disables the window for any `now >= t`).
/// 6. Otherwise → [`RefreshDecision::Reuse`]: the caller revokes the family.
pub fn decide(row: Option<&StoredRefresh>, now: i64, grace_secs: i64) -> RefreshDecision {
    let Some(row) = row else {
        return RefreshDecision::Reject;
    };
    if row.family_revoked || row.revoked {
        return RefreshDecision::Reject;
    }
    if now >= row.family_expires_at || now >= row.expires_at {
        return RefreshDecision::Reject;
    }
    match row.rotated_at {
        None => RefreshDecision::Rotate,
        Some(t) if now.saturating_sub(t) <= grace_secs => RefreshDecision::GraceReissue,
        Some(_) => RefreshDecision::Reuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_successor_is_deterministic_keyed_and_well_formed() {
        let parent = hash_token(&format_token(&[7u8; 32]));
        let a = successor(b"key-one-0123456789abcdef0123456789", &parent);
        assert_eq!(a, successor(b"key-one-0123456789abcdef0123456789", &parent));
        assert_ne!(a, successor(b"key-two-0123456789abcdef0123456789", &parent));
        assert_ne!(a, successor(b"key-one-0123456789abcdef0123456789", &hash_token(&a)));
        assert!(looks_valid(&a) && a.len() == 46);
    }
    use RefreshDecision::*;

    const T0: i64 = 1_700_000_000;

    fn live() -> StoredRefresh {
        StoredRefresh {
            expires_at: T0 + 3_600,
            rotated_at: None,
            revoked: false,
            family_expires_at: T0 + 86_400,
            family_revoked: false,
        }
    }

    fn rotated(at: i64) -> StoredRefresh {
        StoredRefresh { rotated_at: Some(at), ..live() }
    }

    #[test]
    fn decision_table() {
        let grace = 10;
        let cases: Vec<(&str, Option<StoredRefresh>, i64, i64, RefreshDecision)> = vec![
            ("unknown token", None, T0, grace, Reject),
            ("fresh token", Some(live()), T0, grace, Rotate),
            ("fresh token, last second", Some(live()), T0 + 3_599, grace, Rotate),
            ("token revoked", Some(StoredRefresh { revoked: true, ..live() }), T0, grace, Reject),
            ("family revoked", Some(StoredRefresh { family_revoked: true, ..live() }), T0, grace, Reject),
            (
                "family revoked, rotated token",
                Some(StoredRefresh { family_revoked: true, ..rotated(T0 - 100) }),
                T0,
                grace,
                Reject,
            ),
            ("token expired exactly now", Some(live()), T0 + 3_600, grace, Reject),
            ("token expired", Some(live()), T0 + 3_601, grace, Reject),
            ("family expired exactly now", Some(StoredRefresh { family_expires_at: T0, ..live() }), T0, grace, Reject),
            (
                "family expired before token",
                Some(StoredRefresh { family_expires_at: T0 - 1, ..live() }),
                T0,
                grace,
                Reject,
            ),
            (
                "expired rotated token is not reuse",
                Some(StoredRefresh { expires_at: T0 - 1, ..rotated(T0 - 100) }),
                T0,
                grace,
                Reject,
            ),
            ("rotated same second", Some(rotated(T0)), T0, grace, GraceReissue),
            ("rotated within grace", Some(rotated(T0 - 5)), T0, grace, GraceReissue),
            ("rotated exactly at grace", Some(rotated(T0 - 10)), T0, grace, GraceReissue),
            ("rotated grace + 1", Some(rotated(T0 - 11)), T0, grace, Reuse),
            ("rotated long ago", Some(rotated(T0 - 3_000)), T0, grace, Reuse),
            ("rotated in the future (clock skew)", Some(rotated(T0 + 5)), T0, grace, GraceReissue),
            ("grace 0, same second", Some(rotated(T0)), T0, 0, GraceReissue),
            ("grace 0, one second later", Some(rotated(T0 - 1)), T0, 0, Reuse),
            ("grace 0, fresh token", Some(live()), T0, 0, Rotate),
            ("negative grace", Some(rotated(T0)), T0, -1, Reuse),
            ("extreme times do not overflow", Some(rotated(i64::MIN)), T0, grace, Reuse),
        ];
        for (name, row, now, grace, expected) in cases {
            assert_eq!(decide(row.as_ref(), now, grace), expected, "{name}");
        }
    }

    #[test]
    fn token_format_hash_and_sanity() {
        let t = format_token(&[0xab; 32]);
        assert!(t.starts_with("rt_"));
        assert_eq!(t.len(), 3 + 43);
        assert!(!t.contains('='));
        assert!(looks_valid(&t));
        assert_eq!(hash_token(&t).len(), 64);
        assert_eq!(hash_token(&t), sha256_hex(t.as_bytes()));
        assert_ne!(hash_token(&t), hash_token(&format_token(&[0xac; 32])));
        assert_eq!(hash_token(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn looks_valid_rejects_junk() {
        let good = format_token(&[1; 32]);
        let body = good.strip_prefix("rt_").unwrap().to_owned();
        let long_ok = format!("rt_{}", b64url_encode(&[1u8; 147]));
        assert!(long_ok.len() <= MAX_LEN && looks_valid(&long_ok));
        let too_long = format!("rt_{}", b64url_encode(&[1u8; 150]));
        assert!(too_long.len() > MAX_LEN);
        for bad in [
            String::new(),
            "rt_".into(),
            body.clone(),
            format!("RT_{body}"),
            format!("sk_live_{body}"),
            format!("rt_{}", &body[..42]),
            format!("rt_{}", b64url_encode(&[1; 31])),
            format!("rt_{body}="),
            format!("rt_{}", body.replace(|c: char| c.is_ascii_alphanumeric(), "+")),
            format!("rt_ {body}"),
            format!("{good}\n"),
            too_long,
            "x".repeat(10_000),
        ] {
            assert!(!looks_valid(&bad), "{bad:?}");
        }
    }
}
