//! Who is calling: `Authorization: Bearer <access JWT>`, then `X-API-Key`, then the
//! `__Host-access` cookie. Presented credentials are never ignored: a bad one is 401
//! even where anonymous access would be allowed.
//!
//! Cost of an access-token request: the JWT is checked in pure Rust (HMAC-SHA256, a few
//! µs), then ONE call to the user's Durable Object answers whether the session (`sid`) is
//! live and counts the request in the user's window: no D1 read or write. The object is
//! the strongly consistent authority for liveness (logout, logout-all, password change or
//! reset, an admin's role change or disable end sessions there first), so revocation takes
//! effect on the very next request in every location. An API-key request reads the key and
//! its owner from D1 and counts in the key's object. The role → permissions map is cached
//! per isolate for [`ROLE_CACHE_SECS`].

use super::ctx::RequestCtx;
use super::external;
use super::platform;
use super::repo::identities::{self, Provisioned};
use super::repo::{api_keys, gates, roles, sessions};
use super::throttle::{self, Hit};
use crate::audit::{AuditAction, AuditEvent};
use crate::authz::{PermissionSet, Principal};
use crate::binding::ip_prefix;
use crate::config::ExternalIdp;
use crate::crypto::encoding::hex_encode;
use crate::crypto::mac::sha256;
use crate::domain::email::Email;
use crate::domain::ids::{SessionId, UserId};
use crate::domain::role::{Permission, Role};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::gate::{names, SessionAnswer, SessionState};
use crate::throttle::rate_limit::Tier;
use crate::token::{api_key, jwt};
use crate::web::{cookies, csrf};
use std::cell::RefCell;

/// How long an isolate trusts its copy of `role_permissions`. Role definitions change
/// only by migration; a minute of staleness after such a deploy is acceptable, while a
/// user's own role is read fresh on every request.
pub const ROLE_CACHE_SECS: i64 = 60;

/// `lastUsedAt` is written at most this often per key (and off the response path): the one
/// D1 write an API-key read may cause.
pub const LAST_USED_EVERY_SECS: i64 = crate::liveness::TOUCH_EVERY_SECS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Bearer,
    Cookie,
    ApiKey,
}

impl Via {
    pub const fn as_str(self) -> &'static str {
        match self {
            Via::Bearer => "bearer",
            Via::Cookie => "cookie",
            Via::ApiKey => "api_key",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub email: String,
    pub created_at: i64,
    pub via: Via,
    /// The session (refresh family) of an access token.
    pub sid: Option<SessionId>,
    /// This request, counted in the caller's rate-limit bucket (same D1 batch as the
    /// authentication read).
    pub hit: Option<Hit>,
    /// The issuer of a third-party token (`EXTERNAL_JWT_ISSUER`).
    pub provider: Option<String>,
}

impl Caller {
    pub fn user_id(&self) -> &UserId {
        &self.principal.user_id
    }

    /// Session-only operations (logout, password change, session management).
    pub fn require_session(&self) -> ApiResult<&SessionId> {
        self.sid.as_ref().ok_or_else(|| {
            let what = if self.provider.is_some() { "a third-party token" } else { "an API key" };
            ApiError::new(ErrorCode::Forbidden)
                .with_message(format!("This operation needs a session of this service, not {what}"))
        })
    }
}

/// (loaded at, role → permissions).
type RoleMap = (i64, Vec<(Role, PermissionSet)>);

thread_local! {
    static ROLE_CACHE: RefCell<Option<RoleMap>> = const { RefCell::new(None) };
}

/// The permissions of `role`, from the isolate cache or D1.
async fn role_permissions(ctx: &RequestCtx<'_>, role: Role) -> ApiResult<PermissionSet> {
    let now = ctx.now;
    let cached = ROLE_CACHE
        .with(|c| c.borrow().as_ref().filter(|(at, _)| now - at < ROLE_CACHE_SECS).map(|(_, map)| lookup(map, role)));
    if let Some(set) = cached {
        return Ok(set);
    }
    let mut map: Vec<(Role, PermissionSet)> = Role::ALL.iter().map(|r| (*r, PermissionSet::empty())).collect();
    for (r, p) in roles::grants(&ctx.db).await? {
        if let Some((_, set)) = map.iter_mut().find(|(x, _)| *x == r) {
            set.insert(p);
        }
    }
    let set = lookup(&map, role);
    ROLE_CACHE.with(|c| *c.borrow_mut() = Some((now, map)));
    Ok(set)
}

fn lookup(map: &[(Role, PermissionSet)], role: Role) -> PermissionSet {
    map.iter().find(|(r, _)| *r == role).map(|(_, s)| *s).unwrap_or_default()
}

/// Runs a bookkeeping write off the response path; a failure is logged as `event`.
fn spawn_write<T, F: std::future::Future<Output = ApiResult<T>> + 'static>(
    ctx: &RequestCtx<'_>,
    event: &'static str,
    f: F,
) {
    ctx.spawn(async move {
        if let Err(e) = f.await {
            worker::console_error!("{}", serde_json::json!({"level": "error", "event": event, "cause": e.cause}));
        }
    });
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized).with_message(message)
}

/// The caller, if any credential was presented; `Err` when one was presented and is bad.
/// `csrf`: the route changes state, so a cookie credential must pass the origin check.
pub async fn authenticate(ctx: &RequestCtx<'_>, csrf: bool) -> ApiResult<Option<Caller>> {
    if let Some(h) = ctx.header("Authorization") {
        let token = h
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("Authorization must be 'Bearer <access token>'"))?;
        return from_token(ctx, &token, Via::Bearer).await.map(Some);
    }
    if let Some(key) = ctx.header("X-API-Key") {
        return from_api_key(ctx, key.trim()).await.map(Some);
    }
    if let Some(token) = credential_cookie(ctx, cookies::ACCESS_COOKIE)? {
        if csrf {
            check_csrf(ctx)?;
        }
        return session_from_jwt(ctx, &token, Via::Cookie).await.map(Some);
    }
    let external_cookie = ctx.settings.external.as_ref().and_then(|idp| idp.cookie.as_deref());
    if let Some(token) = external_cookie.map(|name| credential_cookie(ctx, name)).transpose()?.flatten() {
        if csrf {
            check_csrf(ctx)?;
        }
        return from_token(ctx, &token, Via::Cookie).await.map(Some);
    }
    Ok(None)
}

/// A bearer or cookie token: ours when its header names `HS256` and one of our key ids,
/// else the third-party provider's when one is configured. Each verifier pins its own
/// algorithms, so neither kind can pass the other's check.
async fn from_token(ctx: &RequestCtx<'_>, token: &str, via: Via) -> ApiResult<Caller> {
    match &ctx.settings.external {
        Some(idp) if !jwt::names_our_key(token, &ctx.settings.verify_keys()) => {
            from_external(ctx, idp, token, via).await
        }
        _ => session_from_jwt(ctx, token, via).await,
    }
}

/// The value of a credential cookie; sent more than once, it is 400 `invalid_request`.
pub fn credential_cookie(ctx: &RequestCtx<'_>, name: &str) -> ApiResult<Option<String>> {
    let cookie = ctx.header("Cookie").unwrap_or_default();
    match cookies::credential(&cookie, name) {
        Ok(v) => Ok(v.map(str::to_owned)),
        Err(cookies::Duplicate) => Err(ApiError::new(ErrorCode::InvalidRequest)
            .with_message(format!("The {name} cookie was sent more than once; clear this site's cookies"))),
    }
}

/// Whether the request carries the refresh cookie.
pub fn has_refresh_cookie(ctx: &RequestCtx<'_>) -> bool {
    let cookie = ctx.header("Cookie").unwrap_or_default();
    cookies::get(&cookie, cookies::REFRESH_COOKIE).is_some()
}

/// A cookie-authenticated write must come from an allowed origin (see `web::csrf`).
pub fn check_csrf(ctx: &RequestCtx<'_>) -> ApiResult<()> {
    let allowed = csrf::cookie_write_allowed(
        ctx.header("Origin").as_deref(),
        ctx.header("Sec-Fetch-Site").as_deref(),
        &ctx.settings.cors_origins,
    );
    if allowed {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::CsrfRejected))
    }
}

async fn session_from_jwt(ctx: &RequestCtx<'_>, token: &str, via: Via) -> ApiResult<Caller> {
    let s = &ctx.settings;
    let claims =
        jwt::verify(token, &s.verify_keys(), ctx.now, &s.jwt_issuer, &s.jwt_audience).map_err(|e| match e {
            jwt::JwtError::Expired => ApiError::new(ErrorCode::TokenExpired).with_message("Access token expired"),
            other => unauthorized("Invalid access token").with_cause(format!("jwt: {other:?}")),
        })?;
    // A role change ends every session of the user, so a live session's token names the
    // user's current role.
    let role = Role::parse(&claims.role).ok_or_else(|| unauthorized("Invalid access token"))?;
    let window = throttle::window(ctx);
    let until = throttle::window_end(ctx);
    let mut answer = gates::session(ctx.env, &claims.sub, &claims.sid, ctx.now, window, until).await?;
    if answer.state == SessionState::Unknown {
        answer = adopt(ctx, &claims.sub, &claims.sid, answer.seq.unwrap_or_default(), window).await?;
    }
    let (Some(created_at), Some(count)) = (answer.user_created_at, answer.count) else {
        return Err(unauthorized("Session has ended"));
    };
    if answer.touch {
        let (db, sid, net, now) = (ctx.db.clone(), SessionId::new(claims.sid.clone()), ip_prefix(&ctx.ip), ctx.now);
        spawn_write(ctx, "session_touch_failed", async move { sessions::touch(&db, &sid, net.as_deref(), now).await });
    }
    let perms = role_permissions(ctx, role).await?;
    let bucket = format!("user:{}", claims.sub);
    Ok(Caller {
        principal: Principal { user_id: UserId::new(claims.sub), role, role_permissions: perms, key_scopes: None },
        email: claims.email,
        created_at,
        via,
        sid: Some(SessionId::new(claims.sid)),
        hit: Some(Hit { tier: Tier::User, bucket, count, limit: ctx.settings.rate_limit_user }),
        provider: None,
    })
}

/// A third-party token: verified against the provider's keys, then mapped to its local
/// user (provisioned on first sight). The user row is read from the primary on every
/// request, as for API keys, so an admin's disable takes effect at once; the request
/// counts in the user's window like a session's.
async fn from_external(ctx: &RequestCtx<'_>, idp: &ExternalIdp, token: &str, via: Via) -> ApiResult<Caller> {
    let claims = external::verify(ctx, idp, token).await?;
    let db = ctx.primary_db();
    let user = match identities::find(&db, &idp.issuer, &claims.sub).await? {
        Some(user) => user,
        None => provision(ctx, idp, &claims).await?,
    };
    if !user.is_active {
        return Err(ApiError::new(ErrorCode::AccountDisabled));
    }
    let name = names::user(user.id.as_str());
    let counts = gates::count(ctx.env, &name, throttle::window(ctx), throttle::window_end(ctx), &[""]).await?;
    let perms = role_permissions(ctx, user.role).await?;
    Ok(Caller {
        principal: Principal { user_id: user.id, role: user.role, role_permissions: perms, key_scopes: None },
        email: user.email,
        created_at: user.created_at,
        via,
        sid: None,
        hit: counts.first().map(|count| Hit {
            tier: Tier::User,
            bucket: name.clone(),
            count: *count,
            limit: ctx.settings.rate_limit_user,
        }),
        provider: Some(idp.issuer.clone()),
    })
}

/// The local user for a subject seen for the first time: role `user`, the token's email
/// when the provider says it is verified and no account has it (an existing account is
/// never linked by email: that would hand it to whoever controls the provider's claim),
/// else a placeholder that is no email address, so it can neither be registered nor used
/// to log in. Audited `auth.external_user_provisioned`.
async fn provision(
    ctx: &RequestCtx<'_>,
    idp: &ExternalIdp,
    claims: &crate::token::external::ExternalClaims,
) -> ApiResult<identities::Mapped> {
    let db = ctx.primary_db();
    let digest = sha256(format!("{}\n{}", idp.issuer, claims.sub).as_bytes());
    let placeholder = format!("external:{}", hex_encode(digest.get(..16).unwrap_or_default()));
    let verified = claims.verified_email.as_deref().and_then(|e| Email::parse(e).ok());
    let mut email = verified.as_ref().map_or(placeholder.as_str(), Email::as_str);
    let id = UserId::new(platform::uuid());
    loop {
        match identities::provision(&db, &id, email, &idp.issuer, &claims.sub, ctx.now).await? {
            Provisioned::Created => break,
            Provisioned::EmailTaken if email != placeholder => email = &placeholder,
            Provisioned::EmailTaken | Provisioned::Raced => {
                return identities::find(&db, &idp.issuer, &claims.sub)
                    .await?
                    .ok_or_else(|| ApiError::unavailable("external identity provisioning conflicted"));
            }
        }
    }
    ctx.audit(
        AuditEvent::new(AuditAction::AuthExternalUserProvisioned, "users")
            .user(id.as_str())
            .resource_id(id.as_str())
            .meta("issuer", idp.issuer.as_str())
            .meta("emailVerified", verified.is_some())
            .meta("emailFromProvider", email != placeholder),
    );
    Ok(identities::Mapped { id, email: email.to_owned(), role: Role::User, is_active: true, created_at: ctx.now })
}

/// A session the user's object does not know (opened before it kept the book): looked up
/// in D1 once and, if live there, adopted by the object.
async fn adopt(ctx: &RequestCtx<'_>, uid: &str, sid: &str, seq: i64, window: i64) -> ApiResult<SessionAnswer> {
    let row = sessions::load(&ctx.db, sid, uid).await?.ok_or_else(|| unauthorized("Session not found"))?;
    if row.revoked_at.is_some() || row.expires_at <= ctx.now {
        return Err(unauthorized("Session has ended"));
    }
    if !row.is_active {
        return Err(ApiError::new(ErrorCode::AccountDisabled));
    }
    let adoption = gates::Adoption { sid, seq, expires_at: row.expires_at, user_created_at: row.created_at };
    gates::adopt(ctx.env, uid, &adoption, ctx.now, window).await
}

async fn from_api_key(ctx: &RequestCtx<'_>, key: &str) -> ApiResult<Caller> {
    if !api_key::looks_valid(key) {
        return Err(unauthorized("Invalid API key"));
    }
    let hash = api_key::hash_key(key);
    let row = api_keys::load(&ctx.primary_db(), &hash).await?.ok_or_else(|| unauthorized("Invalid API key"))?;
    if row.revoked_at.is_some() {
        return Err(unauthorized("API key has been revoked"));
    }
    if row.expires_at.is_some_and(|e| e <= ctx.now) {
        return Err(unauthorized("API key has expired"));
    }
    if !row.is_active {
        return Err(ApiError::new(ErrorCode::AccountDisabled));
    }
    let bucket = format!("key:{hash}");
    let count =
        gates::count(ctx.env, &names::api_key(&hash), throttle::window(ctx), throttle::window_end(ctx), &[""]).await?;
    let perms = role_permissions(ctx, row.role).await?;
    let scopes = crate::json::strings(&row.scopes).unwrap_or_default();
    let scopes: PermissionSet = scopes.iter().filter_map(|s| Permission::parse(s)).collect();
    if row.last_used_at.is_none_or(|t| ctx.now - t >= LAST_USED_EVERY_SECS) {
        let (db, id, now) = (ctx.db.clone(), row.id.clone(), ctx.now);
        spawn_write(ctx, "last_used_update_failed", async move { api_keys::touch(&db, &id, now).await });
    }
    let limit = u32::try_from(row.rate_limit).unwrap_or(1);
    Ok(Caller {
        principal: Principal {
            user_id: row.user_id,
            role: row.role,
            role_permissions: perms,
            key_scopes: Some(scopes),
        },
        email: row.email,
        created_at: row.created_at,
        via: Via::ApiKey,
        sid: None,
        hit: count.first().map(|count| Hit { tier: Tier::ApiKey, bucket, count: *count, limit }),
        provider: None,
    })
}
