//! Per-account login lockout rows (`login_lockouts`, keyed by SHA-256 of the normalised
//! email, unknown emails included). The state machine is `throttle::lockout`; the atomic
//! failure count is `sql/record_failure.sql`, host-tested against it.

use super::{Arg, Db};
use crate::error::{ApiError, ApiResult};
use crate::throttle::lockout::{LockoutPolicy, LockoutState};
use serde::Deserialize;
use worker::D1PreparedStatement;

const RECORD_FAILURE: &str = include_str!("sql/record_failure.sql");

#[derive(Deserialize)]
pub(super) struct LockoutRow {
    failures: i64,
    window_start: i64,
    locked_until: Option<i64>,
}

impl LockoutRow {
    pub(super) fn state(&self) -> LockoutState {
        LockoutState {
            failures: u32::try_from(self.failures).unwrap_or(u32::MAX),
            window_start: self.window_start,
            locked_until: self.locked_until,
        }
    }
}

/// Reads an account's lockout row (batched with the account read).
pub(super) fn select(db: &Db, key: &str) -> ApiResult<D1PreparedStatement> {
    db.stmt("SELECT failures, window_start, locked_until FROM login_lockouts WHERE account_key = ?1", &[Arg::Text(key)])
}

/// Clears an account's failures (successful login, password change).
pub(super) fn clear_stmt(db: &Db, key: &str) -> ApiResult<D1PreparedStatement> {
    db.stmt("DELETE FROM login_lockouts WHERE account_key = ?1", &[Arg::Text(key)])
}

/// Clears an account's failures on its own (a password reset is the way out of a lockout).
pub async fn clear(db: &Db, key: &str) -> ApiResult<()> {
    db.batch(vec![clear_stmt(db, key)?]).await.map(|_| ())
}

/// Counts one wrong password atomically; the state after it.
pub async fn record_failure(db: &Db, key: &str, now: i64, p: &LockoutPolicy) -> ApiResult<LockoutState> {
    let args = [
        Arg::Text(key),
        Arg::Int(now),
        Arg::Int(p.window_secs),
        Arg::from(p.threshold.max(1)),
        Arg::Int(p.lock_secs.max(1)),
    ];
    let row: Option<LockoutRow> = db.first(RECORD_FAILURE, &args).await?;
    Ok(row.ok_or_else(|| ApiError::unavailable("lockout upsert returned no row"))?.state())
}
