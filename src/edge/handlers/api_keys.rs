//! `/api/api-keys`: Stripe-style secret keys. Managed with a user session only (an API
//! key cannot mint or revoke keys). The full key is returned once and stored as SHA-256;
//! its scopes must be a non-empty subset of the creator's own permissions.

use crate::audit::{AuditAction, AuditEvent};
use crate::authz::can;
use crate::domain::ids::ApiKeyId;
use crate::domain::role::Permission;
use crate::dto::{self, NewApiKey, NewApiKeyBody};
use crate::edge::authn::{Caller, Via};
use crate::edge::ctx::RequestCtx;
use crate::edge::platform;
use crate::edge::reply::Reply;
use crate::edge::repo::api_keys::{self, ApiKey, NewKey};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::time::iso8601;
use crate::token::api_key;
use serde::Serialize;
use serde_json::json;

const DAY: i64 = 86_400;

fn session_only(caller: &Caller) -> ApiResult<()> {
    if caller.via == Via::ApiKey {
        return Err(ApiError::new(ErrorCode::Forbidden)
            .with_message("API keys are managed with a user session, not with an API key"));
    }
    Ok(())
}

fn require_manage(caller: &Caller) -> ApiResult<()> {
    if can(&caller.principal, Permission::ApiKeysManage, None) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::Forbidden).with_message("Missing permission: api_keys:manage"))
    }
}

/// The listing shape: never the key or its hash; owner and revocation for admins.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyView<'a> {
    id: &'a ApiKeyId,
    key_prefix: &'a str,
    name: &'a str,
    scopes: Vec<String>,
    rate_limit: i64,
    last_used_at: Option<String>,
    expires_at: Option<String>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<Option<String>>,
}

fn view(k: &ApiKey, with_owner: bool) -> KeyView<'_> {
    KeyView {
        id: &k.id,
        key_prefix: &k.key_prefix,
        name: &k.name,
        scopes: crate::json::strings(&k.scopes).unwrap_or_default(),
        rate_limit: k.rate_limit,
        last_used_at: k.last_used_at.map(iso8601),
        expires_at: k.expires_at.map(iso8601),
        created_at: iso8601(k.created_at),
        user_id: with_owner.then_some(k.user_id.as_str()),
        revoked_at: with_owner.then(|| k.revoked_at.map(iso8601)),
    }
}

/// `POST /api/api-keys`.
pub async fn create(ctx: &RequestCtx<'_>, caller: Caller) -> ApiResult<Reply> {
    session_only(&caller)?;
    let input: NewApiKey = dto::read::<NewApiKeyBody, _>(ctx.body())?;
    let own = caller.principal.role_permissions;
    let beyond: Vec<&str> = input.scopes.iter().filter(|p| !own.contains(*p)).map(Permission::as_str).collect();
    if !beyond.is_empty() {
        return Err(ApiError::new(ErrorCode::Forbidden)
            .with_message(format!("Scopes exceed your own permissions: {}", beyond.join(", "))));
    }
    // A key must not be a way around its owner's own rate limit.
    let manager = can(&caller.principal, Permission::ApiKeysManage, None);
    let rate_limit = input.effective_rate_limit((!manager).then_some(i64::from(ctx.settings.rate_limit_user)))?;
    let key = api_key::format_key(&platform::random::<32>().map_err(ApiError::internal)?);
    let (id, prefix, scopes) = (ApiKeyId::new(platform::uuid()), api_key::key_prefix(&key), input.scopes.names());
    let expires_at = input.expires_in_days.map(|d| ctx.now + d * DAY);
    let scopes_json = serde_json::to_string(&scopes).map_err(|e| ApiError::internal(e.to_string()))?;
    let new = NewKey {
        id: &id,
        user: caller.user_id(),
        prefix: &prefix,
        hash: &api_key::hash_key(&key),
        name: &input.name,
        scopes_json: &scopes_json,
        rate_limit,
        expires_at,
    };
    let cap = ctx.settings.api_keys_per_user;
    if !api_keys::insert_capped(&ctx.db, &new, cap, ctx.now).await? {
        return Err(ApiError::new(ErrorCode::LimitExceeded)
            .with_message(format!("At most {cap} live API keys per user: revoke one first")));
    }
    let event = AuditEvent::new(AuditAction::ApiKeyCreate, "api_keys")
        .user(caller.user_id().as_str())
        .resource_id(id.as_str())
        .meta("keyPrefix", prefix.as_str())
        .meta("name", input.name.as_str())
        .meta("scopes", scopes.clone())
        .meta("rateLimit", rate_limit)
        .meta("expiresAt", expires_at.map(iso8601));
    let body = json!({
        "id": id, "key": key, "keyPrefix": prefix, "name": input.name, "scopes": scopes,
        "expiresAt": expires_at.map(iso8601), "rateLimit": rate_limit,
        "message": "Store this key now: it is shown only once",
    });
    Ok(Reply::json(201, &body)?.audited([event]))
}

/// `GET /api/api-keys`: the caller's live keys.
pub async fn list(ctx: &RequestCtx<'_>, caller: Caller) -> ApiResult<Reply> {
    session_only(&caller)?;
    let rows = api_keys::live_of(&ctx.db, caller.user_id(), ctx.now).await?;
    let keys: Vec<KeyView<'_>> = rows.iter().map(|k| view(k, false)).collect();
    Reply::json(200, &json!({"apiKeys": keys}))
}

/// `DELETE /api/api-keys/:id`: the owner, or a holder of `api_keys:manage`.
pub async fn revoke(ctx: &RequestCtx<'_>, caller: Caller, id: &str) -> ApiResult<Reply> {
    session_only(&caller)?;
    let key = api_keys::find_unrevoked(&ctx.db, id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound).with_message("API key not found"))?;
    let owner = &key.user_id == caller.user_id();
    if !owner && !can(&caller.principal, Permission::ApiKeysManage, None) {
        return Err(ApiError::new(ErrorCode::Forbidden).with_message("Only the key's owner or an admin may revoke it"));
    }
    api_keys::revoke(&ctx.db, &key.id, ctx.now).await?;
    let event = AuditEvent::new(AuditAction::ApiKeyRevoke, "api_keys")
        .user(caller.user_id().as_str())
        .resource_id(id)
        .meta("keyPrefix", key.key_prefix.as_str())
        .meta("ownerId", key.user_id.as_str())
        .meta("byAdmin", !owner);
    Ok(Reply::json(200, &json!({"message": "API key revoked", "id": id}))?.audited([event]))
}

/// `GET /api/api-keys/admin/all?page&limit`: every key, live or not (admins).
pub async fn all(ctx: &RequestCtx<'_>, caller: Caller) -> ApiResult<Reply> {
    session_only(&caller)?;
    require_manage(&caller)?;
    let (page, limit) = dto::page_params(&ctx.query)?;
    let (total, rows) = api_keys::page_all(&ctx.db, page, limit).await?;
    let keys: Vec<KeyView<'_>> = rows.iter().map(|k| view(k, true)).collect();
    Reply::json(200, &json!({"apiKeys": keys, "page": page, "limit": limit, "total": total}))
}
