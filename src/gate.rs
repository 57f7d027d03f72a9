//! The protocol between the worker and its Durable Object `Gate` (see `edge::gate`): one
//! object per key (a user, an API key, a client IP per tier, an account's lockout), each
//! with its own SQLite storage, answering one operation per call. JSON both ways.
//!
//! What an object decides is pure and lives elsewhere: fixed windows in
//! `throttle::rate_limit`, the lockout state machine in `throttle::lockout`, session
//! liveness in `liveness`.

use serde::{Deserialize, Serialize};

/// One call to an object, externally tagged (`{"count": {...}}`, `"endAll"`): serde reads
/// that shape without buffering, unlike an internally tagged enum (smaller wasm).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Op {
    /// Counts one request in each named counter for the fixed window starting at `window`
    /// and ending at `until` (older windows are dropped). Answer: [`Counts`].
    Count { window: i64, until: i64, counters: Vec<String> },
    /// Whether session `sid` is live at `now` and, if it is, counts the request in the
    /// user's window (ending at `until`). Answer: [`SessionAnswer`].
    Session { sid: String, now: i64, window: i64, until: i64 },
    /// A new session (after its D1 row was written). Answer: [`Done`].
    Open { sid: String, expires_at: i64, user_created_at: i64, now: i64 },
    /// A session the object did not know, as D1 shows it live: registered with the number
    /// the object reserved when it answered `unknown`, then checked and counted as
    /// `Session`. Answer: [`SessionAnswer`].
    Adopt { sid: String, seq: i64, expires_at: i64, user_created_at: i64, now: i64, window: i64 },
    /// Ends one session. Answer: [`Done`].
    End { sid: String },
    /// Ends every session of the user. Answer: [`Done`].
    EndAll,
    /// Ends every session of the user but `keep`. Answer: [`Done`].
    EndOthers { keep: String },
    /// The account's lockout state. Answer: [`LockAnswer`].
    Lockout,
    /// Counts one wrong password (`throttle::lockout::record_failure`). Answer: [`LockAnswer`].
    LockoutFailure { now: i64, threshold: u32, window_secs: i64, lock_secs: i64 },
    /// Clears the account's failures. Answer: [`Done`].
    LockoutClear,
}

impl Op {
    /// Until when (unix seconds) what this operation stores is needed: past the latest such
    /// instant of all its operations, an object holds nothing of use and deletes its storage
    /// (an alarm), so the objects of one-off client IPs do not accumulate. `None`: the
    /// operation stores nothing that must outlive what is already kept.
    pub fn keep_until(&self) -> Option<i64> {
        match self {
            Op::Count { until, .. } | Op::Session { until, .. } => Some(*until),
            Op::Open { expires_at, .. } | Op::Adopt { expires_at, .. } => Some(*expires_at),
            Op::LockoutFailure { now, window_secs, lock_secs, .. } => {
                Some(now.saturating_add(*window_secs).saturating_add((*lock_secs).max(1)))
            }
            Op::End { .. } | Op::EndAll | Op::EndOthers { .. } | Op::Lockout | Op::LockoutClear => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub counts: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAnswer {
    pub state: SessionState,
    /// Live: the account's creation time.
    pub user_created_at: Option<i64>,
    /// Live: the request's count in the user's window.
    pub count: Option<u32>,
    /// Unknown: the sequence number reserved for adopting it.
    pub seq: Option<i64>,
    /// Live: the session's use is due to be recorded in D1 (`liveness::touch_due`).
    #[serde(default)]
    pub touch: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SessionState {
    Live,
    Over,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockAnswer {
    pub failures: u32,
    pub window_start: i64,
    pub locked_until: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    pub ok: bool,
}

/// The object names: one object per key, so no object is global or hot.
pub mod names {
    /// A user: session liveness and the per-user rate limit.
    pub fn user(id: &str) -> String {
        format!("user:{id}")
    }
    /// An API key (by hash): its rate limit.
    pub fn api_key(hash: &str) -> String {
        format!("key:{hash}")
    }
    /// A client IP bucket (IPv4 address, IPv6 /64 or /48) in a tier.
    pub fn ip(tier: &str, bucket: &str) -> String {
        format!("ip:{tier}:{bucket}")
    }
    /// An account's login lockout (by the SHA-256 of its normalised email).
    pub fn lockout(account_key: &str) -> String {
        format!("lockout:{account_key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_travel_as_tagged_camel_case_json() {
        let op = Op::LockoutFailure { now: 5, threshold: 10, window_secs: 900, lock_secs: 900 };
        let text = serde_json::to_string(&op).unwrap();
        assert_eq!(text, r#"{"lockoutFailure":{"now":5,"threshold":10,"windowSecs":900,"lockSecs":900}}"#);
        assert_eq!(serde_json::from_str::<Op>(&text).unwrap(), op);
        assert_eq!(serde_json::to_string(&Op::EndAll).unwrap(), r#""endAll""#);
        assert_eq!(serde_json::from_str::<Op>(r#""endAll""#).unwrap(), Op::EndAll);
        let count = Op::Count { window: 60, until: 120, counters: vec![String::new()] };
        assert_eq!(count.keep_until(), Some(120));
        assert_eq!(op.keep_until(), Some(5 + 900 + 900), "a failure is kept for its window and lock");
        assert_eq!(Op::EndAll.keep_until(), None);
        let a = SessionAnswer {
            state: SessionState::Unknown,
            user_created_at: None,
            count: None,
            seq: Some(3),
            touch: false,
        };
        let back: SessionAnswer = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }
}
