//! The worker's side of the `Gate` Durable Objects (`edge::gate`): exact counters, login
//! lockout and session liveness, one object per key. Every call is one request to one
//! object; a failure is 503 `service_unavailable` for the caller to fail closed or fall
//! back as its tier says.

use crate::edge::platform;
use crate::error::{ApiError, ApiResult};
use crate::gate::{names, Answer, Counts, Done, LockAnswer, Op, SessionAnswer};
use crate::throttle::lockout::{LockoutPolicy, LockoutState};
use worker::Env;

/// The Durable Object namespace binding.
pub const BINDING: &str = "GATE";

fn unavailable(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable(format!("gate {what}: {e}"))
}

async fn call<T: Answer>(env: &Env, name: &str, op: &Op) -> ApiResult<T> {
    let body = serde_json::to_string(op).map_err(|e| unavailable("encode", e))?;
    let text = platform::gate_call(env, BINDING, name, &body).await.map_err(|e| unavailable("call", e))?;
    T::parse(&text).map_err(|e| unavailable("decode", e))
}

/// Counts one request in each of `counters` of object `name` for the window
/// `[window, until)`; the counts.
pub async fn count(env: &Env, name: &str, window: i64, until: i64, counters: &[&str]) -> ApiResult<Vec<u32>> {
    let op = Op::Count { window, until, counters: counters.iter().map(|c| (*c).to_owned()).collect() };
    let answer: Counts = call(env, name, &op).await?;
    if answer.counts.len() != counters.len() {
        return Err(unavailable("answer", "wrong number of counts"));
    }
    Ok(answer.counts)
}

/// Whether session `sid` of `user` is live (and counts the request in the user's window
/// `[window, until)`).
pub async fn session(env: &Env, user: &str, sid: &str, now: i64, window: i64, until: i64) -> ApiResult<SessionAnswer> {
    call(env, &names::user(user), &Op::Session { sid: sid.to_owned(), now, window, until }).await
}

/// A session the user's object did not know, adopted as D1 shows it live.
pub struct Adoption<'a> {
    pub sid: &'a str,
    pub seq: i64,
    pub expires_at: i64,
    pub user_created_at: i64,
}

pub async fn adopt(env: &Env, user: &str, a: &Adoption<'_>, now: i64, window: i64) -> ApiResult<SessionAnswer> {
    let op = Op::Adopt {
        sid: a.sid.to_owned(),
        seq: a.seq,
        expires_at: a.expires_at,
        user_created_at: a.user_created_at,
        now,
        window,
    };
    call(env, &names::user(user), &op).await
}

/// Registers a new session with its user's object.
pub async fn open(env: &Env, user: &str, sid: &str, expires_at: i64, user_created_at: i64, now: i64) -> ApiResult<()> {
    let op = Op::Open { sid: sid.to_owned(), expires_at, user_created_at, now };
    call::<Done>(env, &names::user(user), &op).await.map(|_| ())
}

/// Ends one session of a user, effective on its next request everywhere.
pub async fn end(env: &Env, user: &str, sid: &str) -> ApiResult<()> {
    call::<Done>(env, &names::user(user), &Op::End { sid: sid.to_owned() }).await.map(|_| ())
}

/// Ends every session of a user but `keep`, effective on their next request everywhere.
pub async fn end_others(env: &Env, user: &str, keep: &str) -> ApiResult<()> {
    call::<Done>(env, &names::user(user), &Op::EndOthers { keep: keep.to_owned() }).await.map(|_| ())
}

/// Ends every session of a user, effective on their next request everywhere.
pub async fn end_all(env: &Env, user: &str) -> ApiResult<()> {
    call::<Done>(env, &names::user(user), &Op::EndAll).await.map(|_| ())
}

fn state(a: LockAnswer) -> Option<LockoutState> {
    (a.failures > 0 || a.locked_until.is_some()).then_some(LockoutState {
        failures: a.failures,
        window_start: a.window_start,
        locked_until: a.locked_until,
    })
}

/// An account's lockout state.
pub async fn lockout(env: &Env, account_key: &str) -> ApiResult<Option<LockoutState>> {
    call(env, &names::lockout(account_key), &Op::Lockout).await.map(state)
}

/// Counts one wrong password for an account; the state after it.
pub async fn lockout_failure(env: &Env, account_key: &str, p: &LockoutPolicy, now: i64) -> ApiResult<LockoutState> {
    let op = Op::LockoutFailure { now, threshold: p.threshold, window_secs: p.window_secs, lock_secs: p.lock_secs };
    let answer: LockAnswer = call(env, &names::lockout(account_key), &op).await?;
    state(answer).ok_or_else(|| unavailable("answer", "a failure left no state"))
}

/// Clears an account's failures (successful login, password change or reset).
pub async fn lockout_clear(env: &Env, account_key: &str) -> ApiResult<()> {
    call::<Done>(env, &names::lockout(account_key), &Op::LockoutClear).await.map(|_| ())
}
