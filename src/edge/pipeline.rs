//! The request pipeline: request id, client IP, settings, CORS preflight, routing
//! (404 / 405), body limits and JSON parsing, the handler, then security headers, CORS,
//! cookies and a structured log line (every 4xx/5xx answer; every answer with
//! `LOG_REQUESTS=all`).

use super::ctx::{RequestCtx, RequestParts};
use super::dispatch::dispatch;
use super::platform;
use super::reply::Reply;
use super::repo::{audit, Db, Reads};
use crate::config::Settings;
use crate::crypto::encoding::json_from_bytes;
use crate::error::{ApiError, ErrorCode};
use crate::web::headers::RequestHead;
use crate::web::{client_ip, cookies, cors, headers, query, routes};
use serde::Serialize;
use worker::{Context, Env};

fn env_lookup(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string())
}

thread_local! {
    /// Settings parsed and validated by the first request of this isolate. Vars and secrets
    /// cannot change during an isolate's life (a deploy or `wrangler dev` reload starts new
    /// isolates), so later requests reuse them. Errors are not cached: they are re-checked
    /// (and logged) on every request.
    static SETTINGS: std::cell::RefCell<Option<std::rc::Rc<Settings>>> = const { std::cell::RefCell::new(None) };
}

fn settings(env: &Env) -> Result<std::rc::Rc<Settings>, crate::config::ConfigError> {
    if let Some(s) = SETTINGS.with(|c| c.borrow().clone()) {
        return Ok(s);
    }
    let parsed = std::rc::Rc::new(Settings::from_lookup(&|k| env_lookup(env, k))?);
    SETTINGS.with(|c| *c.borrow_mut() = Some(parsed.clone()));
    Ok(parsed)
}

pub async fn handle(req: web_sys::Request, env: Env, worker_ctx: Context) -> web_sys::Response {
    let request_id = platform::uuid();
    let head = std::rc::Rc::new(RequestHead::parse(&platform::request_head(&req)));
    let method = head.method.clone();
    let (path, raw_query) = query::split_url(&head.url);
    let path = path.to_owned();
    let origin = head.get("Origin");
    let cookie_header = head.get("Cookie");
    let settings = settings(&env);
    let trust_xff = settings.as_ref().map(|s| s.trust_forwarded_for).unwrap_or(false);
    let ip = client_ip::client_ip(head.get("CF-Connecting-IP"), head.get("X-Forwarded-For"), trust_xff);
    let cors_allowed: Vec<String> = settings.as_ref().map(|s| s.cors_origins.clone()).unwrap_or_default();
    // Without settings (a configuration error, a 500) the line is written.
    let log_all = settings.as_ref().map(|s| s.log_all_requests).unwrap_or(true);

    let outcome: Result<Reply, ApiError> = match settings {
        Err(e) => Err(ApiError::internal(format!("configuration: {e}"))),
        Ok(settings) => {
            match platform::d1(&env).map_err(|e| ApiError::internal(format!("D1 binding DB missing: {e}"))).map(|d1| {
                // Read-only routes may read a replica, at least as new as the client's bookmark.
                let reads = match routes::resolve(&method, &path) {
                    Ok(route) if route.policy().replica => Reads::Replica,
                    _ => Reads::Primary,
                };
                let cookie = cookie_header.unwrap_or_default();
                let presented = head.get("X-D1-Bookmark").or_else(|| cookies::get(cookie, cookies::BOOKMARK_COOKIE));
                let bookmark = presented.and_then(cookies::bookmark);
                Db::open(d1, reads, bookmark)
            }) {
                Err(e) => Err(e),
                Ok(db) => {
                    let parts = RequestParts {
                        request_id: request_id.clone(),
                        ip: ip.clone(),
                        method: method.clone(),
                        path: path.clone(),
                        query: query::parse(raw_query),
                        head: head.clone(),
                        now: platform::now(),
                    };
                    let mut ctx = RequestCtx::new(&env, &worker_ctx, db, settings, parts);
                    let mut result = route_and_run(&req, &mut ctx, origin).await;
                    if let Some(b) = ctx.db.bookmark() {
                        with_bookmark(&mut result, &b, cookie_header, ctx.settings.access_ttl);
                    }
                    let mut events = ctx.take_audit();
                    events.extend(match &mut result {
                        Ok(reply) => std::mem::take(&mut reply.audit),
                        Err(e) => std::mem::take(&mut e.audit),
                    });
                    if !events.is_empty() {
                        let meta = audit::RequestMeta {
                            request_id: request_id.clone(),
                            ip: ip.clone(),
                            user_agent: ctx.user_agent.clone(),
                            now: ctx.now,
                        };
                        let db = ctx.db.clone();
                        worker_ctx.wait_until(async move {
                        if let Err(e) = audit::write(&db, &events, &meta, platform::uuid).await {
                            worker::console_error!(
                                "{}",
                                serde_json::json!({"level": "error", "requestId": meta.request_id, "event": "audit_write_failed", "cause": e.cause})
                            );
                        }
                    });
                    }
                    result
                }
            }
        }
    };

    let (status, body, mut extra, cookies, cause, code) = match outcome {
        Ok(r) => (r.status, r.body, r.headers, r.cookies, None, None),
        Err(e) => (e.status(), Some(e.body(&request_id)), e.headers.clone(), Vec::new(), e.cause.clone(), Some(e.code)),
    };
    let is_preflight = method == "OPTIONS" && status == 204;
    if !is_preflight {
        extra.extend(cors::response_headers(origin, &cors_allowed));
    }
    if status >= 400 || log_all {
        log_line(&request_id, &method, &path, status, &ip, code, cause.as_deref());
    }
    build_response(status, body, &request_id, extra, cookies)
}

/// `X-D1-Bookmark` on every answer that read or wrote D1 and, for browser sessions (the
/// request carried a session cookie, or the answer sets them), the bookmark cookie: the
/// client's next request reads at least what this one saw or wrote.
fn with_bookmark(result: &mut Result<Reply, ApiError>, bookmark: &str, cookie: Option<&str>, max_age: i64) {
    let browser = cookie.is_some_and(|c| c.contains(cookies::ACCESS_COOKIE) || c.contains(cookies::REFRESH_COOKIE));
    match result {
        Ok(reply) => {
            reply.headers.push(("X-D1-Bookmark", bookmark.to_owned()));
            // An answer that clears the session cookies (logout) clears this one too.
            let ending = reply.cookies.iter().any(|c| c.contains("Max-Age=0"));
            if ending {
                reply.cookies.push(cookies::bookmark_cookie("", 0));
            } else if browser || !reply.cookies.is_empty() {
                reply.cookies.push(cookies::bookmark_cookie(bookmark, max_age));
            }
        }
        Err(e) => e.headers.push(("X-D1-Bookmark", bookmark.to_owned())),
    }
}

async fn route_and_run(
    req: &web_sys::Request,
    ctx: &mut RequestCtx<'_>,
    origin: Option<&str>,
) -> Result<Reply, ApiError> {
    if ctx.method == "OPTIONS" {
        if !routes::is_known_path(&ctx.path) {
            return Err(ApiError::not_found_path(&ctx.path));
        }
        return match cors::preflight_headers(origin, &ctx.settings.cors_origins) {
            Some(h) => Ok(Reply::empty(204, h)),
            None => Err(ApiError::new(ErrorCode::Forbidden).with_message("Origin not allowed")),
        };
    }
    let route = routes::resolve(&ctx.method, &ctx.path).map_err(|e| match e {
        routes::NoRoute::NotFound => ApiError::not_found_path(&ctx.path),
        routes::NoRoute::MethodNotAllowed(allow) => ApiError::method_not_allowed(&allow),
    })?;
    if matches!(ctx.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") {
        ctx.body = read_json_body(req, ctx).await?;
    }
    dispatch(route, ctx).await
}

/// Reads a write's body: over 64 KiB → 413; non-empty without a JSON content type → 415;
/// malformed → 400 `invalid_json` (checked without building a tree: handlers parse the
/// bytes straight into their wire structs). An empty body is `None` (bodyless POSTs are fine).
async fn read_json_body(req: &web_sys::Request, ctx: &RequestCtx<'_>) -> Result<Option<Vec<u8>>, ApiError> {
    let declared = ctx.header("Content-Length").and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > headers::MAX_BODY_BYTES as u64) {
        return Err(ApiError::new(ErrorCode::PayloadTooLarge));
    }
    let bytes = match declared {
        // The runtime holds a body to its declared length, already checked above.
        Some(_) => read_all(req).await?,
        // No Content-Length (chunked): read at most the limit, never the whole upload.
        None => read_capped(req).await?,
    };
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    let ct = ctx.header("Content-Type").unwrap_or_default();
    if !headers::is_json_content_type(&ct) {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType));
    }
    json_from_bytes::<serde::de::IgnoredAny>(&bytes).ok_or_else(|| ApiError::new(ErrorCode::InvalidJson))?;
    Ok(Some(bytes))
}

fn read_error(e: wasm_bindgen::JsValue) -> ApiError {
    ApiError::new(ErrorCode::InvalidJson).with_cause(format!("body read: {e:?}"))
}

/// Reads a body whose length was declared (and checked) whole.
async fn read_all(req: &web_sys::Request) -> Result<Vec<u8>, ApiError> {
    let buffer =
        wasm_bindgen_futures::JsFuture::from(req.array_buffer().map_err(read_error)?).await.map_err(read_error)?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// Reads a body of unknown length, at most the limit: never the whole of a large upload.
async fn read_capped(req: &web_sys::Request) -> Result<Vec<u8>, ApiError> {
    use wasm_bindgen::JsCast;
    let Some(stream) = req.body() else {
        return Ok(Vec::new());
    };
    let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut body = Vec::new();
    loop {
        let chunk = wasm_bindgen_futures::JsFuture::from(reader.read()).await.map_err(read_error)?;
        let done = js_sys::Reflect::get(&chunk, &"done".into()).map_err(read_error)?;
        if done.as_bool().unwrap_or(true) {
            break;
        }
        let value: js_sys::Uint8Array =
            js_sys::Reflect::get(&chunk, &"value".into()).map_err(read_error)?.unchecked_into();
        if body.len() + value.length() as usize > headers::MAX_BODY_BYTES {
            let _ = reader.cancel();
            return Err(ApiError::new(ErrorCode::PayloadTooLarge));
        }
        body.extend_from_slice(&value.to_vec());
    }
    Ok(body)
}

fn build_response(
    status: u16,
    body: Option<String>,
    request_id: &str,
    extra: Vec<(&'static str, String)>,
    cookies: Vec<String>,
) -> web_sys::Response {
    let mut head = String::with_capacity(640);
    let mut line = |name: &str, value: &str| {
        // A value a header cannot carry is left out (as `Headers.set` would refuse it).
        if !value.contains(['\n', '\r', '\0']) {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push('\n');
        }
    };
    line("X-Request-Id", request_id);
    for (name, value) in headers::SECURITY_HEADERS {
        line(name, value);
    }
    if body.is_some() {
        line("Content-Type", "application/json; charset=utf-8");
    }
    for (name, value) in &extra {
        line(name, value);
    }
    for c in &cookies {
        line("Set-Cookie", c);
    }
    head.pop();
    platform::respond(status, body, &head)
}

/// The structured log line of a response (fields in the order earlier lines had).
#[derive(Serialize)]
struct LogLine<'a> {
    cause: Option<&'a str>,
    code: Option<&'static str>,
    ip: &'a str,
    level: &'static str,
    method: &'a str,
    path: &'a str,
    #[serde(rename = "requestId")]
    request_id: &'a str,
    status: u16,
}

fn log_line(rid: &str, method: &str, path: &str, status: u16, ip: &str, code: Option<ErrorCode>, cause: Option<&str>) {
    // Serialised straight from borrowed fields: no intermediate map per request.
    let level = if status >= 500 { "error" } else { "info" };
    let line = LogLine { cause, code: code.map(|c| c.as_str()), ip, level, method, path, request_id: rid, status };
    let text = serde_json::to_string(&line).unwrap_or_default();
    if status >= 500 {
        worker::console_error!("{}", text);
    } else {
        worker::console_log!("{}", text);
    }
}
