//! `/api/api-keys`: Stripe-style secret keys. Managed with a user session only (an API
//! key cannot mint or revoke keys). The full key is returned once and stored as SHA-256;
//! its scopes must be a non-empty subset of the creator's own permissions.

use crate::audit::{AuditAction, AuditEvent};
use crate::authz::can;
use crate::domain::role::Permission;
use crate::dto;
use crate::edge::auth::{Caller, Via};
use crate::edge::db::{self, Arg};
use crate::edge::http::{Rc, Reply};
use crate::edge::platform;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::time::iso8601;
use crate::token::api_key;
use serde::Deserialize;
use serde_json::{json, Value};

const DAY: i64 = 86_400;

fn session_only(caller: &Caller) -> ApiResult<()> {
    if caller.via == Via::ApiKey {
        return Err(ApiError::new(ErrorCode::Forbidden)
            .with_message("API keys are managed with a user session, not with an API key"));
    }
    Ok(())
}

#[derive(Deserialize)]
struct KeyRow {
    id: String,
    user_id: String,
    key_prefix: String,
    name: String,
    scopes: String,
    rate_limit: i64,
    last_used_at: Option<i64>,
    expires_at: Option<i64>,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl KeyRow {
    fn scopes(&self) -> Value {
        serde_json::from_str(&self.scopes).unwrap_or_else(|_| json!([]))
    }

    /// The list shape: never the key or its hash.
    fn to_json(&self, with_owner: bool) -> Value {
        let mut v = json!({
            "id": self.id,
            "keyPrefix": self.key_prefix,
            "name": self.name,
            "scopes": self.scopes(),
            "rateLimit": self.rate_limit,
            "lastUsedAt": self.last_used_at.map(iso8601),
            "expiresAt": self.expires_at.map(iso8601),
            "createdAt": iso8601(self.created_at),
        });
        if with_owner {
            if let Some(o) = v.as_object_mut() {
                o.insert("userId".into(), self.user_id.clone().into());
                o.insert("revokedAt".into(), self.revoked_at.map(iso8601).into());
            }
        }
        v
    }
}

const COLUMNS: &str =
    "id, user_id, key_prefix, name, scopes, rate_limit, last_used_at, expires_at, created_at, revoked_at";

/// `POST /api/api-keys`.
pub async fn create(rc: &mut Rc<'_>, caller: Caller) -> ApiResult<Reply> {
    session_only(&caller)?;
    let input = dto::new_api_key(rc.body.as_ref())?;
    let own = caller.principal.role_permissions;
    let beyond: Vec<&str> = input.scopes.iter().filter(|p| !own.contains(*p)).map(Permission::as_str).collect();
    if !beyond.is_empty() {
        return Err(ApiError::new(ErrorCode::Forbidden)
            .with_message(format!("Scopes exceed your own permissions: {}", beyond.join(", "))));
    }
    // A key must not be a way around its owner's own rate limit.
    let manager = can(&caller.principal, Permission::ApiKeysManage, None);
    let rate_limit = input.effective_rate_limit((!manager).then_some(i64::from(rc.settings.rate_limit_user)))?;
    let random = platform::random::<32>().map_err(ApiError::internal)?;
    let key = api_key::format_key(&random);
    let prefix = api_key::key_prefix(&key);
    let hash = api_key::hash_key(&key);
    let id = platform::uuid();
    let scopes = serde_json::to_string(&input.scopes.names()).unwrap_or_else(|_| "[]".into());
    let expires_at = input.expires_in_days.map(|d| rc.now + d * DAY);
    // At most `API_KEYS_PER_USER` live keys: the count and the insert are one statement.
    let inserted = rc
        .db
        .run(
            "INSERT INTO api_keys (id, user_id, key_prefix, key_hash, name, scopes, rate_limit, expires_at, created_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 WHERE (SELECT count(*) FROM api_keys WHERE user_id = ?2 \
             AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?9)) < ?10",
            &[
                Arg::Text(&id),
                Arg::Text(&caller.principal.user_id),
                Arg::Text(&prefix),
                Arg::Text(&hash),
                Arg::Text(&input.name),
                Arg::Text(&scopes),
                Arg::Int(rate_limit),
                Arg::from(expires_at),
                Arg::Int(rc.now),
                Arg::Int(rc.settings.api_keys_per_user),
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(ApiError::new(ErrorCode::LimitExceeded).with_message(format!(
            "At most {} live API keys per user: revoke one first",
            rc.settings.api_keys_per_user
        )));
    }
    rc.audit(
        AuditEvent::new(AuditAction::ApiKeyCreate, "api_keys")
            .user(&caller.principal.user_id)
            .resource_id(&id)
            .meta("keyPrefix", prefix.as_str())
            .meta("name", input.name.as_str())
            .meta("scopes", input.scopes.names())
            .meta("rateLimit", rate_limit)
            .meta("expiresAt", expires_at.map(iso8601)),
    );
    Ok(Reply::json(
        201,
        &json!({
            "id": id,
            "key": key,
            "keyPrefix": prefix,
            "name": input.name,
            "scopes": input.scopes.names(),
            "expiresAt": expires_at.map(iso8601),
            "rateLimit": rate_limit,
            "message": "Store this key now: it is shown only once",
        }),
    ))
}

/// `GET /api/api-keys`: the caller's live keys.
pub async fn list(rc: &mut Rc<'_>, caller: Caller) -> ApiResult<Reply> {
    session_only(&caller)?;
    let rows: Vec<KeyRow> = rc
        .db
        .all(
            &format!(
                "SELECT {COLUMNS} FROM api_keys WHERE user_id = ?1 AND revoked_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > ?2) ORDER BY created_at DESC, rowid DESC"
            ),
            &[Arg::Text(&caller.principal.user_id), Arg::Int(rc.now)],
        )
        .await?;
    let keys: Vec<Value> = rows.iter().map(|r| r.to_json(false)).collect();
    Ok(Reply::json(200, &json!({"apiKeys": keys})))
}

/// `DELETE /api/api-keys/:id`: the owner, or a holder of `api_keys:manage`.
pub async fn revoke(rc: &mut Rc<'_>, caller: Caller, id: &str) -> ApiResult<Reply> {
    session_only(&caller)?;
    let row: Option<KeyRow> = rc
        .db
        .first(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1 AND revoked_at IS NULL"), &[Arg::Text(id)])
        .await?;
    let row = row.ok_or_else(|| ApiError::new(ErrorCode::NotFound).with_message("API key not found"))?;
    let owner = row.user_id == caller.principal.user_id;
    if !owner && !can(&caller.principal, Permission::ApiKeysManage, None) {
        return Err(ApiError::new(ErrorCode::Forbidden).with_message("Only the key's owner or an admin may revoke it"));
    }
    rc.db
        .run(
            "UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
            &[Arg::Int(rc.now), Arg::Text(id)],
        )
        .await?;
    rc.audit(
        AuditEvent::new(AuditAction::ApiKeyRevoke, "api_keys")
            .user(&caller.principal.user_id)
            .resource_id(id)
            .meta("keyPrefix", row.key_prefix.as_str())
            .meta("ownerId", row.user_id.as_str())
            .meta("byAdmin", !owner),
    );
    Ok(Reply::json(200, &json!({"message": "API key revoked", "id": id})))
}

/// `GET /api/api-keys/admin/all?page&limit`: every key, live or not (admins).
pub async fn all(rc: &mut Rc<'_>, caller: Caller) -> ApiResult<Reply> {
    session_only(&caller)?;
    if !can(&caller.principal, Permission::ApiKeysManage, None) {
        return Err(ApiError::new(ErrorCode::Forbidden).with_message("Missing permission: api_keys:manage"));
    }
    let (page, limit) = dto::page_params(&rc.query)?;
    let (total, rows): (i64, Vec<KeyRow>) = db::page(
        &rc.db,
        "SELECT count(*) AS n FROM api_keys",
        &[],
        &format!("SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC, rowid DESC LIMIT ?1 OFFSET ?2"),
        &[Arg::Int(limit), Arg::Int((page - 1) * limit)],
    )
    .await?;
    let keys: Vec<Value> = rows.iter().map(|r| r.to_json(true)).collect();
    Ok(Reply::json(200, &json!({"apiKeys": keys, "page": page, "limit": limit, "total": total})))
}
