//! Per-account login lockout as a state machine, with the clock passed in.
//!
//! CONTRACT.md "Throttling": `LOCKOUT_THRESHOLD` (default 10) failed logins for one
//! account within `LOCKOUT_WINDOW_SECONDS` (default 900) lock that account's password
//! login for `LOCKOUT_SECONDS` (default 900). The failure that reaches the threshold is
//! still answered 401 `invalid_credentials`; every login after it is 429
//! `account_locked` with `Retry-After`, even with the right password. A successful
//! login resets the count (the caller clears the state). Unknown emails are keyed the
//! same way, so lockout reveals nothing about which accounts exist.
//!
//! The window is fixed: it starts at the first failure and restarts at the first
//! failure after it has expired (not sliding).
//!
//! Caller's flow for `POST /login` (and `PUT /password`, whose wrong current password
//! feeds the same lockout): `check` first (locked → 429, no password work); on a wrong
//! password, apply `record_failure` *in storage, atomically* (the account's Durable
//! Object runs this very function, one request at a time: `edge::gate`), then `classify`
//! the returned
//! state: the failure that reached the threshold audits `auth.account_locked` and still
//! answers 401; a failure that found the account already locked (a concurrent request
//! locked it while this one was verifying its password) answers 429 `account_locked`.
//!
//! Guarantee under concurrency: every wrong password is counted exactly once, so of any
//! number of parallel wrong logins for one account at most `threshold` are answered as
//! plain 401s within a window; the rest are 429 `account_locked`.

/// The lockout key of an account: SHA-256 of the normalised email. Unknown emails get one
/// too, so lockout reveals nothing about which accounts exist.
pub fn account_key(email: &str) -> String {
    crate::crypto::mac::sha256_hex(email.as_bytes())
}

/// Lockout parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures within the window that lock the account.
    pub threshold: u32,
    /// Length of the counting window, seconds.
    pub window_secs: i64,
    /// Length of the lock, seconds.
    pub lock_secs: i64,
}

impl Default for LockoutPolicy {
    /// CONTRACT.md "Throttling" defaults: 10 failures / 900 s window / 900 s lock.
    fn default() -> Self {
        LockoutPolicy { threshold: 10, window_secs: 900, lock_secs: 900 }
    }
}

/// The stored state of one account key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutState {
    pub failures: u32,
    pub window_start: i64,
    pub locked_until: Option<i64>,
}

/// `Some(retry_after_secs)` (≥ 1) while the account is locked at `now`, else `None`.
pub fn check(state: Option<&LockoutState>, now: i64) -> Option<i64> {
    let until = state?.locked_until?;
    (now < until).then(|| (until - now).max(1))
}

/// The state after a failed login at `now`.
///
/// - No state, an expired window, or an expired lock: a fresh window starting at
///   `now` with this one failure.
/// - Failures reaching `policy.threshold` set `locked_until = now + lock_secs` and
///   `window_start = now` (the lock instant); a non-positive `lock_secs` still locks
///   for 1 s, a threshold of 0 acts as 1.
/// - A state that is still locked keeps its window and lock: failures while locked
///   (only concurrent requests that passed `check` before the lock reach this) neither
///   extend nor renew the lock, but are counted past the threshold, so that `classify`
///   tells the one failure that locked from those that found it locked.
pub fn record_failure(state: Option<&LockoutState>, policy: &LockoutPolicy, now: i64) -> LockoutState {
    if let Some(s) = state {
        if check(Some(s), now).is_some() {
            return LockoutState { failures: s.failures.saturating_add(1), ..*s };
        }
    }
    // A released lock or an expired window means counting starts over.
    let current = state.filter(|s| s.locked_until.is_none() && now.saturating_sub(s.window_start) < policy.window_secs);
    let (failures, window_start) = match current {
        Some(s) => (s.failures.saturating_add(1), s.window_start),
        None => (1, now),
    };
    if failures >= policy.threshold.max(1) {
        // The lock instant is recorded in `window_start` (the window no longer matters
        // once locked: counting restarts after release); `just_locked` relies on it.
        let locked_until = Some(now.saturating_add(policy.lock_secs.max(1)));
        return LockoutState { failures, window_start: now, locked_until };
    }
    LockoutState { failures, window_start, locked_until: None }
}

/// Whether `state` — the value `record_failure` returned for `now` — was locked by
/// that very failure (the caller audits `auth.account_locked` and still answers
/// `invalid_credentials`). A state that was already locked earlier is not.
pub fn just_locked(state: &LockoutState, now: i64) -> bool {
    state.window_start == now && state.locked_until.is_some_and(|until| until > now)
}

/// What a counted failure means for its request (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Counted below the threshold: 401 `invalid_credentials`.
    Counted,
    /// This failure reached the threshold: 401, and audit `auth.account_locked`.
    JustLocked,
    /// The account was locked by another request meanwhile: 429 with this `Retry-After`.
    AlreadyLocked(i64),
}

/// Classifies the state `record_failure` produced (in storage) for this request's failure.
pub fn classify(state: &LockoutState, policy: &LockoutPolicy, now: i64) -> FailureOutcome {
    match check(Some(state), now) {
        None => FailureOutcome::Counted,
        Some(_) if state.failures <= policy.threshold.max(1) && just_locked(state, now) => FailureOutcome::JustLocked,
        Some(retry) => FailureOutcome::AlreadyLocked(retry),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000;

    fn fail_n(policy: &LockoutPolicy, n: u32, start: i64, step: i64) -> Option<LockoutState> {
        let mut s = None;
        for i in 0..n {
            let now = start + i64::from(i) * step;
            s = Some(record_failure(s.as_ref(), policy, now));
        }
        s
    }

    #[test]
    fn defaults_follow_the_contract() {
        assert_eq!(LockoutPolicy::default(), LockoutPolicy { threshold: 10, window_secs: 900, lock_secs: 900 });
    }

    #[test]
    fn threshold_minus_one_failures_do_not_lock() {
        let p = LockoutPolicy::default();
        let s = fail_n(&p, 9, T0, 1).unwrap();
        assert_eq!(s, LockoutState { failures: 9, window_start: T0, locked_until: None });
        assert_eq!(check(Some(&s), T0 + 9), None);
        assert!(!just_locked(&s, T0 + 8));
    }

    #[test]
    fn the_threshold_failure_locks_and_is_reported_as_just_locked() {
        let p = LockoutPolicy::default();
        let before = fail_n(&p, 9, T0, 1).unwrap();
        let now = T0 + 9;
        assert_eq!(check(Some(&before), now), None, "the 10th attempt is verified normally");
        let s = record_failure(Some(&before), &p, now);
        assert_eq!(s, LockoutState { failures: 10, window_start: now, locked_until: Some(now + 900) });
        assert!(just_locked(&s, now), "caller audits auth.account_locked, answers 401");
        assert_eq!(check(Some(&s), now), Some(900));
    }

    #[test]
    fn locked_answers_a_decreasing_retry_after_then_releases() {
        let p = LockoutPolicy::default();
        let s = fail_n(&p, 10, T0, 0).unwrap();
        assert_eq!(s.locked_until, Some(T0 + 900));
        assert_eq!(check(Some(&s), T0 + 1), Some(899));
        assert_eq!(check(Some(&s), T0 + 450), Some(450));
        assert_eq!(check(Some(&s), T0 + 899), Some(1));
        assert_eq!(check(Some(&s), T0 + 900), None, "released after lock_secs");
        assert_eq!(check(Some(&s), T0 + 5000), None);
    }

    #[test]
    fn failures_while_locked_do_not_extend_the_lock() {
        let p = LockoutPolicy::default();
        let s = fail_n(&p, 10, T0, 0).unwrap();
        let again = record_failure(Some(&s), &p, T0 + 500);
        assert_eq!(again, LockoutState { failures: 11, ..s }, "counted, same window and lock");
        assert!(!just_locked(&again, T0 + 500), "no second auth.account_locked");
        assert_eq!(classify(&again, &p, T0 + 500), FailureOutcome::AlreadyLocked(400));
        assert_eq!(check(Some(&again), T0 + 900), None);
    }

    #[test]
    fn parallel_failures_yield_exactly_threshold_plain_401s() {
        // 20 concurrent wrong passwords, all past `check` before any was counted, all
        // counted atomically within the same second: each sees the state after its own.
        let p = LockoutPolicy::default();
        let mut state = None;
        let mut outcomes = Vec::new();
        for _ in 0..20 {
            let next = record_failure(state.as_ref(), &p, T0);
            outcomes.push(classify(&next, &p, T0));
            state = Some(next);
        }
        let plain = outcomes.iter().filter(|o| **o != FailureOutcome::AlreadyLocked(900)).count();
        assert_eq!(plain, 10);
        assert_eq!(outcomes.iter().filter(|o| **o == FailureOutcome::JustLocked).count(), 1);
        assert_eq!(outcomes[9], FailureOutcome::JustLocked);
        assert!(outcomes[10..].iter().all(|o| *o == FailureOutcome::AlreadyLocked(900)));
        assert_eq!(classify(&record_failure(None, &p, T0), &p, T0), FailureOutcome::Counted);
    }

    #[test]
    fn after_release_counting_starts_over() {
        let p = LockoutPolicy::default();
        let s = fail_n(&p, 10, T0, 0).unwrap();
        let after = record_failure(Some(&s), &p, T0 + 900);
        assert_eq!(after, LockoutState { failures: 1, window_start: T0 + 900, locked_until: None });
        assert!(!just_locked(&after, T0 + 900));
        // It takes a full threshold again to relock.
        let relocked = (1..10).fold(after, |st, i| record_failure(Some(&st), &p, T0 + 900 + i));
        assert_eq!(relocked.failures, 10);
        assert!(just_locked(&relocked, T0 + 909));
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_lock() {
        let p = LockoutPolicy::default();
        // One failure every 100 s: at most 9 fit in a 900 s window starting at a failure.
        let mut s: Option<LockoutState> = None;
        for i in 0..50 {
            let now = T0 + i * 100;
            let next = record_failure(s.as_ref(), &p, now);
            assert_eq!(next.locked_until, None, "failure {i}");
            assert!(next.failures <= 9);
            s = Some(next);
        }
        // Nine failures, then the tenth just as the window expires: fresh window.
        let nine = fail_n(&p, 9, T0, 1).unwrap();
        let tenth = record_failure(Some(&nine), &p, T0 + 900);
        assert_eq!(tenth, LockoutState { failures: 1, window_start: T0 + 900, locked_until: None });
        // ...but one second earlier it would lock.
        let tenth = record_failure(Some(&nine), &p, T0 + 899);
        assert!(tenth.locked_until.is_some());
    }

    #[test]
    fn no_state_is_not_locked_and_first_failure_opens_a_window() {
        assert_eq!(check(None, T0), None);
        let s = record_failure(None, &LockoutPolicy::default(), T0);
        assert_eq!(s, LockoutState { failures: 1, window_start: T0, locked_until: None });
    }

    #[test]
    fn degenerate_policies_still_behave() {
        let one = LockoutPolicy { threshold: 1, window_secs: 60, lock_secs: 30 };
        let s = record_failure(None, &one, T0);
        assert!(just_locked(&s, T0));
        assert_eq!(check(Some(&s), T0), Some(30));

        let zero = LockoutPolicy { threshold: 0, window_secs: 60, lock_secs: 0 };
        let s = record_failure(None, &zero, T0);
        assert_eq!(s.locked_until, Some(T0 + 1), "threshold 0 acts as 1, lock at least 1 s");
        assert_eq!(check(Some(&s), T0), Some(1));
    }
}
