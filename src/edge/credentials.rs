//! Minting and checking credentials at the edge: password hashes through WebCrypto
//! PBKDF2, access tokens, refresh tokens, and the answer that hands a token pair out
//! (body and cookies). Shared by the login, refresh, password and reset handlers.

use super::ctx::RequestCtx;
use super::platform;
use super::reply::Reply;
use crate::crypto::kdf::{self, StoredHash};
use crate::domain::ids::{SessionId, UserId};
use crate::domain::role::Role;
use crate::error::{ApiError, ApiResult};
use crate::token::jwt::{self, AccessClaims};
use crate::token::refresh;
use crate::web::cookies;
use serde::Serialize;

/// A new PBKDF2 hash string for `password` with the configured iterations.
pub async fn hash_password(ctx: &RequestCtx<'_>, password: &str) -> ApiResult<String> {
    let iterations = ctx.settings.pbkdf2_iterations;
    let salt = platform::random::<{ kdf::SALT_LEN }>().map_err(ApiError::internal)?;
    let hash = platform::pbkdf2_sha256(password.as_bytes(), &salt, iterations).await.map_err(ApiError::internal)?;
    Ok(kdf::format_hash(iterations, &salt, &hash))
}

/// Verifies `password` against a stored hash string with the same KDF work whatever the
/// stored value: an absent or unreadable hash is checked against a dummy hash of the
/// configured cost. `(readable, matches)`.
pub async fn verify_password(ctx: &RequestCtx<'_>, password: &str, stored: Option<&str>) -> ApiResult<(bool, bool)> {
    let parsed = stored.and_then(StoredHash::parse);
    let target = parsed.clone().unwrap_or_else(|| kdf::dummy_hash(ctx.settings.pbkdf2_iterations));
    let derived = platform::pbkdf2_sha256(password.as_bytes(), &target.salt, target.iterations)
        .await
        .map_err(ApiError::internal)?;
    Ok((parsed.is_some(), target.verify(&derived)))
}

/// Whether a stored hash should be replaced (legacy format or an old cost).
pub fn needs_rehash(ctx: &RequestCtx<'_>, stored: &str) -> bool {
    StoredHash::parse(stored).is_some_and(|s| s.needs_rehash(ctx.settings.pbkdf2_iterations))
}

/// A fresh refresh token and its stored hash.
pub fn new_refresh_token() -> ApiResult<(String, String)> {
    let bytes = platform::random::<32>().map_err(ApiError::internal)?;
    let token = refresh::format_token(&bytes);
    let hash = refresh::hash_token(&token);
    Ok((token, hash))
}

/// An access token for a session.
pub fn sign_access(ctx: &RequestCtx<'_>, user: &UserId, email: &str, role: Role, sid: &SessionId) -> String {
    let s = &ctx.settings;
    let claims = AccessClaims {
        sub: user.as_str().to_owned(),
        email: email.to_owned(),
        role: role.as_str().to_owned(),
        typ: "access".to_owned(),
        sid: sid.as_str().to_owned(),
        iat: ctx.now,
        exp: ctx.now + s.access_ttl,
        iss: s.jwt_issuer.clone(),
        aud: s.jwt_audience.clone(),
        nbf: None,
    };
    jwt::sign(&claims, &s.jwt_key)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenPair<'a, U: Serialize> {
    access_token: &'a str,
    refresh_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<U>,
}

/// The 200 that hands out a token pair, in the body and as the two cookies
/// (`refresh_ttl`: the refresh cookie's Max-Age, the rest of the session's life).
pub fn token_reply<U: Serialize>(
    ctx: &RequestCtx<'_>,
    access: &str,
    refresh_token: &str,
    refresh_ttl: i64,
    user: Option<U>,
) -> ApiResult<Reply> {
    let ttl = ctx.settings.access_ttl;
    let body = TokenPair { access_token: access, refresh_token, token_type: "Bearer", expires_in: ttl, user };
    Ok(Reply::json(200, &body)?
        .with_cookie(cookies::access_cookie(access, ttl))
        .with_cookie(cookies::refresh_cookie(refresh_token, refresh_ttl)))
}

/// Clears both credential cookies on an answer (logout, password change).
/// The request's session-binding fingerprint under the current settings (`None`: nothing
/// is bound).
pub fn client_binding(ctx: &RequestCtx<'_>) -> Option<String> {
    let s = &ctx.settings;
    crate::binding::fingerprint(s.binding_key.expose(), s.binding, &ctx.user_agent, &ctx.ip)
}

pub fn clear_cookies(reply: Reply) -> Reply {
    let [a, r] = cookies::clear_cookies();
    reply.with_cookie(a).with_cookie(r)
}
