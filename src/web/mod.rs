//! HTTP policy as plain data: routes, security headers, CORS, CSRF, client IP, cookies, query strings.
pub mod client_ip;
pub mod cookies;
pub mod cors;
pub mod csrf;
pub mod headers;
pub mod query;
pub mod routes;
