//! `GET /health` and `GET /openapi.json`.

use crate::edge::ctx::RequestCtx;
use crate::edge::platform;
use crate::edge::reply::Reply;
use crate::error::{ApiError, ApiResult};
use serde::Serialize;

#[derive(Serialize)]
struct Health<'a> {
    status: &'static str,
    #[serde(rename = "requestId")]
    request_id: &'a str,
}

pub fn health(ctx: &RequestCtx<'_>) -> ApiResult<Reply> {
    Reply::json(200, &Health { status: "ok", request_id: &ctx.request_id })
}

/// The description, from the static assets (`openapi.json` is copied into `build/assets`
/// by the build; kept out of the wasm, whose size every cold start pays).
pub async fn openapi(ctx: &RequestCtx<'_>) -> ApiResult<Reply> {
    let body = platform::asset_text(ctx.env, "ASSETS", "https://assets.local/openapi.json")
        .await
        .map_err(|e| ApiError::unavailable(format!("openapi.json from ASSETS: {e}")))?;
    Ok(Reply::raw_json(200, body).with_header("Cache-Control", "public, max-age=300"))
}
