//! Password-reset tokens (`password_resets`, stored as SHA-256): the uniform request
//! batch and the single-use confirm batch.

use super::sessions::{end_sql, EndReason};
use super::Stmt;
use super::{changes, from_row, row, rows_of, Arg, Db};
use crate::decide::password::RevokedKey;
use crate::decide::reset::StoredReset;
use crate::domain::email::Email;
use crate::domain::ids::UserId;
use crate::error::ApiResult;

/// Supersedes every open reset token of a user inside a caller's batch (binds ?1 now, ?2 user).
pub(super) fn supersede_all_stmt(db: &Db, user: &UserId, now: i64) -> ApiResult<Stmt> {
    db.stmt(
        "UPDATE password_resets SET superseded_at = ?1 WHERE user_id = ?2 AND used_at IS NULL AND superseded_at IS NULL",
        &[Arg::Int(now), Arg::Text(user.as_str())],
    )
}

/// A reset message to store.
pub struct ResetMessage<'a> {
    pub token_hash: &'a str,
    pub outbox_id: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub expires_at: i64,
}

/// The same batch whatever the account: its three statements select the active account
/// of `email` themselves, so for an unknown or disabled email they change nothing. For an
/// active one: older tokens superseded, the new hash stored, the message put in the outbox.
/// The matched user, if any.
pub async fn request(db: &Db, email: &Email, m: &ResetMessage<'_>, now: i64) -> ApiResult<Option<UserId>> {
    let active = "SELECT id FROM users WHERE email = ?1 AND is_active = 1";
    let email = Arg::Text(email.as_str());
    let results = db
        .batch(vec![
            db.stmt(
                &format!(
                    "UPDATE password_resets SET superseded_at = ?2 WHERE user_id = ({active}) \
                     AND used_at IS NULL AND superseded_at IS NULL"
                ),
                &[email, Arg::Int(now)],
            )?,
            db.stmt(
                &format!(
                    "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) \
                     SELECT ?2, id, ?3, ?4 FROM ({active}) RETURNING user_id"
                ),
                &[email, Arg::Text(m.token_hash), Arg::Int(now), Arg::Int(m.expires_at)],
            )?,
            db.stmt(
                &super::outbox::insert_reset_sql(active),
                &[email, Arg::Text(m.outbox_id), Arg::Text(m.subject), Arg::Text(m.body), Arg::Int(now)],
            )?,
        ])
        .await?;
    struct Matched {
        user_id: UserId,
    }
    from_row!(Matched { user_id });
    Ok(row::<Matched>(&results, 1)?.map(|m| m.user_id))
}

pub async fn find(db: &Db, token_hash: &str) -> ApiResult<Option<StoredReset>> {
    let sql = "SELECT user_id, expires_at, used_at, superseded_at FROM password_resets WHERE token_hash = ?1";
    db.first(sql, &[Arg::Text(token_hash)]).await
}

/// What a confirm changed.
pub struct Confirmed {
    pub user_id: UserId,
    pub email: String,
    pub sessions_ended: usize,
    pub keys_revoked: Vec<RevokedKey>,
}

/// Single use, all or nothing: marks the token used (compare-and-set, tagged with the
/// request id), sets the new hash of an active user, ends every session, revokes every
/// API key and supersedes every other open token. `None` when the token was not usable
/// (or its user is disabled).
pub async fn confirm(
    db: &Db,
    token_hash: &str,
    new_hash: &str,
    request_id: &str,
    now: i64,
) -> ApiResult<Option<Confirmed>> {
    let consumed = "(SELECT user_id FROM password_resets WHERE token_hash = ?1 AND consumed_by = ?3)";
    // D1 wants exactly as many bindings as a statement's highest ?N.
    let args3 = [Arg::Text(token_hash), Arg::Int(now), Arg::Text(request_id)];
    let args4 = [args3[0], args3[1], args3[2], Arg::Text(new_hash)];
    let results = db
        .batch(vec![
            db.stmt(
                "UPDATE password_resets SET used_at = ?2, consumed_by = ?3 WHERE token_hash = ?1 \
                 AND used_at IS NULL AND superseded_at IS NULL AND expires_at > ?2",
                &args3,
            )?,
            db.stmt(&end_sql("?2", EndReason::PasswordReset, &format!("user_id = {consumed}")), &args3)?,
            db.stmt(
                &format!(
                    "UPDATE users SET password_hash = ?4, updated_at = ?2 WHERE id = {consumed} AND is_active = 1 \
                     RETURNING id, email"
                ),
                &args4,
            )?,
            // Account recovery: assume compromise. Every API key goes, and so does any
            // other open reset token.
            db.stmt(
                &format!(
                    "UPDATE api_keys SET revoked_at = ?2 WHERE user_id = {consumed} AND revoked_at IS NULL \
                     AND user_id IN (SELECT id FROM users WHERE is_active = 1) RETURNING id, key_prefix"
                ),
                &args3,
            )?,
            db.stmt(
                &format!(
                    "UPDATE password_resets SET superseded_at = ?2 WHERE user_id = {consumed} \
                     AND used_at IS NULL AND superseded_at IS NULL"
                ),
                &args3,
            )?,
        ])
        .await?;
    struct Reset {
        id: UserId,
        email: String,
    }
    from_row!(Reset { id, email });
    let Some(user) = row::<Reset>(&results, 2)? else {
        return Ok(None);
    };
    Ok(Some(Confirmed {
        user_id: user.id,
        email: user.email,
        sessions_ended: results.get(1).map(changes).unwrap_or(0),
        keys_revoked: rows_of(&results, 3)?,
    }))
}

from_row!(StoredReset { user_id, expires_at, used_at, superseded_at });
