//! `POST /refresh` (rotation, grace, reuse: `decide::refresh`) and `POST /logout`.

use crate::decide::logout;
use crate::decide::refresh::{self, Plan};
use crate::dto::{self, LogoutBody, LogoutInput, RefreshBody, RefreshInput};
use crate::edge::authn::{self, Caller};
use crate::edge::credentials as cred;
use crate::edge::ctx::RequestCtx;
use crate::edge::reply::Reply;
use crate::edge::repo::gates;
use crate::edge::repo::sessions::{self, EndReason, Rotation};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::token::refresh as token;
use crate::web::cookies;
use serde_json::json;

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
    let grace = match (refresh::plan(row.as_ref(), ctx.now, ctx.settings.refresh_grace, &successor_hash), &row) {
        (Plan::Rotate, Some(r)) => match sessions::rotate(&ctx.db, &hash, &successor_hash, r, ctx.now).await? {
            Rotation::Rotated => false,
            Rotation::AlreadyRotated => true,
            Rotation::SessionEnded => return Err(refresh::rejected()),
        },
        (Plan::Reissue, Some(_)) => true,
        (Plan::RevokeFamily(reused), Some(r)) => {
            gates::end(ctx.env, r.user_id.as_str(), r.family_id.as_str()).await?;
            sessions::end_family(&ctx.db, &r.family_id, EndReason::Reuse, ctx.now).await?;
            return Err(reused);
        }
        _ => return Err(refresh::rejected()),
    };
    let r = row.ok_or_else(refresh::rejected)?;
    let access = cred::sign_access(ctx, &r.user_id, &r.email, r.role, &r.family_id);
    let remaining = (r.family_expires_at - ctx.now).max(0);
    Ok(cred::token_reply::<()>(ctx, &access, &successor, remaining, None)?.audited([refresh::refreshed(&r, grace)]))
}

/// `POST /logout` (`{"all": true}` ends every session of the user). Authenticated by an
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
    let scope = logout::scope(input.all, &user, &sid);
    // The user's object first: from its answer on, the session is over everywhere.
    match &scope {
        logout::Scope::Session(s) => gates::end(ctx.env, user.as_str(), s.as_str()).await?,
        logout::Scope::Everywhere(u) => gates::end_all(ctx.env, u.as_str()).await?,
    }
    let ended = sessions::end(&ctx.db, &scope, ctx.now).await?;
    let (message, event) = logout::done(&scope, &user, &sid, ended);
    Ok(cred::clear_cookies(Reply::json(200, &json!({"message": message}))?.audited([event])))
}
