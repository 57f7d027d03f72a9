//! `POST /refresh` (rotation, grace, reuse, binding: `decide::refresh`), `POST /logout`, and
//! the caller's sessions: `GET /sessions`, `DELETE /sessions/:id`.

use crate::audit::{AuditAction, AuditEvent};
use crate::binding;
use crate::decide::logout;
use crate::decide::refresh::{self, Plan};
use crate::domain::ids::SessionId;
use crate::dto::{self, LogoutBody, LogoutInput, RefreshBody, RefreshInput};
use crate::edge::authn::{self, Caller};
use crate::edge::credentials as cred;
use crate::edge::ctx::RequestCtx;
use crate::edge::reply::Reply;
use crate::edge::repo::gates;
use crate::edge::repo::sessions::{self, EndReason, Rotation};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::time;
use crate::token::refresh as token;
use crate::web::cookies;
use serde::Serialize;

/// The refresh token of the request: the body's `refreshToken`, else the refresh cookie
/// (a cookie-authenticated write, so it passes the CSRF check first).
fn presented(ctx: &RequestCtx<'_>) -> ApiResult<Option<String>> {
    let input: RefreshInput = dto::read::<RefreshBody, _>(ctx.body())?;
    if let Some(t) = input.token {
        return Ok(Some(t.expose().clone()));
    }
    let cookie = authn::credential_cookie(ctx, cookies::REFRESH_COOKIE)?;
    if cookie.is_some() {
        authn::check_csrf(ctx)?;
    }
    Ok(cookie)
}

/// `POST /refresh`.
pub async fn refresh(ctx: &RequestCtx<'_>) -> ApiResult<Reply> {
    let t =
        presented(ctx)?.ok_or_else(|| ApiError::validation(vec![FieldError::new("refreshToken", "is required")]))?;
    if !token::looks_valid(&t) {
        return Err(refresh::rejected());
    }
    let hash = token::hash_token(&t);
    let successor = token::successor(ctx.settings.refresh_successor_key.expose(), &hash);
    let successor_hash = token::hash_token(&successor);
    let row = sessions::by_refresh(&ctx.db, &hash).await?;
    let plan = refresh::plan(row.as_ref(), ctx.now, ctx.settings.refresh_grace, &successor_hash);
    let net = binding::ip_prefix(&ctx.ip);
    let grace = match (refresh::bind(plan, row.as_ref(), cred::client_binding(ctx).as_deref(), net.as_deref()), &row) {
        (Plan::Rotate, Some(r)) => match sessions::rotate(&ctx.db, &hash, &successor_hash, r, ctx.now).await? {
            Rotation::Rotated => false,
            Rotation::AlreadyRotated => true,
            Rotation::SessionEnded => return Err(refresh::rejected()),
        },
        (Plan::Reissue, Some(_)) => true,
        (Plan::RevokeFamily(reused), Some(r)) => return Err(end_session(ctx, r, EndReason::Reuse, reused).await),
        (Plan::Unbind(foreign), Some(r)) => {
            return Err(end_session(ctx, r, EndReason::BindingMismatch, foreign).await);
        }
        _ => return Err(refresh::rejected()),
    };
    let r = row.ok_or_else(refresh::rejected)?;
    let access = cred::sign_access(ctx, &r.user_id, &r.email, r.role, &r.family_id);
    let remaining = (r.family_expires_at - ctx.now).max(0);
    Ok(cred::token_reply::<()>(ctx, &access, &successor, remaining, None)?.audited([refresh::refreshed(&r, grace)]))
}

/// Ends the session of a refused refresh token; `refusal` (or a storage error) is the answer.
async fn end_session(ctx: &RequestCtx<'_>, r: &refresh::Presented, why: EndReason, refusal: ApiError) -> ApiError {
    let ended = async {
        gates::end(ctx.env, r.user_id.as_str(), r.family_id.as_str()).await?;
        sessions::end_family(&ctx.db, &r.family_id, why, ctx.now).await
    };
    ended.await.err().unwrap_or(refusal)
}

/// `POST /logout` (`{"all": true}` ends every session of the user, `{"others": true}` every
/// one but the caller's). Authenticated by an
/// access token, or by the refresh cookie alone (an expired access token must not keep
/// a browser from logging out).
pub async fn logout(ctx: &RequestCtx<'_>, caller: Option<Caller>) -> ApiResult<Reply> {
    let input: LogoutInput = dto::read::<LogoutBody, _>(ctx.body())?;
    let (user, sid) = match caller {
        Some(c) => (c.user_id().clone(), c.require_session()?.clone()),
        None => {
            let t = authn::credential_cookie(ctx, cookies::REFRESH_COOKIE)?
                .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized))?;
            authn::check_csrf(ctx)?;
            let (sid, user) =
                sessions::live_by_refresh(&ctx.db, &token::hash_token(&t)).await?.ok_or_else(refresh::rejected)?;
            (user, sid)
        }
    };
    let scope = logout::scope(input.which, &user, &sid);
    // The user's object first: from its answer on, the sessions are over everywhere.
    match &scope {
        logout::Scope::Session(s) => gates::end(ctx.env, user.as_str(), s.as_str()).await?,
        logout::Scope::Everywhere(u) => gates::end_all(ctx.env, u.as_str()).await?,
        logout::Scope::Others(u, keep) => gates::end_others(ctx.env, u.as_str(), keep.as_str()).await?,
    }
    let ended = sessions::end(&ctx.db, &scope, ctx.now).await?;
    let (message, event) = logout::done(&scope, &user, &sid, ended);
    let reply = Reply::message(200, message)?.audited([event]);
    Ok(if logout::ends_caller(&scope) { cred::clear_cookies(reply) } else { reply })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionView<'a> {
    id: &'a SessionId,
    created_at: String,
    last_used_at: Option<String>,
    expires_at: String,
    user_agent: Option<&'a str>,
    ip_prefix: Option<&'a str>,
    current: bool,
}

#[derive(Serialize)]
struct Sessions<'a> {
    sessions: Vec<SessionView<'a>>,
}

/// `GET /sessions`: the caller's live sessions, newest first.
pub async fn list(ctx: &RequestCtx<'_>, caller: &Caller) -> ApiResult<Reply> {
    let current = caller.require_session()?;
    let rows = sessions::list(&ctx.db, caller.user_id(), ctx.now).await?;
    let sessions = rows
        .iter()
        .map(|r| SessionView {
            id: &r.id,
            created_at: time::iso8601(r.created_at),
            last_used_at: r.last_used_at.map(time::iso8601),
            expires_at: time::iso8601(r.expires_at),
            user_agent: r.user_agent.as_deref(),
            ip_prefix: r.ip_prefix.as_deref(),
            current: &r.id == current,
        })
        .collect();
    Reply::json(200, &Sessions { sessions })
}

/// `DELETE /sessions/:id`: ends one of the caller's sessions (another user's, or an ended
/// one, is 404: no existence oracle). Ending the current one clears its cookies.
pub async fn revoke(ctx: &RequestCtx<'_>, caller: &Caller, id: &str) -> ApiResult<Reply> {
    let current = caller.require_session()?;
    let user = caller.user_id();
    if !sessions::is_live_of(&ctx.db, id, user, ctx.now).await? {
        return Err(ApiError::new(ErrorCode::NotFound).with_message("Session not found"));
    }
    let sid = SessionId::new(id);
    gates::end(ctx.env, user.as_str(), sid.as_str()).await?;
    sessions::end_family(&ctx.db, &sid, EndReason::Revoked, ctx.now).await?;
    let is_current = &sid == current;
    let event = AuditEvent::new(AuditAction::AuthSessionRevoke, "auth")
        .user(user.as_str())
        .resource_id(sid.as_str())
        .meta("current", is_current);
    let reply = Reply::message(200, "Session revoked")?.audited([event]);
    Ok(if is_current { cred::clear_cookies(reply) } else { reply })
}
