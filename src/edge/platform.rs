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

/// A random UUID v4 (request ids, row ids).
pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
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

/// `fetcher.fetch(url[, {method: "POST", body}])`, then the status and the body text.
/// Plain js_sys calls: the `worker` crate's Request/Response wrappers cost wasm size.
pub async fn fetch_text(
    fetcher: &wasm_bindgen::JsValue,
    url: &str,
    post: Option<&str>,
) -> Result<(u16, String), String> {
    let mut args = vec![wasm_bindgen::JsValue::from_str(url)];
    if let Some(body) = post {
        let init = js_sys::Object::new();
        let set = |k: &str, v: &str| js_sys::Reflect::set(&init, &k.into(), &v.into()).map(|_| ());
        set("method", "POST").and_then(|_| set("body", body)).map_err(|_| "request init".to_owned())?;
        args.push(init.into());
    }
    let resp = invoke_async(fetcher, "fetch", &args).await?;
    let status = js_sys::Reflect::get(&resp, &"status".into()).ok().and_then(|s| s.as_f64()).unwrap_or(0.0);
    let text = invoke_async(&resp, "text", &[]).await?;
    Ok((status as u16, text.as_string().ok_or_else(|| "body is not text".to_owned())?))
}

/// The stub of Durable Object `name` of namespace `binding` (`env[binding].getByName(name)`).
pub fn durable_object(env: &worker::Env, binding: &str, name: &str) -> Result<wasm_bindgen::JsValue, String> {
    let namespace =
        js_sys::Reflect::get(env.as_ref(), &binding.into()).map_err(|_| format!("binding {binding} missing"))?;
    invoke(&namespace, "getByName", &[name.into()])
}

/// The text of a static asset: `env[binding].fetch(url)` then `.text()`.
pub async fn asset_text(env: &worker::Env, binding: &str, url: &str) -> Result<String, String> {
    let fetcher =
        js_sys::Reflect::get(env.as_ref(), &binding.into()).map_err(|_| format!("binding {binding} missing"))?;
    match fetch_text(&fetcher, url, None).await? {
        (200, text) => Ok(text),
        (status, _) => Err(format!("status {status}")),
    }
}
