//! Scheduled maintenance (cron trigger in wrangler.toml): deletes what the retention
//! rules of `maintenance` say is old, in bounded batches, and logs what it removed.

use super::platform;
use super::repo::maintenance::{prune, Job};
use super::repo::{Db, Reads};
use crate::config::Settings;
use crate::maintenance::{self, Retention, BATCH, MAX_BATCHES};
use serde_json::{json, Map, Value};
use worker::Env;

pub async fn run(env: &Env) {
    let settings = match Settings::from_lookup(&|k| env.var(k).ok().map(|v| v.to_string())) {
        Ok(s) => s,
        Err(e) => return skipped(&e.to_string()),
    };
    let db = match env.d1("DB").map(|d| Db::open(d, Reads::Primary, None)).map_err(|e| e.to_string()) {
        Ok(db) => db,
        Err(e) => return skipped(&e),
    };
    let now = platform::now();
    let c = maintenance::cutoffs(
        now,
        &Retention {
            audit_days: settings.audit_retention_days,
            lockout_window: settings.lockout_window,
            lockout_seconds: settings.lockout_seconds,
            rate_limit_period: settings.rate_limit_period,
        },
    );
    let cut = |job: Job| -> (i64, i64) {
        match job {
            Job::RefreshFamilies => (c.session_expired_before, c.session_revoked_before),
            Job::RefreshTokens => (c.session_expired_before, 0),
            Job::PasswordResets => (c.reset_before, 0),
            Job::LoginLockouts => (c.lockout_before, now),
            Job::Outbox => (c.outbox_delivered_before, 0),
            Job::AuditLogs => (c.audit_before, 0),
            Job::RateLimitCounters => (c.counter_window_before, 0),
        }
    };
    let mut removed = Map::new();
    let mut failed = Map::new();
    for job in Job::ALL {
        let mut total = 0usize;
        for _ in 0..MAX_BATCHES {
            match prune(&db, job, cut(job), BATCH).await {
                Ok(n) => {
                    total += n;
                    if (n as i64) < BATCH {
                        break;
                    }
                }
                Err(e) => {
                    failed.insert(job.table().to_owned(), Value::from(e.cause.unwrap_or_default()));
                    break;
                }
            }
        }
        removed.insert(job.table().to_owned(), Value::from(total));
    }
    let level = if failed.is_empty() { "info" } else { "error" };
    worker::console_log!("{}", json!({"level": level, "event": "maintenance", "removed": removed, "failed": failed}));
}

fn skipped(cause: &str) {
    worker::console_error!("{}", json!({"level": "error", "event": "maintenance_skipped", "cause": cause}));
}
