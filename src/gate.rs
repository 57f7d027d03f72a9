//! The protocol between the worker and its Durable Object `Gate` (see `edge::gate`): one
//! object per key (a user, an API key, a client IP per tier, an account's lockout), each
//! with its own SQLite storage, answering one operation per call. JSON both ways.
//!
//! What an object decides is pure and lives elsewhere: fixed windows in
//! `throttle::rate_limit`, the lockout state machine in `throttle::lockout`, session
//! liveness in `liveness`.

use crate::json::{Invalid, Json, Members};
use serde::Serialize;

/// One call to an object, externally tagged (`{"count": {...}}`, `"endAll"`), written by
/// serde and read by hand ([`Op::parse`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

impl Op {
    /// An operation from its JSON text (the shape serde writes; a unit variant also as
    /// `{"endAll": null}`), read as a derived `Deserialize` did: members required, typed,
    /// sent once; unknown ones ignored.
    pub fn parse(text: &str) -> Result<Op, Invalid> {
        let json = Json::parse(text)?;
        let (tag, data) = match &json {
            Json::Other(v) => (v.as_str().ok_or(Invalid(""))?, None),
            Json::Object(_) => match json.members().and_then(|m| m.first().filter(|_| m.len() == 1)) {
                Some((tag, data)) => (tag, Some(data)),
                None => return Err(Invalid("")),
            },
        };
        let unit = |op: Op| match data {
            None => Ok(op),
            Some(d) if d.is_null() => Ok(op),
            Some(_) => Err(Invalid("")),
        };
        let fields = || data.and_then(Json::members).ok_or(Invalid(""));
        Ok(match tag {
            "count" => {
                let m = fields()?;
                Op::Count { window: m.int("window")?, until: m.int("until")?, counters: m.strings("counters")? }
            }
            "session" => {
                let m = fields()?;
                Op::Session {
                    sid: m.string("sid")?,
                    now: m.int("now")?,
                    window: m.int("window")?,
                    until: m.int("until")?,
                }
            }
            "open" => {
                let m = fields()?;
                Op::Open {
                    sid: m.string("sid")?,
                    expires_at: m.int("expiresAt")?,
                    user_created_at: m.int("userCreatedAt")?,
                    now: m.int("now")?,
                }
            }
            "adopt" => {
                let m = fields()?;
                Op::Adopt {
                    sid: m.string("sid")?,
                    seq: m.int("seq")?,
                    expires_at: m.int("expiresAt")?,
                    user_created_at: m.int("userCreatedAt")?,
                    now: m.int("now")?,
                    window: m.int("window")?,
                }
            }
            "end" => Op::End { sid: fields()?.string("sid")? },
            "endAll" => unit(Op::EndAll)?,
            "endOthers" => Op::EndOthers { keep: fields()?.string("keep")? },
            "lockout" => unit(Op::Lockout)?,
            "lockoutFailure" => {
                let m = fields()?;
                Op::LockoutFailure {
                    now: m.int("now")?,
                    threshold: m.u32("threshold")?,
                    window_secs: m.int("windowSecs")?,
                    lock_secs: m.int("lockSecs")?,
                }
            }
            "lockoutClear" => unit(Op::LockoutClear)?,
            _ => return Err(Invalid("")),
        })
    }
}

/// An answer of an object, read by hand from the JSON object serde wrote (see
/// [`Op::parse`]).
pub trait Answer: Sized {
    fn from_members(m: Members<'_>) -> Result<Self, Invalid>;

    fn parse(text: &str) -> Result<Self, Invalid> {
        Self::from_members(Json::parse(text)?.members().ok_or(Invalid(""))?)
    }
}

impl Answer for Counts {
    fn from_members(m: Members<'_>) -> Result<Self, Invalid> {
        Ok(Counts { counts: m.u32s("counts")? })
    }
}

impl Answer for SessionAnswer {
    fn from_members(m: Members<'_>) -> Result<Self, Invalid> {
        let state = match m.get("state")?.and_then(Json::as_str) {
            Some("live") => SessionState::Live,
            Some("over") => SessionState::Over,
            Some("unknown") => SessionState::Unknown,
            _ => return Err(Invalid("state")),
        };
        Ok(SessionAnswer {
            state,
            user_created_at: m.opt_int("userCreatedAt")?,
            count: m.opt_u32("count")?,
            seq: m.opt_int("seq")?,
            touch: m.flag("touch")?,
        })
    }
}

impl Answer for LockAnswer {
    fn from_members(m: Members<'_>) -> Result<Self, Invalid> {
        Ok(LockAnswer {
            failures: m.u32("failures")?,
            window_start: m.int("windowStart")?,
            locked_until: m.opt_int("lockedUntil")?,
        })
    }
}

impl Answer for Done {
    fn from_members(m: Members<'_>) -> Result<Self, Invalid> {
        let ok = m.get("ok")?.and_then(|v| v.value()?.as_bool()).ok_or(Invalid("ok"))?;
        Ok(Done { ok })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub counts: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// (Absent reads as `false`.)
    pub touch: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SessionState {
    Live,
    Over,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LockAnswer {
    pub failures: u32,
    pub window_start: i64,
    pub locked_until: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
        assert_eq!(Op::parse(&text).unwrap(), op);
        assert_eq!(serde_json::to_string(&Op::EndAll).unwrap(), r#""endAll""#);
        assert_eq!(Op::parse(r#""endAll""#).unwrap(), Op::EndAll);
        assert_eq!(Op::parse(r#"{"endAll":null}"#).unwrap(), Op::EndAll);
        assert!(Op::parse(r#""count""#).is_err(), "a struct variant needs its fields");
        assert!(Op::parse(r#"{"end":{"sid":"a"},"endAll":null}"#).is_err(), "one variant");
        assert!(Op::parse(r#"{"end":{"sid":"a","sid":"b"}}"#).is_err(), "a member sent twice");
        assert!(Op::parse(r#"{"lockoutFailure":{"now":5,"threshold":-1,"windowSecs":1,"lockSecs":1}}"#).is_err());
        assert!(Op::parse(r#""nope""#).is_err());
        let ops = [
            Op::Count { window: 1, until: 2, counters: vec!["a".into(), "b".into()] },
            Op::Session { sid: "s".into(), now: 1, window: 2, until: 3 },
            Op::Open { sid: "s".into(), expires_at: 1, user_created_at: 2, now: 3 },
            Op::Adopt { sid: "s".into(), seq: 1, expires_at: 2, user_created_at: 3, now: 4, window: 5 },
            Op::End { sid: "s".into() },
            Op::EndAll,
            Op::EndOthers { keep: "k".into() },
            Op::Lockout,
            op.clone(),
            Op::LockoutClear,
        ];
        for o in ops {
            assert_eq!(Op::parse(&serde_json::to_string(&o).unwrap()).unwrap(), o);
        }
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
        let back = SessionAnswer::parse(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
        let live = SessionAnswer {
            state: SessionState::Live,
            user_created_at: Some(1),
            count: Some(2),
            seq: None,
            touch: true,
        };
        assert_eq!(SessionAnswer::parse(&serde_json::to_string(&live).unwrap()).unwrap(), live);
        assert_eq!(SessionAnswer::parse(r#"{"state":"over"}"#).unwrap().state, SessionState::Over);
        assert!(SessionAnswer::parse(r#"{"state":"gone"}"#).is_err());
        let lock = LockAnswer { failures: 3, window_start: 10, locked_until: Some(20) };
        assert_eq!(LockAnswer::parse(&serde_json::to_string(&lock).unwrap()).unwrap(), lock);
        let counts = Counts { counts: vec![1, 2] };
        assert_eq!(Counts::parse(&serde_json::to_string(&counts).unwrap()).unwrap(), counts);
        assert_eq!(Done::parse(r#"{"ok":true}"#).unwrap(), Done { ok: true });
        assert!(Done::parse(r#"{}"#).is_err());
    }
}
