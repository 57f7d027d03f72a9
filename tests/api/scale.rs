//! The request hot path on Durable Objects (README "Scaling"): reads write nothing to D1,
//! counters are exact under concurrency, and sessions D1 has but the user's object never
//! saw (opened before it kept the book) are adopted once, then revocable as any other.

use crate::helpers::*;
use secure_api::token::jwt::{self, JwtKey};
use serde_json::json;

/// A fingerprint of every row of every table of the service (local D1 counts each query,
/// reads included, in an internal `_cf_METADATA` row, so `PRAGMA data_version` cannot tell
/// reads from writes; the content of the service's own tables can).
fn app_state(db: &rusqlite::Connection) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(tables.iter().any(|t| t == "posts") && !tables.iter().any(|t| t.starts_with("_cf_")), "{tables:?}");
    for t in tables {
        t.hash(&mut h);
        let mut stmt = db.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..n {
                format!("{:?}", row.get_ref(i).unwrap()).hash(&mut h);
            }
        }
    }
    h.finish()
}

/// Waits until the service's tables have not changed for a second (audit rows and other
/// writes queued after earlier responses), then returns their fingerprint.
fn settled(db: &rusqlite::Connection) -> u64 {
    let mut v = app_state(db);
    for _ in 0..30 {
        std::thread::sleep(std::time::Duration::from_millis(1000));
        let now = app_state(db);
        if now == v {
            return v;
        }
        v = now;
    }
    panic!("D1 never settled");
}

#[test]
fn read_paths_write_nothing_to_d1() {
    let (_guard, s) = aux();
    let u = s.user("reads");
    let admin = s.admin();
    let post = s.post_as(&u, "read me", true);
    let id = post["id"].as_str().unwrap().to_owned();
    let db = s.d1();
    let before = settled(&db);
    for _ in 0..50 {
        s.get("/api/posts").send().expect(200);
        s.get("/api/auth/me").bearer(&u.access).send().expect(200);
    }
    for _ in 0..10 {
        s.get(&format!("/api/posts/{id}")).bearer(&u.access).send().expect(200);
        s.get("/api/posts?published=false").bearer(&u.access).send().expect(200);
        s.get("/api/api-keys").bearer(&u.access).send().expect(200);
        s.get("/api/auth/sessions").bearer(&u.access).send().expect(200);
        s.get("/api/admin/users").bearer(&admin.access).send().expect(200);
        s.get("/api/admin/audit-logs").bearer(&admin.access).send().expect(200);
        s.get("/api/api-keys/admin/all").bearer(&admin.access).send().expect(200);
        s.get("/health").send().expect(200);
    }
    assert_eq!(settled(&db), before, "a read path wrote to D1");
    // The check itself can fail: a write moves the version.
    s.post_as(&u, "a write", false);
    assert_ne!(settled(&db), before);
}

/// Sends `n` requests at once; their statuses.
fn burst(n: usize, send: impl Fn() -> Resp + Sync) -> Vec<u16> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n).map(|_| scope.spawn(&send)).collect();
        handles.into_iter().map(|h| h.join().unwrap().status).collect()
    })
}

fn exactly(statuses: &[u16], limit: usize) {
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((ok, limited), (limit, statuses.len() - limit), "{statuses:?}");
}

#[test]
fn fifty_parallel_requests_of_one_user_get_exactly_the_limit() {
    // tight: RATE_LIMIT_USER 6 per hour-long window.
    let s = tight();
    let u = s.user("burst-user");
    exactly(&burst(50, || s.get("/api/auth/me").bearer(&u.access).send()), 6);
}

#[test]
fn fifty_parallel_requests_of_one_api_key_get_exactly_its_limit() {
    let s = tight();
    let u = s.user("burst-key");
    let key = s.api_key(&u, &json!({"name": "burst", "rateLimit": 4}));
    let key = key["key"].as_str().unwrap().to_owned();
    exactly(&burst(50, || s.get("/api/posts").api_key(&key).send()), 4);
}

#[test]
fn fifty_parallel_anonymous_requests_of_one_ip_get_exactly_the_limit() {
    // tight: RATE_LIMIT_ANON 8.
    let s = tight();
    let ip = unique_ip();
    exactly(&burst(50, || s.get("/api/posts").ip(&ip).send()), 8);
}

/// A session row in D1 that the user's object has never seen, and an access token for it.
fn legacy_session(s: &Server, u: &Session, revoked: bool) -> String {
    let sid = format!("legacy-{}", unique_ip());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    s.d1_write()
        .execute(
            "INSERT INTO refresh_families (id, user_id, created_at, expires_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![sid, u.id, now, now + 3600, revoked.then_some(now)],
        )
        .unwrap();
    jwt::sign(&claims_for(u, &sid), &JwtKey::new(jwt_secret().as_bytes()))
}

#[test]
fn a_session_the_object_never_saw_is_adopted_from_d1_and_then_revocable() {
    let (_guard, s) = aux();
    let u = s.user("legacy");
    let token = legacy_session(&s, &u, false);
    let me = s.get("/api/auth/me").bearer(&token).send();
    me.expect(200);
    assert_eq!(me.json()["id"], u.id.as_str());
    s.get("/api/auth/me").bearer(&token).send().expect(200);
    s.post("/api/auth/logout").bearer(&token).send().expect(200);
    s.get("/api/auth/me").bearer(&token).send().expect_error(401, "unauthorized");
    // The user's other session is untouched by that logout.
    s.get("/api/auth/me").bearer(&u.access).send().expect(200);
    // A session D1 has as revoked is not adopted.
    let dead = legacy_session(&s, &u, true);
    s.get("/api/auth/me").bearer(&dead).send().expect_error(401, "unauthorized");
}

#[test]
fn logout_everywhere_ends_adopted_and_registered_sessions_alike() {
    let (_guard, s) = aux();
    let u = s.user("legacy-all");
    let legacy = legacy_session(&s, &u, false);
    s.get("/api/auth/me").bearer(&legacy).send().expect(200);
    s.post("/api/auth/logout").bearer(&u.access).json(&json!({"all": true})).send().expect(200);
    s.get("/api/auth/me").bearer(&legacy).send().expect_error(401, "unauthorized");
    s.get("/api/auth/me").bearer(&u.access).send().expect_error(401, "unauthorized");
}

#[test]
fn answers_carry_a_d1_bookmark_that_the_next_request_may_send_back() {
    let s = main();
    let u = s.user("bookmark");
    let created = s.post("/api/posts").bearer(&u.access).json(&json!({"title": "t", "body": "b"})).send();
    created.expect(201);
    let bookmark = created.header("x-d1-bookmark").expect("a write answers its bookmark").to_owned();
    assert!(!bookmark.is_empty() && bookmark.len() <= 128);
    let list = s.get("/api/posts?published=false").bearer(&u.access).header("X-D1-Bookmark", &bookmark).send();
    list.expect(200);
    let id = created.json()["id"].clone();
    assert!(list.json()["posts"].as_array().unwrap().iter().any(|p| p["id"] == id), "reads its own write");
    assert!(list.header("x-d1-bookmark").is_some());
    // A malformed or unknown bookmark is ignored, never an error.
    for junk in ["not a bookmark;", "ffffffff-ffffffff-ffffffff-ffffffffffffffffffffffffffffffff"] {
        s.get("/api/posts").header("X-D1-Bookmark", junk).send().expect(200);
    }
    // Browser sessions get it as a cookie too; API clients only as the header.
    let login = s.post("/api/auth/login").json(&json!({"email": u.email, "password": PASSWORD})).send();
    login.expect(200);
    assert!(login.set_cookies().iter().any(|c| c.starts_with("__Host-d1-bookmark=") && c.contains("HttpOnly")));
    let api = s.get("/api/posts").bearer(&u.access).send();
    assert!(api.set_cookies().is_empty(), "no cookie for a Bearer client: {:?}", api.set_cookies());
}
