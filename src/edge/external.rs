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
use wasm_bindgen::JsValue;

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

#[derive(Default)]
struct State {
    /// What the state is for (the provider's JWKS source): a changed setting starts over.
    source: String,
    set: Option<KeySet>,
    /// The discovered `jwks_uri`.
    jwks_uri: Option<String>,
    /// The last refetch for an unknown `kid`.
    refetched_at: Option<i64>,
    /// The last failed fetch.
    failed_at: Option<i64>,
    /// Keys of `set` already imported into WebCrypto.
    imported: Vec<(Jwk, JsValue)>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn with_state<T>(source: &str, f: impl FnOnce(&mut State) -> T) -> T {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if s.source != source {
            *s = State { source: source.to_owned(), ..State::default() };
        }
        f(&mut s)
    })
}

fn source(idp: &ExternalIdp) -> &str {
    idp.jwks_url.as_deref().unwrap_or(&idp.issuer)
}

/// The Cache API key of the provider's key set.
fn cache_key(source: &str) -> String {
    format!("https://jwks.secure-api.internal/{}", hex_encode(&sha256(source.as_bytes())))
}

fn rejected(e: ExtError) -> ApiError {
    ApiError::new(ErrorCode::InvalidAuthToken).with_cause(format!("external token: {e:?}"))
}

fn log(ctx: &RequestCtx<'_>, event: &str, cause: &str) {
    let line = format!(
        r#"{{"level":"warn","requestId":{},"event":{},"cause":{}}}"#,
        serde_json::Value::from(ctx.request_id.as_str()),
        serde_json::Value::from(event),
        serde_json::Value::from(cause)
    );
    worker::console_warn!("{}", line);
}

/// The claims of a third-party token, verified against the provider's keys; 401
/// `invalid_token` when it is not acceptable, 503 when the keys cannot be had.
pub async fn verify(ctx: &RequestCtx<'_>, idp: &ExternalIdp, token: &str) -> ApiResult<ExternalClaims> {
    let parsed = external::parse(token, &idp.algorithms).map_err(rejected)?;
    let mut set = key_set(ctx, idp).await?;
    let mut chosen = external::select(&set.keys, &parsed);
    if chosen == Err(ExtError::UnknownKey) {
        let src = source(idp);
        let allowed = with_state(src, |s| {
            let ok = cache::refetch_allowed(s.refetched_at, ctx.now);
            if ok {
                s.refetched_at = Some(ctx.now);
            }
            ok
        });
        if allowed {
            match fetch_set(ctx, idp).await {
                Ok(fresh) => {
                    set = fresh;
                    chosen = external::select(&set.keys, &parsed);
                }
                Err(e) => log(ctx, "jwks_refetch_failed", &e),
            }
        }
    }
    let jwk = chosen.map_err(rejected)?;
    let key = imported(idp, jwk).await.map_err(|e| rejected(ExtError::Signature).with_cause(e))?;
    let valid = platform::verify_signature(parsed.alg, &key, &parsed.signature, parsed.signing_input.as_bytes())
        .await
        .map_err(|e| rejected(ExtError::Signature).with_cause(e))?;
    if !valid {
        return Err(rejected(ExtError::Signature));
    }
    let policy = Policy { issuer: &idp.issuer, audience: idp.audience.as_deref(), skew: idp.clock_skew };
    external::claims(&parsed, &policy, ctx.now).map_err(rejected)
}

/// `jwk` as a WebCrypto key, imported once per isolate and key set.
async fn imported(idp: &ExternalIdp, jwk: &Jwk) -> Result<JsValue, String> {
    let src = source(idp);
    if let Some(key) = with_state(src, |s| s.imported.iter().find(|(k, _)| k == jwk).map(|(_, v)| v.clone())) {
        return Ok(key);
    }
    let key = platform::import_verify_key(jwk).await?;
    with_state(src, |s| s.imported.push((jwk.clone(), key.clone())));
    Ok(key)
}

/// The key set to verify with: fresh from memory or the Cache API, else fetched; on a
/// failed fetch, the stale set within its grace; else 503.
async fn key_set(ctx: &RequestCtx<'_>, idp: &ExternalIdp) -> ApiResult<KeySet> {
    let (src, now) = (source(idp), ctx.now);
    let (memory, failed_at) = with_state(src, |s| (s.set.clone(), s.failed_at));
    if let Some(set) = memory.as_ref().filter(|s| now < s.fresh_until) {
        return Ok(set.clone());
    }
    let shared = shared_set(src).await.unwrap_or_else(|e| {
        log(ctx, "jwks_cache_read_failed", &e);
        None
    });
    let newest = [memory, shared].into_iter().flatten().max_by_key(|s| s.fetched_at);
    if let Some(set) = newest.as_ref().filter(|s| now < s.fresh_until) {
        store(src, set.clone());
        return Ok(set.clone());
    }
    let retry = failed_at.is_none_or(|t| now - t >= cache::RETRY_AFTER_FAILURE);
    let fetched = if retry { fetch_set(ctx, idp).await } else { Err("a fetch failed moments ago".to_owned()) };
    match fetched {
        Ok(set) => Ok(set),
        Err(e) => match newest.filter(|s| now < s.fresh_until + cache::STALE_IF_ERROR) {
            Some(stale) => {
                log(ctx, "jwks_stale_in_use", &e);
                Ok(stale)
            }
            None => Err(ApiError::unavailable(format!("identity provider keys unavailable: {e}"))),
        },
    }
}

fn store(src: &str, set: KeySet) {
    with_state(src, |s| {
        if s.set.as_ref().map(|old| &old.keys) != Some(&set.keys) {
            s.imported.clear();
        }
        s.set = Some(set);
    });
}

/// The key set another isolate of this location stored in the Cache API.
async fn shared_set(src: &str) -> Result<Option<KeySet>, String> {
    let Some(text) = platform::cache_get(&cache_key(src)).await? else {
        return Ok(None);
    };
    let entry: serde_json::Value = serde_json::from_str(&text).map_err(|_| "unreadable cache entry".to_owned())?;
    let field = |name: &str| entry.get(name).and_then(serde_json::Value::as_i64);
    let keys = entry.get("jwks").and_then(|j| j.as_str()).and_then(|j| external::parse_jwks(j.as_bytes()));
    Ok(match (field("fetchedAt"), field("freshUntil"), keys) {
        (Some(fetched_at), Some(fresh_until), Some(keys)) => {
            Some(KeySet { keys: Rc::new(keys), fetched_at, fresh_until })
        }
        _ => None,
    })
}

/// Fetches the key set from the provider, then keeps it in memory and (after the
/// response) in the Cache API.
async fn fetch_set(ctx: &RequestCtx<'_>, idp: &ExternalIdp) -> Result<KeySet, String> {
    let (src, now) = (source(idp), ctx.now);
    let result = fetch_jwks(idp).await;
    let (text, max_age) = match result {
        Ok(ok) => ok,
        Err(e) => {
            with_state(src, |s| s.failed_at = Some(now));
            return Err(e);
        }
    };
    let keys = external::parse_jwks(text.as_bytes()).ok_or_else(|| "the JWKS is not a key set".to_owned())?;
    let set = KeySet { keys: Rc::new(keys), fetched_at: now, fresh_until: now + max_age };
    with_state(src, |s| s.failed_at = None);
    store(src, set.clone());
    let entry =
        format!(r#"{{"fetchedAt":{now},"freshUntil":{},"jwks":{}}}"#, set.fresh_until, serde_json::Value::from(text));
    let key = cache_key(src);
    ctx.spawn(async move {
        // A failed put only costs another isolate a fetch.
        let _ = platform::cache_put(&key, &entry, max_age + cache::STALE_IF_ERROR).await;
    });
    Ok(set)
}

/// The JWKS text and its freshness, discovering its URL first when it is not configured.
async fn fetch_jwks(idp: &ExternalIdp) -> Result<(String, i64), String> {
    let url = match &idp.jwks_url {
        Some(url) => url.clone(),
        None => match with_state(source(idp), |s| s.jwks_uri.clone()) {
            Some(url) => url,
            None => {
                let doc = fetch_ok(&idp.discovery_url()).await?;
                let url = external::discovered_jwks_uri(&doc.body, &idp.issuer)
                    .filter(|u| fetchable_url(u))
                    .ok_or_else(|| "the OpenID configuration names no usable jwks_uri for this issuer".to_owned())?;
                with_state(source(idp), |s| s.jwks_uri = Some(url.clone()));
                url
            }
        },
    };
    let got = fetch_ok(&url).await?;
    let text = String::from_utf8(got.body).map_err(|_| "the JWKS is not UTF-8".to_owned())?;
    Ok((text, cache::max_age(got.cache_control.as_deref())))
}

async fn fetch_ok(url: &str) -> Result<platform::Fetched, String> {
    let got = platform::fetch_capped(url, FETCH_TIMEOUT_MS, MAX_DOCUMENT_BYTES).await?;
    if got.status == 200 {
        Ok(got)
    } else {
        Err(format!("{url} answered {}", got.status))
    }
}
