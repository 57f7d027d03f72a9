//! `PUT /password`: what a verified change writes, and its audit events. The current
//! password is checked like a login (see [`super::login`]): a wrong one counts towards
//! the account's lockout.

use crate::audit::{AuditAction, AuditEvent};
use crate::domain::ids::{ApiKeyId, UserId};
use crate::error::{ApiError, ErrorCode};

/// The answer to a wrong current password (before the lockout classification).
pub fn wrong_current(user: &UserId, email: &str) -> (ApiError, AuditEvent) {
    let error = ApiError::new(ErrorCode::InvalidCredentials).with_message("Current password is incorrect");
    let event = AuditEvent::new(AuditAction::AuthLoginFailed, "auth")
        .user(user.as_str())
        .meta("email", email)
        .meta("reason", "invalid_current_password");
    (error, event)
}

/// A key revoked together with a credential change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedKey {
    pub id: ApiKeyId,
    pub key_prefix: String,
}

/// One `api_key.revoke` event per key revoked by a credential change (`reason`:
/// `password_change` or `password_reset`).
pub fn key_events(owner: &UserId, keys: &[RevokedKey], reason: &str) -> Vec<AuditEvent> {
    keys.iter()
        .map(|k| {
            AuditEvent::new(AuditAction::ApiKeyRevoke, "api_keys")
                .user(owner.as_str())
                .resource_id(k.id.as_str())
                .meta("keyPrefix", k.key_prefix.as_str())
                .meta("ownerId", owner.as_str())
                .meta("reason", reason)
        })
        .collect()
}

/// The events of a completed change: `auth.password_change`, then one per revoked key.
pub fn changed(user: &UserId, revoked: &[RevokedKey]) -> Vec<AuditEvent> {
    let mut events = vec![AuditEvent::new(AuditAction::AuthPasswordChange, "auth")
        .user(user.as_str())
        .resource_id(user.as_str())
        .meta("apiKeysRevoked", revoked.len())];
    events.extend(key_events(user, revoked, "password_change"));
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_audits_itself_then_every_revoked_key() {
        let u = UserId::new("u");
        let keys = [
            RevokedKey { id: ApiKeyId::new("k1"), key_prefix: "sk_live_a".into() },
            RevokedKey { id: ApiKeyId::new("k2"), key_prefix: "sk_live_b".into() },
        ];
        let ev = changed(&u, &keys);
        assert_eq!(ev.len(), 3);
        assert_eq!(ev[0].metadata["apiKeysRevoked"], 2);
        assert_eq!(ev[2].resource_id.as_deref(), Some("k2"));
        assert_eq!(ev[2].metadata["reason"], "password_change");
        let (e, ev) = wrong_current(&u, "a@b.co");
        assert_eq!(
            (e.code, ev.metadata["reason"].as_str()),
            (ErrorCode::InvalidCredentials, Some("invalid_current_password"))
        );
    }
}
