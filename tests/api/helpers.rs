//! Test helpers: servers, an HTTP client that rotates client IPs, unique users, D1 access.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Server {
    pub url: String,
    pub d1_dir: PathBuf,
    exclusive: bool,
    name: String,
}

/// The servers scripts/test.sh starts: names, settings and what each is for.
const SERVERS_MANIFEST: &str = include_str!("../servers.json");

fn manifest_servers() -> Vec<Value> {
    let manifest: Value = serde_json::from_str(SERVERS_MANIFEST).expect("tests/servers.json is JSON");
    manifest["servers"].as_array().expect("tests/servers.json: servers").clone()
}

/// Server `name` of tests/servers.json.
fn server(name: &str) -> Server {
    assert!(manifest_servers().iter().any(|s| s["name"] == name), "server '{name}' is not in tests/servers.json");
    let upper = name.to_uppercase();
    let url = std::env::var(format!("SECURE_API_{upper}_URL"))
        .unwrap_or_else(|_| panic!("SECURE_API_{upper}_URL is not set: run the suite with `npm test`"));
    let d1_dir = PathBuf::from(std::env::var(format!("SECURE_API_{upper}_D1")).unwrap());
    Server { url, d1_dir, exclusive: false, name: upper }
}

// One accessor per server of the suite (settings in tests/servers.json).

/// Only for oversized uploads (see foundation::bodies_over_64_kib_are_413...).
pub fn upload() -> Server {
    server("upload")
}

/// RESET_QUEUE bound (a local Cloudflare Queue producer).
pub fn queue() -> Server {
    server("queue")
}

/// A D1 database without the schema: every query fails.
pub fn nodb() -> Server {
    server("nodb")
}

/// Small rate limits: auth 5, anonymous 8, user 6 per hour-long window.
pub fn tight() -> Server {
    server("tight")
}

static AUX: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The aux server, held exclusively by the calling test (for direct D1 writes).
pub fn aux() -> (std::sync::MutexGuard<'static, ()>, Server) {
    let guard = AUX.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = server("aux");
    s.exclusive = true;
    (guard, s)
}

/// Sessions bound to the client's /24 or /64 as well (`SESSION_BIND_IP=prefix`).
pub fn bound() -> Server {
    server("bound")
}

/// Third-party tokens from the identity provider tests/api/oidc.rs serves on OIDC_PORT
/// (keys found through OpenID discovery); audience `secure-api-tests`, cookie `hanko`.
pub fn oidc() -> Server {
    server("oidc")
}

/// A third-party provider whose JWKS URL nothing answers, with no key set ever fetched.
pub fn oidcdown() -> Server {
    server("oidcdown")
}

/// Contract defaults (auth and anonymous tiers raised).
pub fn main() -> Server {
    server("main")
}
/// JWT_SECRET shorter than 32 bytes.
pub fn weak() -> Server {
    server("weak")
}
/// Short windows: access TTL 2 s, refresh grace 2 s, lockout 3 failures / 3 s, reset TTL 2 s;
/// `JWT_SECRET_PREVIOUS` = [`PREVIOUS_SECRET`].
pub fn short() -> Server {
    server("short")
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).unwrap();
    b
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A client IP no other test uses (TEST-NET-2/3 and documentation IPv6 ranges).
pub fn unique_ip() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let r = random_bytes::<2>();
    format!("198.{}.{}.{}", 18 + (r[0] % 2), r[1], n % 250 + 1)
}

pub fn unique_email(tag: &str) -> String {
    let r = random_bytes::<6>();
    let hex: String = r.iter().map(|b| format!("{b:02x}")).collect();
    format!("{tag}-{hex}@example.com")
}

pub const PASSWORD: &str = "Correct-Horse-9";

/// The `JWT_SECRET_PREVIOUS` of the `short` server (tests/servers.json).
pub const PREVIOUS_SECRET: &str = "previous-signing-key-still-accepted-during-rotation";

/// Every server this file asks for is in tests/servers.json and every server there but the
/// fuzz target has an accessor here; PREVIOUS_SECRET is the `short` server's. (No server needed.)
#[test]
fn accessors_match_the_server_manifest() {
    let asked: std::collections::BTreeSet<&str> = include_str!("helpers.rs")
        .split("server(\"")
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(name, _)| name))
        .collect();
    let servers = manifest_servers();
    let listed: std::collections::BTreeSet<&str> =
        servers.iter().filter(|s| s["fuzz"] == false).filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(asked, listed, "accessors in helpers.rs vs. servers in tests/servers.json");
    let short = servers.iter().find(|s| s["name"] == "short").expect("short server");
    assert_eq!(short["vars"]["JWT_SECRET_PREVIOUS"], PREVIOUS_SECRET);
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie")).map(|(_, v)| v.as_str()).collect()
    }
    /// The value a Set-Cookie header gives cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies().into_iter().find_map(|c| {
            let (k, rest) = c.split_once('=')?;
            (k == name).then(|| rest.split(';').next().unwrap_or_default().to_owned())
        })
    }
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        self
    }
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> &Self {
        self.expect(status);
        let v = self.json();
        assert_eq!(v["code"], code, "body: {}", self.body);
        assert!(v["error"].is_string(), "error message missing: {}", self.body);
        assert_eq!(v["requestId"].as_str(), self.header("x-request-id"), "requestId repeats X-Request-Id");
        self
    }
}

/// A request being built.
pub struct Req {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl Req {
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }
    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", &format!("Bearer {token}"))
    }
    pub fn api_key(self, key: &str) -> Self {
        self.header("X-API-Key", key)
    }
    pub fn ip(self, ip: &str) -> Self {
        self.header("CF-Connecting-IP", ip)
    }
    pub fn json(mut self, v: &Value) -> Self {
        self.body = Some(serde_json::to_vec(v).unwrap());
        self.header("Content-Type", "application/json")
    }
    pub fn raw(mut self, content_type: Option<&str>, body: &[u8]) -> Self {
        self.body = Some(body.to_vec());
        match content_type {
            Some(ct) => self.header("Content-Type", ct),
            None => self,
        }
    }
    /// Sends the request. `wrangler dev`'s local proxy answers a plain-text 503 "Your worker
    /// restarted mid-request" when its runtime restarted under a request (and retries only
    /// GET and HEAD itself); the worker never sent it, so it is resent once. The service's
    /// own 503s are JSON and are returned as they are.
    pub fn send(self) -> Resp {
        let first = self.send_once();
        if first.status == 503 && first.body.starts_with("Your worker restarted mid-request") {
            std::thread::sleep(std::time::Duration::from_millis(500));
            return self.send_once();
        }
        first
    }

    fn send_once(&self) -> Resp {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into();
        let mut b = ureq::http::Request::builder().method(self.method.as_str()).uri(&self.url);
        let has_ip = self.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("cf-connecting-ip"));
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        if !has_ip {
            b = b.header("CF-Connecting-IP", unique_ip());
        }
        let resp = match &self.body {
            Some(body) => agent.run(b.body(body.clone()).unwrap()),
            None => agent.run(b.body(()).unwrap()),
        };
        let mut resp = resp.unwrap_or_else(|e| panic!("{} {}: {e}", self.method, self.url));
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        Resp { status, headers, body }
    }
}

impl Server {
    pub fn req(&self, method: &str, path: &str) -> Req {
        Req { method: method.to_owned(), url: format!("{}{}", self.url, path), headers: Vec::new(), body: None }
    }
    pub fn get(&self, path: &str) -> Req {
        self.req("GET", path)
    }
    pub fn post(&self, path: &str) -> Req {
        self.req("POST", path)
    }

    /// A read-only connection to the server's local D1 database file. (Writing to it
    /// while workerd serves requests makes workerd's own writes fail with SQLITE_BUSY;
    /// tests that must write use [`aux`].)
    pub fn d1(&self) -> rusqlite::Connection {
        self.d1_open(rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    }

    /// A read-write connection: only for the `aux` server, whose tests run one at a time.
    pub fn d1_write(&self) -> rusqlite::Connection {
        assert!(self.exclusive, "direct D1 writes only on the aux server (see helpers::aux)");
        // Let the server finish writes it queued after its last response (audit rows).
        std::thread::sleep(std::time::Duration::from_millis(150));
        self.d1_open(rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
    }

    fn d1_open(&self, flags: rusqlite::OpenFlags) -> rusqlite::Connection {
        let dir = self.d1_dir.join("v3").join("d1").join("miniflare-D1DatabaseObject");
        let file = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "sqlite") && !p.ends_with("metadata.sqlite"))
            .expect("local D1 sqlite file");
        let conn =
            rusqlite::Connection::open_with_flags(file, flags | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        conn
    }

    /// Registers a fresh user; returns (email, user id).
    pub fn register(&self, tag: &str) -> (String, String) {
        let email = unique_email(tag);
        let r = self.post("/api/auth/register").json(&json!({"email": email, "password": PASSWORD})).send();
        r.expect(201);
        (email, r.json()["id"].as_str().unwrap().to_owned())
    }

    /// Registers and logs in a fresh user.
    pub fn user(&self, tag: &str) -> Session {
        let (email, id) = self.register(tag);
        self.login(&email, PASSWORD, id)
    }

    pub fn login(&self, email: &str, password: &str, id: String) -> Session {
        let r = self.post("/api/auth/login").json(&json!({"email": email, "password": password})).send();
        r.expect(200);
        let v = r.json();
        Session {
            email: email.to_owned(),
            id,
            access: v["accessToken"].as_str().unwrap().to_owned(),
            refresh: v["refreshToken"].as_str().unwrap().to_owned(),
        }
    }
}

impl Server {
    /// The server's bootstrap admin (registered and promoted by scripts/test.sh), logged in.
    pub fn admin(&self) -> Session {
        let email =
            std::env::var(format!("SECURE_API_{}_ADMIN", self.name)).expect("admin bootstrapped by scripts/test.sh");
        let password = std::env::var("SECURE_API_ADMIN_PASSWORD").unwrap();
        let r = self.post("/api/auth/login").json(&json!({"email": email, "password": password})).send();
        r.expect(200);
        let v = r.json();
        Session {
            email,
            id: v["user"]["id"].as_str().unwrap().to_owned(),
            access: v["accessToken"].as_str().unwrap().to_owned(),
            refresh: v["refreshToken"].as_str().unwrap().to_owned(),
        }
    }

    /// Sets a user's role or status through the admin API.
    pub fn admin_patch(&self, user_id: &str, body: &Value) -> Resp {
        let admin = self.admin();
        self.req("PATCH", &format!("/api/admin/users/{user_id}")).bearer(&admin.access).json(body).send()
    }

    /// A fresh user with `role` (set through the admin API), logged in after the change.
    pub fn user_with_role(&self, tag: &str, role: &str) -> Session {
        let (email, id) = self.register(tag);
        if role != "user" {
            self.admin_patch(&id, &json!({"role": role})).expect(200);
        }
        self.login(&email, PASSWORD, id)
    }

    /// Creates an API key for `s`; returns the creation response body.
    pub fn api_key(&self, s: &Session, body: &Value) -> Value {
        let r = self.post("/api/api-keys").bearer(&s.access).json(body).send();
        r.expect(201);
        r.json()
    }

    /// Creates a post as `s`; returns it.
    pub fn post_as(&self, s: &Session, title: &str, published: bool) -> Value {
        let r = self
            .post("/api/posts")
            .bearer(&s.access)
            .json(&json!({"title": title, "body": "Body text", "published": published}))
            .send();
        r.expect(201);
        r.json()
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub email: String,
    pub id: String,
    pub access: String,
    pub refresh: String,
}

/// Polls `f` until it returns Some, for up to `secs` seconds (audit rows are written
/// after the response, with `wait_until`).
pub fn eventually<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "condition not met within {secs}s");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The JWT_SECRET the servers run with (from .dev.vars, written by the bootstrap).
pub fn jwt_secret() -> String {
    let vars = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.dev.vars")).expect(".dev.vars");
    vars.lines()
        .find_map(|l| l.trim().strip_prefix("JWT_SECRET="))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .expect("JWT_SECRET in .dev.vars")
}

/// Claims for a hand-made access token of `s` (valid unless the caller changes them).
pub fn claims_for(s: &Session, sid: &str) -> secure_api::token::jwt::AccessClaims {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    secure_api::token::jwt::AccessClaims {
        sub: s.id.clone(),
        email: s.email.clone(),
        role: "user".into(),
        typ: "access".into(),
        sid: sid.to_owned(),
        iat: now,
        exp: now + 600,
        iss: "secure-api".into(),
        aud: "secure-api".into(),
        nbf: None,
    }
}

/// The `sid` claim of an access token (payload decoded without verification).
pub fn sid_of(access: &str) -> String {
    let payload = access.split('.').nth(1).unwrap();
    let bytes = secure_api::crypto::encoding::b64url_decode(payload).unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    v["sid"].as_str().unwrap().to_owned()
}

/// Audit rows of `action` for `user_id`, as (request_id, metadata).
pub fn audit_rows(server: &Server, action: &str, user_id: &str) -> Vec<(String, String)> {
    let conn = server.d1();
    let mut st = conn
        .prepare("SELECT request_id, metadata FROM audit_logs WHERE action = ?1 AND user_id = ?2 ORDER BY seq")
        .unwrap();
    st.query_map((action, user_id), |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(|r| r.unwrap()).collect()
}
