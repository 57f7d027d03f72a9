//! Audit events: the action vocabulary, the event builder and metadata redaction.
//!
//! CONTRACT.md "Audit log" fixes the action names and demands that no password, token,
//! key, secret or `Authorization` value ever reaches the log; such fields are stored
//! as `"[REDACTED]"`. Redaction is applied by [`AuditEvent::metadata_json`], the only
//! way metadata leaves this module for storage, so a handler that carelessly puts a
//! token into metadata still cannot leak it. Request id, IP and user agent are added
//! by the edge when it writes the row (`ctx.wait_until`).

use serde_json::{Map, Value};

/// The replacement for redacted values (CONTRACT.md "Audit log").
pub const REDACTED: &str = "[REDACTED]";

/// Lower-case fragments: a metadata key containing any of them is redacted.
const SENSITIVE_KEY_FRAGMENTS: [&str; 7] = ["password", "passwd", "token", "secret", "authorization", "cookie", "key"];

/// Lower-cased key names that contain a fragment but are safe to keep: the public
/// prefix of an API key (CONTRACT.md "API keys": `keyPrefix` is shown in listings).
const ALLOWED_KEYS: [&str; 2] = ["keyprefix", "key_prefix"];

/// The contract's audit action names (CONTRACT.md "Admin" → `GET /audit-logs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    UserRegister,
    AuthLogin,
    AuthLoginFailed,
    AuthAccountLocked,
    AuthRefresh,
    AuthRefreshTokenReused,
    AuthLogout,
    AuthSessionRevoke,
    AuthSessionBindingMismatch,
    AuthExternalUserProvisioned,
    AuthPasswordChange,
    AuthPasswordResetRequest,
    AuthPasswordResetConfirm,
    ApiKeyCreate,
    ApiKeyRevoke,
    UserUpdate,
    PostCreate,
    PostUpdate,
    PostDelete,
    RateLimited,
}

impl AuditAction {
    pub const ALL: [AuditAction; 20] = [
        AuditAction::UserRegister,
        AuditAction::AuthLogin,
        AuditAction::AuthLoginFailed,
        AuditAction::AuthAccountLocked,
        AuditAction::AuthRefresh,
        AuditAction::AuthRefreshTokenReused,
        AuditAction::AuthLogout,
        AuditAction::AuthSessionRevoke,
        AuditAction::AuthSessionBindingMismatch,
        AuditAction::AuthExternalUserProvisioned,
        AuditAction::AuthPasswordChange,
        AuditAction::AuthPasswordResetRequest,
        AuditAction::AuthPasswordResetConfirm,
        AuditAction::ApiKeyCreate,
        AuditAction::ApiKeyRevoke,
        AuditAction::UserUpdate,
        AuditAction::PostCreate,
        AuditAction::PostUpdate,
        AuditAction::PostDelete,
        AuditAction::RateLimited,
    ];

    /// The stored / wire name (`audit_logs.action`).
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::UserRegister => "user.register",
            AuditAction::AuthLogin => "auth.login",
            AuditAction::AuthLoginFailed => "auth.login_failed",
            AuditAction::AuthAccountLocked => "auth.account_locked",
            AuditAction::AuthRefresh => "auth.refresh",
            AuditAction::AuthRefreshTokenReused => "auth.refresh_token_reused",
            AuditAction::AuthLogout => "auth.logout",
            AuditAction::AuthSessionRevoke => "auth.session_revoke",
            AuditAction::AuthSessionBindingMismatch => "auth.session_binding_mismatch",
            AuditAction::AuthExternalUserProvisioned => "auth.external_user_provisioned",
            AuditAction::AuthPasswordChange => "auth.password_change",
            AuditAction::AuthPasswordResetRequest => "auth.password_reset_request",
            AuditAction::AuthPasswordResetConfirm => "auth.password_reset_confirm",
            AuditAction::ApiKeyCreate => "api_key.create",
            AuditAction::ApiKeyRevoke => "api_key.revoke",
            AuditAction::UserUpdate => "user.update",
            AuditAction::PostCreate => "post.create",
            AuditAction::PostUpdate => "post.update",
            AuditAction::PostDelete => "post.delete",
            AuditAction::RateLimited => "rate_limited",
        }
    }

    /// The action of a stored name (e.g. to validate the `action` filter).
    pub fn parse(s: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// One audit entry, before the edge adds request id, IP, user agent and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub action: AuditAction,
    /// The acting user, when known.
    pub user_id: Option<String>,
    /// Resource kind: `"user"`, `"auth"`, `"post"`, `"api_key"`, ...
    pub resource: &'static str,
    pub resource_id: Option<String>,
    /// A JSON object; redacted on the way out by [`AuditEvent::metadata_json`].
    pub metadata: Value,
}

impl AuditEvent {
    pub fn new(action: AuditAction, resource: &'static str) -> AuditEvent {
        AuditEvent { action, user_id: None, resource, resource_id: None, metadata: Value::Object(Map::new()) }
    }

    #[must_use]
    pub fn user(mut self, user_id: impl Into<String>) -> AuditEvent {
        self.user_id = Some(user_id.into());
        self
    }

    #[must_use]
    pub fn resource_id(mut self, id: impl Into<String>) -> AuditEvent {
        self.resource_id = Some(id.into());
        self
    }

    /// Adds `key: value` to the metadata object. If `metadata` was replaced by a
    /// non-object, it becomes an object and a non-null old value is kept under `"value"`.
    #[must_use]
    pub fn meta(mut self, key: impl Into<String>, value: impl Into<Value>) -> AuditEvent {
        if !self.metadata.is_object() {
            let mut map = Map::new();
            match std::mem::take(&mut self.metadata) {
                Value::Null => {}
                old => {
                    map.insert("value".to_owned(), old);
                }
            }
            self.metadata = Value::Object(map);
        }
        if let Value::Object(map) = &mut self.metadata {
            map.insert(key.into(), value.into());
        }
        self
    }

    /// The metadata as stored: redacted JSON text.
    pub fn metadata_json(&self) -> String {
        redact(self.metadata.clone()).to_string()
    }
}

/// Whether a metadata key names a sensitive value (case-insensitive).
pub fn is_sensitive_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    !ALLOWED_KEYS.contains(&k.as_str()) && SENSITIVE_KEY_FRAGMENTS.iter().any(|f| k.contains(f))
}

/// Replaces, at any depth of objects and arrays, the value of every sensitive key with
/// `"[REDACTED]"` (see [`is_sensitive_key`]). The whole value is replaced, whatever
/// its type (object, array, string, number, null).
pub fn redact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = if is_sensitive_key(&k) { Value::String(REDACTED.to_owned()) } else { redact(v) };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn action_names_match_the_contract() {
        let names: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(
            names,
            [
                "user.register",
                "auth.login",
                "auth.login_failed",
                "auth.account_locked",
                "auth.refresh",
                "auth.refresh_token_reused",
                "auth.logout",
                "auth.session_revoke",
                "auth.session_binding_mismatch",
                "auth.external_user_provisioned",
                "auth.password_change",
                "auth.password_reset_request",
                "auth.password_reset_confirm",
                "api_key.create",
                "api_key.revoke",
                "user.update",
                "post.create",
                "post.update",
                "post.delete",
                "rate_limited",
            ]
        );
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(AuditAction::parse("auth.LOGIN"), None);
    }

    #[test]
    fn builder_fills_the_event() {
        let e = AuditEvent::new(AuditAction::AuthLoginFailed, "auth")
            .user("u1")
            .resource_id("u1")
            .meta("reason", "bad_password")
            .meta("attempt", 3);
        assert_eq!(e.action, AuditAction::AuthLoginFailed);
        assert_eq!(e.user_id.as_deref(), Some("u1"));
        assert_eq!(e.resource, "auth");
        assert_eq!(e.resource_id.as_deref(), Some("u1"));
        assert_eq!(e.metadata, json!({"reason": "bad_password", "attempt": 3}));
        let bare = AuditEvent::new(AuditAction::RateLimited, "request");
        assert_eq!(bare.user_id, None);
        assert_eq!(bare.metadata_json(), "{}");
    }

    #[test]
    fn meta_on_a_non_object_keeps_the_old_value() {
        let mut e = AuditEvent::new(AuditAction::PostCreate, "post");
        e.metadata = json!("note");
        let e = e.meta("k2", 1);
        assert_eq!(e.metadata, json!({"value": "note", "k2": 1}));
        let mut e = AuditEvent::new(AuditAction::PostCreate, "post");
        e.metadata = Value::Null;
        assert_eq!(e.meta("a", true).metadata, json!({"a": true}));
    }

    #[test]
    fn redacts_sensitive_keys_at_any_depth() {
        let v = json!({
            "email": "a@b.co",
            "password": "hunter2",
            "newPassword": "Hunter22",
            "passwd": "x",
            "refreshToken": "rt",
            "access_token": "at",
            "clientSecret": "s",
            "Authorization": "Bearer abc",
            "cookie": "__Host-access=abc",
            "Set-Cookie": "x",
            "apiKey": "sk_live_full",
            "key": "sk_live_full",
            "keyHash": "deadbeef",
            "X-API-Key": "sk_live_full",
            "keyPrefix": "sk_live_AbCd1234",
            "key_prefix": "sk_live_AbCd1234",
            "nested": {
                "deeper": {"token": {"even": "an object"}, "ok": 1},
                "list": [{"secret": 1, "name": "n"}, [{"PASSWORD": null}], "plain"]
            }
        });
        let r = redact(v);
        assert_eq!(
            r,
            json!({
                "email": "a@b.co",
                "password": REDACTED,
                "newPassword": REDACTED,
                "passwd": REDACTED,
                "refreshToken": REDACTED,
                "access_token": REDACTED,
                "clientSecret": REDACTED,
                "Authorization": REDACTED,
                "cookie": REDACTED,
                "Set-Cookie": REDACTED,
                "apiKey": REDACTED,
                "key": REDACTED,
                "keyHash": REDACTED,
                "X-API-Key": REDACTED,
                "keyPrefix": "sk_live_AbCd1234",
                "key_prefix": "sk_live_AbCd1234",
                "nested": {
                    "deeper": {"token": REDACTED, "ok": 1},
                    "list": [{"secret": REDACTED, "name": "n"}, [{"PASSWORD": REDACTED}], "plain"]
                }
            })
        );
    }

    #[test]
    fn key_matching_is_case_insensitive() {
        for k in ["PASSWORD", "PassWord", "TOKEN", "Secret", "AUTHORIZATION", "Cookie", "KEY", "ApiKey", "KEYPREFIX"] {
            let expect_kept = k.eq_ignore_ascii_case("keyprefix");
            assert_eq!(is_sensitive_key(k), !expect_kept, "{k}");
        }
        // Near misses of the allow-list are still redacted.
        for k in ["keyPrefixes", "apiKeyPrefix", "key-prefix", "prefixKey"] {
            assert!(is_sensitive_key(k), "{k}");
        }
        for k in ["email", "reason", "role", "isActive", "scopes", "name", "id"] {
            assert!(!is_sensitive_key(k), "{k}");
        }
    }

    #[test]
    fn values_are_not_inspected_and_scalars_pass_through() {
        // Only keys decide; a value that mentions "password" under a safe key is kept.
        assert_eq!(redact(json!({"reason": "wrong password"})), json!({"reason": "wrong password"}));
        assert_eq!(redact(json!("token")), json!("token"));
        assert_eq!(redact(json!([1, "a", null])), json!([1, "a", null]));
    }

    #[test]
    fn metadata_json_is_redacted_and_the_event_is_not_mutated() {
        let e = AuditEvent::new(AuditAction::ApiKeyCreate, "api_key")
            .meta("keyPrefix", "sk_live_AbCd1234")
            .meta("key", "sk_live_secretsecret")
            .meta("scopes", json!(["posts:read"]));
        let stored: Value = serde_json::from_str(&e.metadata_json()).unwrap();
        assert_eq!(stored, json!({"keyPrefix": "sk_live_AbCd1234", "key": REDACTED, "scopes": ["posts:read"]}));
        assert!(!e.metadata_json().contains("secretsecret"));
        assert_eq!(e.metadata["key"], "sk_live_secretsecret", "redaction works on a copy");
    }
}
