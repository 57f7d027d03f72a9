//! Writes audit events after the response (`ctx.wait_until`): one D1 batch per request.
//! A failed write is logged and dropped; it never fails or delays the request.

use super::db::{Arg, Db};
use super::platform;
use crate::audit::AuditEvent;

pub struct Sink {
    pub db: Db,
    pub request_id: String,
    pub ip: String,
    pub user_agent: String,
    pub now: i64,
}

const INSERT: &str = "INSERT INTO audit_logs (id, user_id, action, resource, resource_id, ip_address, user_agent, request_id, metadata, created_at) \
                      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// User agents are attacker-chosen: keep the stored copy bounded.
const MAX_UA: usize = 512;

impl Sink {
    pub async fn write(self, events: Vec<AuditEvent>) {
        let ua: String = self.user_agent.chars().take(MAX_UA).collect();
        let mut stmts = Vec::with_capacity(events.len());
        for ev in &events {
            let id = platform::uuid();
            let meta = ev.metadata_json();
            let args = [
                Arg::Text(&id),
                Arg::from(ev.user_id.as_deref()),
                Arg::Text(ev.action.as_str()),
                Arg::Text(ev.resource),
                Arg::from(ev.resource_id.as_deref()),
                Arg::Text(&self.ip),
                Arg::Text(&ua),
                Arg::Text(&self.request_id),
                Arg::Text(&meta),
                Arg::Int(self.now),
            ];
            match self.db.stmt(INSERT, &args) {
                Ok(s) => stmts.push(s),
                Err(e) => worker::console_error!("{}", audit_failure(&self.request_id, e.cause.as_deref())),
            }
        }
        if let Err(e) = self.db.batch(stmts).await {
            worker::console_error!("{}", audit_failure(&self.request_id, e.cause.as_deref()));
        }
    }
}

fn audit_failure(rid: &str, cause: Option<&str>) -> String {
    serde_json::json!({"level": "error", "requestId": rid, "event": "audit_write_failed", "cause": cause}).to_string()
}
