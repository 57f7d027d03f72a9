//! The audit log (`audit_logs`): events written after the response (one batch per
//! request, see `edge::pipeline`) and the admin query.

use super::{from_row, page, Arg, Db};
use crate::audit::AuditEvent;
use crate::error::ApiResult;

/// What the edge adds to every event of a request.
pub struct RequestMeta {
    pub request_id: String,
    pub ip: String,
    pub user_agent: String,
    pub now: i64,
}

/// User agents are attacker-chosen: keep the stored copy bounded.
const MAX_UA: usize = 512;

const INSERT: &str = "INSERT INTO audit_logs (id, user_id, action, resource, resource_id, ip_address, user_agent, \
     request_id, metadata, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// Writes a request's events in one batch; `new_id` makes each row's id.
pub async fn write(db: &Db, events: &[AuditEvent], m: &RequestMeta, new_id: impl Fn() -> String) -> ApiResult<()> {
    let ua: String = m.user_agent.chars().take(MAX_UA).collect();
    let mut stmts = Vec::with_capacity(events.len());
    for ev in events {
        let (id, meta) = (new_id(), ev.metadata_json());
        stmts.push(db.stmt(
            INSERT,
            &[
                Arg::Text(&id),
                Arg::from(ev.user_id.as_deref()),
                Arg::Text(ev.action.as_str()),
                Arg::Text(ev.resource),
                Arg::from(ev.resource_id.as_deref()),
                Arg::Text(&m.ip),
                Arg::Text(&ua),
                Arg::Text(&m.request_id),
                Arg::Text(&meta),
                Arg::Int(m.now),
            ],
        )?);
    }
    db.batch(stmts).await.map(|_| ())
}

/// A stored entry.
pub struct Entry {
    pub id: String,
    pub user_id: Option<String>,
    pub action: String,
    pub resource: String,
    pub resource_id: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: String,
    /// JSON object text (redacted when written).
    pub metadata: String,
    pub created_at: i64,
}
from_row!(Entry {
    id,
    user_id,
    action,
    resource,
    resource_id,
    ip_address,
    user_agent,
    request_id,
    metadata,
    created_at
});

/// The admin query's filters (all optional; times are unix seconds, inclusive).
pub struct Filter<'a> {
    pub user_id: Option<&'a str>,
    pub action: Option<&'a str>,
    pub resource: Option<&'a str>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// One page of matching entries, newest first, and the total.
pub async fn page_of(db: &Db, f: &Filter<'_>, page_no: i64, limit: i64) -> ApiResult<(i64, Vec<Entry>)> {
    let filter = "(?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR action = ?2) AND (?3 IS NULL OR resource = ?3) \
                  AND (?4 IS NULL OR created_at >= ?4) AND (?5 IS NULL OR created_at <= ?5)";
    let args = [Arg::from(f.user_id), Arg::from(f.action), Arg::from(f.resource), Arg::from(f.from), Arg::from(f.to)];
    let rows_sql = format!(
        "SELECT id, user_id, action, resource, resource_id, ip_address, user_agent, request_id, metadata, created_at \
         FROM audit_logs WHERE {filter} ORDER BY created_at DESC, seq DESC LIMIT ?6 OFFSET ?7"
    );
    let rows_args = [args[0], args[1], args[2], args[3], args[4], Arg::Int(limit), Arg::Int((page_no - 1) * limit)];
    page(db, &format!("SELECT count(*) AS n FROM audit_logs WHERE {filter}"), &args, &rows_sql, &rows_args).await
}
