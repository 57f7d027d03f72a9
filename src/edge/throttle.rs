//! Rate limiting at the edge: the per-IP tiers, the 429 / header decision for a counted
//! hit, and the Workers rate-limit binding as a flood shield.
//!
//! Each request counts once, in the tier of the principal it authenticated as (see
//! `throttle::rate_limit::Tier` and `web::routes::Policy`). Counting is exact and never
//! touches D1: a fixed-window counter in the Durable Object of the bucket (one object per
//! user, per API key, per client IP per tier; `repo::gates`). For access-token callers the
//! count rides in the session check (one call, see `edge::authn`). Before the IP counters,
//! the `AUTH_LIMITER` / `ANON_LIMITER` bindings (per location, approximate, no storage)
//! shed floods at 10x the default limits so that a flood never reaches the objects.
//!
//! Failure policy: if the counter object fails, the auth tier fails closed (503: brute-force
//! protection must not silently disappear); the anonymous tier falls back to an
//! approximate counter in KV (`RATE_LIMIT_KV`: no atomic increment, eventually
//! consistent) and, if KV fails too, fails open. Every such failure is logged. A missing
//! or failing binding fails open (the exact counter still applies). User and key tiers
//! fail closed with the object (it is also the session authority).

use super::ctx::RequestCtx;
use super::platform;
use super::repo::gates;
use crate::audit::{AuditAction, AuditEvent};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::gate::names;
use crate::throttle::rate_limit::{self, Tier};

/// `X-RateLimit-*` headers for the answer.
pub type LimitHeaders = Vec<(&'static str, String)>;

/// The counted hit of a request: its bucket, the count after this request, the limit.
#[derive(Debug, Clone)]
pub struct Hit {
    pub tier: Tier,
    pub bucket: String,
    pub count: u32,
    pub limit: u32,
}

pub fn window(ctx: &RequestCtx<'_>) -> i64 {
    rate_limit::window_start(ctx.now, ctx.settings.rate_limit_period)
}

/// The end of the current window.
pub fn window_end(ctx: &RequestCtx<'_>) -> i64 {
    window(ctx).saturating_add(ctx.settings.rate_limit_period)
}

/// Applies a counted hit: under the limit, the `X-RateLimit-*` headers; over it, 429 with
/// `Retry-After` and those headers (audited once per bucket and window).
pub fn apply(ctx: &RequestCtx<'_>, hit: &Hit) -> ApiResult<LimitHeaders> {
    let period = ctx.settings.rate_limit_period;
    let v = rate_limit::evaluate(hit.count, hit.limit, window(ctx), period, ctx.now);
    let headers = vec![("X-RateLimit-Limit", v.limit.to_string()), ("X-RateLimit-Remaining", v.remaining.to_string())];
    if v.allowed {
        return Ok(headers);
    }
    let mut e = ApiError::too_many(ErrorCode::RateLimited, u64::try_from(v.retry_after).unwrap_or(1));
    e.headers.extend(headers);
    if hit.count == hit.limit.saturating_add(1) {
        let mut ev = AuditEvent::new(AuditAction::RateLimited, "rate_limit")
            .meta("tier", hit.tier.as_str())
            .meta("limit", hit.limit)
            .meta("path", ctx.path.as_str());
        if let Some(user) = hit.bucket.strip_prefix("user:") {
            ev = ev.user(user);
        }
        e = e.audited(ev);
    }
    Err(e)
}

fn shield_binding(tier: Tier) -> &'static str {
    if tier == Tier::Auth {
        "AUTH_LIMITER"
    } else {
        "ANON_LIMITER"
    }
}

/// Counts the request in its per-IP tier and enforces the limit.
pub async fn ip_tier(ctx: &RequestCtx<'_>, tier: Tier) -> ApiResult<LimitHeaders> {
    let ip_bucket = rate_limit::ip_bucket(&ctx.ip);
    let bucket = format!("{}:{ip_bucket}", tier.as_str());
    // Flood shield: storage-free, per location. Fails open.
    match platform::rate_limit(ctx.env, shield_binding(tier), &bucket).await {
        Ok(false) => {
            return Err(ApiError::too_many(ErrorCode::RateLimited, ctx.settings.rate_limit_period.unsigned_abs())
                .with_cause("rate-limit binding shield"));
        }
        Ok(true) => {}
        Err(e) => log_limiter_failure(ctx, "binding", &e),
    }
    let limit = if tier == Tier::Auth { ctx.settings.rate_limit_auth } else { ctx.settings.rate_limit_anon };
    if tier == Tier::Auth {
        if let Some(wide) = rate_limit::ipv6_48_bucket(&ctx.ip) {
            return auth_tier_ipv6(ctx, bucket, format!("auth48:{wide}"), limit).await;
        }
    }
    let counted =
        gates::count(ctx.env, &names::ip(tier.as_str(), &ip_bucket), window(ctx), window_end(ctx), &[""]).await;
    match counted.map(|c| c.first().copied()) {
        Ok(Some(count)) => apply(ctx, &Hit { tier, bucket, count, limit }),
        Ok(None) | Err(_) if tier == Tier::Auth => {
            Err(ApiError::unavailable("rate-limit counter unavailable (auth tier fails closed)"))
        }
        Ok(None) => Ok(Vec::new()),
        Err(e) => {
            log_limiter_failure(ctx, "counter object", e.cause.as_deref().unwrap_or_default());
            match kv_count(ctx, &bucket).await {
                Ok(count) => apply(ctx, &Hit { tier, bucket, count, limit }),
                Err(cause) => {
                    log_limiter_failure(ctx, "kv fallback", &cause);
                    Ok(Vec::new())
                }
            }
        }
    }
}

/// The auth tier of an IPv6 client: its /64 bucket and, at `IPV6_48_FACTOR` times the
/// limit, its /48 bucket, counted together by the /48's object (fails closed like every
/// auth counter).
async fn auth_tier_ipv6(ctx: &RequestCtx<'_>, narrow: String, wide: String, limit: u32) -> ApiResult<LimitHeaders> {
    let name = names::ip("auth48", wide.trim_start_matches("auth48:"));
    let counts =
        gates::count(ctx.env, &name, window(ctx), window_end(ctx), &[narrow.as_str(), ""]).await.map_err(|e| {
            let cause = e.cause.unwrap_or_default();
            ApiError::unavailable(format!("rate-limit counter unavailable (auth tier fails closed): {cause}"))
        })?;
    let (n, w) = match counts.as_slice() {
        [n, w] => (*n, *w),
        _ => return Err(ApiError::unavailable("rate-limit counter answered the wrong counts")),
    };
    let narrow = Hit { tier: Tier::Auth, bucket: narrow, count: n, limit };
    let wide =
        Hit { tier: Tier::Auth, bucket: wide, count: w, limit: limit.saturating_mul(rate_limit::IPV6_48_FACTOR) };
    if narrow.count <= narrow.limit && wide.count > wide.limit {
        apply(ctx, &wide)
    } else {
        apply(ctx, &narrow)
    }
}

/// Approximate fallback counter: read, add one, write back with a TTL covering the window.
async fn kv_count(ctx: &RequestCtx<'_>, bucket: &str) -> Result<u32, String> {
    let key = format!("rl:{bucket}:{}", window(ctx));
    let current: u32 =
        platform::kv_get(ctx.env, "RATE_LIMIT_KV", &key).await?.and_then(|v| v.parse().ok()).unwrap_or(0);
    let next = current.saturating_add(1);
    let ttl = u32::try_from(ctx.settings.rate_limit_period).unwrap_or(60).max(60);
    platform::kv_put(ctx.env, "RATE_LIMIT_KV", &key, &next.to_string(), ttl).await?;
    Ok(next)
}

fn log_limiter_failure(ctx: &RequestCtx<'_>, what: &str, cause: &str) {
    worker::console_error!(
        "{}",
        serde_json::json!({"level": "error", "requestId": ctx.request_id, "event": "rate_limiter_unavailable", "limiter": what, "cause": cause})
    );
}
