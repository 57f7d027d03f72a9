//! Hardening from the outside review: atomic lockout under concurrency, credential
//! cleanup on password change and reset, API-key caps, one live refresh branch,
//! duplicate credential cookies, and the IPv6 /48 auth bucket.

use crate::helpers::*;
use serde_json::{json, Value};

fn login_from(s: &Server, ip: &str, email: &str, password: &str) -> Resp {
    s.post("/api/auth/login").ip(ip).json(&json!({"email": email, "password": password})).send()
}

fn refresh(s: &Server, token: &str) -> Resp {
    s.post("/api/auth/refresh").json(&json!({"refreshToken": token})).send()
}

fn change_password(s: &Server, u: &Session, body: Value) -> Resp {
    s.req("PUT", "/api/auth/password").bearer(&u.access).json(&body).send()
}

/// The newest reset token delivered to `email` (from the outbox, as a mailer reads it).
fn newest_reset_token(s: &Server, email: &str) -> String {
    let body: String = s
        .d1()
        .query_row(
            "SELECT body FROM outbox WHERE recipient = ?1 ORDER BY created_at DESC, rowid DESC LIMIT 1",
            [email],
            |r| r.get(0),
        )
        .unwrap();
    let start = body.find("token=").unwrap() + "token=".len();
    body[start..].split_whitespace().next().unwrap().to_owned()
}

fn key_reasons(s: &Server, user_id: &str) -> Vec<String> {
    audit_rows(s, "api_key.revoke", user_id)
        .into_iter()
        .map(|(_, meta)| serde_json::from_str::<Value>(&meta).unwrap()["reason"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn parallel_wrong_logins_lock_the_account_after_exactly_threshold_plain_401s() {
    // main: LOCKOUT_THRESHOLD 10. 20 wrong passwords at once from 4 IPs: every one is
    // counted, so at most 10 are answered 401 (exactly 10 unless the local dev proxy drops
    // a request, which it rarely does under this load: a non-JSON 503 that never reached
    // the worker or lost its answer), every other one 429 account_locked.
    let s = main();
    let (email, _) = s.register("parallel-lock");
    let ips: Vec<String> = (0..4).map(|_| unique_ip()).collect();
    let answers: Vec<Resp> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let (s, ip, email) = (&s, &ips[i % 4], &email);
                scope.spawn(move || login_from(s, ip, email, "Wrong-Password-1"))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    let plain = statuses.iter().filter(|st| **st == 401).count();
    let mut dropped = 0;
    for r in &answers {
        match r.status {
            401 => r.expect_error(401, "invalid_credentials"),
            429 => r.expect_error(429, "account_locked"),
            _ => {
                assert!(
                    serde_json::from_str::<Value>(&r.body).is_err(),
                    "the worker answered {}: {}",
                    r.status,
                    r.body
                );
                dropped += 1;
                r
            }
        };
    }
    assert!(plain <= 10, "more plain 401s than the threshold: {statuses:?}");
    assert!(plain + dropped >= 10 && dropped <= 2, "{statuses:?}");
    login_from(&s, &unique_ip(), &email, PASSWORD).expect_error(429, "account_locked");
}

#[test]
fn wrong_current_passwords_feed_the_account_lockout() {
    // main: 10 failures lock for 900 s (the short server's 2 s access tokens would expire
    // mid-test on a loaded machine; unlocking after the lock is tested for login).
    let s = main();
    let (email, id) = s.register("pw-lock");
    let u = s.login(&email, PASSWORD, id);
    for _ in 0..10 {
        change_password(&s, &u, json!({"currentPassword": "Wrong-Password-1", "newPassword": "New-Password-2"}))
            .expect_error(401, "invalid_credentials");
    }
    let r = change_password(&s, &u, json!({"currentPassword": PASSWORD, "newPassword": "New-Password-2"}));
    r.expect_error(429, "account_locked");
    assert!(r.header("retry-after").is_some());
    login_from(&s, &unique_ip(), &email, PASSWORD).expect_error(429, "account_locked");
    s.get("/api/auth/me").bearer(&u.access).send().expect(200);
}

#[test]
fn a_password_change_revokes_api_keys_and_open_reset_tokens() {
    let s = main();
    let (email, id) = s.register("pw-keys");
    let u = s.login(&email, PASSWORD, id.clone());
    let key = s.api_key(&u, &json!({"name": "ci", "scopes": ["posts:create"]}))["key"].as_str().unwrap().to_owned();
    let post = json!({"title": "t", "body": "b"});
    s.post("/api/posts").api_key(&key).json(&post).send().expect(201);
    s.post("/api/auth/password-reset/request").json(&json!({"email": email})).send().expect(202);
    let reset_token = newest_reset_token(&s, &email);

    change_password(&s, &u, json!({"currentPassword": PASSWORD, "newPassword": "New-Password-2"})).expect(200);

    s.post("/api/posts").api_key(&key).json(&post).send().expect_error(401, "unauthorized");
    s.post("/api/auth/password-reset/confirm")
        .json(&json!({"token": reset_token, "newPassword": "Attacker-Pass-3"}))
        .send()
        .expect_error(400, "invalid_token");
    login_from(&s, &unique_ip(), &email, "New-Password-2").expect(200);
    eventually(5, || (key_reasons(&s, &id) == ["password_change"]).then_some(()));
}

#[test]
fn keep_api_keys_true_keeps_them_through_a_password_change() {
    let s = main();
    let u = s.user("pw-keep");
    let key = s.api_key(&u, &json!({"name": "ci"}))["key"].as_str().unwrap().to_owned();
    let r = change_password(
        &s,
        &u,
        json!({"currentPassword": PASSWORD, "newPassword": "New-Password-2", "keepApiKeys": true}),
    );
    r.expect(200);
    s.get("/api/auth/me").api_key(&key).send().expect(200);
    let again = s.login(&u.email, "New-Password-2", u.id.clone());
    let r = change_password(
        &s,
        &again,
        json!({"currentPassword": "New-Password-2", "newPassword": "New-Password-3", "keepApiKeys": "yes"}),
    );
    r.expect_error(400, "validation_failed");
    assert_eq!(r.json()["details"][0]["field"], "keepApiKeys");
}

#[test]
fn a_password_reset_revokes_every_api_key() {
    let s = main();
    let (email, id) = s.register("reset-keys");
    let u = s.login(&email, PASSWORD, id.clone());
    let keys: Vec<String> =
        (0..2).map(|i| s.api_key(&u, &json!({"name": format!("k{i}")}))["key"].as_str().unwrap().to_owned()).collect();
    s.get("/api/auth/me").api_key(&keys[0]).send().expect(200);
    s.post("/api/auth/password-reset/request").json(&json!({"email": email})).send().expect(202);
    let token = newest_reset_token(&s, &email);
    s.post("/api/auth/password-reset/confirm")
        .json(&json!({"token": token, "newPassword": "Recovered-Pass-4"}))
        .send()
        .expect(200);
    for k in &keys {
        s.get("/api/auth/me").api_key(k).send().expect_error(401, "unauthorized");
    }
    eventually(5, || (key_reasons(&s, &id) == ["password_reset", "password_reset"]).then_some(()));
}

#[test]
fn a_user_holds_at_most_api_keys_per_user_live_keys() {
    // main: API_KEYS_PER_USER default 25.
    let s = main();
    let u = s.user("key-cap");
    let ids: Vec<String> =
        (0..25).map(|i| s.api_key(&u, &json!({"name": format!("k{i}")}))["id"].as_str().unwrap().to_owned()).collect();
    let over = s.post("/api/api-keys").bearer(&u.access).json(&json!({"name": "one too many"})).send();
    over.expect_error(409, "limit_exceeded");
    assert!(over.json()["error"].as_str().unwrap().contains("25"));
    s.req("DELETE", &format!("/api/api-keys/{}", ids[0])).bearer(&u.access).send().expect(200);
    s.post("/api/api-keys").bearer(&u.access).json(&json!({"name": "replacement"})).send().expect(201);
}

#[test]
fn a_key_cannot_outrun_its_owners_rate_limit_without_api_keys_manage() {
    // main: RATE_LIMIT_USER default 1000.
    let s = main();
    let u = s.user("key-rate");
    let r = s.post("/api/api-keys").bearer(&u.access).json(&json!({"name": "fast", "rateLimit": 100000})).send();
    r.expect_error(400, "validation_failed");
    assert_eq!(r.json()["details"][0]["field"], "rateLimit", "{}", r.body);
    assert_eq!(s.api_key(&u, &json!({"name": "at-cap", "rateLimit": 1000}))["rateLimit"], 1000);
    assert_eq!(s.api_key(&u, &json!({"name": "default"}))["rateLimit"], 1000);
    let admin = s.admin();
    assert_eq!(s.api_key(&admin, &json!({"name": "bulk", "rateLimit": 100000}))["rateLimit"], 100000);
}

#[test]
fn a_replayed_token_within_grace_joins_the_one_live_branch() {
    // short: grace 2 s. The attacker's replay of the just-rotated token gets the victim's
    // own successor, not a parallel branch; the next stale use revokes the session.
    let s = short();
    let u = s.user("one-branch");
    let t1 = refresh(&s, &u.refresh).json()["refreshToken"].as_str().unwrap().to_owned();
    let replay = refresh(&s, &u.refresh);
    replay.expect(200);
    assert_eq!(replay.json()["refreshToken"], t1.as_str(), "the same successor");
    let t2 = refresh(&s, &t1).json()["refreshToken"].as_str().unwrap().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(3500));
    refresh(&s, &t1).expect_error(401, "refresh_token_reused");
    refresh(&s, &t2).expect(401);
}

#[test]
fn a_credential_cookie_sent_twice_is_400_invalid_request() {
    let s = main();
    let u = s.user("dup-cookie");
    let r = s
        .post("/api/auth/refresh")
        .header("Origin", "http://localhost:3000")
        .header("Cookie", &format!("__Secure-refresh={}; __Secure-refresh=rt_planted", u.refresh))
        .send();
    r.expect_error(400, "invalid_request");
    let r = s
        .get("/api/auth/me")
        .header("Cookie", &format!("__Host-access={}; __Host-access={}", u.access, u.access))
        .send();
    r.expect_error(400, "invalid_request");
    // One of each still works.
    s.get("/api/auth/me").header("Cookie", &format!("__Host-access={}", u.access)).send().expect(200);
    s.post("/api/auth/refresh")
        .header("Origin", "http://localhost:3000")
        .header("Cookie", &format!("__Secure-refresh={}", u.refresh))
        .send()
        .expect(200);
}

#[test]
fn rotating_64s_inside_one_ipv6_48_is_still_limited() {
    // tight: RATE_LIMIT_AUTH 5 per /64 and 50 per /48, hour-long windows.
    let s = tight();
    let r = random_bytes::<2>();
    let site = format!("2001:db8:{:x}", u16::from_be_bytes(r) | 1);
    let attempt = |ip: &str| s.post("/api/auth/login").ip(ip).json(&json!({})).send();
    for subnet in 0..10 {
        for _ in 0..5 {
            let r = attempt(&format!("{site}:{subnet:x}::1"));
            assert_eq!(r.status, 400, "{}", r.body);
        }
    }
    let limited = attempt(&format!("{site}:ff::1"));
    limited.expect_error(429, "rate_limited");
    assert_eq!(limited.header("x-ratelimit-limit"), Some("50"));
    assert!(limited.header("retry-after").is_some());
    attempt(&format!("2001:db8:{:x}:1::1", u16::from_be_bytes(r) & 0xfffe)).expect(400);
}
