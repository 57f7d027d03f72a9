//! Retention deletes for the scheduled maintenance (`edge::scheduled`): each job deletes
//! at most `BATCH` expired rows of one table per call.

use super::{Arg, Db};
use crate::error::ApiResult;

/// The tables maintenance prunes, in the order it prunes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    RefreshFamilies,
    RefreshTokens,
    PasswordResets,
    LoginLockouts,
    Outbox,
    AuditLogs,
    RateLimitCounters,
}

impl Job {
    pub const ALL: [Job; 7] = [
        Job::RefreshFamilies,
        Job::RefreshTokens,
        Job::PasswordResets,
        Job::LoginLockouts,
        Job::Outbox,
        Job::AuditLogs,
        Job::RateLimitCounters,
    ];

    pub const fn table(self) -> &'static str {
        match self {
            Job::RefreshFamilies => "refresh_families",
            Job::RefreshTokens => "refresh_tokens",
            Job::PasswordResets => "password_resets",
            Job::LoginLockouts => "login_lockouts",
            Job::Outbox => "outbox",
            Job::AuditLogs => "audit_logs",
            Job::RateLimitCounters => "rate_limit_counters",
        }
    }

    /// A DELETE of at most ?3 rows older than the cut-offs ?1 (and ?2 where a second applies).
    const fn sql(self) -> &'static str {
        match self {
            Job::RefreshFamilies => {
                "DELETE FROM refresh_families WHERE id IN (SELECT id FROM refresh_families \
                 WHERE expires_at < ?1 OR revoked_at < ?2 LIMIT ?3)"
            }
            Job::RefreshTokens => {
                "DELETE FROM refresh_tokens WHERE token_hash IN (SELECT token_hash FROM refresh_tokens \
                 WHERE expires_at < ?1 LIMIT ?3)"
            }
            Job::PasswordResets => {
                "DELETE FROM password_resets WHERE token_hash IN (SELECT token_hash FROM password_resets \
                 WHERE expires_at < ?1 OR used_at IS NOT NULL OR superseded_at IS NOT NULL LIMIT ?3)"
            }
            Job::LoginLockouts => {
                "DELETE FROM login_lockouts WHERE account_key IN (SELECT account_key FROM login_lockouts \
                 WHERE window_start < ?1 AND (locked_until IS NULL OR locked_until < ?2) LIMIT ?3)"
            }
            Job::Outbox => {
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE delivered_at IS NOT NULL \
                 AND delivered_at < ?1 LIMIT ?3)"
            }
            Job::AuditLogs => {
                "DELETE FROM audit_logs WHERE seq IN (SELECT seq FROM audit_logs WHERE created_at < ?1 LIMIT ?3)"
            }
            Job::RateLimitCounters => {
                "DELETE FROM rate_limit_counters WHERE (bucket, window_start) IN \
                 (SELECT bucket, window_start FROM rate_limit_counters WHERE window_start < ?1 LIMIT ?3)"
            }
        }
    }
}

/// Runs one batch of a job; the number of rows deleted.
pub async fn prune(db: &Db, job: Job, cut: (i64, i64), batch: i64) -> ApiResult<usize> {
    db.run(job.sql(), &[Arg::Int(cut.0), Arg::Int(cut.1), Arg::Int(batch)]).await
}
