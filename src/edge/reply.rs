//! A successful answer as a value: status, JSON body, headers, cookies and the audit
//! events of the request. The pipeline adds the common headers (request id, security,
//! CORS, rate-limit) and writes the events after the response.

use crate::audit::AuditEvent;
use crate::error::{ApiError, ApiResult};
use serde::Serialize;

pub struct Reply {
    pub status: u16,
    pub body: Option<String>,
    pub headers: Vec<(&'static str, String)>,
    pub cookies: Vec<String>,
    pub audit: Vec<AuditEvent>,
}

#[derive(Serialize)]
struct Message<'a> {
    message: &'a str,
}

impl Reply {
    /// `{"message": ...}`.
    pub fn message(status: u16, message: &str) -> ApiResult<Reply> {
        Reply::json(status, &Message { message })
    }

    /// A JSON answer. A value that cannot be serialised is a 500, never an empty body.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> ApiResult<Reply> {
        let body = serde_json::to_string(value).map_err(|e| ApiError::internal(format!("response body: {e}")))?;
        Ok(Reply::raw_json(status, body))
    }

    /// A body that is already JSON text.
    pub fn raw_json(status: u16, body: String) -> Reply {
        Reply { status, body: Some(body), headers: Vec::new(), cookies: Vec::new(), audit: Vec::new() }
    }

    /// No body (CORS preflight).
    pub fn empty(status: u16, headers: Vec<(&'static str, String)>) -> Reply {
        Reply { status, body: None, headers, cookies: Vec::new(), audit: Vec::new() }
    }

    #[must_use]
    pub fn with_cookie(mut self, cookie: String) -> Reply {
        self.cookies.push(cookie);
        self
    }

    #[must_use]
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    /// Adds audit events to write after the response.
    #[must_use]
    pub fn audited(mut self, events: impl IntoIterator<Item = AuditEvent>) -> Reply {
        self.audit.extend(events);
        self
    }
}
