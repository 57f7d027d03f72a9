//! The one error type of the API and the one place where HTTP statuses are decided.
//!
//! Handlers return `Result<_, ApiError>`. The client sees only the code, a fixed
//! human message (or a safe, specific one chosen by the handler) and the request id;
//! internal causes are logged by the edge, never sent.

use crate::audit::AuditEvent;
use serde::Serialize;

/// Machine-readable error codes of the contract, serialised in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    ValidationFailed,
    InvalidJson,
    InvalidRequest,
    UnsupportedMediaType,
    PayloadTooLarge,
    MethodNotAllowed,
    Unauthorized,
    InvalidCredentials,
    TokenExpired,
    /// A reset token that is unknown, used or expired (400, per the contract).
    InvalidToken,
    /// A credential token refused for what it is, not for a missing login (401; the same
    /// wire code as [`ErrorCode::InvalidToken`]): a session bound to another client.
    #[serde(rename = "invalid_token")]
    InvalidAuthToken,
    RefreshTokenReused,
    Forbidden,
    CsrfRejected,
    AccountDisabled,
    NotFound,
    Conflict,
    LimitExceeded,
    RateLimited,
    AccountLocked,
    ServiceUnavailable,
    InternalError,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 22] = [
        ErrorCode::ValidationFailed,
        ErrorCode::InvalidJson,
        ErrorCode::InvalidRequest,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::PayloadTooLarge,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Unauthorized,
        ErrorCode::InvalidCredentials,
        ErrorCode::TokenExpired,
        ErrorCode::InvalidToken,
        ErrorCode::InvalidAuthToken,
        ErrorCode::RefreshTokenReused,
        ErrorCode::Forbidden,
        ErrorCode::CsrfRejected,
        ErrorCode::AccountDisabled,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::LimitExceeded,
        ErrorCode::RateLimited,
        ErrorCode::AccountLocked,
        ErrorCode::ServiceUnavailable,
        ErrorCode::InternalError,
    ];

    /// The HTTP status of each code: the single status map of the service.
    pub const fn status(self) -> u16 {
        match self {
            ErrorCode::ValidationFailed | ErrorCode::InvalidJson => 400,
            ErrorCode::InvalidToken | ErrorCode::InvalidRequest => 400,
            ErrorCode::Unauthorized
            | ErrorCode::InvalidCredentials
            | ErrorCode::TokenExpired
            | ErrorCode::InvalidAuthToken
            | ErrorCode::RefreshTokenReused => 401,
            ErrorCode::Forbidden | ErrorCode::CsrfRejected | ErrorCode::AccountDisabled => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict | ErrorCode::LimitExceeded => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::RateLimited | ErrorCode::AccountLocked => 429,
            ErrorCode::InternalError => 500,
            ErrorCode::ServiceUnavailable => 503,
        }
    }

    /// The snake_case wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::InvalidToken | ErrorCode::InvalidAuthToken => "invalid_token",
            ErrorCode::RefreshTokenReused => "refresh_token_reused",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::CsrfRejected => "csrf_rejected",
            ErrorCode::AccountDisabled => "account_disabled",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::LimitExceeded => "limit_exceeded",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::AccountLocked => "account_locked",
            ErrorCode::ServiceUnavailable => "service_unavailable",
            ErrorCode::InternalError => "internal_error",
        }
    }

    /// A safe default message for the code.
    pub const fn default_message(self) -> &'static str {
        match self {
            ErrorCode::ValidationFailed => "Validation failed",
            ErrorCode::InvalidJson => "Request body is not valid JSON",
            ErrorCode::InvalidRequest => "Malformed request",
            ErrorCode::UnsupportedMediaType => "Content-Type must be application/json",
            ErrorCode::PayloadTooLarge => "Request body exceeds 64 KiB",
            ErrorCode::MethodNotAllowed => "Method not allowed",
            ErrorCode::Unauthorized => "Authentication required",
            ErrorCode::InvalidCredentials => "Invalid credentials",
            ErrorCode::TokenExpired => "Token expired",
            ErrorCode::InvalidToken | ErrorCode::InvalidAuthToken => "Invalid or expired token",
            ErrorCode::RefreshTokenReused => "Refresh token reuse detected; session revoked",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::CsrfRejected => "Cross-site request rejected",
            ErrorCode::AccountDisabled => "Account is disabled",
            ErrorCode::NotFound => "Not found",
            ErrorCode::Conflict => "Conflict",
            ErrorCode::LimitExceeded => "Limit exceeded",
            ErrorCode::RateLimited => "Too many requests",
            ErrorCode::AccountLocked => "Account temporarily locked",
            ErrorCode::ServiceUnavailable => "Service temporarily unavailable",
            ErrorCode::InternalError => "Internal server error",
        }
    }
}

/// One invalid field of a request, listed in `details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

/// An error answer: code, message, optional details and extra response headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Vec<FieldError>,
    /// Extra response headers (`Allow`, `Retry-After`, ...).
    pub headers: Vec<(&'static str, String)>,
    /// Extra top-level body fields (e.g. `path` on 404).
    pub extra: Vec<(&'static str, String)>,
    /// Internal cause for the log line; never sent to the client.
    pub cause: Option<String>,
    /// Audit events of the failed request (written after the response, like a success's).
    pub audit: Vec<AuditEvent>,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        ApiError {
            code,
            message: code.default_message().to_owned(),
            details: Vec::new(),
            headers: Vec::new(),
            extra: Vec::new(),
            cause: None,
            audit: Vec::new(),
        }
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Adds an audit event to write for this failure.
    #[must_use]
    pub fn audited(mut self, event: AuditEvent) -> Self {
        self.audit.push(event);
        self
    }

    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    pub fn validation(details: Vec<FieldError>) -> Self {
        let mut e = ApiError::new(ErrorCode::ValidationFailed);
        e.details = details;
        e
    }

    pub fn not_found_path(path: &str) -> Self {
        let mut e = ApiError::new(ErrorCode::NotFound);
        e.extra.push(("path", path.to_owned()));
        e
    }

    pub fn method_not_allowed(allow: &str) -> Self {
        ApiError::new(ErrorCode::MethodNotAllowed).with_header("Allow", allow)
    }

    pub fn too_many(code: ErrorCode, retry_after_secs: u64) -> Self {
        ApiError::new(code).with_header("Retry-After", retry_after_secs.max(1).to_string())
    }

    pub fn internal(cause: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InternalError).with_cause(cause)
    }

    pub fn unavailable(cause: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::ServiceUnavailable).with_cause(cause)
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The JSON body: `{error, code, requestId, details?, ...extra}`.
    pub fn body(&self, request_id: &str) -> String {
        let mut map = serde_json::Map::new();
        map.insert("error".into(), self.message.clone().into());
        map.insert("code".into(), self.code.as_str().into());
        map.insert("requestId".into(), request_id.into());
        for (k, v) in &self.extra {
            map.insert((*k).to_owned(), v.clone().into());
        }
        if !self.details.is_empty() {
            let details =
                self.details.iter().map(|d| serde_json::json!({"field": d.field, "message": d.message})).collect();
            map.insert("details".into(), serde_json::Value::Array(details));
        }
        serde_json::Value::Object(map).to_string()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_to_a_client_or_server_status() {
        use ErrorCode::*;
        let all = ErrorCode::ALL;
        for c in all {
            assert!((400..600).contains(&c.status()), "{c:?}");
            let wire = serde_json::to_value(c).unwrap();
            assert_eq!(wire, c.as_str(), "serde name and as_str agree");
        }
        assert_eq!(InvalidToken.status(), 400, "reset token errors are 400 per contract");
        assert_eq!((InvalidAuthToken.status(), InvalidAuthToken.as_str()), (401, "invalid_token"));
        assert_eq!(ServiceUnavailable.status(), 503);
    }

    #[test]
    fn body_carries_code_request_id_details_and_extra_fields() {
        let e = ApiError::validation(vec![FieldError::new("email", "Invalid email")]);
        let v: serde_json::Value = serde_json::from_str(&e.body("rid")).unwrap();
        assert_eq!(v["code"], "validation_failed");
        assert_eq!(v["requestId"], "rid");
        assert_eq!(v["details"][0]["field"], "email");
        let nf: serde_json::Value = serde_json::from_str(&ApiError::not_found_path("/x").body("r")).unwrap();
        assert_eq!(nf["path"], "/x");
        assert_eq!(nf["error"], "Not found");
        assert!(nf.get("details").is_none());
    }

    #[test]
    fn internal_cause_never_reaches_the_body() {
        let e = ApiError::unavailable("D1_ERROR: no such table: users");
        assert!(!e.body("r").contains("D1_ERROR"));
        assert!(!e.body("r").contains("users"));
    }
}
