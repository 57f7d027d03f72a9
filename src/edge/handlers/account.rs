//! `POST /register`, `POST /login`, `GET /me`.
//!
//! Login does the same work for an unknown email, a wrong password and a disabled
//! account (one D1 read, one PBKDF2 derivation, one D1 write) and reveals a disabled
//! account only after the password was right (see `decide::login`).

use crate::audit::{AuditAction, AuditEvent};
use crate::binding;
use crate::decide::login::{self, Verdict};
use crate::domain::ids::{SessionId, UserId};
use crate::dto::{self, Credentials, LoginBody, RegisterBody, Registration};
use crate::edge::authn::Caller;
use crate::edge::credentials::{self as cred, hash_password, verify_password};
use crate::edge::ctx::RequestCtx;
use crate::edge::platform;
use crate::edge::reply::Reply;
use crate::edge::repo::{gates, sessions, users};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::throttle::lockout::account_key;
use serde::Serialize;

#[derive(Serialize)]
struct Registered<'a> {
    id: &'a UserId,
    email: &'a str,
    message: &'static str,
}

/// The `user` of a login answer.
#[derive(Serialize)]
struct Shown<'a> {
    id: &'a UserId,
    email: &'a str,
    role: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Me<'a> {
    id: &'a UserId,
    email: &'a str,
    role: &'static str,
    is_active: bool,
    created_at: String,
    /// The issuer of a third-party token.
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'a str>,
}

/// `POST /register`.
pub async fn register(ctx: &RequestCtx<'_>) -> ApiResult<Reply> {
    let input: Registration = dto::read::<RegisterBody, _>(ctx.body())?;
    let hash = hash_password(ctx, input.password.expose()).await?;
    let id = UserId::new(platform::uuid());
    users::insert(&ctx.db, &id, &input.email, &hash, ctx.now).await?;
    let event = AuditEvent::new(AuditAction::UserRegister, "users")
        .user(id.as_str())
        .resource_id(id.as_str())
        .meta("email", input.email.as_str())
        .meta("role", "user");
    let body = Registered { id: &id, email: input.email.as_str(), message: "User created successfully" };
    Ok(Reply::json(201, &body)?.audited([event]))
}

/// `POST /login`.
pub async fn login(ctx: &RequestCtx<'_>) -> ApiResult<Reply> {
    let creds: Credentials = dto::read::<LoginBody, _>(ctx.body())?;
    let (email, key) = (creds.email.as_str(), account_key(creds.email.as_str()));
    let lock = gates::lockout(ctx.env, &key).await?;
    login::gate(lock.as_ref(), ctx.now, email, AuditAction::AuthLoginFailed)?;
    let account = users::for_login(&ctx.db, &creds.email).await?;
    let stored = account.as_ref().map(|a| a.password_hash.as_str());
    let (readable, matches) = verify_password(ctx, creds.password.expose(), stored).await?;
    let rehash = stored.is_some_and(|h| cred::needs_rehash(ctx, h));
    let user = match login::verdict(account, readable, matches, rehash) {
        Verdict::Success { account, .. } => account,
        Verdict::Disabled(account) => return Err(login::disabled(&account)),
        Verdict::Failure { reason } => {
            let (policy, failed) = (ctx.settings.lockout_policy(), login::failed_event(email, reason));
            let state = gates::lockout_failure(ctx.env, &key, &policy, ctx.now).await?;
            let wrong = ApiError::new(ErrorCode::InvalidCredentials);
            return Err(login::counted_failure(&state, &policy, ctx.now, email, wrong, failed));
        }
    };
    let new_hash = if rehash { Some(hash_password(ctx, creds.password.expose()).await?) } else { None };
    let (sid, (refresh, refresh_hash)) = (SessionId::new(platform::uuid()), cred::new_refresh_token()?);
    let expires_at = ctx.now + ctx.settings.refresh_ttl;
    let (net, bound) = (binding::ip_prefix(&ctx.ip), cred::client_binding(ctx));
    let session = sessions::NewSession {
        id: &sid,
        user: &user.id,
        refresh_hash: &refresh_hash,
        expires_at,
        user_agent: binding::truncated(&ctx.user_agent),
        ip_prefix: net.as_deref(),
        binding: bound.as_deref(),
    };
    users::logged_in(&ctx.db, &session, new_hash.as_deref(), ctx.now).await?;
    gates::open(ctx.env, user.id.as_str(), sid.as_str(), expires_at, user.created_at, ctx.now).await?;
    if lock.is_some() {
        gates::lockout_clear(ctx.env, &key).await?;
    }
    let access = cred::sign_access(ctx, &user.id, &user.email, user.role, &sid);
    let event = AuditEvent::new(AuditAction::AuthLogin, "auth")
        .user(user.id.as_str())
        .resource_id(sid.as_str())
        .meta("method", "password")
        .meta("rehashed", rehash);
    let shown = Shown { id: &user.id, email: &user.email, role: user.role.as_str() };
    Ok(cred::token_reply(ctx, &access, &refresh, ctx.settings.refresh_ttl, Some(shown))?.audited([event]))
}

/// `GET /me`: answered from the authentication read, no further D1 round trip.
pub fn me(caller: &Caller) -> ApiResult<Reply> {
    let body = Me {
        id: caller.user_id(),
        email: &caller.email,
        role: caller.principal.role.as_str(),
        is_active: true,
        created_at: crate::time::iso8601(caller.created_at),
        provider: caller.provider.as_deref(),
    };
    Reply::json(200, &body)
}
