//! Runs a resolved route as its policy (`web::routes::Route::policy`) says: count the
//! request in its rate-limit tier, authenticate it, then call the handler, and put the
//! rate-limit headers on whatever the answer is.

use super::authn::{self, Caller};
use super::ctx::RequestCtx;
use super::handlers;
use super::reply::Reply;
use super::throttle::{self, LimitHeaders};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::throttle::rate_limit::Tier;
use crate::web::routes::{Auth, Policy, Route, Throttle};

pub async fn dispatch(route: Route, ctx: &RequestCtx<'_>) -> ApiResult<Reply> {
    let (caller, limits) = admit(ctx, route.policy()).await?;
    match handlers::run(route, ctx, caller).await {
        Ok(mut reply) => {
            reply.headers.extend(limits);
            Ok(reply)
        }
        Err(e) => Err(with_headers(e, limits)),
    }
}

fn with_headers(mut e: ApiError, headers: LimitHeaders) -> ApiError {
    e.headers.extend(headers);
    e
}

/// Counts one request as `throttle` says, for `caller` (if any).
async fn count(ctx: &RequestCtx<'_>, throttle: Throttle, caller: Option<&Caller>) -> ApiResult<LimitHeaders> {
    match (throttle, caller.and_then(|c| c.hit.as_ref())) {
        (Throttle::None, _) => Ok(Vec::new()),
        (Throttle::Ip(tier), _) => throttle::ip_tier(ctx, tier).await,
        (Throttle::Caller, Some(hit)) => throttle::apply(ctx, hit),
        (Throttle::Caller, None) => throttle::ip_tier(ctx, Tier::Anonymous).await,
    }
}

/// Authenticates and throttles: the caller (if any) and the rate-limit headers.
async fn admit(ctx: &RequestCtx<'_>, policy: Policy) -> ApiResult<(Option<Caller>, LimitHeaders)> {
    if policy.auth == Auth::None {
        // No credential is read: a stale cookie must never block logging in.
        return Ok((None, count(ctx, policy.throttle, None).await?));
    }
    let caller = match authn::authenticate(ctx, policy.csrf).await {
        Ok(c) => c,
        // An expired or revoked access token must not keep a browser from logging out:
        // the handler falls back to the refresh cookie.
        Err(e) if policy.auth == Auth::RefreshCookieFallback && e.status() == 401 && authn::has_refresh_cookie(ctx) => {
            None
        }
        // A failed credential did not authenticate anyone: it counts against the IP.
        Err(e) if e.status() < 500 => {
            let limits = throttle::ip_tier(ctx, Tier::Anonymous).await?;
            return Err(with_headers(e, limits));
        }
        Err(e) => return Err(e),
    };
    let limits = count(ctx, policy.throttle, caller.as_ref()).await?;
    if policy.auth == Auth::Required && caller.is_none() {
        return Err(with_headers(ApiError::new(ErrorCode::Unauthorized), limits));
    }
    Ok((caller, limits))
}
