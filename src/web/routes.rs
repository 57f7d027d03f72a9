//! The route table: `(method, path)` → [`Route`], or the 404 / 405 (+ `Allow`) decision.
//!
//! Our own small table because `worker::Router` answers 404/405 in plain text without
//! `Allow`. Paths are matched segment by segment; one trailing slash is ignored.

/// Every endpoint of the service. `Id` carries the `:id` path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    Register,
    Login,
    Refresh,
    Logout,
    Me,
    ChangePassword,
    ResetRequest,
    ResetConfirm,
    ListPosts,
    CreatePost,
    GetPost(String),
    UpdatePost(String),
    DeletePost(String),
    ListApiKeys,
    CreateApiKey,
    RevokeApiKey(String),
    AllApiKeys,
    AdminListUsers,
    AdminUpdateUser(String),
    AdminAuditLogs,
}

/// Why no route matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRoute {
    NotFound,
    /// The path exists; the value is the `Allow` header.
    MethodNotAllowed(String),
}

/// A path's shape: literal segments and `:id` placeholders.
#[derive(Clone, Copy)]
enum Shape {
    Health,
    Auth(&'static str),
    ResetRequest,
    ResetConfirm,
    Posts,
    Post,
    ApiKeys,
    ApiKey,
    ApiKeysAll,
    AdminUsers,
    AdminUser,
    AdminAudit,
}

fn shape(path: &str) -> Option<(Shape, Option<&str>)> {
    let trimmed = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    let mut segs = trimmed.strip_prefix('/')?.split('/');
    let s: [Option<&str>; 5] = [segs.next(), segs.next(), segs.next(), segs.next(), segs.next()];
    if segs.next().is_some() {
        return None;
    }
    fn id(v: Option<&str>) -> Option<&str> {
        v.filter(|x| !x.is_empty())
    }
    Some(match s {
        [Some("health"), None, ..] => (Shape::Health, None),
        [Some("api"), Some("auth"), Some("password-reset"), Some("request"), None] => (Shape::ResetRequest, None),
        [Some("api"), Some("auth"), Some("password-reset"), Some("confirm"), None] => (Shape::ResetConfirm, None),
        [Some("api"), Some("auth"), Some(name), None, None] => {
            let name = ["register", "login", "refresh", "logout", "me", "password"].into_iter().find(|n| *n == name)?;
            (Shape::Auth(name), None)
        }
        [Some("api"), Some("posts"), None, ..] => (Shape::Posts, None),
        [Some("api"), Some("posts"), Some(i), None, None] => (Shape::Post, id(Some(i))),
        [Some("api"), Some("api-keys"), None, ..] => (Shape::ApiKeys, None),
        [Some("api"), Some("api-keys"), Some("admin"), Some("all"), None] => (Shape::ApiKeysAll, None),
        [Some("api"), Some("api-keys"), Some(i), None, None] => (Shape::ApiKey, id(Some(i))),
        [Some("api"), Some("admin"), Some("users"), None, None] => (Shape::AdminUsers, None),
        [Some("api"), Some("admin"), Some("users"), Some(i), None] => (Shape::AdminUser, id(Some(i))),
        [Some("api"), Some("admin"), Some("audit-logs"), None, None] => (Shape::AdminAudit, None),
        _ => return None,
    })
    .filter(|(sh, i)| !matches!(sh, Shape::Post | Shape::ApiKey | Shape::AdminUser) || i.is_some())
}

/// Methods each shape answers (OPTIONS is handled by CORS before routing).
fn allowed(shape: Shape) -> &'static str {
    match shape {
        Shape::Health => "GET",
        Shape::Auth("me") => "GET",
        Shape::Auth("password") => "PUT",
        Shape::Auth(_) | Shape::ResetRequest | Shape::ResetConfirm => "POST",
        Shape::Posts | Shape::ApiKeys => "GET, POST",
        Shape::Post => "GET, PUT, DELETE",
        Shape::ApiKey => "DELETE",
        Shape::ApiKeysAll | Shape::AdminUsers | Shape::AdminAudit => "GET",
        Shape::AdminUser => "PATCH",
    }
}

/// True when the path names an endpoint (whatever the method): used for preflight.
pub fn is_known_path(path: &str) -> bool {
    shape(path).is_some()
}

/// Resolves a request to a route. `HEAD` is not served.
pub fn resolve(method: &str, path: &str) -> Result<Route, NoRoute> {
    let (sh, id) = shape(path).ok_or(NoRoute::NotFound)?;
    let id = || id.unwrap_or_default().to_owned();
    let route = match (sh, method) {
        (Shape::Health, "GET") => Route::Health,
        (Shape::Auth("register"), "POST") => Route::Register,
        (Shape::Auth("login"), "POST") => Route::Login,
        (Shape::Auth("refresh"), "POST") => Route::Refresh,
        (Shape::Auth("logout"), "POST") => Route::Logout,
        (Shape::Auth("me"), "GET") => Route::Me,
        (Shape::Auth("password"), "PUT") => Route::ChangePassword,
        (Shape::ResetRequest, "POST") => Route::ResetRequest,
        (Shape::ResetConfirm, "POST") => Route::ResetConfirm,
        (Shape::Posts, "GET") => Route::ListPosts,
        (Shape::Posts, "POST") => Route::CreatePost,
        (Shape::Post, "GET") => Route::GetPost(id()),
        (Shape::Post, "PUT") => Route::UpdatePost(id()),
        (Shape::Post, "DELETE") => Route::DeletePost(id()),
        (Shape::ApiKeys, "GET") => Route::ListApiKeys,
        (Shape::ApiKeys, "POST") => Route::CreateApiKey,
        (Shape::ApiKey, "DELETE") => Route::RevokeApiKey(id()),
        (Shape::ApiKeysAll, "GET") => Route::AllApiKeys,
        (Shape::AdminUsers, "GET") => Route::AdminListUsers,
        (Shape::AdminUser, "PATCH") => Route::AdminUpdateUser(id()),
        (Shape::AdminAudit, "GET") => Route::AdminAuditLogs,
        (sh, _) => return Err(NoRoute::MethodNotAllowed(format!("{}, OPTIONS", allowed(sh)))),
    };
    Ok(route)
}

impl Route {
    /// Auth-tier endpoints (register, login, password reset): the strict per-IP bucket.
    pub fn is_auth_tier(&self) -> bool {
        matches!(self, Route::Register | Route::Login | Route::ResetRequest | Route::ResetConfirm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_every_endpoint() {
        let table = [
            ("GET", "/health", Route::Health),
            ("POST", "/api/auth/register", Route::Register),
            ("POST", "/api/auth/login", Route::Login),
            ("POST", "/api/auth/refresh", Route::Refresh),
            ("POST", "/api/auth/logout", Route::Logout),
            ("GET", "/api/auth/me", Route::Me),
            ("PUT", "/api/auth/password", Route::ChangePassword),
            ("POST", "/api/auth/password-reset/request", Route::ResetRequest),
            ("POST", "/api/auth/password-reset/confirm", Route::ResetConfirm),
            ("GET", "/api/posts", Route::ListPosts),
            ("GET", "/api/posts/", Route::ListPosts),
            ("POST", "/api/posts", Route::CreatePost),
            ("GET", "/api/posts/abc", Route::GetPost("abc".into())),
            ("PUT", "/api/posts/abc", Route::UpdatePost("abc".into())),
            ("DELETE", "/api/posts/abc/", Route::DeletePost("abc".into())),
            ("GET", "/api/api-keys", Route::ListApiKeys),
            ("POST", "/api/api-keys", Route::CreateApiKey),
            ("DELETE", "/api/api-keys/k1", Route::RevokeApiKey("k1".into())),
            ("GET", "/api/api-keys/admin/all", Route::AllApiKeys),
            ("GET", "/api/admin/users", Route::AdminListUsers),
            ("PATCH", "/api/admin/users/u1", Route::AdminUpdateUser("u1".into())),
            ("GET", "/api/admin/audit-logs", Route::AdminAuditLogs),
        ];
        for (m, p, r) in table {
            assert_eq!(resolve(m, p), Ok(r), "{m} {p}");
        }
    }

    #[test]
    fn unknown_paths_are_404() {
        for p in [
            "/",
            "",
            "/x",
            "/api",
            "/api/auth",
            "/api/auth/nope",
            "/api/posts/a/b",
            "/api/posts//",
            "//health",
            "/health/x",
            "/api/admin",
            "/a/b/c/d/e/f",
        ] {
            assert_eq!(resolve("GET", p), Err(NoRoute::NotFound), "{p}");
        }
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        assert_eq!(resolve("DELETE", "/health"), Err(NoRoute::MethodNotAllowed("GET, OPTIONS".into())));
        assert_eq!(resolve("GET", "/api/auth/login"), Err(NoRoute::MethodNotAllowed("POST, OPTIONS".into())));
        assert_eq!(
            resolve("PATCH", "/api/posts/1"),
            Err(NoRoute::MethodNotAllowed("GET, PUT, DELETE, OPTIONS".into()))
        );
        assert_eq!(resolve("POST", "/api/auth/me"), Err(NoRoute::MethodNotAllowed("GET, OPTIONS".into())));
        assert_eq!(resolve("HEAD", "/health"), Err(NoRoute::MethodNotAllowed("GET, OPTIONS".into())));
    }

    #[test]
    fn auth_tier_is_register_login_and_reset() {
        assert!(Route::Login.is_auth_tier());
        assert!(Route::ResetConfirm.is_auth_tier());
        assert!(!Route::Refresh.is_auth_tier());
        assert!(!Route::Me.is_auth_tier());
    }
}
