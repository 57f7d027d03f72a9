//! `POST /refresh`: rotation, the grace window and reuse detection
//! (see [`crate::token::refresh::decide`] for the rules), as a plan for the handler.
//!
//! The presented token has exactly one successor, derived from it with a key
//! ([`crate::token::refresh::successor`]): a concurrent or grace-window presentation gets
//! the same token as the first presenter, so a session never has more than one live branch.

use crate::audit::{AuditAction, AuditEvent};
use crate::binding::{self, Verdict};
use crate::domain::ids::{SessionId, UserId};
use crate::domain::role::Role;
use crate::error::{ApiError, ErrorCode};
use crate::token::refresh::{self, RefreshDecision, StoredRefresh};

/// A presented refresh token as loaded, with its session and user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    pub family_id: SessionId,
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
    pub is_active: bool,
    pub expires_at: i64,
    pub rotated_at: Option<i64>,
    /// The hash of the successor it was rotated to.
    pub replaced_by: Option<String>,
    pub family_expires_at: i64,
    pub family_revoked: bool,
    /// The session's binding fingerprint (`binding::fingerprint`), if it is bound.
    pub binding: Option<String>,
}

/// What the handler does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// 401: unknown, expired, revoked, or a disabled user's.
    Reject,
    /// Presented again after the grace window: revoke the whole family, 401
    /// `refresh_token_reused` (this error, audited).
    RevokeFamily(ApiError),
    /// Unused: compare-and-set the rotation to the successor (a lost race is the grace case).
    Rotate,
    /// Rotated moments ago to this same successor: hand it out again.
    Reissue,
    /// A good token from a client the session is not bound to: end the session, 401
    /// `invalid_token` (this error, audited).
    Unbind(ApiError),
}

/// 401 for every refused refresh token, whatever the reason.
pub fn rejected() -> ApiError {
    ApiError::new(ErrorCode::Unauthorized).with_message("Invalid or expired refresh token")
}

/// `successor_hash`: the hash of the token this one derives to under the current key.
pub fn plan(row: Option<&Presented>, now: i64, grace_secs: i64, successor_hash: &str) -> Plan {
    let Some(row) = row else {
        return Plan::Reject;
    };
    let stored = StoredRefresh {
        expires_at: row.expires_at,
        rotated_at: row.rotated_at,
        revoked: false,
        family_expires_at: row.family_expires_at,
        family_revoked: row.family_revoked || !row.is_active,
    };
    match refresh::decide(Some(&stored), now, grace_secs) {
        RefreshDecision::Reject => Plan::Reject,
        RefreshDecision::Rotate => Plan::Rotate,
        // Rotated to a successor the current key does not derive (JWT_SECRET changed since).
        RefreshDecision::GraceReissue if row.replaced_by.as_deref() != Some(successor_hash) => Plan::Reject,
        RefreshDecision::GraceReissue => Plan::Reissue,
        RefreshDecision::Reuse => Plan::RevokeFamily(
            ApiError::new(ErrorCode::RefreshTokenReused).audited(
                AuditEvent::new(AuditAction::AuthRefreshTokenReused, "auth")
                    .user(row.user_id.as_str())
                    .resource_id(row.family_id.as_str())
                    .meta("rotatedSecondsAgo", now - row.rotated_at.unwrap_or(now)),
            ),
        ),
    }
}

/// Applies session binding to a plan that would hand out tokens: `client` is the
/// request's fingerprint under the current settings, `ip_prefix` its network (audited;
/// neither the address nor the User-Agent is).
pub fn bind(plan: Plan, row: Option<&Presented>, client: Option<&str>, ip_prefix: Option<&str>) -> Plan {
    let (Plan::Rotate | Plan::Reissue, Some(row)) = (&plan, row) else {
        return plan;
    };
    match binding::check(row.binding.as_deref(), client) {
        Verdict::Match | Verdict::Unbound => plan,
        Verdict::Mismatch => Plan::Unbind(
            ApiError::new(ErrorCode::InvalidAuthToken)
                .with_message("This session belongs to another client; sign in again")
                .audited(
                    AuditEvent::new(AuditAction::AuthSessionBindingMismatch, "auth")
                        .user(row.user_id.as_str())
                        .resource_id(row.family_id.as_str())
                        .meta("ipPrefix", ip_prefix.unwrap_or("unknown")),
                ),
        ),
    }
}

/// The `auth.refresh` event (`grace`: the successor had been issued already).
pub fn refreshed(row: &Presented, grace: bool) -> AuditEvent {
    AuditEvent::new(AuditAction::AuthRefresh, "auth")
        .user(row.user_id.as_str())
        .resource_id(row.family_id.as_str())
        .meta("grace", grace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::T0;

    fn row() -> Presented {
        Presented {
            family_id: SessionId::new("f"),
            user_id: UserId::new("u"),
            email: "a@b.co".into(),
            role: Role::User,
            is_active: true,
            expires_at: T0 + 3600,
            rotated_at: None,
            replaced_by: None,
            family_expires_at: T0 + 86_400,
            family_revoked: false,
            binding: Some("ua:aa".into()),
        }
    }

    #[test]
    fn an_unused_token_rotates_and_unknown_or_dead_ones_are_rejected() {
        assert_eq!(plan(Some(&row()), T0, 10, "h"), Plan::Rotate);
        assert_eq!(plan(None, T0, 10, "h"), Plan::Reject);
        assert_eq!(plan(Some(&Presented { is_active: false, ..row() }), T0, 10, "h"), Plan::Reject);
        assert_eq!(plan(Some(&Presented { family_revoked: true, ..row() }), T0, 10, "h"), Plan::Reject);
        assert_eq!(plan(Some(&row()), T0 + 3600, 10, "h"), Plan::Reject, "expired at its instant");
    }

    #[test]
    fn within_grace_the_same_successor_is_reissued_and_later_the_family_dies() {
        let rotated = Presented { rotated_at: Some(T0), replaced_by: Some("h".into()), ..row() };
        assert_eq!(plan(Some(&rotated), T0 + 10, 10, "h"), Plan::Reissue);
        assert_eq!(plan(Some(&rotated), T0 + 10, 10, "other"), Plan::Reject, "successor of an old key");
        let Plan::RevokeFamily(e) = plan(Some(&rotated), T0 + 11, 10, "h") else { panic!("reuse") };
        assert_eq!(e.code, ErrorCode::RefreshTokenReused);
        assert_eq!(e.audit[0].metadata["rotatedSecondsAgo"], 11);
        assert_eq!(refreshed(&rotated, true).metadata["grace"], true);
    }

    #[test]
    fn a_bound_session_refreshes_only_for_its_client() {
        let r = row();
        assert_eq!(bind(Plan::Rotate, Some(&r), Some("ua:aa"), None), Plan::Rotate);
        assert_eq!(bind(Plan::Reissue, Some(&r), Some("ua:aa"), None), Plan::Reissue);
        let Plan::Unbind(e) = bind(Plan::Rotate, Some(&r), Some("ua:bb"), Some("198.51.100.0/24")) else {
            panic!("mismatch")
        };
        assert_eq!((e.code, e.audit[0].action), (ErrorCode::InvalidAuthToken, AuditAction::AuthSessionBindingMismatch));
        assert_eq!(e.audit[0].metadata["ipPrefix"], "198.51.100.0/24");
        assert!(matches!(bind(Plan::Reissue, Some(&r), Some("ua:bb"), None), Plan::Unbind(_)));
        // Unbound sessions, another mode, and plans that hand out nothing are left alone.
        assert_eq!(bind(Plan::Rotate, Some(&Presented { binding: None, ..row() }), Some("ua:bb"), None), Plan::Rotate);
        assert_eq!(bind(Plan::Rotate, Some(&r), Some("ua+net:bb"), None), Plan::Rotate);
        assert_eq!(bind(Plan::Reject, Some(&r), Some("ua:bb"), None), Plan::Reject);
    }
}
