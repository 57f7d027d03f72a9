//! Rate limiting at the edge: which bucket a request counts in, the D1 counter, the
//! Workers rate-limit binding as a flood shield, and the 429 / header decision.
//!
//! Each request counts once, in the tier of the principal it authenticated as:
//! - auth endpoints (register, login, password reset): per client IP (IPv6 by /64),
//!   `RATE_LIMIT_AUTH`;
//! - anonymous requests (refresh included) and requests whose credential failed: per IP,
//!   `RATE_LIMIT_ANON`;
//! - access-token callers: per user, `RATE_LIMIT_USER`;
//! - API-key callers: per key, the key's own `rateLimit`.
//!
//! Counting is exact: a fixed-window counter row in D1, incremented with one
//! `UPSERT … RETURNING`. For token and key callers that statement rides in the same D1
//! batch as the authentication read (no extra round trip, see `edge::auth`); IP tiers
//! pay one round trip. Before the IP counters, the `AUTH_LIMITER` / `ANON_LIMITER`
//! bindings (per location, approximate, no storage) shed floods at 10x the default
//! limits so that a flood never reaches D1.
//!
//! Failure policy: if the D1 counter fails, the auth tier fails closed (503: brute-force
//! protection must not silently disappear); the anonymous tier falls back to an
//! approximate counter in KV (`RATE_LIMIT_KV`: no atomic increment, eventually
//! consistent) and, if KV fails too, fails open. Every such failure is logged. A missing
//! or failing binding fails open (the D1 counter still applies).

use super::db::Arg;
use super::http::Rc;
use crate::audit::{AuditAction, AuditEvent};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::throttle::rate_limit::{self, Verdict};

/// Increments a bucket's counter for the current window and returns the new count.
pub const COUNTER_SQL: &str = "INSERT INTO rate_limit_counters (bucket, window_start, count) VALUES (?1, ?2, 1) \
     ON CONFLICT (bucket, window_start) DO UPDATE SET count = count + 1 RETURNING count";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Auth,
    Anonymous,
    User,
    ApiKey,
}

impl Tier {
    fn as_str(self) -> &'static str {
        match self {
            Tier::Auth => "auth",
            Tier::Anonymous => "anonymous",
            Tier::User => "user",
            Tier::ApiKey => "api_key",
        }
    }
}

/// The counted hit of a request: its bucket, the count after this request, the limit.
#[derive(Debug, Clone)]
pub struct Hit {
    pub tier: Tier,
    pub bucket: String,
    pub count: u32,
    pub limit: u32,
}

pub fn window(rc: &Rc<'_>) -> i64 {
    rate_limit::window_start(rc.now, rc.settings.rate_limit_period)
}

#[derive(serde::Deserialize)]
pub struct CountRow {
    pub count: i64,
}

/// Applies a counted hit: under the limit, sets the `X-RateLimit-*` headers; over it,
/// answers 429 with `Retry-After` (audited once per bucket and window).
pub fn apply(rc: &mut Rc<'_>, hit: &Hit) -> ApiResult<()> {
    let period = rc.settings.rate_limit_period;
    let v: Verdict = rate_limit::evaluate(hit.count, hit.limit, window(rc), period, rc.now);
    rc.limit_headers =
        vec![("X-RateLimit-Limit", v.limit.to_string()), ("X-RateLimit-Remaining", v.remaining.to_string())];
    if v.allowed {
        return Ok(());
    }
    if hit.count == hit.limit.saturating_add(1) {
        let mut ev = AuditEvent::new(AuditAction::RateLimited, "rate_limit")
            .meta("tier", hit.tier.as_str())
            .meta("limit", hit.limit);
        ev = ev.meta("path", rc.path.as_str());
        if let Some(user) = hit.bucket.strip_prefix("user:") {
            ev = ev.user(user);
        }
        rc.audit(ev);
    }
    Err(ApiError::too_many(ErrorCode::RateLimited, u64::try_from(v.retry_after).unwrap_or(1)))
}

fn shield_binding(tier: Tier) -> &'static str {
    if tier == Tier::Auth {
        "AUTH_LIMITER"
    } else {
        "ANON_LIMITER"
    }
}

/// Counts the request in its per-IP tier and enforces the limit.
pub async fn ip_tier(rc: &mut Rc<'_>, tier: Tier) -> ApiResult<()> {
    let ip_bucket = rate_limit::ip_bucket(&rc.ip);
    // Flood shield: storage-free, per location. Fails open.
    match rc.env.rate_limiter(shield_binding(tier)) {
        Ok(limiter) => match limiter.limit(format!("{}:{ip_bucket}", tier.as_str())).await {
            Ok(outcome) if !outcome.success => {
                return Err(ApiError::too_many(ErrorCode::RateLimited, rc.settings.rate_limit_period.unsigned_abs())
                    .with_cause("rate-limit binding shield"));
            }
            Ok(_) => {}
            Err(e) => log_limiter_failure(rc, "binding", &e.to_string()),
        },
        Err(e) => log_limiter_failure(rc, "binding missing", &e.to_string()),
    }
    let limit = if tier == Tier::Auth { rc.settings.rate_limit_auth } else { rc.settings.rate_limit_anon };
    let bucket = format!("{}:{ip_bucket}", tier.as_str());
    if tier == Tier::Auth {
        if let Some(wide) = rate_limit::ipv6_48_bucket(&rc.ip) {
            return auth_tier_ipv6(rc, bucket, format!("auth48:{wide}"), limit).await;
        }
    }
    let counted: ApiResult<Option<CountRow>> =
        rc.db.first(COUNTER_SQL, &[Arg::Text(&bucket), Arg::Int(window(rc))]).await;
    match counted {
        Ok(Some(row)) => {
            let count = u32::try_from(row.count).unwrap_or(u32::MAX);
            apply(rc, &Hit { tier, bucket, count, limit })
        }
        Ok(None) | Err(_) if tier == Tier::Auth => {
            Err(ApiError::unavailable("rate-limit counter unavailable (auth tier fails closed)"))
        }
        Ok(None) => Ok(()),
        Err(e) => {
            log_limiter_failure(rc, "d1 counter", e.cause.as_deref().unwrap_or_default());
            match kv_count(rc, &bucket).await {
                Ok(count) => apply(rc, &Hit { tier, bucket, count, limit }),
                Err(cause) => {
                    log_limiter_failure(rc, "kv fallback", &cause);
                    Ok(())
                }
            }
        }
    }
}

/// The auth tier of an IPv6 client: its /64 bucket and, at `IPV6_48_FACTOR` times the
/// limit, its /48 bucket, counted in one batch (fails closed like every auth counter).
async fn auth_tier_ipv6(rc: &mut Rc<'_>, narrow: String, wide: String, limit: u32) -> ApiResult<()> {
    let w = Arg::Int(window(rc));
    let counted = rc
        .db
        .batch(vec![
            rc.db.stmt(COUNTER_SQL, &[Arg::Text(&narrow), w])?,
            rc.db.stmt(COUNTER_SQL, &[Arg::Text(&wide), w])?,
        ])
        .await
        .map_err(|e| {
            let cause = e.cause.unwrap_or_default();
            ApiError::unavailable(format!("rate-limit counter unavailable (auth tier fails closed): {cause}"))
        })?;
    let count = |i| {
        super::db::row::<CountRow>(&counted, i)
            .ok()
            .flatten()
            .map(|r| u32::try_from(r.count).unwrap_or(u32::MAX))
            .ok_or_else(|| ApiError::unavailable("rate-limit counter unavailable (auth tier fails closed)"))
    };
    let narrow = Hit { tier: Tier::Auth, bucket: narrow, count: count(0)?, limit };
    let wide = Hit {
        tier: Tier::Auth,
        bucket: wide,
        count: count(1)?,
        limit: limit.saturating_mul(rate_limit::IPV6_48_FACTOR),
    };
    if narrow.count <= narrow.limit && wide.count > wide.limit {
        apply(rc, &wide)
    } else {
        apply(rc, &narrow)
    }
}

/// Approximate fallback counter: read, add one, write back with a TTL covering the window.
async fn kv_count(rc: &Rc<'_>, bucket: &str) -> Result<u32, String> {
    let kv = rc.env.kv("RATE_LIMIT_KV").map_err(|e| e.to_string())?;
    let key = format!("rl:{bucket}:{}", window(rc));
    let current: u32 = kv.get(&key).text().await.map_err(|e| e.to_string())?.and_then(|v| v.parse().ok()).unwrap_or(0);
    let next = current.saturating_add(1);
    let ttl = u64::try_from(rc.settings.rate_limit_period).unwrap_or(60).max(60);
    kv.put(&key, next.to_string())
        .map_err(|e| e.to_string())?
        .expiration_ttl(ttl)
        .execute()
        .await
        .map_err(|e| e.to_string())?;
    Ok(next)
}

fn log_limiter_failure(rc: &Rc<'_>, what: &str, cause: &str) {
    worker::console_error!(
        "{}",
        serde_json::json!({"level": "error", "requestId": rc.request_id, "event": "rate_limiter_unavailable", "limiter": what, "cause": cause})
    );
}
