//! The route table: `(method, path)` → [`Route`], or the 404 / 405 (+ `Allow`) decision.
//!
//! Our own small table because `worker::Router` answers 404/405 in plain text without
//! `Allow`. Paths are matched segment by segment; one trailing slash is ignored.

use crate::throttle::rate_limit::Tier;

/// Every endpoint of the service. `Id` carries the `:id` path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    OpenApi,
    Register,
    Login,
    Refresh,
    Logout,
    ListSessions,
    RevokeSession(String),
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

/// A path's shape: literal segments and `{id}` placeholders.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Health,
    OpenApi,
    Auth(&'static str),
    ResetRequest,
    ResetConfirm,
    Session,
    Posts,
    Post,
    ApiKeys,
    ApiKey,
    ApiKeysAll,
    AdminUsers,
    AdminUser,
    AdminAudit,
}

/// The path table, in match order (literal paths before `{id}` at the same depth). The
/// one list of the service's paths: the resolver matches against it and the OpenAPI
/// consistency test reads it through [`endpoints`].
const PATHS: [(Shape, &str); 20] = [
    (Shape::Health, "/health"),
    (Shape::OpenApi, "/openapi.json"),
    (Shape::Auth("register"), "/api/auth/register"),
    (Shape::Auth("login"), "/api/auth/login"),
    (Shape::Auth("refresh"), "/api/auth/refresh"),
    (Shape::Auth("logout"), "/api/auth/logout"),
    (Shape::Auth("me"), "/api/auth/me"),
    (Shape::Auth("sessions"), "/api/auth/sessions"),
    (Shape::Session, "/api/auth/sessions/{id}"),
    (Shape::Auth("password"), "/api/auth/password"),
    (Shape::ResetRequest, "/api/auth/password-reset/request"),
    (Shape::ResetConfirm, "/api/auth/password-reset/confirm"),
    (Shape::Posts, "/api/posts"),
    (Shape::Post, "/api/posts/{id}"),
    (Shape::ApiKeys, "/api/api-keys"),
    (Shape::ApiKeysAll, "/api/api-keys/admin/all"),
    (Shape::ApiKey, "/api/api-keys/{id}"),
    (Shape::AdminUsers, "/api/admin/users"),
    (Shape::AdminUser, "/api/admin/users/{id}"),
    (Shape::AdminAudit, "/api/admin/audit-logs"),
];

/// Matches `path` (one trailing slash ignored) against a template; `Some(id)` on a match
/// (`""` when the template has no `{id}`; an `{id}` segment must not be empty).
fn matches<'a>(template: &str, path: &'a str) -> Option<&'a str> {
    let mut id = "";
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(id),
            (Some("{id}"), Some(seg)) if !seg.is_empty() => id = seg,
            (Some(a), Some(b)) if a == b => {}
            _ => return None,
        }
    }
}

fn shape(path: &str) -> Option<(Shape, &str)> {
    let trimmed = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    PATHS.iter().find_map(|(sh, template)| matches(template, trimmed).map(|id| (*sh, id)))
}

/// Every `(method, path template)` the router serves (OPTIONS aside), from [`PATHS`].
pub fn endpoints() -> impl Iterator<Item = (&'static str, &'static str)> {
    PATHS.iter().flat_map(|(sh, template)| allowed(*sh).split(", ").map(move |m| (m, *template)))
}

/// Methods each shape answers (OPTIONS is handled by CORS before routing).
fn allowed(shape: Shape) -> &'static str {
    match shape {
        Shape::Health | Shape::OpenApi => "GET",
        Shape::Auth("me") | Shape::Auth("sessions") => "GET",
        Shape::Session => "DELETE",
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
    let id = || id.to_owned();
    let route = match (sh, method) {
        (Shape::Health, "GET") => Route::Health,
        (Shape::OpenApi, "GET") => Route::OpenApi,
        (Shape::Auth("register"), "POST") => Route::Register,
        (Shape::Auth("login"), "POST") => Route::Login,
        (Shape::Auth("refresh"), "POST") => Route::Refresh,
        (Shape::Auth("logout"), "POST") => Route::Logout,
        (Shape::Auth("me"), "GET") => Route::Me,
        (Shape::Auth("sessions"), "GET") => Route::ListSessions,
        (Shape::Session, "DELETE") => Route::RevokeSession(id()),
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

/// How a route's requests are counted for rate limiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// Not counted (health, the API description).
    None,
    /// Counted per client IP in this tier, before the handler; credentials are not read.
    Ip(Tier),
    /// Counted in the tier of the principal the request authenticated as (user or key),
    /// else per IP as anonymous (a credential that fails counts against the IP).
    Caller,
}

/// Which credentials a route reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// None: a stale cookie must never block logging in, registering or refreshing.
    None,
    /// Anonymous callers are served; a presented credential must be good (401 otherwise).
    Optional,
    /// A caller is required (401 `unauthorized` without one).
    Required,
    /// As `Optional`, but an expired or revoked access credential falls back to the refresh
    /// cookie, so that a browser can always log out.
    RefreshCookieFallback,
}

/// A route's request policy: the data the dispatcher acts on before the handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub throttle: Throttle,
    pub auth: Auth,
    /// A cookie credential (access cookie, or the refresh cookie where the handler reads
    /// it) must come from an allowed origin (CONTRACT.md "CORS and CSRF"): every
    /// state-changing route.
    pub csrf: bool,
    /// Its D1 reads may come from a read replica (or one at least as new as the client's
    /// bookmark): every read-only route. State-changing routes start at the primary.
    pub replica: bool,
}

const fn policy(throttle: Throttle, auth: Auth, csrf: bool) -> Policy {
    Policy { throttle, auth, csrf, replica: !csrf }
}

impl Route {
    /// The route's policy. Exhaustive: a new route does not compile until it has one.
    pub const fn policy(&self) -> Policy {
        use Auth as A;
        use Throttle as T;
        match self {
            Route::Health | Route::OpenApi => policy(T::None, A::None, false),
            Route::Register | Route::Login | Route::ResetRequest | Route::ResetConfirm => {
                policy(T::Ip(Tier::Auth), A::None, true)
            }
            Route::Refresh => policy(T::Ip(Tier::Anonymous), A::None, true),
            Route::Logout => policy(T::Caller, A::RefreshCookieFallback, true),
            Route::ListPosts | Route::GetPost(_) => policy(T::Caller, A::Optional, false),
            Route::Me
            | Route::ListSessions
            | Route::ListApiKeys
            | Route::AllApiKeys
            | Route::AdminListUsers
            | Route::AdminAuditLogs => policy(T::Caller, A::Required, false),
            Route::ChangePassword
            | Route::CreatePost
            | Route::UpdatePost(_)
            | Route::DeletePost(_)
            | Route::CreateApiKey
            | Route::RevokeApiKey(_)
            | Route::RevokeSession(_)
            | Route::AdminUpdateUser(_) => policy(T::Caller, A::Required, true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_every_endpoint() {
        let table = [
            ("GET", "/health", Route::Health),
            ("GET", "/openapi.json", Route::OpenApi),
            ("POST", "/api/auth/register", Route::Register),
            ("POST", "/api/auth/login", Route::Login),
            ("POST", "/api/auth/refresh", Route::Refresh),
            ("POST", "/api/auth/logout", Route::Logout),
            ("GET", "/api/auth/me", Route::Me),
            ("GET", "/api/auth/sessions", Route::ListSessions),
            ("DELETE", "/api/auth/sessions/abc", Route::RevokeSession("abc".into())),
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
    fn every_endpoint_of_the_table_resolves() {
        for (m, template) in endpoints() {
            let path = template.replace("{id}", "some-id");
            assert!(resolve(m, &path).is_ok(), "{m} {template}");
        }
        assert_eq!(endpoints().count(), 24);
    }

    /// The OpenAPI description served at `/openapi.json` names exactly the router's
    /// endpoints: a route without a description, or a description without a route, fails.
    #[test]
    fn the_openapi_description_matches_the_route_table() {
        let doc: serde_json::Value = serde_json::from_str(include_str!("../../openapi.json")).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut described: Vec<(String, String)> = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if ["get", "put", "post", "delete", "patch", "head", "options", "trace"].contains(&method.as_str()) {
                    described.push((method.to_uppercase(), path.clone()));
                }
            }
        }
        let mut routed: Vec<(String, String)> = endpoints().map(|(m, p)| (m.to_owned(), p.to_owned())).collect();
        described.sort();
        routed.sort();
        let missing: Vec<_> = routed.iter().filter(|r| !described.contains(r)).collect();
        let extra: Vec<_> = described.iter().filter(|d| !routed.contains(d)).collect();
        assert!(missing.is_empty(), "routes without a description in openapi.json: {missing:?}");
        assert!(extra.is_empty(), "described in openapi.json but not routed: {extra:?}");
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

    fn every_route() -> Vec<(String, Route)> {
        endpoints()
            .map(|(m, t)| {
                let path = t.replace("{id}", "x");
                (format!("{m} {t}"), resolve(m, &path).unwrap())
            })
            .collect()
    }

    #[test]
    fn the_auth_tier_is_register_login_and_reset_and_reads_no_credentials() {
        for (name, route) in every_route() {
            let p = route.policy();
            let auth_tier = matches!(route, Route::Register | Route::Login | Route::ResetRequest | Route::ResetConfirm);
            assert_eq!(p.throttle == Throttle::Ip(Tier::Auth), auth_tier, "{name}");
            if auth_tier {
                assert_eq!(p.auth, Auth::None, "{name}: a stale cookie must not block it");
            }
        }
        assert_eq!(Route::Refresh.policy().throttle, Throttle::Ip(Tier::Anonymous));
        assert_eq!(Route::Refresh.policy().auth, Auth::None);
    }

    #[test]
    fn every_state_changing_route_checks_csrf_and_reads_the_primary() {
        for (name, route) in every_route() {
            let write = !name.starts_with("GET ");
            assert_eq!(route.policy().csrf, write, "{name}");
            assert_eq!(route.policy().replica, !write, "{name}");
        }
    }

    #[test]
    fn only_posts_reads_and_logout_serve_anonymous_callers() {
        for (name, route) in every_route() {
            let p = route.policy();
            let anonymous_ok = p.auth != Auth::Required;
            let expected = matches!(
                route,
                Route::Health
                    | Route::OpenApi
                    | Route::Register
                    | Route::Login
                    | Route::Refresh
                    | Route::ResetRequest
                    | Route::ResetConfirm
                    | Route::ListPosts
                    | Route::GetPost(_)
                    | Route::Logout
            );
            assert_eq!(anonymous_ok, expected, "{name}");
            assert_eq!(p.throttle == Throttle::None, matches!(route, Route::Health | Route::OpenApi), "{name}");
        }
        assert_eq!(Route::Logout.policy().auth, Auth::RefreshCookieFallback);
    }
}
