//! Revoking every API key of a user at once: on a password change (unless the request
//! keeps them) and on a password reset (account recovery: assume the account was
//! compromised). The statement runs inside the caller's batch; each revoked key is
//! audited `api_key.revoke` with the reason.

use super::http::Rc;
use crate::audit::{AuditAction, AuditEvent};
use serde::Deserialize;

/// Binds: ?1 now, ?2 user id. Returns the revoked keys.
pub const ALL_API_KEYS_SQL: &str =
    "UPDATE api_keys SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL RETURNING id, key_prefix";

#[derive(Deserialize)]
pub struct RevokedKey {
    id: String,
    key_prefix: String,
}

pub fn audit_api_keys(rc: &mut Rc<'_>, owner: &str, keys: Vec<RevokedKey>, reason: &str) {
    for k in keys {
        rc.audit(
            AuditEvent::new(AuditAction::ApiKeyRevoke, "api_keys")
                .user(owner)
                .resource_id(&k.id)
                .meta("keyPrefix", k.key_prefix.as_str())
                .meta("ownerId", owner)
                .meta("reason", reason),
        );
    }
}
