//! `/api/auth`: register, login, refresh, logout, me, password change.
//!
//! Login does the same work for an unknown email, a wrong password and a disabled
//! account (one D1 read, one PBKDF2 derivation, one D1 write) and reveals a disabled
//! account only after the password was right. Refresh rotation is a compare-and-set in
//! one D1 batch; see `token::refresh::decide` for the grace/reuse rules.

use crate::audit::{AuditAction, AuditEvent};
use crate::crypto::kdf::{self, StoredHash};
use crate::dto;
use crate::edge::auth::{self, Caller};
use crate::edge::db::{self, Arg};
use crate::edge::http::{Rc, Reply};
use crate::edge::lockout;
use crate::edge::platform;
use crate::edge::revoke;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::throttle::lockout::FailureOutcome;
use crate::time::iso8601;
use crate::token::jwt::{self, AccessClaims};
use crate::token::refresh::{self, RefreshDecision, StoredRefresh};
use crate::web::cookies;
use serde::Deserialize;
use serde_json::json;

/// A new PBKDF2 hash string for `password` with the configured iterations.
pub async fn hash_password(password: &str, iterations: u32) -> ApiResult<String> {
    let salt = platform::random::<{ kdf::SALT_LEN }>().map_err(ApiError::internal)?;
    let hash = platform::pbkdf2_sha256(password.as_bytes(), &salt, iterations).await.map_err(ApiError::internal)?;
    Ok(kdf::format_hash(iterations, &salt, &hash))
}

/// Derives with the stored parameters and compares in constant time.
pub async fn verify_password(password: &str, stored: &StoredHash) -> ApiResult<bool> {
    let derived = platform::pbkdf2_sha256(password.as_bytes(), &stored.salt, stored.iterations)
        .await
        .map_err(ApiError::internal)?;
    Ok(stored.verify(&derived))
}

/// `POST /register`.
pub async fn register(rc: &mut Rc<'_>) -> ApiResult<Reply> {
    let (email, password) = dto::register(rc.body.as_ref())?;
    let hash = hash_password(password.expose(), rc.settings.pbkdf2_iterations).await?;
    let id = platform::uuid();
    let sql = "INSERT INTO users (id, email, password_hash, role, is_active, created_at, updated_at) VALUES (?1, ?2, ?3, 'user', 1, ?4, ?4)";
    match rc.db.run(sql, &[Arg::Text(&id), Arg::Text(email.as_str()), Arg::Text(&hash), Arg::Int(rc.now)]).await {
        Ok(_) => {}
        Err(e) if e.code == ErrorCode::Conflict => {
            return Err(ApiError::new(ErrorCode::Conflict).with_message("An account with this email already exists"));
        }
        Err(e) => return Err(e),
    }
    rc.audit(
        AuditEvent::new(AuditAction::UserRegister, "users")
            .user(&id)
            .resource_id(&id)
            .meta("email", email.as_str())
            .meta("role", "user"),
    );
    Ok(Reply::json(201, &json!({"id": id, "email": email.as_str(), "message": "User created successfully"})))
}

#[derive(Deserialize)]
struct LoginUser {
    id: String,
    email: String,
    password_hash: String,
    role: String,
    is_active: i64,
}

/// The answer to a counted wrong password: `error` (401), or 429 `account_locked` when a
/// concurrent failure locked the account while this one was being verified.
fn failed_password(outcome: FailureOutcome, error: ApiError) -> ApiError {
    match outcome {
        FailureOutcome::AlreadyLocked(retry) => lockout::locked_error(retry),
        FailureOutcome::Counted | FailureOutcome::JustLocked => error,
    }
}

/// `POST /login`.
pub async fn login(rc: &mut Rc<'_>) -> ApiResult<Reply> {
    let creds = dto::login(rc.body.as_ref())?;
    let email = creds.email.as_str().to_owned();
    let key = lockout::account_key(&email);

    // One round trip: the account (if any) and its lockout state.
    let reads = rc
        .db
        .batch(vec![
            rc.db.stmt(
                "SELECT id, email, password_hash, role, is_active FROM users WHERE email = ?1",
                &[Arg::Text(&email)],
            )?,
            lockout::select(rc, &key)?,
        ])
        .await?;
    let user: Option<LoginUser> = db::row::<LoginUser>(&reads, 0)?;
    let lock = db::row::<lockout::LockoutRow>(&reads, 1)?.map(|r| r.state());
    lockout::gate(rc, lock.as_ref(), &email, AuditAction::AuthLoginFailed)?;

    // Same KDF work whether or not the account exists: unknown emails verify against a
    // dummy hash with the configured cost.
    let stored = user.as_ref().and_then(|u| StoredHash::parse(&u.password_hash));
    let target = stored.clone().unwrap_or_else(|| kdf::dummy_hash(rc.settings.pbkdf2_iterations));
    let password_ok = verify_password(&creds.password, &target).await? && stored.is_some() && user.is_some();

    let Some(user) = user.filter(|_| password_ok) else {
        let reason = if stored.is_some() { "invalid_password" } else { "unknown_email" };
        rc.audit(
            AuditEvent::new(AuditAction::AuthLoginFailed, "auth").meta("email", email.as_str()).meta("reason", reason),
        );
        return Err(failed_password(
            lockout::record_failure(rc, &key, &email).await?,
            ApiError::new(ErrorCode::InvalidCredentials),
        ));
    };

    if user.is_active == 0 {
        rc.audit(
            AuditEvent::new(AuditAction::AuthLoginFailed, "auth")
                .user(&user.id)
                .meta("email", email.as_str())
                .meta("reason", "account_disabled"),
        );
        return Err(ApiError::new(ErrorCode::AccountDisabled));
    }

    // Success: reset the failure count, open a session, rehash a legacy/old-cost hash.
    let family = platform::uuid();
    let (refresh_token, refresh_hash) = new_refresh_token()?;
    let family_expires = rc.now + rc.settings.refresh_ttl;
    let mut writes = vec![
        lockout::clear(rc, &key)?,
        rc.db.stmt(
            "INSERT INTO refresh_families (id, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            &[Arg::Text(&family), Arg::Text(&user.id), Arg::Int(rc.now), Arg::Int(family_expires)],
        )?,
        rc.db.stmt(
            "INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            &[Arg::Text(&refresh_hash), Arg::Text(&family), Arg::Int(rc.now), Arg::Int(family_expires)],
        )?,
    ];
    let rehashed = match &stored {
        Some(s) if s.needs_rehash(rc.settings.pbkdf2_iterations) => {
            let new_hash = hash_password(&creds.password, rc.settings.pbkdf2_iterations).await?;
            writes.push(rc.db.stmt(
                "UPDATE users SET password_hash = ?1, updated_at = ?2 WHERE id = ?3",
                &[Arg::Text(&new_hash), Arg::Int(rc.now), Arg::Text(&user.id)],
            )?);
            true
        }
        _ => false,
    };
    rc.db.batch(writes).await?;

    let access = sign_access(rc, &user.id, &user.email, &user.role, &family);
    rc.audit(
        AuditEvent::new(AuditAction::AuthLogin, "auth")
            .user(&user.id)
            .resource_id(&family)
            .meta("method", "password")
            .meta("rehashed", rehashed),
    );
    let body = json!({
        "accessToken": access,
        "refreshToken": refresh_token,
        "tokenType": "Bearer",
        "expiresIn": rc.settings.access_ttl,
        "user": {"id": user.id, "email": user.email, "role": user.role},
    });
    Ok(Reply::json(200, &body)
        .with_cookie(cookies::access_cookie(&access, rc.settings.access_ttl))
        .with_cookie(cookies::refresh_cookie(&refresh_token, rc.settings.refresh_ttl)))
}

fn new_refresh_token() -> ApiResult<(String, String)> {
    let bytes = platform::random::<32>().map_err(ApiError::internal)?;
    let token = refresh::format_token(&bytes);
    let hash = refresh::hash_token(&token);
    Ok((token, hash))
}

fn sign_access(rc: &Rc<'_>, user_id: &str, email: &str, role: &str, sid: &str) -> String {
    let claims = AccessClaims {
        sub: user_id.to_owned(),
        email: email.to_owned(),
        role: role.to_owned(),
        typ: "access".to_owned(),
        sid: sid.to_owned(),
        iat: rc.now,
        exp: rc.now + rc.settings.access_ttl,
        iss: rc.settings.jwt_issuer.clone(),
        aud: rc.settings.jwt_audience.clone(),
        nbf: None,
    };
    jwt::sign(&claims, &rc.settings.jwt_key)
}

#[derive(Deserialize)]
struct RefreshRow {
    family_id: String,
    expires_at: i64,
    rotated_at: Option<i64>,
    replaced_by: Option<String>,
    user_id: String,
    family_expires_at: i64,
    family_revoked_at: Option<i64>,
    email: String,
    role: String,
    is_active: i64,
}

const REFRESH_SQL: &str =
    "SELECT t.family_id, t.expires_at, t.rotated_at, t.replaced_by, f.user_id, f.expires_at AS family_expires_at, \
     f.revoked_at AS family_revoked_at, u.email, u.role, u.is_active \
     FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id JOIN users u ON u.id = f.user_id \
     WHERE t.token_hash = ?1";

fn refresh_rejected() -> ApiError {
    ApiError::new(ErrorCode::Unauthorized).with_message("Invalid or expired refresh token")
}

/// The refresh token of the request: the body's `refreshToken`, else the refresh cookie
/// (a cookie-authenticated write, so it passes the CSRF check first).
fn presented_refresh(rc: &Rc<'_>) -> ApiResult<Option<String>> {
    if let Some(t) = dto::refresh(rc.body.as_ref())? {
        return Ok(Some(t));
    }
    match auth::credential_cookie(rc, cookies::REFRESH_COOKIE)? {
        Some(t) => {
            auth::check_csrf(rc)?;
            Ok(Some(t))
        }
        None => Ok(None),
    }
}

/// `POST /refresh`.
pub async fn refresh(rc: &mut Rc<'_>) -> ApiResult<Reply> {
    let token = presented_refresh(rc)?
        .ok_or_else(|| ApiError::validation(vec![crate::error::FieldError::new("refreshToken", "is required")]))?;
    if !refresh::looks_valid(&token) {
        return Err(refresh_rejected());
    }
    let hash = refresh::hash_token(&token);
    let row: Option<RefreshRow> = rc.db.first(REFRESH_SQL, &[Arg::Text(&hash)]).await?;
    let stored = row.as_ref().map(|r| StoredRefresh {
        expires_at: r.expires_at,
        rotated_at: r.rotated_at,
        revoked: false,
        family_expires_at: r.family_expires_at,
        family_revoked: r.family_revoked_at.is_some() || r.is_active == 0,
    });
    let decision = refresh::decide(stored.as_ref(), rc.now, rc.settings.refresh_grace);
    let Some(row) = row else {
        return Err(refresh_rejected());
    };
    match decision {
        RefreshDecision::Reject => Err(refresh_rejected()),
        RefreshDecision::Reuse => {
            rc.db
                .run(
                    "UPDATE refresh_families SET revoked_at = ?1, revoke_reason = 'reuse' WHERE id = ?2 AND revoked_at IS NULL",
                    &[Arg::Int(rc.now), Arg::Text(&row.family_id)],
                )
                .await?;
            rc.audit(
                AuditEvent::new(AuditAction::AuthRefreshTokenReused, "auth")
                    .user(&row.user_id)
                    .resource_id(&row.family_id)
                    .meta("rotatedSecondsAgo", rc.now - row.rotated_at.unwrap_or(rc.now)),
            );
            Err(ApiError::new(ErrorCode::RefreshTokenReused))
        }
        RefreshDecision::Rotate | RefreshDecision::GraceReissue => {
            // The presented token has exactly one successor (derived, not random): a
            // concurrent or grace-window presentation gets the same token as the first
            // presenter, so a session never has more than one live branch.
            let new_token = refresh::successor(rc.settings.refresh_successor_key.expose(), &hash);
            let new_hash = refresh::hash_token(&new_token);
            let grace = if decision == RefreshDecision::Rotate {
                !rotate_to(rc, &hash, &new_hash, &row).await?
            } else if row.replaced_by.as_deref() == Some(new_hash.as_str()) {
                true
            } else {
                // Rotated to a successor this key does not derive (JWT_SECRET changed since).
                return Err(refresh_rejected());
            };
            let access = sign_access(rc, &row.user_id, &row.email, &row.role, &row.family_id);
            rc.audit(
                AuditEvent::new(AuditAction::AuthRefresh, "auth")
                    .user(&row.user_id)
                    .resource_id(&row.family_id)
                    .meta("grace", grace),
            );
            let remaining = (row.family_expires_at - rc.now).max(0);
            let body = json!({
                "accessToken": access,
                "refreshToken": new_token,
                "tokenType": "Bearer",
                "expiresIn": rc.settings.access_ttl,
            });
            Ok(Reply::json(200, &body)
                .with_cookie(cookies::access_cookie(&access, rc.settings.access_ttl))
                .with_cookie(cookies::refresh_cookie(&new_token, remaining)))
        }
    }
}

/// The rotation compare-and-set, in one batch: mark `hash` rotated to `new_hash` if
/// nobody did yet, insert the successor if the family is live (a concurrent rotation of
/// the same token inserted the same successor: nothing to do), and check that the
/// successor is live. `Ok(true)`: this request rotated; `Ok(false)`: a concurrent request
/// did, moments ago (the grace case); a dead session is 401.
async fn rotate_to(rc: &Rc<'_>, hash: &str, new_hash: &str, row: &RefreshRow) -> ApiResult<bool> {
    let results = rc
        .db
        .batch(vec![
            rc.db.stmt(
                "UPDATE refresh_tokens SET rotated_at = ?1, replaced_by = ?2 WHERE token_hash = ?3 AND rotated_at IS NULL",
                &[Arg::Int(rc.now), Arg::Text(new_hash), Arg::Text(hash)],
            )?,
            rc.db.stmt(
                "INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) \
                 SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = ?5 AND replaced_by = ?1) \
                 AND EXISTS (SELECT 1 FROM refresh_families WHERE id = ?2 AND revoked_at IS NULL AND expires_at > ?3) \
                 ON CONFLICT (token_hash) DO NOTHING",
                &[
                    Arg::Text(new_hash),
                    Arg::Text(&row.family_id),
                    Arg::Int(rc.now),
                    Arg::Int(row.family_expires_at),
                    Arg::Text(hash),
                ],
            )?,
            rc.db.stmt(
                "SELECT 1 AS live FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
                 WHERE t.token_hash = ?1 AND f.revoked_at IS NULL AND f.expires_at > ?2",
                &[Arg::Text(new_hash), Arg::Int(rc.now)],
            )?,
        ])
        .await?;
    #[derive(Deserialize)]
    struct Live {
        #[serde(rename = "live")]
        _live: i64,
    }
    if db::row::<Live>(&results, 2)?.is_none() {
        return Err(refresh_rejected());
    }
    Ok(results.first().map(db::changes).unwrap_or(0) == 1)
}

fn clear(reply: Reply) -> Reply {
    let [a, r] = cookies::clear_cookies();
    reply.with_cookie(a).with_cookie(r)
}

/// `POST /logout` (`{"all": true}` ends every session of the user). Authenticated by an
/// access token, or by the refresh cookie alone (an expired access token must not keep
/// a browser from logging out).
pub async fn logout(rc: &mut Rc<'_>, caller: Option<Caller>) -> ApiResult<Reply> {
    let all = dto::logout(rc.body.as_ref())?;
    let (user_id, sid) = match caller {
        Some(c) => {
            let sid = c.require_session()?.to_owned();
            (c.principal.user_id, sid)
        }
        None => {
            let token = auth::credential_cookie(rc, cookies::REFRESH_COOKIE)?
                .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized))?;
            auth::check_csrf(rc)?;
            #[derive(Deserialize)]
            struct Fam {
                family_id: String,
                user_id: String,
            }
            let fam: Option<Fam> = rc
                .db
                .first(
                    "SELECT t.family_id, f.user_id FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
                     WHERE t.token_hash = ?1 AND f.revoked_at IS NULL",
                    &[Arg::Text(&refresh::hash_token(&token))],
                )
                .await?;
            let fam = fam.ok_or_else(refresh_rejected)?;
            (fam.user_id, fam.family_id)
        }
    };
    let revoked = if all {
        rc.db
            .run(
                "UPDATE refresh_families SET revoked_at = ?1, revoke_reason = 'logout_all' WHERE user_id = ?2 AND revoked_at IS NULL",
                &[Arg::Int(rc.now), Arg::Text(&user_id)],
            )
            .await?
    } else {
        rc.db
            .run(
                "UPDATE refresh_families SET revoked_at = ?1, revoke_reason = 'logout' WHERE id = ?2 AND revoked_at IS NULL",
                &[Arg::Int(rc.now), Arg::Text(&sid)],
            )
            .await?
    };
    rc.audit(
        AuditEvent::new(AuditAction::AuthLogout, "auth")
            .user(&user_id)
            .resource_id(&sid)
            .meta("all", all)
            .meta("sessionsEnded", revoked),
    );
    let message = if all { "Logged out of every session" } else { "Logged out" };
    Ok(clear(Reply::json(200, &json!({"message": message}))))
}

/// `GET /me`: answered from the authentication read, no further D1 round trip.
pub fn me(caller: &Caller) -> Reply {
    Reply::json(
        200,
        &json!({
            "id": caller.principal.user_id,
            "email": caller.email,
            "role": caller.principal.role.as_str(),
            "isActive": true,
            "createdAt": iso8601(caller.created_at),
        }),
    )
}

/// `PUT /password`: verifies the current password (a wrong one counts towards the
/// account's lockout, as a failed login does), then in one batch stores the new hash,
/// ends every session, supersedes every open reset token and, unless
/// `"keepApiKeys": true`, revokes every API key of the user.
pub async fn change_password(rc: &mut Rc<'_>, caller: Caller) -> ApiResult<Reply> {
    caller.require_session()?;
    let input = dto::change_password(rc.body.as_ref())?;
    let uid = caller.principal.user_id.clone();
    let key = lockout::account_key(&caller.email);
    let reads = rc
        .db
        .batch(vec![
            rc.db.stmt("SELECT password_hash FROM users WHERE id = ?1", &[Arg::Text(&uid)])?,
            lockout::select(rc, &key)?,
        ])
        .await?;
    let stored = db::row::<PasswordRow>(&reads, 0)?.and_then(|r| StoredHash::parse(&r.password_hash));
    let lock = db::row::<lockout::LockoutRow>(&reads, 1)?.map(|r| r.state());
    lockout::gate(rc, lock.as_ref(), &caller.email, AuditAction::AuthLoginFailed)?;
    let target = stored.clone().unwrap_or_else(|| kdf::dummy_hash(rc.settings.pbkdf2_iterations));
    if !(verify_password(&input.current, &target).await? && stored.is_some()) {
        rc.audit(
            AuditEvent::new(AuditAction::AuthLoginFailed, "auth")
                .user(&uid)
                .meta("email", caller.email.as_str())
                .meta("reason", "invalid_current_password"),
        );
        let outcome = lockout::record_failure(rc, &key, &caller.email).await?;
        let wrong = ApiError::new(ErrorCode::InvalidCredentials).with_message("Current password is incorrect");
        return Err(failed_password(outcome, wrong));
    }
    let hash = hash_password(input.new.expose(), rc.settings.pbkdf2_iterations).await?;
    let (now, user) = (Arg::Int(rc.now), Arg::Text(&uid));
    let mut writes = vec![
        rc.db.stmt("UPDATE users SET password_hash = ?1, updated_at = ?2 WHERE id = ?3", &[Arg::Text(&hash), now, user])?,
        rc.db.stmt(
            "UPDATE refresh_families SET revoked_at = ?1, revoke_reason = 'password_change' WHERE user_id = ?2 AND revoked_at IS NULL",
            &[now, user],
        )?,
        rc.db.stmt(
            "UPDATE password_resets SET superseded_at = ?1 WHERE user_id = ?2 AND used_at IS NULL AND superseded_at IS NULL",
            &[now, user],
        )?,
        lockout::clear(rc, &key)?,
    ];
    if !input.keep_api_keys {
        writes.push(rc.db.stmt(revoke::ALL_API_KEYS_SQL, &[now, user])?);
    }
    let results = rc.db.batch(writes).await?;
    let revoked = if input.keep_api_keys { Vec::new() } else { db::rows_of(&results, 4)? };
    rc.audit(
        AuditEvent::new(AuditAction::AuthPasswordChange, "auth")
            .user(&uid)
            .resource_id(&uid)
            .meta("apiKeysRevoked", revoked.len()),
    );
    revoke::audit_api_keys(rc, &uid, revoked, "password_change");
    Ok(clear(Reply::json(200, &json!({"message": "Password changed; every session has been signed out"}))))
}

#[derive(Deserialize)]
struct PasswordRow {
    password_hash: String,
}
