//! Handlers: load (D1) → decide (pure) → write (one D1 batch). One file per area.
//!
//! Auth-tier endpoints (register, login, password reset) and refresh do not read access
//! credentials: a stale cookie must never block logging in. Every other endpoint
//! authenticates first, and a bad credential is 401 even where anonymous access is fine.
//! Each request is counted once for rate limiting, in the tier of the principal it
//! authenticated as (see `edge::throttle`).

mod admin;
mod api_keys;
pub(crate) mod auth;
mod posts;
mod reset;

use super::auth as authn;
use super::http::{Rc, Reply};
use super::throttle::{self, Tier};
use crate::error::{ApiError, ErrorCode};
use crate::web::routes::Route;

fn has_refresh_cookie(rc: &Rc<'_>) -> bool {
    let cookie = rc.header("Cookie").unwrap_or_default();
    crate::web::cookies::get(&cookie, crate::web::cookies::REFRESH_COOKIE).is_some()
}

/// `GET /openapi.json`: the description, from the static assets (`openapi.json` is copied
/// into `build/assets` by the build; kept out of the wasm, whose size every cold start pays).
async fn openapi(rc: &Rc<'_>) -> Result<Reply, ApiError> {
    let body = super::platform::asset_text(rc.env, "ASSETS", "https://assets.local/openapi.json")
        .await
        .map_err(|e| ApiError::unavailable(format!("openapi.json from ASSETS: {e}")))?;
    let mut reply = Reply::raw_json(200, body);
    reply.headers.push(("Cache-Control", "public, max-age=300".to_owned()));
    Ok(reply)
}

pub async fn dispatch(route: Route, rc: &mut Rc<'_>) -> Result<Reply, ApiError> {
    match route {
        Route::Health => return Ok(Reply::json(200, &serde_json::json!({"status": "ok", "requestId": rc.request_id}))),
        Route::OpenApi => return openapi(rc).await,
        Route::Register | Route::Login | Route::ResetRequest | Route::ResetConfirm => {
            throttle::ip_tier(rc, Tier::Auth).await?;
            return match route {
                Route::Register => auth::register(rc).await,
                Route::Login => auth::login(rc).await,
                Route::ResetRequest => reset::request(rc).await,
                _ => reset::confirm(rc).await,
            };
        }
        Route::Refresh => {
            throttle::ip_tier(rc, Tier::Anonymous).await?;
            return auth::refresh(rc).await;
        }
        _ => {}
    }

    let caller = match authn::authenticate(rc).await {
        Ok(c) => c,
        // An expired or revoked access token must not keep a browser from logging out:
        // logout falls back to the refresh cookie (see `auth::logout`).
        Err(e) if route == Route::Logout && e.status() == 401 && has_refresh_cookie(rc) => None,
        // A failed credential did not authenticate anyone: it counts against the IP.
        Err(e) if e.status() < 500 => {
            throttle::ip_tier(rc, Tier::Anonymous).await?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    match caller.as_ref().and_then(|c| c.hit.clone()) {
        Some(hit) => throttle::apply(rc, &hit)?,
        None => throttle::ip_tier(rc, Tier::Anonymous).await?,
    }

    match route {
        Route::Logout => return auth::logout(rc, caller).await,
        Route::ListPosts => return posts::list(rc, caller).await,
        Route::GetPost(id) => return posts::get(rc, caller, &id).await,
        _ => {}
    }
    let caller = caller.ok_or_else(|| ApiError::new(ErrorCode::Unauthorized))?;
    match route {
        Route::Me => Ok(auth::me(&caller)),
        Route::ChangePassword => auth::change_password(rc, caller).await,
        Route::CreatePost => posts::create(rc, caller).await,
        Route::UpdatePost(id) => posts::update(rc, caller, &id).await,
        Route::DeletePost(id) => posts::delete(rc, caller, &id).await,
        Route::ListApiKeys => api_keys::list(rc, caller).await,
        Route::CreateApiKey => api_keys::create(rc, caller).await,
        Route::RevokeApiKey(id) => api_keys::revoke(rc, caller, &id).await,
        Route::AllApiKeys => api_keys::all(rc, caller).await,
        Route::AdminListUsers => admin::users(rc, caller).await,
        Route::AdminUpdateUser(id) => admin::update_user(rc, caller, &id).await,
        Route::AdminAuditLogs => admin::audit_logs(rc, caller).await,
        _ => Err(ApiError::not_found_path(&rc.path)),
    }
}
