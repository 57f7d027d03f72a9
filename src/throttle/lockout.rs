//! Per-account login lockout as a state machine, with the clock passed in.
//!
//! CONTRACT.md "Throttling": `LOCKOUT_THRESHOLD` (default 10) failed logins for one
//! account within `LOCKOUT_WINDOW_SECONDS` (default 900) lock that account's password
//! login for `LOCKOUT_SECONDS` (default 900). The failure that reaches the threshold is
//! still answered 401 `invalid_credentials`; every login after it is 429
//! `account_locked` with `Retry-After`, even with the right password. A successful
//! login resets the count (the caller deletes the row). Unknown emails are keyed the
//! same way, so lockout reveals nothing about which accounts exist.
//!
//! The window is fixed: it starts at the first failure and restarts at the first
//! failure after it has expired (not sliding).
//!
//! Caller's flow for `POST /login`: `check` first (locked → 429, no password work);
//! on a wrong password, `record_failure`, store the result, and if `just_locked`
//! write the `auth.account_locked` audit entry — still answering 401.

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
/// - A state that is still locked is returned unchanged: failures while locked
///   (the caller should not even verify them) neither extend nor renew the lock.
pub fn record_failure(state: Option<&LockoutState>, policy: &LockoutPolicy, now: i64) -> LockoutState {
    if let Some(s) = state {
        if check(Some(s), now).is_some() {
            return *s;
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
        assert_eq!(again, s);
        assert!(!just_locked(&again, T0 + 500), "no second auth.account_locked");
        assert_eq!(check(Some(&again), T0 + 900), None);
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
