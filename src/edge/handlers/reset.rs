//! Password reset (OWASP Forgot Password Cheat Sheet).
//!
//! Request: the same answer and the same D1 work (one batch of three statements that
//! select the account themselves) whether the email is unknown, disabled or active; the
//! account is untouched. Only for an active account does the batch store the token hash
//! (superseding older tokens) and write the message with the link to the outbox. When a
//! `RESET_QUEUE` producer is bound, the message is also sent to that queue after the
//! response.
//!
//! Confirm: one batch marks the token used (compare-and-set), sets the new hash and
//! revokes every session of the user, all or nothing.

use crate::audit::{AuditAction, AuditEvent};
use crate::dto;
use crate::edge::db::{self, Arg};
use crate::edge::handlers::auth::hash_password;
use crate::edge::http::{Rc, Reply};
use crate::edge::platform;
use crate::edge::{lockout, revoke};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::token::reset;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const SUBJECT: &str = "Reset your password";

#[derive(Deserialize)]
struct Matched {
    user_id: String,
}

/// The message sent to `RESET_QUEUE` (same fields as the outbox row).
#[derive(Serialize)]
struct QueueMessage<'a> {
    #[serde(rename = "outboxId")]
    outbox_id: &'a str,
    kind: &'a str,
    recipient: &'a str,
    subject: &'a str,
    body: &'a str,
}

/// `POST /password-reset/request` `{email}` → 202, whatever the account.
pub async fn request(rc: &mut Rc<'_>) -> ApiResult<Reply> {
    let email = dto::reset_request(rc.body.as_ref())?;
    let random = platform::random::<32>().map_err(ApiError::internal)?;
    let token = reset::format_token(&random);
    let hash = reset::hash_token(&token);
    let outbox_id = platform::uuid();
    let ttl = rc.settings.password_reset_ttl;
    let body = reset::message_body(&rc.settings.app_url, &token, ttl);
    let active = "SELECT id FROM users WHERE email = ?1 AND is_active = 1";
    let results = rc
        .db
        .batch(vec![
            rc.db.stmt(
                &format!(
                    "UPDATE password_resets SET superseded_at = ?2 WHERE user_id = ({active}) \
                     AND used_at IS NULL AND superseded_at IS NULL"
                ),
                &[Arg::Text(email.as_str()), Arg::Int(rc.now)],
            )?,
            rc.db.stmt(
                &format!(
                    "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) \
                     SELECT ?2, id, ?3, ?4 FROM ({active}) RETURNING user_id"
                ),
                &[Arg::Text(email.as_str()), Arg::Text(&hash), Arg::Int(rc.now), Arg::Int(rc.now + ttl)],
            )?,
            rc.db.stmt(
                &format!(
                    "INSERT INTO outbox (id, kind, recipient, subject, body, created_at) \
                     SELECT ?2, 'password_reset', ?1, ?3, ?4, ?5 FROM ({active})"
                ),
                &[
                    Arg::Text(email.as_str()),
                    Arg::Text(&outbox_id),
                    Arg::Text(SUBJECT),
                    Arg::Text(&body),
                    Arg::Int(rc.now),
                ],
            )?,
        ])
        .await?;
    let matched: Option<Matched> = db::row::<Matched>(&results, 1)?;
    let mut event = AuditEvent::new(AuditAction::AuthPasswordResetRequest, "auth").meta("matched", matched.is_some());
    if let Some(m) = &matched {
        event = event.user(&m.user_id);
        if let Ok(queue) = rc.env.queue("RESET_QUEUE") {
            let db = rc.db.clone();
            let recipient = email.as_str().to_owned();
            let (rid, now) = (rc.request_id.clone(), rc.now);
            rc.spawn(async move {
                let msg = QueueMessage { outbox_id: &outbox_id, kind: "password_reset", recipient: &recipient, subject: SUBJECT, body: &body };
                match queue.send(&msg).await {
                    Ok(()) => {
                        let sql = "UPDATE outbox SET delivered_at = ?1, attempts = attempts + 1 WHERE id = ?2";
                        let _ = db.run(sql, &[Arg::Int(now), Arg::Text(&outbox_id)]).await;
                    }
                    Err(e) => worker::console_error!(
                        "{}",
                        json!({"level": "error", "requestId": rid, "event": "reset_queue_send_failed", "cause": e.to_string()})
                    ),
                }
            });
        }
    }
    rc.audit(event);
    Ok(Reply::json(
        202,
        &json!({"message": "If an account exists for that email, a password reset link has been sent"}),
    ))
}

#[derive(Deserialize)]
struct Reset {
    id: String,
    email: String,
}

fn invalid_token() -> ApiError {
    ApiError::new(ErrorCode::InvalidToken).with_message("Invalid or expired reset token")
}

/// `POST /password-reset/confirm` `{token, newPassword}`.
pub async fn confirm(rc: &mut Rc<'_>) -> ApiResult<Reply> {
    let (token, password) = dto::reset_confirm(rc.body.as_ref())?;
    if !reset::looks_valid(&token) {
        rc.audit(
            AuditEvent::new(AuditAction::AuthPasswordResetConfirm, "auth")
                .meta("success", false)
                .meta("reason", "malformed"),
        );
        return Err(invalid_token());
    }
    let hash = reset::hash_token(&token);
    let new_hash = hash_password(password.expose(), rc.settings.pbkdf2_iterations).await?;
    let consumed = "(SELECT user_id FROM password_resets WHERE token_hash = ?1 AND consumed_by = ?3)";
    // D1 wants exactly as many bindings as a statement's highest ?N: the first two use ?1..?3.
    let args3 = [Arg::Text(&hash), Arg::Int(rc.now), Arg::Text(&rc.request_id)];
    let args = [args3[0], args3[1], args3[2], Arg::Text(&new_hash)];
    let results = rc
        .db
        .batch(vec![
            rc.db.stmt(
                "UPDATE password_resets SET used_at = ?2, consumed_by = ?3 WHERE token_hash = ?1 \
                 AND used_at IS NULL AND superseded_at IS NULL AND expires_at > ?2",
                &args3,
            )?,
            rc.db.stmt(
                &format!(
                    "UPDATE refresh_families SET revoked_at = ?2, revoke_reason = 'password_reset' \
                     WHERE user_id = {consumed} AND revoked_at IS NULL"
                ),
                &args3,
            )?,
            rc.db.stmt(
                &format!(
                    "UPDATE users SET password_hash = ?4, updated_at = ?2 WHERE id = {consumed} AND is_active = 1 \
                     RETURNING id, email"
                ),
                &args,
            )?,
            // Account recovery: assume compromise. Every API key goes, and so does any
            // other open reset token.
            rc.db.stmt(
                &format!(
                    "UPDATE api_keys SET revoked_at = ?2 WHERE user_id = {consumed} AND revoked_at IS NULL \
                     AND user_id IN (SELECT id FROM users WHERE is_active = 1) RETURNING id, key_prefix"
                ),
                &args3,
            )?,
            rc.db.stmt(
                &format!(
                    "UPDATE password_resets SET superseded_at = ?2 WHERE user_id = {consumed} \
                     AND used_at IS NULL AND superseded_at IS NULL"
                ),
                &args3,
            )?,
        ])
        .await?;
    let user: Option<Reset> = db::row::<Reset>(&results, 2)?;
    let Some(user) = user else {
        rc.audit(
            AuditEvent::new(AuditAction::AuthPasswordResetConfirm, "auth")
                .meta("success", false)
                .meta("reason", "invalid_or_expired"),
        );
        return Err(invalid_token());
    };
    // A reset is also the way out of a lockout.
    lockout::clear(rc, &lockout::account_key(&user.email))?.run().await.map_err(db::storage_error)?;
    let ended = results.get(1).map(db::changes).unwrap_or(0);
    let keys: Vec<revoke::RevokedKey> = db::rows_of(&results, 3)?;
    let keys_revoked = keys.len();
    revoke::audit_api_keys(rc, &user.id, keys, "password_reset");
    rc.audit(
        AuditEvent::new(AuditAction::AuthPasswordResetConfirm, "auth")
            .user(&user.id)
            .resource_id(&user.id)
            .meta("success", true)
            .meta("sessionsEnded", ended)
            .meta("apiKeysRevoked", keys_revoked),
    );
    Ok(Reply::json(200, &json!({"message": "Password has been reset; sign in with the new password"})))
}
