//! Retention rules of the scheduled maintenance, as arithmetic on `now`: what is old
//! enough to delete. The edge runs the deletes in bounded batches.

/// Rows deleted per statement, and statements per table per run: one run touches at
/// most `BATCH * MAX_BATCHES` rows of each table, well within Worker limits.
pub const BATCH: i64 = 500;
pub const MAX_BATCHES: usize = 10;

const DAY: i64 = 86_400;

/// Cut-off instants (Unix seconds): rows strictly older than these are removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    /// Refresh families (and their tokens) that expired before this.
    pub session_expired_before: i64,
    /// Revoked refresh families, revoked before this (kept a day for investigation).
    pub session_revoked_before: i64,
    /// Password-reset rows that expired, were used or were superseded before this.
    pub reset_before: i64,
    /// Lockout rows whose window and lock both ended before this.
    pub lockout_before: i64,
    /// Delivered outbox messages older than a day.
    pub outbox_delivered_before: i64,
    /// Audit rows older than the retention.
    pub audit_before: i64,
    /// Rate-limit counter windows that ended.
    pub counter_window_before: i64,
}

pub struct Retention {
    pub audit_days: i64,
    pub lockout_window: i64,
    pub lockout_seconds: i64,
    pub rate_limit_period: i64,
}

pub fn cutoffs(now: i64, r: &Retention) -> Cutoffs {
    Cutoffs {
        session_expired_before: now,
        session_revoked_before: now - DAY,
        reset_before: now,
        lockout_before: now - r.lockout_window.max(r.lockout_seconds),
        outbox_delivered_before: now - DAY,
        audit_before: now - r.audit_days.max(1) * DAY,
        counter_window_before: now - r.rate_limit_period.max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn r() -> Retention {
        Retention { audit_days: 90, lockout_window: 900, lockout_seconds: 600, rate_limit_period: 60 }
    }

    #[test]
    fn retention_windows() {
        let c = cutoffs(NOW, &r());
        assert_eq!(c.audit_before, NOW - 90 * 86_400);
        assert_eq!(c.outbox_delivered_before, NOW - 86_400);
        assert_eq!(c.session_revoked_before, NOW - 86_400);
        assert_eq!(c.session_expired_before, NOW);
        assert_eq!(c.reset_before, NOW);
        assert_eq!(c.lockout_before, NOW - 900, "the longer of window and lock");
        assert_eq!(c.counter_window_before, NOW - 60);
    }

    #[test]
    fn an_audit_row_is_kept_until_the_retention_has_passed() {
        let c = cutoffs(NOW, &r());
        let created = NOW - 90 * 86_400;
        assert!(created >= c.audit_before, "exactly 90 days old: kept");
        assert!(created - 1 < c.audit_before, "a second older: removed");
        let zero = cutoffs(NOW, &Retention { audit_days: 0, ..r() });
        assert_eq!(zero.audit_before, NOW - 86_400, "at least one day");
    }

    #[test]
    fn bounded_batches() {
        assert!(BATCH * MAX_BATCHES as i64 <= 5_000);
    }
}
