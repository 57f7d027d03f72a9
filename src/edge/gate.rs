//! The `Gate` Durable Object: one instance per key (`gate::names`), each answering the
//! operations of `gate::Op` against its own SQLite storage (`repo::gate_store`). Workers
//! deliver an object's requests one at a time and every operation here is synchronous,
//! so each is atomic: counts are exact, and a session check cannot interleave with the
//! revocation of that session.

use super::repo::gate_store::Store;
use crate::error::{ApiError, ApiResult};
use crate::gate::{Counts, Done, LockAnswer, Op, SessionAnswer, SessionState};
use crate::liveness::{self, Entry, Liveness};
use crate::throttle::lockout::{self, LockoutPolicy, LockoutState};
use serde::Serialize;
use worker::{durable_object, DurableObject, Env, Request, Response, State};

#[durable_object]
pub struct Gate {
    store: Store,
}

impl DurableObject for Gate {
    fn new(state: State, _env: Env) -> Self {
        Gate { store: Store::new(state.storage().sql()) }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let text = req.text().await?;
        let answer = match serde_json::from_str::<Op>(&text) {
            Ok(op) => apply(&self.store, op),
            Err(e) => Err(ApiError::internal(format!("gate op: {e}"))),
        };
        match answer {
            Ok(body) => Response::ok(body),
            Err(e) => Response::error(e.cause.unwrap_or_default(), 503),
        }
    }
}

fn json<T: Serialize>(value: &T) -> ApiResult<String> {
    serde_json::to_string(value).map_err(|e| ApiError::internal(e.to_string()))
}

fn lock_answer(s: Option<LockoutState>) -> LockAnswer {
    let s = s.unwrap_or(LockoutState { failures: 0, window_start: 0, locked_until: None });
    LockAnswer { failures: s.failures, window_start: s.window_start, locked_until: s.locked_until }
}

/// The session answer at `now` for an entry (counting the request when it is live).
fn session_answer(store: &Store, entry: Option<&Entry>, epoch: i64, now: i64, window: i64) -> ApiResult<SessionAnswer> {
    Ok(match liveness::check(entry, epoch, now) {
        Liveness::Live { user_created_at } => SessionAnswer {
            state: SessionState::Live,
            user_created_at: Some(user_created_at),
            count: Some(store.count("", window)?),
            seq: None,
        },
        Liveness::Over => SessionAnswer { state: SessionState::Over, user_created_at: None, count: None, seq: None },
        Liveness::Unknown => {
            let (counter, epoch) = store.book()?;
            let seq = liveness::next_seq(counter);
            store.set_book(seq, epoch)?;
            SessionAnswer { state: SessionState::Unknown, user_created_at: None, count: None, seq: Some(seq) }
        }
    })
}

fn apply(store: &Store, op: Op) -> ApiResult<String> {
    let done = || json(&Done { ok: true });
    match op {
        Op::Count { window, counters } => {
            let counts = counters.iter().map(|c| store.count(c, window)).collect::<ApiResult<Vec<u32>>>()?;
            json(&Counts { counts })
        }
        Op::Session { sid, now, window } => {
            let (_, epoch) = store.book()?;
            json(&session_answer(store, store.session(&sid)?.as_ref(), epoch, now, window)?)
        }
        Op::Open { sid, expires_at, user_created_at, now } => {
            let (counter, epoch) = store.book()?;
            let seq = liveness::next_seq(counter);
            store.set_book(seq, epoch)?;
            store.put_session(&sid, &Entry { seq, expires_at, user_created_at, ended: false }, now)?;
            done()
        }
        Op::Adopt { sid, seq, expires_at, user_created_at, now, window } => {
            store.put_session(&sid, &Entry { seq, expires_at, user_created_at, ended: false }, now)?;
            let (_, epoch) = store.book()?;
            json(&session_answer(store, store.session(&sid)?.as_ref(), epoch, now, window)?)
        }
        Op::End { sid } => {
            store.end_session(&sid)?;
            done()
        }
        Op::EndAll => {
            let (counter, _) = store.book()?;
            store.set_book(counter, liveness::end_all(counter))?;
            done()
        }
        Op::Lockout => json(&lock_answer(store.lockout()?)),
        Op::LockoutFailure { now, threshold, window_secs, lock_secs } => {
            let policy = LockoutPolicy { threshold, window_secs, lock_secs };
            let next = lockout::record_failure(store.lockout()?.as_ref(), &policy, now);
            store.set_lockout(&next)?;
            json(&lock_answer(Some(next)))
        }
        Op::LockoutClear => {
            store.clear_lockout()?;
            done()
        }
    }
}
