//! The only place that reads the clock or the random number generator, and that calls
//! WebCrypto. Pure code receives `now` and random bytes as parameters.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// Unix time in seconds.
pub fn now() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

/// `N` bytes from the platform CSPRNG (`crypto.getRandomValues`).
pub fn random<const N: usize>() -> Result<[u8; N], String> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| format!("getrandom: {e}"))?;
    Ok(buf)
}

/// A random UUID v4 (request ids, row ids): `crypto.randomUUID()`, formatted natively.
pub fn uuid() -> String {
    random_uuid_js()
}

#[wasm_bindgen::prelude::wasm_bindgen(module = "/js/edge-glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = randomUuid)]
    fn random_uuid_js() -> String;
    #[wasm_bindgen(js_name = requestHead)]
    fn request_head_js(request: &web_sys::Request, names: &js_sys::Array) -> String;
    #[wasm_bindgen(js_name = respond)]
    fn respond_js(status: u16, body: Option<String>, head: &str) -> web_sys::Response;
    #[wasm_bindgen(catch, js_name = sqlFirst)]
    fn sql_first_js(sql: &wasm_bindgen::JsValue, query: &str, args: &str) -> Result<String, wasm_bindgen::JsValue>;
    #[wasm_bindgen(catch, js_name = d1)]
    async fn d1_js(
        session: &wasm_bindgen::JsValue,
        statements: &str,
    ) -> Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue>;
    #[wasm_bindgen(catch, js_name = gateCall)]
    async fn gate_call_js(
        namespace: &wasm_bindgen::JsValue,
        name: &str,
        body: &str,
    ) -> Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue>;
}

thread_local! {
    /// The header names of `request_head`, as JS strings made once per isolate.
    static HEAD_NAMES: js_sys::Array =
        crate::web::headers::READ_HEADERS.iter().map(|n| wasm_bindgen::JsValue::from_str(n)).collect();
}

/// The request's method, URL and the values of `web::headers::READ_HEADERS` (in that
/// order), read in one call into JS (js/edge-glue.js).
pub fn request_head(request: &web_sys::Request) -> String {
    HEAD_NAMES.with(|names| request_head_js(request, names))
}

/// A Response built in one call into JS: `head` holds the headers as `Name: value` lines
/// (see js/edge-glue.js `respond`).
pub fn respond(status: u16, body: Option<String>, head: &str) -> web_sys::Response {
    respond_js(status, body, head)
}

/// One operation on Durable Object `name` of namespace `binding`, in one call into JS:
/// the answer's text, `Err` for a missing binding, a failed call or an answer other than 200.
pub async fn gate_call(env: &worker::Env, binding: &str, name: &str, body: &str) -> Result<String, String> {
    let namespace = self::binding(env, binding)?;
    let text = gate_call_js(&namespace, name, body).await.map_err(|e| format!("{e:?}"))?;
    text.as_string().ok_or_else(|| "answer is not text".to_owned())
}

/// A Durable Object SQL statement with its bindings as a JSON array: the first row's
/// values as a JSON array, `"null"` when there is none.
pub fn sql_first(sql: &wasm_bindgen::JsValue, query: &str, args: &str) -> Result<String, String> {
    sql_first_js(sql, query, args).map_err(|e| format!("{e:?}"))
}

/// D1 statements (a JSON array of `[sql, ...bindings]`) on a D1 session, alone or as one
/// batch, in one call into JS: a JSON array of `[changes, rows]` per statement; `Err` is
/// D1's error as it threw it.
pub async fn d1_run(session: &wasm_bindgen::JsValue, statements: &str) -> Result<String, wasm_bindgen::JsValue> {
    let answer = d1_js(session, statements).await?;
    answer.as_string().ok_or_else(|| wasm_bindgen::JsValue::from_str("D1 answer is not text"))
}

/// `env.DB`, without the type check of `Env::d1` (a constructor-name lookup per request).
pub fn d1(env: &worker::Env) -> Result<worker::D1Database, String> {
    binding(env, "DB").map(wasm_bindgen::JsCast::unchecked_into)
}

fn subtle() -> Result<web_sys::SubtleCrypto, String> {
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let crypto = global.crypto().map_err(|_| "crypto unavailable".to_owned())?;
    Ok(crypto.subtle())
}

/// PBKDF2-HMAC-SHA256 through WebCrypto (`importKey` + `deriveBits`): ~3.5x less CPU
/// than the pure-Rust loop in wasm, byte-identical (the host tests use the `pbkdf2` crate).
pub async fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> Result<[u8; 32], String> {
    let subtle = subtle()?;
    let key_data = js_sys::Uint8Array::from(password);
    let usages = js_sys::Array::of1(&"deriveBits".into());
    let import = subtle
        .import_key_with_str("raw", &key_data, "PBKDF2", false, &usages)
        .map_err(|_| "importKey failed".to_owned())?;
    let key: web_sys::CryptoKey =
        JsFuture::from(import).await.map_err(|_| "importKey rejected".to_owned())?.unchecked_into();
    let params = js_sys::Object::new();
    let set = |k: &str, v: &wasm_bindgen::JsValue| js_sys::Reflect::set(&params, &k.into(), v).map(|_| ());
    set("name", &"PBKDF2".into())
        .and_then(|_| set("hash", &"SHA-256".into()))
        .and_then(|_| set("salt", &js_sys::Uint8Array::from(salt).into()))
        .and_then(|_| set("iterations", &f64::from(iterations).into()))
        .map_err(|_| "PBKDF2 params".to_owned())?;
    let derive = subtle.derive_bits_with_object(&params, &key, 256).map_err(|_| "deriveBits failed".to_owned())?;
    let bits = JsFuture::from(derive).await.map_err(|_| "deriveBits rejected".to_owned())?;
    let bytes = js_sys::Uint8Array::new(&bits);
    let mut out = [0u8; 32];
    if bytes.length() != 32 {
        return Err("deriveBits returned the wrong length".to_owned());
    }
    bytes.copy_to(&mut out);
    Ok(out)
}

/// Calls `target[method](...args)`; the value, or `Err` naming the method.
fn invoke(
    target: &wasm_bindgen::JsValue,
    method: &str,
    args: &[wasm_bindgen::JsValue],
) -> Result<wasm_bindgen::JsValue, String> {
    let f: js_sys::Function = js_sys::Reflect::get(target, &method.into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| format!("{method} is not a function"))?;
    let array: js_sys::Array = args.iter().collect();
    f.apply(target, &array).map_err(|_| format!("{method} failed"))
}

/// Awaits `target[method](...args)`, which returns a promise.
async fn invoke_async(
    target: &wasm_bindgen::JsValue,
    method: &str,
    args: &[wasm_bindgen::JsValue],
) -> Result<wasm_bindgen::JsValue, String> {
    let promise: js_sys::Promise =
        invoke(target, method, args)?.dyn_into().map_err(|_| format!("{method}: no promise"))?;
    JsFuture::from(promise).await.map_err(|e| format!("{method} rejected: {e:?}"))
}

/// `fetcher.fetch(url)`, then the status and the body text. Plain js_sys calls: the
/// `worker` crate's Request/Response wrappers cost wasm size.
async fn fetch_text(fetcher: &wasm_bindgen::JsValue, url: &str) -> Result<(u16, String), String> {
    let resp = invoke_async(fetcher, "fetch", &[wasm_bindgen::JsValue::from_str(url)]).await?;
    let status = js_sys::Reflect::get(&resp, &"status".into()).ok().and_then(|s| s.as_f64()).unwrap_or(0.0);
    let text = invoke_async(&resp, "text", &[]).await?;
    Ok((status as u16, text.as_string().ok_or_else(|| "body is not text".to_owned())?))
}

/// The text of a static asset: `env[binding].fetch(url)` then `.text()`.
pub async fn asset_text(env: &worker::Env, binding: &str, url: &str) -> Result<String, String> {
    let fetcher =
        js_sys::Reflect::get(env.as_ref(), &binding.into()).map_err(|_| format!("binding {binding} missing"))?;
    match fetch_text(&fetcher, url).await? {
        (200, text) => Ok(text),
        (status, _) => Err(format!("status {status}")),
    }
}

/// `env[binding]`, or `Err` naming the missing binding.
fn binding(env: &worker::Env, name: &str) -> Result<wasm_bindgen::JsValue, String> {
    js_sys::Reflect::get(env.as_ref(), &name.into())
        .ok()
        .filter(|b| !b.is_undefined())
        .ok_or_else(|| format!("binding {name} missing"))
}

/// A Workers rate-limit binding: `env[name].limit({key})`, whether the key is under its
/// limit. Plain js_sys calls: the `worker` crate's wrapper goes through serde-wasm-bindgen.
pub async fn rate_limit(env: &worker::Env, name: &str, key: &str) -> Result<bool, String> {
    let options = js_sys::Object::new();
    set(&options, "key", &key.into())?;
    let outcome = invoke_async(&binding(env, name)?, "limit", &[options.into()]).await?;
    get(&outcome, "success")?.as_bool().ok_or_else(|| "limit: no success flag".to_owned())
}

/// `env[name]` when it is bound (optional bindings such as a queue producer).
pub fn optional_binding(env: &worker::Env, name: &str) -> Option<wasm_bindgen::JsValue> {
    binding(env, name).ok()
}

/// A queue producer's `send(message)`, the message an object of string fields.
pub async fn queue_send(queue: &wasm_bindgen::JsValue, fields: &[(&str, &str)]) -> Result<(), String> {
    let message = js_sys::Object::new();
    for (k, v) in fields {
        set(&message, k, &(*v).into())?;
    }
    invoke_async(queue, "send", &[message.into()]).await.map(|_| ())
}

/// The text stored under `key` in KV namespace `name`, if any.
pub async fn kv_get(env: &worker::Env, name: &str, key: &str) -> Result<Option<String>, String> {
    Ok(invoke_async(&binding(env, name)?, "get", &[key.into()]).await?.as_string())
}

/// Stores `value` under `key` in KV namespace `name`, expiring after `ttl` seconds.
pub async fn kv_put(env: &worker::Env, name: &str, key: &str, value: &str, ttl: u32) -> Result<(), String> {
    let options = js_sys::Object::new();
    set(&options, "expirationTtl", &f64::from(ttl).into())?;
    invoke_async(&binding(env, name)?, "put", &[key.into(), value.into(), options.into()]).await.map(|_| ())
}

fn set(target: &js_sys::Object, key: &str, value: &wasm_bindgen::JsValue) -> Result<(), String> {
    js_sys::Reflect::set(target, &key.into(), value).map(|_| ()).map_err(|_| format!("set {key}"))
}

fn get(target: &wasm_bindgen::JsValue, key: &str) -> Result<wasm_bindgen::JsValue, String> {
    js_sys::Reflect::get(target, &key.into()).map_err(|_| format!("get {key}"))
}

/// `fetch(url)` from the worker (to a third party: no redirects followed), given up after
/// `timeout_ms` (`AbortSignal.timeout`, which also ends a slow body) and refused once the
/// body passes `cap` bytes, without reading the rest. A 200 with a UTF-8 body gives the body
/// and the `Cache-Control` header; anything else is `Err`.
pub async fn fetch_capped(url: &str, timeout_ms: u32, cap: usize) -> Result<(String, Option<String>), String> {
    let global = js_sys::global();
    let signal = invoke(&get(&global, "AbortSignal")?, "timeout", &[f64::from(timeout_ms).into()])?;
    let init = js_sys::Object::new();
    set(&init, "signal", &signal)?;
    set(&init, "redirect", &"manual".into())?;
    let resp = invoke_async(&global, "fetch", &[url.into(), init.into()]).await?;
    let status = get(&resp, "status")?.as_f64().unwrap_or(0.0);
    let reader = invoke(&get(&resp, "body")?, "getReader", &[]);
    if status != 200.0 {
        if let Ok(reader) = reader {
            let _ = invoke(&reader, "cancel", &[]);
        }
        return Err(format!("{url} answered {status}"));
    }
    let cache_control = invoke(&get(&resp, "headers")?, "get", &["cache-control".into()])?.as_string();
    let (reader, mut body) = (reader?, Vec::new());
    loop {
        let chunk = invoke_async(&reader, "read", &[]).await?;
        if get(&chunk, "done")?.as_bool().unwrap_or(true) {
            break;
        }
        let value = js_sys::Uint8Array::new(&get(&chunk, "value")?);
        if body.len() + value.length() as usize > cap {
            let _ = invoke(&reader, "cancel", &[]);
            return Err(format!("{url}: body over {cap} bytes"));
        }
        body.extend_from_slice(&value.to_vec());
    }
    let text = String::from_utf8(body).map_err(|_| format!("{url}: body not UTF-8"))?;
    Ok((text, cache_control))
}

/// Whether `signature` is `jwk`'s signature of `data` (`crypto.subtle.importKey("jwk")`
/// from the checked public members only, then `verify`; the key's algorithm is the one
/// `token::external::select` matched to the token's `alg`).
pub async fn verify_with_jwk(jwk: &crate::token::external::Jwk, signature: &[u8], data: &[u8]) -> Result<bool, String> {
    use crate::token::external::KeyMaterial;
    // The members are base64url (checked when the JWKS was read), so they need no escaping.
    // One algorithm object serves both calls: importKey reads name and namedCurve (EC) or
    // hash (RSA), verify reads name and hash (ECDSA).
    let (key, algorithm) = match &jwk.material {
        KeyMaterial::Rsa { n, e } => {
            (format!(r#"{{"kty":"RSA","n":"{n}","e":"{e}"}}"#), r#"{"name":"RSASSA-PKCS1-v1_5","hash":"SHA-256"}"#)
        }
        KeyMaterial::Ec { x, y } => (
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}"}}"#),
            r#"{"name":"ECDSA","namedCurve":"P-256","hash":"SHA-256"}"#,
        ),
    };
    let parse = |text: &str| js_sys::JSON::parse(text).map_err(|_| "key JSON".to_owned());
    let (key, algorithm) = (parse(&key)?, parse(algorithm)?);
    let subtle: wasm_bindgen::JsValue = subtle()?.into();
    let usages = js_sys::Array::of1(&"verify".into());
    let imported =
        invoke_async(&subtle, "importKey", &["jwk".into(), key, algorithm.clone(), false.into(), usages.into()])
            .await?;
    let args = [algorithm, imported, js_sys::Uint8Array::from(signature).into(), js_sys::Uint8Array::from(data).into()];
    Ok(invoke_async(&subtle, "verify", &args).await?.as_bool().unwrap_or(false))
}

fn default_cache() -> Result<wasm_bindgen::JsValue, String> {
    get(&get(&js_sys::global(), "caches")?, "default")
}

/// The body of the Cache API entry for `url` (this location's cache), if any.
pub async fn cache_get(url: &str) -> Result<Option<String>, String> {
    let found = invoke_async(&default_cache()?, "match", &[url.into()]).await?;
    if found.is_undefined() || found.is_null() {
        return Ok(None);
    }
    Ok(invoke_async(&found, "text", &[]).await?.as_string())
}

/// Stores `body` as the Cache API entry for `url`, kept for `max_age` seconds.
pub async fn cache_put(url: &str, body: &str, max_age: i64) -> Result<(), String> {
    let (init, headers) = (js_sys::Object::new(), js_sys::Object::new());
    set(&headers, "cache-control", &format!("max-age={max_age}").into())?;
    set(&init, "headers", &headers)?;
    let ctor: js_sys::Function =
        get(&js_sys::global(), "Response")?.dyn_into().map_err(|_| "no Response".to_owned())?;
    let response = js_sys::Reflect::construct(&ctor, &js_sys::Array::of2(&body.into(), &init))
        .map_err(|_| "new Response failed".to_owned())?;
    invoke_async(&default_cache()?, "put", &[url.into(), response]).await.map(|_| ())
}
