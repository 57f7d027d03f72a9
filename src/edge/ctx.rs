//! The request context: what a handler may read about the current request, and the one
//! way to run work after the response. Read-only for handlers: what a handler produces
//! (the reply, its audit events, cookies) travels back in its return value. A leaf
//! module: it knows storage and settings, nothing of routing or handlers.

use super::repo::Db;
use crate::audit::AuditEvent;
use crate::config::Settings;
use crate::web::headers::RequestHead;
use std::cell::RefCell;
use std::rc::Rc;
use worker::{Context, Env};

pub struct RequestCtx<'a> {
    pub env: &'a Env,
    worker_ctx: &'a Context,
    pub db: Db,
    pub settings: Rc<Settings>,
    /// The `X-Request-Id` of the answer, repeated in error bodies and audit rows.
    pub request_id: String,
    /// `CF-Connecting-IP` (see `web::client_ip`).
    pub ip: String,
    pub user_agent: String,
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    head: Rc<RequestHead>,
    /// A write's body, already checked to be JSON (size, content type and syntax);
    /// `None` when empty.
    pub body: Option<Vec<u8>>,
    /// Unix seconds, read once per request.
    pub now: i64,
    /// Audit events raised outside a handler's reply (authentication), written with its.
    audit: RefCell<Vec<AuditEvent>>,
}

/// The parts of a request the pipeline has already read.
pub struct RequestParts {
    pub request_id: String,
    pub ip: String,
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub head: Rc<RequestHead>,
    pub now: i64,
}

impl<'a> RequestCtx<'a> {
    pub fn new(env: &'a Env, worker_ctx: &'a Context, db: Db, settings: Rc<Settings>, p: RequestParts) -> Self {
        let user_agent = p.head.get("User-Agent").unwrap_or_default().to_owned();
        RequestCtx {
            env,
            worker_ctx,
            db,
            settings,
            request_id: p.request_id,
            ip: p.ip,
            user_agent,
            method: p.method,
            path: p.path,
            query: p.query,
            head: p.head,
            body: None,
            now: p.now,
            audit: RefCell::new(Vec::new()),
        }
    }

    /// A request header (one of `web::headers::READ_HEADERS`).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.get(name).map(str::to_owned)
    }

    /// A D1 session on the primary, for reads that must see the latest write whatever the
    /// route (API-key authentication: a revoked key stops at once).
    pub fn primary_db(&self) -> Db {
        self.db.on_primary()
    }

    /// Records an audit event of this request (written after the response, with the
    /// handler's).
    pub fn audit(&self, event: AuditEvent) {
        self.audit.borrow_mut().push(event);
    }

    pub fn take_audit(&self) -> Vec<AuditEvent> {
        std::mem::take(&mut self.audit.borrow_mut())
    }

    pub fn body(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// Runs a future after the response is sent (`ctx.wait_until`); its failure never
    /// fails or delays the request.
    pub fn spawn<F: std::future::Future<Output = ()> + 'static>(&self, f: F) {
        self.worker_ctx.wait_until(f);
    }
}
