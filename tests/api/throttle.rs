//! Throttling: per-IP auth and anonymous tiers, per-user and per-key tiers (each request
//! counted once, in its principal's tier), 429 with Retry-After, limiter headers, and
//! account lockout.

use crate::helpers::*;
use serde_json::json;

fn login_from(s: &Server, ip: &str, email: &str, password: &str) -> Resp {
    s.post("/api/auth/login").ip(ip).json(&json!({"email": email, "password": password})).send()
}

#[track_caller]
fn assert_limited(r: &Resp, limit: u32) {
    r.expect_error(429, "rate_limited");
    let retry: i64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=3600).contains(&retry), "Retry-After {retry}");
    assert_eq!(r.header("x-ratelimit-limit"), Some(limit.to_string().as_str()));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
}

#[test]
fn the_sixth_auth_request_from_one_ip_is_refused_and_other_ips_are_unaffected() {
    let s = tight();
    let (email, _) = s.register("tight-login");
    let ip = unique_ip();
    for i in 0..5u32 {
        let password = if i % 2 == 0 { PASSWORD } else { "Wrong-Password-1" };
        let r = login_from(&s, &ip, &email, password);
        assert!(r.status == 200 || r.status == 401, "{}", r.body);
        assert_eq!(r.header("x-ratelimit-limit"), Some("5"));
        assert_eq!(r.header("x-ratelimit-remaining"), Some((4 - i).to_string().as_str()));
    }
    assert_limited(&login_from(&s, &ip, &email, PASSWORD), 5);
    login_from(&s, &unique_ip(), &email, PASSWORD).expect(200);
    // The refusal is audited.
    let rid = login_from(&s, &ip, &email, PASSWORD).header("x-request-id").unwrap().to_owned();
    assert!(!rid.is_empty());
    eventually(5, || {
        let n: i64 = s
            .d1()
            .query_row(
                "SELECT count(*) FROM audit_logs WHERE action = 'rate_limited' AND ip_address = ?1",
                [&ip],
                |r| r.get(0),
            )
            .unwrap();
        (n == 1).then_some(())
    });
}

#[test]
fn register_login_and_password_reset_share_one_auth_bucket() {
    let s = tight();
    let ip = unique_ip();
    let email = unique_email("shared");
    s.post("/api/auth/register").ip(&ip).json(&json!({"email": email, "password": PASSWORD})).send().expect(201);
    s.post("/api/auth/register").ip(&ip).json(&json!({"email": "bad"})).send().expect(400);
    login_from(&s, &ip, &email, PASSWORD).expect(200);
    s.post("/api/auth/password-reset/request").ip(&ip).json(&json!({"email": email})).send();
    s.post("/api/auth/password-reset/confirm")
        .ip(&ip)
        .json(&json!({"token": "x", "newPassword": "New-Password-1"}))
        .send();
    assert_limited(&login_from(&s, &ip, &email, PASSWORD), 5);
}

#[test]
fn anonymous_requests_count_once_per_ip_refresh_included() {
    let s = tight();
    let ip = unique_ip();
    for i in 0..7u32 {
        let r = s.get("/api/posts").ip(&ip).send();
        r.expect(200);
        assert_eq!(r.header("x-ratelimit-remaining"), Some((7 - i).to_string().as_str()));
    }
    s.post("/api/auth/refresh").ip(&ip).json(&json!({"refreshToken": "rt_nope"})).send().expect(401);
    assert_limited(&s.get("/api/posts").ip(&ip).send(), 8);
    assert_limited(&s.post("/api/auth/refresh").ip(&ip).json(&json!({"refreshToken": "rt_nope"})).send(), 8);
    s.get("/api/posts").ip(&unique_ip()).send().expect(200);
}

#[test]
fn failed_credentials_count_against_the_ip() {
    let s = tight();
    let ip = unique_ip();
    for _ in 0..8 {
        s.get("/api/auth/me").ip(&ip).bearer("not-a-token").send().expect(401);
    }
    assert_limited(&s.get("/api/auth/me").ip(&ip).bearer("not-a-token").send(), 8);
}

#[test]
fn authenticated_requests_count_per_user_not_per_ip() {
    let s = tight();
    let u = s.user("per-user");
    let other = s.user("per-user-other");
    let ip = unique_ip();
    for i in 0..6u32 {
        // Any IP: the user's bucket is what counts.
        let from = if i % 2 == 0 { ip.clone() } else { unique_ip() };
        let r = s.get("/api/auth/me").ip(&from).bearer(&u.access).send();
        r.expect(200);
        assert_eq!(r.header("x-ratelimit-limit"), Some("6"));
        assert_eq!(r.header("x-ratelimit-remaining"), Some((5 - i).to_string().as_str()));
    }
    assert_limited(&s.get("/api/auth/me").ip(&unique_ip()).bearer(&u.access).send(), 6);
    // The same IP's anonymous budget is untouched, and other users are unaffected.
    let anon = s.get("/api/posts").ip(&ip).send();
    anon.expect(200);
    assert_eq!(anon.header("x-ratelimit-remaining"), Some("7"));
    s.get("/api/auth/me").ip(&ip).bearer(&other.access).send().expect(200);
}

#[test]
fn an_api_key_gets_its_own_rate_limit() {
    let s = tight();
    let u = s.user("key-limit");
    let a = s.api_key(&u, &json!({"name": "three", "rateLimit": 3}))["key"].as_str().unwrap().to_owned();
    let b = s.api_key(&u, &json!({"name": "other", "rateLimit": 3}))["key"].as_str().unwrap().to_owned();
    for i in 0..3u32 {
        let r = s.get("/api/posts").api_key(&a).send();
        r.expect(200);
        assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(r.header("x-ratelimit-remaining"), Some((2 - i).to_string().as_str()));
    }
    assert_limited(&s.get("/api/posts").api_key(&a).send(), 3);
    s.get("/api/posts").api_key(&b).send().expect(200);
    // Key requests did not use the owner's own budget: the user bucket holds only the two
    // key creations and this request (register and login count per IP).
    let me = s.get("/api/auth/me").bearer(&u.access).send();
    me.expect(200);
    assert_eq!(me.header("x-ratelimit-remaining"), Some("3"));
}

#[test]
fn limiter_headers_are_exposed_to_browsers() {
    let s = tight();
    let ip = unique_ip();
    let r = s.get("/api/posts").ip(&ip).header("Origin", "http://localhost:3000").send();
    let exposed = r.header("access-control-expose-headers").unwrap();
    for h in ["X-RateLimit-Limit", "X-RateLimit-Remaining", "Retry-After"] {
        assert!(exposed.contains(h), "{h}");
    }
    for _ in 0..8 {
        s.get("/api/posts").ip(&ip).send();
    }
    let limited = s.get("/api/posts").ip(&ip).header("Origin", "http://localhost:3000").send();
    limited.expect(429);
    assert!(limited.header("access-control-expose-headers").unwrap().contains("Retry-After"));
    assert_eq!(limited.header("access-control-allow-origin"), Some("http://localhost:3000"));
}

#[test]
fn ipv6_clients_share_a_bucket_per_64() {
    let s = tight();
    let r = random_bytes::<4>();
    let prefix = format!("2001:db8:{:x}:{:x}", u16::from_be_bytes([r[0], r[1]]), u16::from_be_bytes([r[2], r[3]]));
    for i in 0..8 {
        s.get("/api/posts").ip(&format!("{prefix}::{:x}", i + 1)).send().expect(200);
    }
    assert_limited(&s.get("/api/posts").ip(&format!("{prefix}:ffff:ffff:ffff:ffff")).send(), 8);
    s.get("/api/posts").ip(&format!("2001:db8:ffff:{:x}::1", u16::from_be_bytes([r[0], r[1]]))).send().expect(200);
}

// Lockout runs on the `short` server: threshold 3 failures in 60 s, locked for 3 s.

#[test]
fn an_account_locks_after_the_threshold_even_for_the_right_password_and_unlocks_later() {
    let s = short();
    let (email, id) = s.register("locked");
    let session = s.login(&email, PASSWORD, id.clone());
    for _ in 0..3 {
        login_from(&s, &unique_ip(), &email, "Wrong-Password-1").expect_error(401, "invalid_credentials");
    }
    let r = login_from(&s, &unique_ip(), &email, PASSWORD);
    r.expect_error(429, "account_locked");
    let retry: i64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3).contains(&retry), "{retry}");
    // Existing sessions keep working while the password login is locked.
    let refreshed = s.post("/api/auth/refresh").json(&json!({"refreshToken": session.refresh})).send();
    refreshed.expect(200);
    // (The refreshed access token: the login's may have outlived the 2 s TTL by now.)
    s.get("/api/auth/me").bearer(refreshed.json()["accessToken"].as_str().unwrap()).send().expect(200);
    eventually(5, || account_locked_audited(&s, &email).then_some(()));
    std::thread::sleep(std::time::Duration::from_millis(3200));
    login_from(&s, &unique_ip(), &email, PASSWORD).expect(200);
}

fn account_locked_audited(s: &Server, email: &str) -> bool {
    let n: i64 = s
        .d1()
        .query_row(
            "SELECT count(*) FROM audit_logs WHERE action = 'auth.account_locked' AND metadata LIKE ?1",
            [format!("%{email}%")],
            |r| r.get(0),
        )
        .unwrap();
    n == 1
}

#[test]
fn unknown_emails_lock_the_same_way() {
    let s = short();
    let email = unique_email("ghost");
    let (known, _) = s.register("known");
    for _ in 0..3 {
        login_from(&s, &unique_ip(), &email, "Wrong-Password-1").expect_error(401, "invalid_credentials");
        login_from(&s, &unique_ip(), &known, "Wrong-Password-1").expect_error(401, "invalid_credentials");
    }
    let ghost = login_from(&s, &unique_ip(), &email, "Wrong-Password-1");
    let real = login_from(&s, &unique_ip(), &known, "Wrong-Password-1");
    ghost.expect_error(429, "account_locked");
    real.expect_error(429, "account_locked");
    assert_eq!(ghost.json()["error"], real.json()["error"]);
    assert_eq!(ghost.header("retry-after").is_some(), real.header("retry-after").is_some());
}

#[test]
fn a_successful_login_resets_the_failure_count() {
    let s = short();
    let (email, _) = s.register("reset-count");
    for _ in 0..2 {
        login_from(&s, &unique_ip(), &email, "Wrong-Password-1").expect(401);
    }
    login_from(&s, &unique_ip(), &email, PASSWORD).expect(200);
    for _ in 0..2 {
        login_from(&s, &unique_ip(), &email, "Wrong-Password-1").expect(401);
    }
    login_from(&s, &unique_ip(), &email, PASSWORD).expect(200);
}
