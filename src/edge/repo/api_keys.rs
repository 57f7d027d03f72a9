//! API keys (`api_keys`): stored as SHA-256 of the key, never the key. The key
//! authentication read, listings, creation under the per-user cap, revocation, and the
//! `last_used_at` touch.

use super::Stmt;
use super::{from_row, page, Arg, Db};
use crate::decide::password::RevokedKey;
use crate::domain::ids::{ApiKeyId, UserId};
use crate::domain::role::Role;
use crate::error::ApiResult;

/// A key with its owner, as the authentication of an `X-API-Key` request reads it.
pub struct KeyOwner {
    pub id: ApiKeyId,
    pub user_id: UserId,
    /// JSON array of permission names.
    pub scopes: String,
    pub rate_limit: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub email: String,
    pub role: Role,
    pub is_active: bool,
    pub created_at: i64,
}
from_row!(KeyOwner {
    id,
    user_id,
    scopes,
    rate_limit,
    expires_at,
    revoked_at,
    last_used_at,
    email,
    role,
    is_active,
    created_at
});

/// The key of `hash` with its owner (the request is counted in the key's object).
pub async fn load(db: &Db, hash: &str) -> ApiResult<Option<KeyOwner>> {
    let sql = "SELECT k.id, k.user_id, k.scopes, k.rate_limit, k.expires_at, k.revoked_at, k.last_used_at, \
               u.email, u.role, u.is_active, u.created_at FROM api_keys k JOIN users u ON u.id = k.user_id \
               WHERE k.key_hash = ?1";
    db.first(sql, &[Arg::Text(hash)]).await
}

/// Records a use of the key (called off the response path, throttled by the caller).
pub async fn touch(db: &Db, id: &ApiKeyId, now: i64) -> ApiResult<()> {
    let sql = "UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2";
    db.run(sql, &[Arg::Int(now), Arg::Text(id.as_str())]).await.map(|_| ())
}

/// A stored key, as listings show it (never the key or its hash).
pub struct ApiKey {
    pub id: ApiKeyId,
    pub user_id: UserId,
    pub key_prefix: String,
    pub name: String,
    /// JSON array of permission names.
    pub scopes: String,
    pub rate_limit: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}
from_row!(ApiKey {
    id,
    user_id,
    key_prefix,
    name,
    scopes,
    rate_limit,
    last_used_at,
    expires_at,
    created_at,
    revoked_at
});

const COLUMNS: &str =
    "id, user_id, key_prefix, name, scopes, rate_limit, last_used_at, expires_at, created_at, revoked_at";

/// A key to store.
pub struct NewKey<'a> {
    pub id: &'a ApiKeyId,
    pub user: &'a UserId,
    pub prefix: &'a str,
    pub hash: &'a str,
    pub name: &'a str,
    pub scopes_json: &'a str,
    pub rate_limit: i64,
    pub expires_at: Option<i64>,
}

/// Stores a key unless its owner already holds `cap` live keys (the count and the insert
/// are one statement); `false` when the cap refused it.
pub async fn insert_capped(db: &Db, k: &NewKey<'_>, cap: i64, now: i64) -> ApiResult<bool> {
    let sql =
        "INSERT INTO api_keys (id, user_id, key_prefix, key_hash, name, scopes, rate_limit, expires_at, created_at) \
               SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 WHERE (SELECT count(*) FROM api_keys WHERE user_id = ?2 \
               AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?9)) < ?10";
    let args = [
        Arg::Text(k.id.as_str()),
        Arg::Text(k.user.as_str()),
        Arg::Text(k.prefix),
        Arg::Text(k.hash),
        Arg::Text(k.name),
        Arg::Text(k.scopes_json),
        Arg::Int(k.rate_limit),
        Arg::from(k.expires_at),
        Arg::Int(now),
        Arg::Int(cap),
    ];
    Ok(db.run(sql, &args).await? == 1)
}

/// The live keys of a user, newest first.
pub async fn live_of(db: &Db, user: &UserId, now: i64) -> ApiResult<Vec<ApiKey>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM api_keys WHERE user_id = ?1 AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > ?2) ORDER BY created_at DESC, rowid DESC"
    );
    db.all(&sql, &[Arg::Text(user.as_str()), Arg::Int(now)]).await
}

/// A key that is not revoked (expired keys included: their owner may still revoke them).
pub async fn find_unrevoked(db: &Db, id: &str) -> ApiResult<Option<ApiKey>> {
    db.first(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1 AND revoked_at IS NULL"), &[Arg::Text(id)]).await
}

pub async fn revoke(db: &Db, id: &ApiKeyId, now: i64) -> ApiResult<()> {
    let sql = "UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL";
    db.run(sql, &[Arg::Int(now), Arg::Text(id.as_str())]).await.map(|_| ())
}

/// Revokes every live key of a user inside a caller's batch, returning `id, key_prefix`
/// of each (binds ?1 now, ?2 user id).
pub(super) fn revoke_all_stmt(db: &Db, user: &UserId, now: i64) -> ApiResult<Stmt> {
    let sql = "UPDATE api_keys SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL RETURNING id, key_prefix";
    db.stmt(sql, &[Arg::Int(now), Arg::Text(user.as_str())])
}

/// Every key, live or not, newest first (admins).
pub async fn page_all(db: &Db, page_no: i64, limit: i64) -> ApiResult<(i64, Vec<ApiKey>)> {
    page(
        db,
        "SELECT count(*) AS n FROM api_keys",
        &[],
        &format!("SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC, rowid DESC LIMIT ?1 OFFSET ?2"),
        &[Arg::Int(limit), Arg::Int((page_no - 1) * limit)],
    )
    .await
}

from_row!(RevokedKey { id, key_prefix });
