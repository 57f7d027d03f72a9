//! `POST /password-reset/confirm`: whether a presented reset token may be used, and the
//! answers. The write batch repeats the check as a compare-and-set (single use under
//! concurrency); this is the decision it mirrors, with the clock passed in.

use crate::audit::{AuditAction, AuditEvent};
use crate::domain::ids::UserId;
use crate::error::{ApiError, ErrorCode};

use super::password::{key_events, RevokedKey};

/// A stored reset token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReset {
    pub user_id: UserId,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub superseded_at: Option<i64>,
}

/// Usable at `now`: unused, not superseded by a newer request, not expired.
pub fn usable(row: Option<&StoredReset>, now: i64) -> bool {
    row.is_some_and(|r| r.used_at.is_none() && r.superseded_at.is_none() && now < r.expires_at)
}

/// 400 `invalid_token` (audited with `reason`: `malformed` or `invalid_or_expired`).
pub fn invalid(reason: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidToken).with_message("Invalid or expired reset token").audited(
        AuditEvent::new(AuditAction::AuthPasswordResetConfirm, "auth").meta("success", false).meta("reason", reason),
    )
}

/// The events of a completed reset: one per revoked key, then the confirmation.
pub fn confirmed(user: &UserId, sessions_ended: usize, keys: &[RevokedKey]) -> Vec<AuditEvent> {
    let mut events = key_events(user, keys, "password_reset");
    events.push(
        AuditEvent::new(AuditAction::AuthPasswordResetConfirm, "auth")
            .user(user.as_str())
            .resource_id(user.as_str())
            .meta("success", true)
            .meta("sessionsEnded", sessions_ended)
            .meta("apiKeysRevoked", keys.len()),
    );
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::T0;

    #[test]
    fn a_token_is_usable_once_until_it_expires_or_is_superseded() {
        let live = StoredReset { user_id: UserId::new("u"), expires_at: T0 + 1800, used_at: None, superseded_at: None };
        assert!(usable(Some(&live), T0));
        assert!(usable(Some(&live), T0 + 1799));
        assert!(!usable(Some(&live), T0 + 1800), "expired at its instant");
        assert!(!usable(Some(&StoredReset { used_at: Some(T0), ..live.clone() }), T0 + 1));
        assert!(!usable(Some(&StoredReset { superseded_at: Some(T0), ..live }), T0 + 1));
        assert!(!usable(None, T0));
        let e = invalid("malformed");
        assert_eq!((e.status(), e.audit[0].metadata["reason"].as_str()), (400, Some("malformed")));
        let ev = confirmed(&UserId::new("u"), 2, &[]);
        assert_eq!(ev.last().map(|e| e.metadata["sessionsEnded"].clone()), Some(2.into()));
    }
}
