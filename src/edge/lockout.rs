//! Account lockout storage: the gate before a password check and the atomic count of a
//! wrong password, shared by `POST /login` and `PUT /password` (both feed one lockout per
//! account; see `throttle::lockout` for the state machine and the concurrency guarantee).

use super::db::Arg;
use super::http::Rc;
use crate::audit::{AuditAction, AuditEvent};
use crate::crypto::mac;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::throttle::lockout::{self, FailureOutcome, LockoutPolicy, LockoutState, RECORD_FAILURE_SQL};
use serde::Deserialize;
use worker::D1PreparedStatement;

/// The lockout key of an account: SHA-256 of the normalised email (unknown emails too).
pub fn account_key(email: &str) -> String {
    mac::sha256_hex(email.as_bytes())
}

pub fn policy(rc: &Rc<'_>) -> LockoutPolicy {
    LockoutPolicy {
        threshold: rc.settings.lockout_threshold,
        window_secs: rc.settings.lockout_window,
        lock_secs: rc.settings.lockout_seconds,
    }
}

#[derive(Deserialize)]
pub struct LockoutRow {
    failures: i64,
    window_start: i64,
    locked_until: Option<i64>,
}

impl LockoutRow {
    pub fn state(&self) -> LockoutState {
        LockoutState {
            failures: u32::try_from(self.failures).unwrap_or(u32::MAX),
            window_start: self.window_start,
            locked_until: self.locked_until,
        }
    }
}

pub const SELECT_SQL: &str = "SELECT failures, window_start, locked_until FROM login_lockouts WHERE account_key = ?1";

/// The statement that reads an account's lockout row (batched with the account read).
pub fn select(rc: &Rc<'_>, key: &str) -> ApiResult<D1PreparedStatement> {
    rc.db.stmt(SELECT_SQL, &[Arg::Text(key)])
}

/// The statement that clears an account's failures (successful login, password reset).
pub fn clear(rc: &Rc<'_>, key: &str) -> ApiResult<D1PreparedStatement> {
    rc.db.stmt("DELETE FROM login_lockouts WHERE account_key = ?1", &[Arg::Text(key)])
}

pub fn locked_error(retry: i64) -> ApiError {
    ApiError::too_many(ErrorCode::AccountLocked, u64::try_from(retry).unwrap_or(1))
        .with_message("Too many failed password attempts; try again later")
}

/// 429 `account_locked` (audited as a failed attempt) while the account is locked.
pub fn gate(rc: &mut Rc<'_>, state: Option<&LockoutState>, email: &str, action: AuditAction) -> ApiResult<()> {
    match lockout::check(state, rc.now) {
        None => Ok(()),
        Some(retry) => {
            rc.audit(AuditEvent::new(action, "auth").meta("email", email).meta("reason", "account_locked"));
            Err(locked_error(retry))
        }
    }
}

/// Counts one wrong password atomically and returns what it means for this request.
/// A locking failure is audited `auth.account_locked`.
pub async fn record_failure(rc: &mut Rc<'_>, key: &str, email: &str) -> ApiResult<FailureOutcome> {
    let p = policy(rc);
    let row: Option<LockoutRow> = rc
        .db
        .first(
            RECORD_FAILURE_SQL,
            &[
                Arg::Text(key),
                Arg::Int(rc.now),
                Arg::Int(p.window_secs),
                Arg::from(p.threshold.max(1)),
                Arg::Int(p.lock_secs.max(1)),
            ],
        )
        .await?;
    let state = row.ok_or_else(|| ApiError::unavailable("lockout upsert returned no row"))?.state();
    let outcome = lockout::classify(&state, &p, rc.now);
    if outcome == FailureOutcome::JustLocked {
        rc.audit(
            AuditEvent::new(AuditAction::AuthAccountLocked, "auth")
                .meta("email", email)
                .meta("failures", state.failures)
                .meta("lockedForSeconds", rc.settings.lockout_seconds),
        );
    }
    Ok(outcome)
}
