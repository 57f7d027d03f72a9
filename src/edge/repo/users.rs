//! Accounts (`users`): registration, the login and password-change reads and writes, the
//! admin listing and update.

use super::sessions::{end_all_stmt, end_sql, open_stmts, EndReason, NewSession};
use super::Stmt;
use super::{changes, from_row, page, row, rows_of, Arg, Db};
use crate::decide::admin::UpdatePlan;
use crate::decide::login::Account;
use crate::decide::password::RevokedKey;
use crate::domain::email::Email;
use crate::domain::ids::UserId;
use crate::domain::role::Role;
use crate::error::{ApiError, ApiResult, ErrorCode};
use serde::Serialize;

/// A user as the admin endpoints show it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub role: Role,
    pub is_active: bool,
    #[serde(serialize_with = "crate::time::serialize_iso8601")]
    pub created_at: i64,
}
from_row!(User { id, email, role, is_active, created_at });

const COLUMNS: &str = "id, email, role, is_active, created_at";

/// A new account with role `user`; a taken email is 409 `conflict`.
pub async fn insert(db: &Db, id: &UserId, email: &Email, password_hash: &str, now: i64) -> ApiResult<()> {
    let sql = "INSERT INTO users (id, email, password_hash, role, is_active, created_at, updated_at) \
               VALUES (?1, ?2, ?3, 'user', 1, ?4, ?4)";
    let args = [Arg::Text(id.as_str()), Arg::Text(email.as_str()), Arg::Text(password_hash), Arg::Int(now)];
    match db.run(sql, &args).await {
        Err(e) if e.code == ErrorCode::Conflict => {
            Err(ApiError::new(ErrorCode::Conflict).with_message("An account with this email already exists"))
        }
        other => other.map(|_| ()),
    }
}

struct AccountRow {
    id: UserId,
    email: String,
    password_hash: String,
    role: Role,
    is_active: bool,
    created_at: i64,
}
from_row!(AccountRow { id, email, password_hash, role, is_active, created_at });

/// The account of `email`, if any.
pub async fn for_login(db: &Db, email: &Email) -> ApiResult<Option<Account>> {
    let sql = "SELECT id, email, password_hash, role, is_active, created_at FROM users WHERE email = ?1";
    let row: Option<AccountRow> = db.first(sql, &[Arg::Text(email.as_str())]).await?;
    Ok(row.map(|a| Account {
        id: a.id,
        email: a.email,
        role: a.role,
        is_active: a.is_active,
        password_hash: a.password_hash,
        created_at: a.created_at,
    }))
}

/// The stored password hash of `id`.
pub async fn password_hash(db: &Db, id: &UserId) -> ApiResult<Option<String>> {
    struct Hash {
        password_hash: String,
    }
    from_row!(Hash { password_hash });
    let row: Option<Hash> =
        db.first("SELECT password_hash FROM users WHERE id = ?1", &[Arg::Text(id.as_str())]).await?;
    Ok(row.map(|h| h.password_hash))
}

/// A successful login, in one batch: the session opened and, when given, the password
/// rehashed (legacy format or an old cost).
pub async fn logged_in(db: &Db, session: &NewSession<'_>, rehash: Option<&str>, now: i64) -> ApiResult<()> {
    let mut writes = Vec::from(open_stmts(db, session, now)?);
    if let Some(hash) = rehash {
        writes.push(set_password_stmt(db, session.user, hash, now)?);
    }
    db.batch(writes).await.map(|_| ())
}

/// Sets a new password hash (inside a caller's batch).
fn set_password_stmt(db: &Db, id: &UserId, hash: &str, now: i64) -> ApiResult<Stmt> {
    db.stmt(
        "UPDATE users SET password_hash = ?1, updated_at = ?2 WHERE id = ?3",
        &[Arg::Text(hash), Arg::Int(now), Arg::Text(id.as_str())],
    )
}

/// A password change, all or nothing: the new hash; every session ended; every open
/// reset token superseded; and, when `revoke_keys`, every API key revoked (returned).
pub async fn change_password(
    db: &Db,
    id: &UserId,
    hash: &str,
    revoke_keys: bool,
    now: i64,
) -> ApiResult<Vec<RevokedKey>> {
    let mut writes = vec![
        set_password_stmt(db, id, hash, now)?,
        end_all_stmt(db, id, EndReason::PasswordChange, now)?,
        super::resets::supersede_all_stmt(db, id, now)?,
    ];
    if revoke_keys {
        writes.push(super::api_keys::revoke_all_stmt(db, id, now)?);
    }
    let results = db.batch(writes).await?;
    if revoke_keys {
        rows_of(&results, 3)
    } else {
        Ok(Vec::new())
    }
}

pub async fn find(db: &Db, id: &str) -> ApiResult<Option<User>> {
    db.first(&format!("SELECT {COLUMNS} FROM users WHERE id = ?1"), &[Arg::Text(id)]).await
}

/// A page of users, newest first, optionally those whose email contains `email` (a plain
/// substring: no LIKE pattern, which D1 refuses over 50 bytes, and no wildcards).
pub async fn page_of(db: &Db, email: Option<&str>, page_no: i64, limit: i64) -> ApiResult<(i64, Vec<User>)> {
    let filter = "(?1 IS NULL OR instr(email, ?1) > 0)";
    page(
        db,
        &format!("SELECT count(*) AS n FROM users WHERE {filter}"),
        &[Arg::from(email)],
        &format!("SELECT {COLUMNS} FROM users WHERE {filter} ORDER BY created_at DESC, rowid DESC LIMIT ?2 OFFSET ?3"),
        &[Arg::from(email), Arg::Int(limit), Arg::Int((page_no - 1) * limit)],
    )
    .await
}

/// Applies an admin update in one batch: the sessions end (when the plan says so) and the
/// user row changes, both only if the last-admin guard holds, which D1 evaluates in each
/// statement before either changes `users`. `None`: the guard refused.
pub async fn apply_update(db: &Db, id: &str, plan: &UpdatePlan, now: i64) -> ApiResult<Option<(User, usize)>> {
    let guard = "(?5 = 0 OR EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND is_active = 1 AND id != ?1))";
    let end = end_sql("?2", EndReason::AdminUpdate, &format!("user_id = ?1 AND ?3 = 1 AND {guard}"));
    let update = format!(
        "UPDATE users SET role = ?3, is_active = ?4, updated_at = ?2 WHERE id = ?1 AND {guard} RETURNING {COLUMNS}"
    );
    let (id, now, guard_on) = (Arg::Text(id), Arg::Int(now), Arg::from(plan.needs_another_admin));
    // Each statement binds exactly the ?N it uses: ?1 id, ?2 now, ?3 end / role, ?4 active, ?5 guard.
    let end_args = [id, now, Arg::from(plan.end_sessions), Arg::Int(0), guard_on];
    let update_args = [id, now, Arg::Text(plan.role.as_str()), Arg::from(plan.is_active), guard_on];
    let results = db.batch(vec![db.stmt(&end, &end_args)?, db.stmt(&update, &update_args)?]).await?;
    let ended = results.first().map(changes).unwrap_or(0);
    Ok(row::<User>(&results, 1)?.map(|u| (u, ended)))
}
