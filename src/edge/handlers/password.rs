//! `PUT /password`: verifies the current password (a wrong one counts towards the
//! account's lockout, as a failed login does), then in one batch stores the new hash,
//! ends every session, supersedes every open reset token and, unless
//! `"keepApiKeys": true`, revokes every API key of the user.

use crate::audit::AuditAction;
use crate::decide::{login, password};
use crate::dto::{self, PasswordChange, PasswordChangeBody};
use crate::edge::authn::Caller;
use crate::edge::credentials::{self as cred, hash_password, verify_password};
use crate::edge::ctx::RequestCtx;
use crate::edge::reply::Reply;
use crate::edge::repo::{gates, users};
use crate::error::ApiResult;
use crate::throttle::lockout::account_key;

/// `PUT /password`.
pub async fn change(ctx: &RequestCtx<'_>, caller: Caller) -> ApiResult<Reply> {
    caller.require_session()?;
    let input: PasswordChange = dto::read::<PasswordChangeBody, _>(ctx.body())?;
    let (uid, email) = (caller.user_id(), caller.email.as_str());
    let key = account_key(email);
    let lock = gates::lockout(ctx.env, &key).await?;
    login::gate(lock.as_ref(), ctx.now, email, AuditAction::AuthLoginFailed)?;
    let stored = users::password_hash(&ctx.db, uid).await?;
    let (readable, matches) = verify_password(ctx, input.current.expose(), stored.as_deref()).await?;
    if !(readable && matches) {
        let (wrong, failed) = password::wrong_current(uid, email);
        let policy = ctx.settings.lockout_policy();
        let state = gates::lockout_failure(ctx.env, &key, &policy, ctx.now).await?;
        return Err(login::counted_failure(&state, &policy, ctx.now, email, wrong, failed));
    }
    let hash = hash_password(ctx, input.new.expose()).await?;
    // The sessions end in the user's object first: should D1 fail next, they are over
    // anyway (fail safe) and the request is a 503.
    gates::end_all(ctx.env, uid.as_str()).await?;
    let revoked = users::change_password(&ctx.db, uid, &hash, !input.keep_api_keys, ctx.now).await?;
    if lock.is_some() {
        gates::lockout_clear(ctx.env, &key).await?;
    }
    let reply = Reply::message(200, "Password changed; every session has been signed out")?;
    Ok(cred::clear_cookies(reply.audited(password::changed(uid, &revoked))))
}
