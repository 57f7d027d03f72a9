//! Handlers: load (D1) → decide (pure) → write (one D1 batch). One file per area.
//!
//! Auth-tier endpoints (register, login, refresh, password reset) do not read access
//! credentials: a stale cookie must never block logging in. Every other endpoint
//! authenticates first, and a bad credential is 401 even where anonymous access is fine.

mod auth;

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
        Route::Logout => {
            let caller = authn::authenticate(rc).await?;
            auth::logout(rc, caller).await
        }
        Route::Me => {
            let caller = authn::require(rc).await?;
            Ok(auth::me(&caller))
        }
        Route::ChangePassword => {
            let caller = authn::require(rc).await?;
            auth::change_password(rc, caller).await
        }
        _ => Err(ApiError::not_found_path(&rc.path)),
    }
}
