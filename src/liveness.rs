//! Session liveness, as the per-user Durable Object keeps it (see `edge::gate`): the
//! strongly consistent authority every authenticated request asks, so that logout,
//! logout-all, a password change or reset, and an admin's role change or disable take
//! effect on the very next request in every location, with no D1 read or write.
//!
//! The book holds the user's sessions, each with a sequence number from a counter that
//! only grows, and an `epoch`: "every session registered at or before this number is
//! over". Ending one session marks it; ending every session moves the epoch to the
//! counter. A session the book does not know (opened before the book existed, or whose
//! row storage lost) is looked up in D1 by the caller and *adopted* with the counter value
//! the book reported when it answered "unknown": if every session was ended meanwhile, the
//! adopted one is over too, whatever the (older) D1 read said.

/// A session as the book stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub seq: i64,
    pub expires_at: i64,
    /// The account's creation time (answered to `GET /me` without a D1 read).
    pub user_created_at: i64,
    pub ended: bool,
}

/// What the book says of a session at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Live {
        user_created_at: i64,
    },
    Over,
    /// Not in the book: look it up in D1, then adopt it with the number [`next_seq`] gave
    /// when the book answered (stored as the new counter at once).
    Unknown,
}

/// The decision for one session: `entry` is its row, `epoch` and `counter` the book's.
pub fn check(entry: Option<&Entry>, epoch: i64, now: i64) -> Liveness {
    match entry {
        None => Liveness::Unknown,
        Some(e) if e.ended || e.seq <= epoch || now >= e.expires_at => Liveness::Over,
        Some(e) => Liveness::Live { user_created_at: e.user_created_at },
    }
}

/// The sequence number of a newly opened (or adopted) session: one past the counter (the
/// caller stores it as the new counter).
pub fn next_seq(counter: i64) -> i64 {
    counter.saturating_add(1)
}

/// A session's use is recorded in D1 (`lastUsedAt`, its network) at most this often, off
/// the response path, when the user's object says it is due: no D1 write per request.
pub const TOUCH_EVERY_SECS: i64 = 300;

/// Whether a live session's use is due to be recorded (`last`: when it last was).
pub fn touch_due(last: Option<i64>, now: i64) -> bool {
    last.is_none_or(|t| now - t >= TOUCH_EVERY_SECS)
}

/// "End every session but this one": (new counter, new epoch, the kept session's new
/// number). Every session registered so far is over by the epoch; the kept one is
/// registered again past it.
pub fn end_others(counter: i64) -> (i64, i64, i64) {
    let keep = next_seq(counter);
    (keep, end_all(counter), keep)
}

/// The epoch after "end every session": the counter (every session registered so far is
/// over; the next one opened gets `counter + 1`).
pub fn end_all(counter: i64) -> i64 {
    counter
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000;

    fn entry(seq: i64) -> Entry {
        Entry { seq, expires_at: T0 + 3600, user_created_at: T0 - 5, ended: false }
    }

    #[test]
    fn a_registered_session_is_live_until_ended_or_expired() {
        let e = entry(next_seq(0));
        assert_eq!(check(Some(&e), 0, T0), Liveness::Live { user_created_at: T0 - 5 });
        assert_eq!(check(Some(&Entry { ended: true, ..e }), 0, T0), Liveness::Over);
        assert_eq!(check(Some(&e), 0, T0 + 3600), Liveness::Over, "expired at its instant");
        assert_eq!(check(None, 0, T0), Liveness::Unknown);
    }

    #[test]
    fn ending_every_session_ends_those_registered_before_and_not_those_after() {
        let old = entry(next_seq(0));
        let epoch = end_all(old.seq);
        assert_eq!(check(Some(&old), epoch, T0), Liveness::Over);
        let newer = entry(next_seq(old.seq));
        assert_eq!(check(Some(&newer), epoch, T0), Liveness::Live { user_created_at: T0 - 5 });
    }

    #[test]
    fn ending_the_others_keeps_exactly_the_callers_session() {
        let (a, b) = (entry(next_seq(0)), entry(next_seq(1)));
        let (counter, epoch, keep) = end_others(2);
        assert_eq!(check(Some(&a), epoch, T0), Liveness::Over);
        assert_eq!(check(Some(&Entry { seq: keep, ..b }), epoch, T0), Liveness::Live { user_created_at: T0 - 5 });
        assert_eq!(check(Some(&b), epoch, T0), Liveness::Over, "without its new number it would be over");
        assert!(next_seq(counter) > keep, "the next session opened is past the kept one");
    }

    #[test]
    fn use_is_recorded_at_most_every_five_minutes() {
        assert!(touch_due(None, T0));
        assert!(!touch_due(Some(T0), T0 + TOUCH_EVERY_SECS - 1));
        assert!(touch_due(Some(T0), T0 + TOUCH_EVERY_SECS));
    }

    #[test]
    fn an_unknown_session_adopted_after_an_end_all_is_over() {
        // The book answers "unknown" at counter 4 and reserves 5; before the caller adopts
        // the session (after a D1 read that still showed it live), every session is ended.
        assert_eq!(check(None, 0, T0), Liveness::Unknown);
        let seq = next_seq(4);
        let epoch = end_all(seq);
        assert_eq!(check(Some(&entry(seq)), epoch, T0), Liveness::Over);
        // Without the end-all in between, the adopted session is live.
        assert!(matches!(check(Some(&entry(seq)), 4, T0), Liveness::Live { .. }));
        assert!(matches!(check(Some(&entry(next_seq(0))), 0, T0), Liveness::Live { .. }), "a fresh book");
    }
}
