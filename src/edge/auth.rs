//! Who is calling: `Authorization: Bearer <access JWT>`, then `X-API-Key`, then the
//! `__Host-access` cookie. Presented credentials are never ignored: a bad one is 401
//! even where anonymous access would be allowed.
//!
//! Cost of an authenticated request: the JWT is checked in pure Rust (HMAC-SHA256, a few
//! µs), then ONE D1 read joins the user and the session (refresh family) named by the
//! `sid` claim. That read makes revocation immediate (logout, password change or reset,
//! admin disable / role change revoke the family) and supplies the current role. The
//! role → permissions map is cached per isolate for [`ROLE_CACHE_SECS`].

use super::db::{self, Arg, Db};
use super::http::Rc;
use super::throttle::{self, CountRow, Hit, Tier};
use crate::authz::{PermissionSet, Principal};
use crate::domain::role::{Permission, Role};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::token::{api_key, jwt};
use crate::web::{cookies, csrf};
use serde::Deserialize;
use std::cell::RefCell;

/// How long an isolate trusts its copy of `role_permissions`. Role definitions change
/// only by migration; a minute of staleness after such a deploy is acceptable, while a
/// user's own role is read fresh on every request.
pub const ROLE_CACHE_SECS: i64 = 60;

/// `lastUsedAt` is written at most this often per key (and off the response path).
pub const LAST_USED_EVERY_SECS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Bearer,
    Cookie,
    ApiKey,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub email: String,
    pub created_at: i64,
    pub via: Via,
    /// The session (refresh family) of an access token.
    pub sid: Option<String>,
    /// This request, counted in the caller's rate-limit bucket (same D1 batch as the
    /// authentication read).
    pub hit: Option<Hit>,
}

impl Caller {
    /// Session-only operations (logout, password change, API-key management).
    pub fn require_session(&self) -> ApiResult<&str> {
        self.sid.as_deref().ok_or_else(|| {
            ApiError::new(ErrorCode::Forbidden).with_message("This operation needs a user session, not an API key")
        })
    }
}

/// (loaded at, role → permissions).
type RoleMap = (i64, Vec<(Role, PermissionSet)>);

thread_local! {
    static ROLE_CACHE: RefCell<Option<RoleMap>> = const { RefCell::new(None) };
}

#[derive(Deserialize)]
struct RolePermRow {
    role: String,
    permission: String,
}

/// The permissions of `role`, from the isolate cache or D1.
pub async fn role_permissions(db: &Db, role: Role, now: i64) -> ApiResult<PermissionSet> {
    let cached = ROLE_CACHE
        .with(|c| c.borrow().as_ref().filter(|(at, _)| now - at < ROLE_CACHE_SECS).map(|(_, map)| lookup(map, role)));
    if let Some(set) = cached {
        return Ok(set);
    }
    let rows: Vec<RolePermRow> = db.all("SELECT role, permission FROM role_permissions", &[]).await?;
    let mut map: Vec<(Role, PermissionSet)> = Role::ALL.iter().map(|r| (*r, PermissionSet::empty())).collect();
    for row in rows {
        if let (Some(r), Some(p)) = (Role::parse(&row.role), Permission::parse(&row.permission)) {
            if let Some((_, set)) = map.iter_mut().find(|(x, _)| *x == r) {
                set.insert(p);
            }
        }
    }
    let set = lookup(&map, role);
    ROLE_CACHE.with(|c| *c.borrow_mut() = Some((now, map)));
    Ok(set)
}

fn lookup(map: &[(Role, PermissionSet)], role: Role) -> PermissionSet {
    map.iter().find(|(r, _)| *r == role).map(|(_, s)| *s).unwrap_or_default()
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized).with_message(message)
}

/// The caller, if any credential was presented; `Err` when one was presented and is bad.
pub async fn authenticate(rc: &mut Rc<'_>) -> ApiResult<Option<Caller>> {
    if let Some(h) = rc.header("Authorization") {
        let token = h
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("Authorization must be 'Bearer <access token>'"))?;
        return session_from_jwt(rc, &token, Via::Bearer).await.map(Some);
    }
    if let Some(key) = rc.header("X-API-Key") {
        return from_api_key(rc, key.trim()).await.map(Some);
    }
    if let Some(token) = credential_cookie(rc, cookies::ACCESS_COOKIE)? {
        check_csrf(rc)?;
        return session_from_jwt(rc, &token, Via::Cookie).await.map(Some);
    }
    Ok(None)
}

/// The value of a credential cookie; sent more than once, it is 400 `invalid_request`.
pub fn credential_cookie(rc: &Rc<'_>, name: &str) -> ApiResult<Option<String>> {
    let cookie = rc.header("Cookie").unwrap_or_default();
    match cookies::credential(&cookie, name) {
        Ok(v) => Ok(v.map(str::to_owned)),
        Err(cookies::Duplicate) => Err(ApiError::new(ErrorCode::InvalidRequest)
            .with_message(format!("The {name} cookie was sent more than once; clear this site's cookies"))),
    }
}

/// Cookie-authenticated writes must come from an allowed origin (see `web::csrf`).
pub fn check_csrf(rc: &Rc<'_>) -> ApiResult<()> {
    if csrf::is_state_changing(&rc.method)
        && !csrf::cookie_write_allowed(
            rc.header("Origin").as_deref(),
            rc.header("Sec-Fetch-Site").as_deref(),
            &rc.settings.cors_origins,
        )
    {
        return Err(ApiError::new(ErrorCode::CsrfRejected));
    }
    Ok(())
}

#[derive(Deserialize)]
struct SessionRow {
    email: String,
    role: String,
    is_active: i64,
    created_at: i64,
    revoked_at: Option<i64>,
    expires_at: i64,
}

const SESSION_SQL: &str = "SELECT u.email, u.role, u.is_active, u.created_at, f.revoked_at, f.expires_at \
     FROM refresh_families f JOIN users u ON u.id = f.user_id WHERE f.id = ?1 AND u.id = ?2";

async fn session_from_jwt(rc: &mut Rc<'_>, token: &str, via: Via) -> ApiResult<Caller> {
    let s = &rc.settings;
    let claims = jwt::verify(token, &s.verify_keys(), rc.now, &s.jwt_issuer, &s.jwt_audience).map_err(|e| match e {
        jwt::JwtError::Expired => ApiError::new(ErrorCode::TokenExpired).with_message("Access token expired"),
        other => unauthorized("Invalid access token").with_cause(format!("jwt: {other:?}")),
    })?;
    // One round trip: the session, and the request counted in the user's bucket (the
    // counter only moves for a live session, so bad tokens write nothing).
    let bucket = format!("user:{}", claims.sub);
    let counter = "INSERT INTO rate_limit_counters (bucket, window_start, count) SELECT ?1, ?2, 1 \
         WHERE EXISTS (SELECT 1 FROM refresh_families WHERE id = ?3 AND user_id = ?4 AND revoked_at IS NULL) \
         ON CONFLICT (bucket, window_start) DO UPDATE SET count = count + 1 RETURNING count";
    let results = rc
        .db
        .batch(vec![
            rc.db.stmt(SESSION_SQL, &[Arg::Text(&claims.sid), Arg::Text(&claims.sub)])?,
            rc.db.stmt(
                counter,
                &[Arg::Text(&bucket), Arg::Int(throttle::window(rc)), Arg::Text(&claims.sid), Arg::Text(&claims.sub)],
            )?,
        ])
        .await?;
    let row: Option<SessionRow> = db::row::<SessionRow>(&results, 0)?;
    let count: Option<CountRow> = db::row::<CountRow>(&results, 1)?;
    let row = row.ok_or_else(|| unauthorized("Session not found"))?;
    if row.revoked_at.is_some() || row.expires_at <= rc.now {
        return Err(unauthorized("Session has ended"));
    }
    if row.is_active == 0 {
        return Err(ApiError::new(ErrorCode::AccountDisabled));
    }
    let role =
        Role::parse(&row.role).ok_or_else(|| ApiError::internal(format!("unknown role {:?} in users", row.role)))?;
    let perms = role_permissions(&rc.db, role, rc.now).await?;
    Ok(Caller {
        principal: Principal { user_id: claims.sub, role, role_permissions: perms, key_scopes: None },
        email: row.email,
        created_at: row.created_at,
        via,
        sid: Some(claims.sid),
        hit: count.map(|c| Hit {
            tier: Tier::User,
            bucket,
            count: u32::try_from(c.count).unwrap_or(u32::MAX),
            limit: rc.settings.rate_limit_user,
        }),
    })
}

#[derive(Deserialize)]
struct KeyRow {
    id: String,
    user_id: String,
    scopes: String,
    rate_limit: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    email: String,
    role: String,
    is_active: i64,
    created_at: i64,
}

const KEY_SQL: &str = "SELECT k.id, k.user_id, k.scopes, k.rate_limit, k.expires_at, k.revoked_at, k.last_used_at, \
     u.email, u.role, u.is_active, u.created_at FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?1";

async fn from_api_key(rc: &mut Rc<'_>, key: &str) -> ApiResult<Caller> {
    if !api_key::looks_valid(key) {
        return Err(unauthorized("Invalid API key"));
    }
    let hash = api_key::hash_key(key);
    // One round trip: the key with its owner, and the request counted in the key's bucket
    // (only for a live key).
    let bucket = format!("key:{hash}");
    let counter = "INSERT INTO rate_limit_counters (bucket, window_start, count) SELECT ?1, ?2, 1 \
         WHERE EXISTS (SELECT 1 FROM api_keys WHERE key_hash = ?3 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?4)) \
         ON CONFLICT (bucket, window_start) DO UPDATE SET count = count + 1 RETURNING count";
    let results = rc
        .db
        .batch(vec![
            rc.db.stmt(KEY_SQL, &[Arg::Text(&hash)])?,
            rc.db.stmt(
                counter,
                &[Arg::Text(&bucket), Arg::Int(throttle::window(rc)), Arg::Text(&hash), Arg::Int(rc.now)],
            )?,
        ])
        .await?;
    let row: Option<KeyRow> = db::row::<KeyRow>(&results, 0)?;
    let count: Option<CountRow> = db::row::<CountRow>(&results, 1)?;
    let row = row.ok_or_else(|| unauthorized("Invalid API key"))?;
    if row.revoked_at.is_some() {
        return Err(unauthorized("API key has been revoked"));
    }
    if row.expires_at.is_some_and(|e| e <= rc.now) {
        return Err(unauthorized("API key has expired"));
    }
    if row.is_active == 0 {
        return Err(ApiError::new(ErrorCode::AccountDisabled));
    }
    let role =
        Role::parse(&row.role).ok_or_else(|| ApiError::internal(format!("unknown role {:?} in users", row.role)))?;
    let perms = role_permissions(&rc.db, role, rc.now).await?;
    let scopes: Vec<String> = serde_json::from_str(&row.scopes).unwrap_or_default();
    let scopes: PermissionSet = scopes.iter().filter_map(|s| Permission::parse(s)).collect();
    if row.last_used_at.is_none_or(|t| rc.now - t >= LAST_USED_EVERY_SECS) {
        let db = rc.db.clone();
        let (id, now) = (row.id.clone(), rc.now);
        rc.spawn(async move {
            let sql = "UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2";
            if let Err(e) = db.run(sql, &[Arg::Int(now), Arg::Text(&id)]).await {
                worker::console_error!(
                    "{}",
                    serde_json::json!({"level": "error", "event": "last_used_update_failed", "cause": e.cause})
                );
            }
        });
    }
    Ok(Caller {
        principal: Principal { user_id: row.user_id, role, role_permissions: perms, key_scopes: Some(scopes) },
        email: row.email,
        created_at: row.created_at,
        via: Via::ApiKey,
        sid: None,
        hit: count.map(|c| Hit {
            tier: Tier::ApiKey,
            bucket,
            count: u32::try_from(c.count).unwrap_or(u32::MAX),
            limit: u32::try_from(row.rate_limit).unwrap_or(1),
        }),
    })
}
