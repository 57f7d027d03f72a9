//! The outbox of messages for a mailer (password-reset links). Rows are written in the
//! reset-request batch (see `resets::request`); a `RESET_QUEUE` delivery marks them.

use super::{Arg, Db};
use crate::error::ApiResult;

/// The outbox insert of a reset message, for the account `?1` (email) names if active;
/// binds ?2 id, ?3 subject, ?4 body, ?5 now. `active` selects the account's id.
pub(super) fn insert_reset_sql(active: &str) -> String {
    format!(
        "INSERT INTO outbox (id, kind, recipient, subject, body, created_at) \
         SELECT ?2, 'password_reset', ?1, ?3, ?4, ?5 FROM ({active})"
    )
}

/// Marks a message handed to the queue.
pub async fn mark_delivered(db: &Db, id: &str, now: i64) -> ApiResult<()> {
    let sql = "UPDATE outbox SET delivered_at = ?1, attempts = attempts + 1 WHERE id = ?2";
    db.run(sql, &[Arg::Int(now), Arg::Text(id)]).await.map(|_| ())
}
