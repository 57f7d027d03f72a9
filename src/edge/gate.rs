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

// Only the handler it uses (`fetch`; js/entry.mjs runs the alarm through `alarm_at`): the
// WebSocket and socket glue would only add wasm size.
#[durable_object(fetch)]
pub struct Gate {
    state: State,
    store: Store,
}

impl DurableObject for Gate {
    fn new(state: State, _env: Env) -> Self {
        let store = Store::new(state.storage().sql());
        Gate { state, store }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let text = req.text().await?;
        let (answer, alarm) = self.run(&text);
        let answer = match alarm {
            Some(until) => self.schedule(until).await.and(answer),
            None => answer,
        };
        match answer {
            Ok(body) => Response::ok(body),
            Err(e) => Response::error(e.cause.unwrap_or_default(), 503),
        }
    }
}

/// How long an object that keeps nothing lives after its last use.
const IDLE_SECS: i64 = 60;

fn now() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

/// The object's requests as js/entry.mjs delivers them: the operation's text in, the answer
/// out, in one call (no Request/Response conversion or async executor in the wasm); the
/// entry sets the alarm and builds the Response.
#[wasm_bindgen::prelude::wasm_bindgen]
impl Gate {
    /// `"<alarm>\n<answer>"`: the instant (unix ms) to set the object's alarm to before
    /// answering, `0` for none, and the answer JSON; `"!\n<cause>"` when the operation failed
    /// (the entry answers 503).
    #[wasm_bindgen(js_name = apply)]
    pub fn apply_text(&self, text: &str) -> String {
        match self.run(text) {
            (Ok(body), alarm) => format!("{}\n{body}", alarm.map_or(0, alarm_ms)),
            (Err(e), _) => format!("!\n{}", e.cause.unwrap_or_default()),
        }
    }

    /// The object's alarm, decided: past the keep-until instant nothing the object holds is
    /// of use (windows over, sessions expired, lockout released), so the answer is `0` and
    /// the entry deletes its storage (`deleteAll`), so the objects of one-off client IPs
    /// cost nothing once their window is over; otherwise the instant (unix ms) to set the
    /// alarm to again. A storage failure throws (the runtime retries the alarm).
    #[wasm_bindgen(js_name = alarmAt)]
    pub fn alarm_at(&self) -> Result<f64, wasm_bindgen::JsError> {
        let until = self.store.keep_until().map_err(|e| wasm_bindgen::JsError::new(&e.cause.unwrap_or_default()))?;
        if until > now() {
            return Ok(alarm_ms(until) as f64);
        }
        // The storage is about to be deleted: its tables are gone.
        self.store.forget_tables();
        Ok(0.0)
    }
}

/// The alarm instant for keep-until `until` (unix seconds): a second of slack, in ms.
fn alarm_ms(until: i64) -> i64 {
    until.saturating_add(1).saturating_mul(1000)
}

impl Gate {
    /// One operation from its JSON text: the answer, and the keep-until instant (unix
    /// seconds) to set the alarm for first when it moved.
    fn run(&self, text: &str) -> (ApiResult<String>, Option<i64>) {
        let op = match Op::parse(text) {
            Ok(op) => op,
            Err(e) => return (Err(ApiError::internal(format!("gate op: {e}"))), None),
        };
        // An operation that keeps nothing still gets the object deleted a minute later if
        // nothing else keeps it (a lockout check of an unknown email).
        let keep = op.keep_until().unwrap_or_else(|| now() + IDLE_SECS);
        let answer = apply(&self.store, op);
        match self.store.extend_keep(keep) {
            Ok(true) => (answer, Some(keep)),
            Ok(false) => (answer, None),
            Err(e) => (Err(e), None),
        }
    }

    /// Sets the alarm at `until` (unix seconds), plus a second of slack.
    async fn schedule(&self, until: i64) -> ApiResult<()> {
        let at = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(alarm_ms(until) as f64));
        self.state
            .storage()
            .set_alarm(worker::ScheduledTime::new(at))
            .await
            .map_err(|e| ApiError::unavailable(format!("object alarm: {e}")))
    }
}

fn json<T: Serialize>(value: &T) -> ApiResult<String> {
    serde_json::to_string(value).map_err(|e| ApiError::internal(e.to_string()))
}

fn lock_answer(s: Option<LockoutState>) -> LockAnswer {
    let s = s.unwrap_or(LockoutState { failures: 0, window_start: 0, locked_until: None });
    LockAnswer { failures: s.failures, window_start: s.window_start, locked_until: s.locked_until }
}

/// The session answer at `now` for session `sid` (counting the request when it is live,
/// and noting its use when recording it in D1 is due).
fn session_answer(store: &Store, sid: &str, now: i64, window: i64) -> ApiResult<SessionAnswer> {
    let over = SessionAnswer { state: SessionState::Over, user_created_at: None, count: None, seq: None, touch: false };
    let view = store.session_view(sid)?;
    let (counter, epoch) = view.book;
    Ok(match liveness::check(view.entry.as_ref(), epoch, now) {
        Liveness::Live { user_created_at } => {
            let touch = liveness::touch_due(view.touched, now);
            if touch {
                store.set_touched(sid, now)?;
            }
            SessionAnswer {
                user_created_at: Some(user_created_at),
                count: Some(store.count("", window)?),
                touch,
                ..over
            }
        }
        Liveness::Over => over,
        Liveness::Unknown => {
            let seq = liveness::next_seq(counter);
            store.set_book(seq, epoch)?;
            SessionAnswer { state: SessionState::Unknown, seq: Some(seq), ..over }
        }
    })
}

fn apply(store: &Store, op: Op) -> ApiResult<String> {
    let done = || json(&Done { ok: true });
    match op {
        Op::Count { window, counters, .. } => {
            let counts = counters.iter().map(|c| store.count(c, window)).collect::<ApiResult<Vec<u32>>>()?;
            json(&Counts { counts })
        }
        Op::Session { sid, now, window, .. } => json(&session_answer(store, &sid, now, window)?),
        Op::Open { sid, expires_at, user_created_at, now } => {
            let (counter, epoch) = store.book()?;
            let seq = liveness::next_seq(counter);
            store.set_book(seq, epoch)?;
            store.put_session(&sid, &Entry { seq, expires_at, user_created_at, ended: false }, now)?;
            // Login recorded its use in D1.
            store.set_touched(&sid, now)?;
            done()
        }
        Op::Adopt { sid, seq, expires_at, user_created_at, now, window } => {
            store.put_session(&sid, &Entry { seq, expires_at, user_created_at, ended: false }, now)?;
            json(&session_answer(store, &sid, now, window)?)
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
        Op::EndOthers { keep } => {
            let (counter, old_epoch) = store.book()?;
            let (counter, epoch, seq) = liveness::end_others(counter);
            store.renumber_session(&keep, seq, old_epoch)?;
            store.set_book(counter, epoch)?;
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
