//! Handlers: load (`edge::repo`) → decide (pure: `crate::decide`, `crate::authz`,
//! `crate::dto`) → write (`edge::repo`, one D1 batch). One file per area. A handler
//! returns its reply with its audit events (or an error carrying them); the dispatcher
//! has already throttled and authenticated the request as the route's policy says.

mod account;
mod admin;
mod api_keys;
mod meta;
mod password;
mod posts;
mod reset;
mod session;

use super::authn::Caller;
use super::ctx::RequestCtx;
use super::reply::Reply;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::web::routes::Route;

/// Runs the handler of `route`. `caller` is `Some` for every route whose policy requires
/// one (the dispatcher answered 401 otherwise).
pub async fn run(route: Route, ctx: &RequestCtx<'_>, caller: Option<Caller>) -> ApiResult<Reply> {
    let signed_in = |c: Option<Caller>| c.ok_or_else(|| ApiError::new(ErrorCode::Unauthorized));
    match route {
        Route::Health => meta::health(ctx),
        Route::OpenApi => meta::openapi(ctx).await,
        Route::Register => account::register(ctx).await,
        Route::Login => account::login(ctx).await,
        Route::Me => account::me(&signed_in(caller)?),
        Route::Refresh => session::refresh(ctx).await,
        Route::Logout => session::logout(ctx, caller).await,
        Route::ListSessions => session::list(ctx, &signed_in(caller)?).await,
        Route::RevokeSession(id) => session::revoke(ctx, &signed_in(caller)?, &id).await,
        Route::ChangePassword => password::change(ctx, signed_in(caller)?).await,
        Route::ResetRequest => reset::request(ctx).await,
        Route::ResetConfirm => reset::confirm(ctx).await,
        Route::ListPosts => posts::list(ctx, caller).await,
        Route::GetPost(id) => posts::get(ctx, caller, &id).await,
        Route::CreatePost => posts::create(ctx, signed_in(caller)?).await,
        Route::UpdatePost(id) => posts::update(ctx, signed_in(caller)?, &id).await,
        Route::DeletePost(id) => posts::delete(ctx, signed_in(caller)?, &id).await,
        Route::ListApiKeys => api_keys::list(ctx, signed_in(caller)?).await,
        Route::CreateApiKey => api_keys::create(ctx, signed_in(caller)?).await,
        Route::RevokeApiKey(id) => api_keys::revoke(ctx, signed_in(caller)?, &id).await,
        Route::AllApiKeys => api_keys::all(ctx, signed_in(caller)?).await,
        Route::AdminListUsers => admin::users(ctx, signed_in(caller)?).await,
        Route::AdminUpdateUser(id) => admin::update_user(ctx, signed_in(caller)?, &id).await,
        Route::AdminAuditLogs => admin::audit_logs(ctx, signed_in(caller)?).await,
    }
}
