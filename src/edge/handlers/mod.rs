//! Handlers: load (repo) → decide (pure) → write (one D1 batch). One file per area.

use super::http::{Rc, Reply};
use crate::error::ApiError;
use crate::web::routes::Route;

pub async fn dispatch(route: Route, rc: &mut Rc<'_>) -> Result<Reply, ApiError> {
    match route {
        Route::Health => Ok(Reply::json(200, &serde_json::json!({"status": "ok", "requestId": rc.request_id}))),
        _ => Err(ApiError::not_found_path(&rc.path)),
    }
}
