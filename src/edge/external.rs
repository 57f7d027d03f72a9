//! Third-party tokens at the edge: the provider's key set (fetched, cached, refetched) and
//! the signature check through WebCrypto. The decisions are `token::external`'s.
//!
//! Key set: kept per isolate in memory and, across the isolates of a location, in the Cache
//! API; fresh for the JWKS response's `max-age` clamped to [5 min, 24 h]. A token naming an
//! unknown `kid` refetches at most once per 30 s per isolate. When the provider cannot be
//! reached, the last good set is used for up to 24 h past its freshness; with none, the
//! request is 503 (the provider is down, the token is not known to be bad). Fetches time
//! out after [`FETCH_TIMEOUT_MS`] and stop reading past [`MAX_DOCUMENT_BYTES`].

use super::ctx::RequestCtx;
use super::platform;
use crate::config::{fetchable_url, ExternalIdp};
use crate::crypto::encoding::hex_encode;
use crate::crypto::mac::sha256;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::token::external::{self, cache, ExtError, ExternalClaims, Jwk, Policy};
use std::cell::RefCell;
use std::rc::Rc;

pub const FETCH_TIMEOUT_MS: u32 = 5_000;
/// The largest JWKS or OpenID configuration document read.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// A key set and until when it is fresh.
#[derive(Clone)]
struct KeySet {
    keys: Rc<Vec<Jwk>>,
    fetched_at: i64,
    fresh_until: i64,
}

/// What an isolate knows of the provider (settings never change within an isolate).
struct State {
    set: Option<KeySet>,
    /// The discovered `jwks_uri`.
    jwks_uri: Option<String>,
    /// The last refetch for an unknown `kid`.
    refetched_at: Option<i64>,
    /// The last failed fetch.
    failed_at: Option<i64>,
}

thread_local! {
    static STATE: RefCell<State> =
        const { RefCell::new(State { set: None, jwks_uri: None, refetched_at: None, failed_at: None }) };
}

fn state<T>(f: impl FnOnce(&mut State) -> T) -> T {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// The Cache API key of the provider's key set.
fn cache_key(idp: &ExternalIdp) -> String {
    let source = idp.jwks_url.as_deref().unwrap_or(&idp.issuer);
    format!("https://jwks.secure-api.internal/{}", hex_encode(&sha256(source.as_bytes())))
}

fn rejected(e: ExtError) -> ApiError {
    ApiError::new(ErrorCode::InvalidAuthToken).with_cause(format!("external token: {e:?}"))
}

fn log(ctx: &RequestCtx<'_>, event: &str, cause: &str) {
    let text = |s: &str| serde_json::Value::from(s).to_string();
    worker::console_warn!(
        r#"{{"level":"warn","requestId":{},"event":"{event}","cause":{}}}"#,
        text(&ctx.request_id),
        text(cause)
    );
}

/// The claims of a third-party token, verified against the provider's keys; 401
/// `invalid_token` when it is not acceptable, 503 when the keys cannot be had.
pub async fn verify(ctx: &RequestCtx<'_>, idp: &ExternalIdp, token: &str) -> ApiResult<ExternalClaims> {
    let parsed = external::parse(token, &idp.algorithms).map_err(rejected)?;
    let set = key_set(ctx, idp).await?;
    let mut chosen = external::select(&set.keys, &parsed).cloned();
    let refetch = |s: &mut State| {
        let allowed = cache::refetch_allowed(s.refetched_at, ctx.now);
        if allowed {
            s.refetched_at = Some(ctx.now);
        }
        allowed
    };
    if chosen == Err(ExtError::UnknownKey) && state(refetch) {
        match fetch_set(ctx, idp).await {
            Ok(fresh) => chosen = external::select(&fresh.keys, &parsed).cloned(),
            Err(e) => log(ctx, "jwks_refetch_failed", &e),
        }
    }
    let jwk = chosen.map_err(rejected)?;
    let valid = platform::verify_with_jwk(&jwk, &parsed.signature, parsed.signing_input.as_bytes())
        .await
        .map_err(|e| rejected(ExtError::Signature).with_cause(e))?;
    if !valid {
        return Err(rejected(ExtError::Signature));
    }
    let policy = Policy { issuer: &idp.issuer, audience: idp.audience.as_deref(), skew: idp.clock_skew };
    external::claims(&parsed, &policy, ctx.now).map_err(rejected)
}

/// The key set to verify with: fresh from memory or the Cache API, else fetched; on a
/// failed fetch, the stale set within its grace; else 503.
async fn key_set(ctx: &RequestCtx<'_>, idp: &ExternalIdp) -> ApiResult<KeySet> {
    let now = ctx.now;
    let (memory, failed_at) = state(|s| (s.set.clone(), s.failed_at));
    if let Some(set) = memory.as_ref().filter(|s| now < s.fresh_until) {
        return Ok(set.clone());
    }
    let shared = match platform::cache_get(&cache_key(idp)).await {
        Ok(entry) => entry.as_deref().and_then(cache::decode_entry).and_then(|(fetched_at, fresh_until, jwks)| {
            Some(KeySet { keys: Rc::new(external::parse_jwks(jwks.as_bytes())?), fetched_at, fresh_until })
        }),
        Err(e) => {
            log(ctx, "jwks_cache_read_failed", &e);
            None
        }
    };
    let newest = [memory, shared].into_iter().flatten().max_by_key(|s| s.fetched_at);
    if let Some(set) = newest.as_ref().filter(|s| now < s.fresh_until) {
        state(|s| s.set = Some(set.clone()));
        return Ok(set.clone());
    }
    let fetched = if failed_at.is_none_or(|t| now - t >= cache::RETRY_AFTER_FAILURE) {
        fetch_set(ctx, idp).await
    } else {
        Err("a fetch failed moments ago".to_owned())
    };
    match (fetched, newest.filter(|s| now < s.fresh_until + cache::STALE_IF_ERROR)) {
        (Ok(set), _) => Ok(set),
        (Err(e), Some(stale)) => {
            log(ctx, "jwks_stale_in_use", &e);
            Ok(stale)
        }
        (Err(e), None) => Err(ApiError::unavailable(format!("identity provider keys unavailable: {e}"))),
    }
}

/// Fetches the key set from the provider, then keeps it in memory and (after the
/// response) in the Cache API. Any failure, a document that is no key set included,
/// holds further attempts back for [`cache::RETRY_AFTER_FAILURE`].
async fn fetch_set(ctx: &RequestCtx<'_>, idp: &ExternalIdp) -> Result<KeySet, String> {
    let now = ctx.now;
    let fetched = fetch_jwks(idp).await.and_then(|(text, cache_control)| {
        let keys = external::parse_jwks(text.as_bytes()).ok_or_else(|| "the JWKS is not a key set".to_owned())?;
        Ok((text, keys, cache::max_age(cache_control.as_deref())))
    });
    let (text, keys, max_age) = fetched.inspect_err(|_| state(|s| s.failed_at = Some(now)))?;
    let set = KeySet { keys: Rc::new(keys), fetched_at: now, fresh_until: now + max_age };
    state(|s| {
        s.failed_at = None;
        s.set = Some(set.clone());
    });
    let (key, entry) = (cache_key(idp), cache::encode_entry(now, set.fresh_until, &text));
    ctx.spawn(async move {
        // A failed put only costs another isolate a fetch.
        let _ = platform::cache_put(&key, &entry, max_age + cache::STALE_IF_ERROR).await;
    });
    Ok(set)
}

/// The JWKS text and its `Cache-Control`, discovering its URL first when it is not configured.
async fn fetch_jwks(idp: &ExternalIdp) -> Result<(String, Option<String>), String> {
    let url = match idp.jwks_url.clone().or_else(|| state(|s| s.jwks_uri.clone())) {
        Some(url) => url,
        None => {
            let (doc, _) = platform::fetch_capped(&idp.discovery_url(), FETCH_TIMEOUT_MS, MAX_DOCUMENT_BYTES).await?;
            let url = external::discovered_jwks_uri(doc.as_bytes(), &idp.issuer)
                .filter(|u| fetchable_url(u))
                .ok_or_else(|| "the OpenID configuration names no usable jwks_uri for this issuer".to_owned())?;
            state(|s| s.jwks_uri = Some(url.clone()));
            url
        }
    };
    platform::fetch_capped(&url, FETCH_TIMEOUT_MS, MAX_DOCUMENT_BYTES).await
}
