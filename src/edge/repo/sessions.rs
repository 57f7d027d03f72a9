//! Login sessions: a refresh family (`refresh_families`, the session; its id is the `sid`
//! of every access token issued in it) and its chain of rotated refresh tokens
//! (`refresh_tokens`, stored as SHA-256). D1 is the durable record (refresh reads it);
//! the liveness every access-token request asks is kept by the user's Durable Object
//! (`repo::gates`), told first whenever sessions end.

use super::Stmt;
use super::{changes, from_row, row, Arg, Db, Exists};
use crate::decide::logout::Scope;
use crate::decide::refresh::Presented;
use crate::domain::ids::{SessionId, UserId};
use crate::domain::role::Role;
use crate::error::ApiResult;

/// Why sessions were ended (`refresh_families.revoke_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Logout,
    LogoutAll,
    Reuse,
    PasswordChange,
    PasswordReset,
    AdminUpdate,
    /// `DELETE /sessions/:id`.
    Revoked,
    /// `POST /logout {"others": true}`.
    LogoutOthers,
    /// A refresh from a client the session is not bound to.
    BindingMismatch,
}

impl EndReason {
    const fn as_str(self) -> &'static str {
        match self {
            EndReason::Logout => "logout",
            EndReason::LogoutAll => "logout_all",
            EndReason::Reuse => "reuse",
            EndReason::PasswordChange => "password_change",
            EndReason::PasswordReset => "password_reset",
            EndReason::AdminUpdate => "admin_update",
            EndReason::Revoked => "revoked",
            EndReason::LogoutOthers => "logout_others",
            EndReason::BindingMismatch => "binding_mismatch",
        }
    }
}

/// The statement that ends the live sessions `which` selects: binds `now_bind` as the
/// revocation time. Used by every flow that ends sessions, alone or inside its batch.
pub(super) fn end_sql(now_bind: &str, reason: EndReason, which: &str) -> String {
    format!(
        "UPDATE refresh_families SET revoked_at = {now_bind}, revoke_reason = '{}' WHERE {which} AND revoked_at IS NULL",
        reason.as_str()
    )
}

/// The session and user behind an access token.
pub struct SessionUser {
    pub is_active: bool,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub expires_at: i64,
}
from_row!(SessionUser { is_active, created_at, revoked_at, expires_at });

/// The session `sid` of user `uid` with the user, as D1 has it (read once per session by
/// its user's object, to adopt a session opened before the object kept the book).
pub async fn load(db: &Db, sid: &str, uid: &str) -> ApiResult<Option<SessionUser>> {
    let sql = "SELECT u.is_active, u.created_at, f.revoked_at, f.expires_at \
               FROM refresh_families f JOIN users u ON u.id = f.user_id WHERE f.id = ?1 AND u.id = ?2";
    db.first(sql, &[Arg::Text(sid), Arg::Text(uid)]).await
}

/// A new session: the family and its first refresh token.
pub struct NewSession<'a> {
    pub id: &'a SessionId,
    pub user: &'a UserId,
    pub refresh_hash: &'a str,
    pub expires_at: i64,
    /// The User-Agent (truncated, for the sessions list).
    pub user_agent: &'a str,
    /// The client's /24 or /64.
    pub ip_prefix: Option<&'a str>,
    /// The binding fingerprint, when sessions are bound.
    pub binding: Option<&'a str>,
}

/// The statements that open a session (inside the caller's batch: `users::logged_in`).
pub(super) fn open_stmts(db: &Db, s: &NewSession<'_>, now: i64) -> ApiResult<[Stmt; 2]> {
    let (sid, uid) = (Arg::Text(s.id.as_str()), Arg::Text(s.user.as_str()));
    Ok([
        db.stmt(
            "INSERT INTO refresh_families (id, user_id, created_at, expires_at, user_agent, ip_prefix, last_used_at, binding) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?3, ?7)",
            &[
                sid,
                uid,
                Arg::Int(now),
                Arg::Int(s.expires_at),
                Arg::Text(s.user_agent),
                s.ip_prefix.map_or(Arg::Null, Arg::Text),
                s.binding.map_or(Arg::Null, Arg::Text),
            ],
        )?,
        db.stmt(
            "INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            &[Arg::Text(s.refresh_hash), sid, Arg::Int(now), Arg::Int(s.expires_at)],
        )?,
    ])
}

struct PresentedRow {
    family_id: SessionId,
    expires_at: i64,
    rotated_at: Option<i64>,
    replaced_by: Option<String>,
    user_id: UserId,
    family_expires_at: i64,
    family_revoked_at: Option<i64>,
    email: String,
    role: Role,
    is_active: bool,
    binding: Option<String>,
}
from_row!(PresentedRow {
    family_id,
    expires_at,
    rotated_at,
    replaced_by,
    user_id,
    family_expires_at,
    family_revoked_at,
    email,
    role,
    is_active,
    binding
});

/// A presented refresh token (by hash) with its session and user.
pub async fn by_refresh(db: &Db, hash: &str) -> ApiResult<Option<Presented>> {
    let sql = "SELECT t.family_id, t.expires_at, t.rotated_at, t.replaced_by, f.user_id, \
         f.expires_at AS family_expires_at, f.revoked_at AS family_revoked_at, f.binding, u.email, u.role, u.is_active \
         FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id JOIN users u ON u.id = f.user_id \
         WHERE t.token_hash = ?1";
    let r: Option<PresentedRow> = db.first(sql, &[Arg::Text(hash)]).await?;
    Ok(r.map(|r| Presented {
        family_id: r.family_id,
        user_id: r.user_id,
        email: r.email,
        role: r.role,
        is_active: r.is_active,
        expires_at: r.expires_at,
        rotated_at: r.rotated_at,
        replaced_by: r.replaced_by,
        family_expires_at: r.family_expires_at,
        family_revoked: r.family_revoked_at.is_some(),
        binding: r.binding,
    }))
}

/// The live session of a refresh token (logout by the refresh cookie alone).
pub async fn live_by_refresh(db: &Db, hash: &str) -> ApiResult<Option<(SessionId, UserId)>> {
    struct Fam {
        family_id: SessionId,
        user_id: UserId,
    }
    from_row!(Fam { family_id, user_id });
    let sql = "SELECT t.family_id, f.user_id FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
               WHERE t.token_hash = ?1 AND f.revoked_at IS NULL";
    let r: Option<Fam> = db.first(sql, &[Arg::Text(hash)]).await?;
    Ok(r.map(|f| (f.family_id, f.user_id)))
}

/// Ends the sessions of a logout; the number ended.
pub async fn end(db: &Db, scope: &Scope, now: i64) -> ApiResult<usize> {
    match scope {
        Scope::Session(id) => end_family(db, id, EndReason::Logout, now).await,
        Scope::Everywhere(user) => {
            let sql = end_sql("?1", EndReason::LogoutAll, "user_id = ?2");
            db.run(&sql, &[Arg::Int(now), Arg::Text(user.as_str())]).await
        }
        Scope::Others(user, keep) => {
            let sql = end_sql("?1", EndReason::LogoutOthers, "user_id = ?2 AND id <> ?3");
            db.run(&sql, &[Arg::Int(now), Arg::Text(user.as_str()), Arg::Text(keep.as_str())]).await
        }
    }
}

/// A live session as `GET /sessions` lists it.
pub struct Listed {
    pub id: SessionId,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: i64,
    pub user_agent: Option<String>,
    pub ip_prefix: Option<String>,
}
from_row!(Listed { id, created_at, last_used_at, expires_at, user_agent, ip_prefix });

/// At most this many sessions are listed (newest first).
pub const LIST_LIMIT: i64 = 100;

/// The user's live sessions, newest first.
pub async fn list(db: &Db, user: &UserId, now: i64) -> ApiResult<Vec<Listed>> {
    let sql = "SELECT id, created_at, last_used_at, expires_at, user_agent, ip_prefix FROM refresh_families \
               WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 ORDER BY created_at DESC, id DESC LIMIT ?3";
    db.all(sql, &[Arg::Text(user.as_str()), Arg::Int(now), Arg::Int(LIST_LIMIT)]).await
}

/// Whether `id` is a live session of `user` (no existence oracle: another user's is `false`).
pub async fn is_live_of(db: &Db, id: &str, user: &UserId, now: i64) -> ApiResult<bool> {
    let sql = "SELECT 1 AS live FROM refresh_families WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL AND expires_at > ?3";
    let row: Option<Exists> = db.first(sql, &[Arg::Text(id), Arg::Text(user.as_str()), Arg::Int(now)]).await?;
    Ok(row.is_some())
}

/// Records a session's use (off the response path, at most once per
/// `liveness::TOUCH_EVERY_SECS`, when its user's object says so).
pub async fn touch(db: &Db, id: &SessionId, ip_prefix: Option<&str>, now: i64) -> ApiResult<usize> {
    db.run(
        "UPDATE refresh_families SET last_used_at = ?1, ip_prefix = COALESCE(?2, ip_prefix) WHERE id = ?3",
        &[Arg::Int(now), ip_prefix.map_or(Arg::Null, Arg::Text), Arg::Text(id.as_str())],
    )
    .await
}

/// Ends one session.
pub async fn end_family(db: &Db, id: &SessionId, reason: EndReason, now: i64) -> ApiResult<usize> {
    db.run(&end_sql("?1", reason, "id = ?2"), &[Arg::Int(now), Arg::Text(id.as_str())]).await
}

/// Ends every session of `?2` (binds ?1 now, ?2 user id) inside a caller's batch.
pub(super) fn end_all_stmt(db: &Db, user: &UserId, reason: EndReason, now: i64) -> ApiResult<Stmt> {
    db.stmt(&end_sql("?1", reason, "user_id = ?2"), &[Arg::Int(now), Arg::Text(user.as_str())])
}

/// The result of a rotation compare-and-set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// This request rotated the token.
    Rotated,
    /// A concurrent request rotated it to the same successor moments ago (the grace case).
    AlreadyRotated,
    /// The session ended meanwhile: nothing was issued.
    SessionEnded,
}

/// The rotation compare-and-set, in one batch: mark `hash` rotated to `new_hash` if
/// nobody did yet; insert the successor if the family is live (a concurrent rotation of
/// the same token inserted the same successor: nothing to do); check the successor is live.
pub async fn rotate(db: &Db, hash: &str, new_hash: &str, p: &Presented, now: i64) -> ApiResult<Rotation> {
    let results = db
        .batch(vec![
            db.stmt(
                "UPDATE refresh_tokens SET rotated_at = ?1, replaced_by = ?2 WHERE token_hash = ?3 AND rotated_at IS NULL",
                &[Arg::Int(now), Arg::Text(new_hash), Arg::Text(hash)],
            )?,
            db.stmt(
                "INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) \
                 SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = ?5 AND replaced_by = ?1) \
                 AND EXISTS (SELECT 1 FROM refresh_families WHERE id = ?2 AND revoked_at IS NULL AND expires_at > ?3) \
                 ON CONFLICT (token_hash) DO NOTHING",
                &[
                    Arg::Text(new_hash),
                    Arg::Text(p.family_id.as_str()),
                    Arg::Int(now),
                    Arg::Int(p.family_expires_at),
                    Arg::Text(hash),
                ],
            )?,
            db.stmt(
                "SELECT 1 AS live FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
                 WHERE t.token_hash = ?1 AND f.revoked_at IS NULL AND f.expires_at > ?2",
                &[Arg::Text(new_hash), Arg::Int(now)],
            )?,
        ])
        .await?;
    Ok(if row::<Exists>(&results, 2)?.is_none() {
        Rotation::SessionEnded
    } else if results.first().map(changes).unwrap_or(0) == 1 {
        Rotation::Rotated
    } else {
        Rotation::AlreadyRotated
    })
}
