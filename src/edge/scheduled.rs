//! Scheduled maintenance (cron trigger in wrangler.toml): deletes what the retention
//! rules of `maintenance` say is old, in bounded batches, and logs what it removed.

use super::db::{Arg, Db};
use super::platform;
use crate::config::Settings;
use crate::maintenance::{self, Retention, BATCH, MAX_BATCHES};
use serde_json::{json, Map, Value};
use worker::Env;

/// (name, DELETE with `?1`/`?2` cut-offs and `?3` = batch size).
const JOBS: [(&str, &str); 7] = [
    (
        "refresh_families",
        "DELETE FROM refresh_families WHERE id IN (SELECT id FROM refresh_families \
         WHERE expires_at < ?1 OR revoked_at < ?2 LIMIT ?3)",
    ),
    ("refresh_tokens", "DELETE FROM refresh_tokens WHERE token_hash IN (SELECT token_hash FROM refresh_tokens WHERE expires_at < ?1 LIMIT ?3)"),
    (
        "password_resets",
        "DELETE FROM password_resets WHERE token_hash IN (SELECT token_hash FROM password_resets \
         WHERE expires_at < ?1 OR used_at IS NOT NULL OR superseded_at IS NOT NULL LIMIT ?3)",
    ),
    (
        "login_lockouts",
        "DELETE FROM login_lockouts WHERE account_key IN (SELECT account_key FROM login_lockouts \
         WHERE window_start < ?1 AND (locked_until IS NULL OR locked_until < ?2) LIMIT ?3)",
    ),
    (
        "outbox",
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?1 LIMIT ?3)",
    ),
    ("audit_logs", "DELETE FROM audit_logs WHERE seq IN (SELECT seq FROM audit_logs WHERE created_at < ?1 LIMIT ?3)"),
    (
        "rate_limit_counters",
        "DELETE FROM rate_limit_counters WHERE (bucket, window_start) IN \
         (SELECT bucket, window_start FROM rate_limit_counters WHERE window_start < ?1 LIMIT ?3)",
    ),
];

pub async fn run(env: &Env) {
    let settings = match Settings::from_lookup(&|k| env.var(k).ok().map(|v| v.to_string())) {
        Ok(s) => s,
        Err(e) => {
            worker::console_error!(
                "{}",
                json!({"level": "error", "event": "maintenance_skipped", "cause": e.to_string()})
            );
            return;
        }
    };
    let db = match env.d1("DB") {
        Ok(d) => Db::new(d),
        Err(e) => {
            worker::console_error!(
                "{}",
                json!({"level": "error", "event": "maintenance_skipped", "cause": e.to_string()})
            );
            return;
        }
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
    let cut = |name: &str| -> (i64, i64) {
        match name {
            "refresh_families" => (c.session_expired_before, c.session_revoked_before),
            "refresh_tokens" => (c.session_expired_before, 0),
            "password_resets" => (c.reset_before, 0),
            "login_lockouts" => (c.lockout_before, now),
            "outbox" => (c.outbox_delivered_before, 0),
            "audit_logs" => (c.audit_before, 0),
            _ => (c.counter_window_before, 0),
        }
    };
    let mut removed = Map::new();
    let mut failed = Map::new();
    for (name, sql) in JOBS {
        let (a, b) = cut(name);
        let mut total = 0usize;
        for _ in 0..MAX_BATCHES {
            match db.run(sql, &[Arg::Int(a), Arg::Int(b), Arg::Int(BATCH)]).await {
                Ok(n) => {
                    total += n;
                    if (n as i64) < BATCH {
                        break;
                    }
                }
                Err(e) => {
                    failed.insert(name.to_owned(), Value::from(e.cause.unwrap_or_default()));
                    break;
                }
            }
        }
        removed.insert(name.to_owned(), Value::from(total));
    }
    let level = if failed.is_empty() { "info" } else { "error" };
    worker::console_log!("{}", json!({"level": level, "event": "maintenance", "removed": removed, "failed": failed}));
}
