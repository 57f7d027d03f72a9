//! Password reset (OWASP Forgot Password Cheat Sheet).
//!
//! Request: the same answer and the same D1 work (one batch of three statements that
//! select the account themselves) whether the email is unknown, disabled or active; the
//! account is untouched. Only for an active account does the batch store the token hash
//! (superseding older tokens) and write the message with the link to the outbox. When a
//! `RESET_QUEUE` producer is bound, the message is also sent to that queue after the
//! response.
//!
//! Confirm: `decide::reset` says whether the token is usable; the user's sessions end in
//! their Durable Object; one batch then marks the token used (compare-and-set), sets the
//! new hash and revokes every session and API key of the user in D1, all or nothing.

use crate::audit::{AuditAction, AuditEvent};
use crate::decide::reset;
use crate::dto::{self, ResetConfirm, ResetConfirmBody, ResetRequest, ResetRequestBody};
use crate::edge::credentials::hash_password;
use crate::edge::ctx::RequestCtx;
use crate::edge::platform;
use crate::edge::reply::Reply;
use crate::edge::repo::{gates, outbox, resets};
use crate::error::{ApiError, ApiResult};
use crate::throttle::lockout::account_key;
use crate::token::reset as token;
use serde_json::json;

pub const SUBJECT: &str = "Reset your password";

/// The message sent to `RESET_QUEUE` (same fields as the outbox row; camelCase keys).
struct QueueMessage {
    outbox_id: String,
    recipient: String,
    body: String,
}

/// `POST /password-reset/request` `{email}` → 202, whatever the account.
pub async fn request(ctx: &RequestCtx<'_>) -> ApiResult<Reply> {
    let input: ResetRequest = dto::read::<ResetRequestBody, _>(ctx.body())?;
    let random = platform::random::<32>().map_err(ApiError::internal)?;
    let reset_token = token::format_token(&random);
    let ttl = ctx.settings.password_reset_ttl;
    let (outbox_id, body) = (platform::uuid(), token::message_body(&ctx.settings.app_url, &reset_token, ttl));
    let message = resets::ResetMessage {
        token_hash: &token::hash_token(&reset_token),
        outbox_id: &outbox_id,
        subject: SUBJECT,
        body: &body,
        expires_at: ctx.now + ttl,
    };
    let matched = resets::request(&ctx.db, &input.email, &message, ctx.now).await?;
    let mut event = AuditEvent::new(AuditAction::AuthPasswordResetRequest, "auth").meta("matched", matched.is_some());
    if let Some(user) = &matched {
        event = event.user(user.as_str());
        let msg = QueueMessage { outbox_id, recipient: input.email.as_str().to_owned(), body };
        enqueue(ctx, msg);
    }
    let body = "If an account exists for that email, a password reset link has been sent";
    Ok(Reply::message(202, body)?.audited([event]))
}

/// Sends the message to `RESET_QUEUE` after the response, when the producer is bound.
fn enqueue(ctx: &RequestCtx<'_>, msg: QueueMessage) {
    let Some(queue) = platform::optional_binding(ctx.env, "RESET_QUEUE") else {
        return;
    };
    let (db, rid, now) = (ctx.db.clone(), ctx.request_id.clone(), ctx.now);
    ctx.spawn(async move {
        let fields = [
            ("outboxId", msg.outbox_id.as_str()),
            ("kind", "password_reset"),
            ("recipient", msg.recipient.as_str()),
            ("subject", SUBJECT),
            ("body", msg.body.as_str()),
        ];
        match platform::queue_send(&queue, &fields).await {
            Ok(()) => {
                let _ = outbox::mark_delivered(&db, &msg.outbox_id, now).await;
            }
            Err(e) => worker::console_error!(
                "{}",
                json!({"level": "error", "requestId": rid, "event": "reset_queue_send_failed", "cause": e})
            ),
        }
    });
}

/// `POST /password-reset/confirm` `{token, newPassword}`.
pub async fn confirm(ctx: &RequestCtx<'_>) -> ApiResult<Reply> {
    let input: ResetConfirm = dto::read::<ResetConfirmBody, _>(ctx.body())?;
    if !token::looks_valid(input.token.expose()) {
        return Err(reset::invalid("malformed"));
    }
    let hash = token::hash_token(input.token.expose());
    let stored = resets::find(&ctx.db, &hash).await?;
    let Some(user) = stored.as_ref().filter(|r| reset::usable(Some(r), ctx.now)).map(|r| &r.user_id) else {
        return Err(reset::invalid("invalid_or_expired"));
    };
    let new_hash = hash_password(ctx, input.new_password.expose()).await?;
    // The sessions end in the user's object first (fail safe), then the single-use batch.
    gates::end_all(ctx.env, user.as_str()).await?;
    let done = resets::confirm(&ctx.db, &hash, &new_hash, &ctx.request_id, ctx.now)
        .await?
        .ok_or_else(|| reset::invalid("invalid_or_expired"))?;
    // A reset is also the way out of a lockout.
    gates::lockout_clear(ctx.env, &account_key(&done.email)).await?;
    let events = reset::confirmed(&done.user_id, done.sessions_ended, &done.keys_revoked);
    Ok(Reply::message(200, "Password has been reset; sign in with the new password")?.audited(events))
}
