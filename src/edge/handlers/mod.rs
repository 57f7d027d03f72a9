//! Handlers: load (D1) → decide (pure) → write (one D1 batch). One file per area.
//!
//! Auth-tier endpoints (register, login, refresh, password reset) do not read access
//! credentials: a stale cookie must never block logging in. Every other endpoint
//! authenticates first, and a bad credential is 401 even where anonymous access is fine.

mod admin;
mod api_keys;
mod auth;
mod posts;

use super::auth as authn;
use super::http::{Rc, Reply};
use crate::error::ApiError;
use crate::web::routes::Route;

pub async fn dispatch(route: Route, rc: &mut Rc<'_>) -> Result<Reply, ApiError> {
    match route {
        Route::Health => Ok(Reply::json(200, &serde_json::json!({"status": "ok", "requestId": rc.request_id}))),
        Route::Register => auth::register(rc).await,
        Route::Login => auth::login(rc).await,
        Route::Refresh => auth::refresh(rc).await,
        Route::ResetRequest | Route::ResetConfirm => Err(ApiError::not_found_path(&rc.path)),
        Route::Logout => {
            let caller = authn::authenticate(rc).await?;
            auth::logout(rc, caller).await
        }
        Route::ListPosts => {
            let caller = authn::authenticate(rc).await?;
            posts::list(rc, caller).await
        }
        Route::GetPost(id) => {
            let caller = authn::authenticate(rc).await?;
            posts::get(rc, caller, &id).await
        }
        route => {
            let caller = authn::require(rc).await?;
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
    }
}
