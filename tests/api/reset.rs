//! Password reset (request → outbox → confirm) and the scheduled maintenance.

use crate::helpers::*;
use serde_json::{json, Value};

fn request(s: &Server, email: &str) -> Resp {
    s.post("/api/auth/password-reset/request").json(&json!({"email": email})).send()
}

fn confirm(s: &Server, token: &str, password: &str) -> Resp {
    s.post("/api/auth/password-reset/confirm").json(&json!({"token": token, "newPassword": password})).send()
}

/// Reset tokens delivered to `email`, newest first (read from the outbox, as a mailer would).
fn outbox_tokens(s: &Server, email: &str) -> Vec<String> {
    let conn = s.d1();
    let mut st = conn.prepare("SELECT body FROM outbox WHERE recipient = ?1 AND kind = 'password_reset' ORDER BY created_at DESC, rowid DESC").unwrap();
    st.query_map([email], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|b| {
            let body = b.unwrap();
            let start = body.find("token=").expect("link with token") + "token=".len();
            body[start..].split_whitespace().next().unwrap().to_owned()
        })
        .collect()
}

fn without_request_id(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("requestId");
    v
}

#[test]
fn the_request_answers_the_same_for_unknown_disabled_and_existing_accounts() {
    let s = main();
    let (known, _) = s.register("reset-known");
    let (disabled, disabled_id) = s.register("reset-disabled");
    s.admin_patch(&disabled_id, &json!({"isActive": false})).expect(200);
    let unknown = unique_email("reset-unknown");
    let answers: Vec<Resp> = [&known, &disabled, &unknown].iter().map(|e| request(&s, e)).collect();
    for r in &answers {
        r.expect(202);
    }
    let bodies: Vec<Value> = answers.iter().map(|r| without_request_id(r.json())).collect();
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[0], bodies[2]);
    assert_eq!(outbox_tokens(&s, &known).len(), 1);
    assert!(outbox_tokens(&s, &disabled).is_empty());
    assert!(outbox_tokens(&s, &unknown).is_empty());
    // Malformed input is still a 400.
    request(&s, "not-an-email").expect_error(400, "validation_failed");
    s.post("/api/auth/password-reset/request").json(&json!({})).send().expect_error(400, "validation_failed");
    // The account itself is untouched until a token is confirmed.
    s.login(&known, PASSWORD, String::new());
}

#[test]
fn a_token_resets_the_password_once_and_ends_every_session() {
    let s = main();
    let (email, id) = s.register("reset-once");
    let before = s.login(&email, PASSWORD, id.clone());
    request(&s, &email).expect(202);
    let token = outbox_tokens(&s, &email).remove(0);
    assert!(token.starts_with("prt_") && token.len() >= 4 + 43, "{token}");
    confirm(&s, &token, "weak").expect_error(400, "validation_failed");
    let r = confirm(&s, &token, "Reset-Password-8");
    r.expect(200);
    assert!(r.json()["message"].is_string());
    confirm(&s, &token, "Another-Password-9").expect_error(400, "invalid_token");
    s.get("/api/auth/me").bearer(&before.access).send().expect(401);
    s.post("/api/auth/refresh").json(&json!({"refreshToken": before.refresh})).send().expect(401);
    s.post("/api/auth/login")
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .expect_error(401, "invalid_credentials");
    s.login(&email, "Reset-Password-8", id.clone());
    // Only the hash is stored.
    let stored: i64 = s
        .d1()
        .query_row(
            "SELECT count(*) FROM password_resets WHERE token_hash = ?1",
            [secure_api::token::reset::hash_token(&token)],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, 1);
    let plain: i64 =
        s.d1().query_row("SELECT count(*) FROM password_resets WHERE token_hash = ?1", [&token], |r| r.get(0)).unwrap();
    assert_eq!(plain, 0);
}

fn delivered_at(s: &Server, email: &str) -> Option<i64> {
    s.d1().query_row("SELECT delivered_at FROM outbox WHERE recipient = ?1", [email], |r| r.get(0)).unwrap()
}

#[test]
fn without_a_queue_the_message_waits_in_the_outbox_and_with_one_it_is_sent() {
    let s = main();
    let (email, _) = s.register("outbox-only");
    request(&s, &email).expect(202);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(delivered_at(&s, &email), None, "left for the operator's mailer");

    let q = queue();
    let (email, _) = q.register("queued");
    request(&q, &email).expect(202);
    eventually(5, || delivered_at(&q, &email).map(|_| ()));
    // The queued message carries a working link.
    let token = outbox_tokens(&q, &email).remove(0);
    confirm(&q, &token, "Queued-Reset-1").expect(200);
}

#[test]
fn a_newer_request_supersedes_older_tokens() {
    let s = main();
    let (email, _) = s.register("reset-newer");
    request(&s, &email).expect(202);
    request(&s, &email).expect(202);
    let tokens = outbox_tokens(&s, &email);
    assert_eq!(tokens.len(), 2);
    confirm(&s, &tokens[1], "Older-Token-Pass1").expect_error(400, "invalid_token");
    confirm(&s, &tokens[0], "Newer-Token-Pass1").expect(200);
}

#[test]
fn invalid_and_expired_tokens_are_400_invalid_token() {
    let s = short();
    let (email, _) = s.register("reset-expiry");
    request(&s, &email).expect(202);
    let token = outbox_tokens(&s, &email).remove(0);
    std::thread::sleep(std::time::Duration::from_millis(3200));
    confirm(&s, &token, "Too-Late-Pass1").expect_error(400, "invalid_token");
    for bad in ["", "prt_nope", "rt_abc", "x".repeat(300).as_str()] {
        let r = confirm(&s, bad, "Some-Password-1");
        assert!(r.status == 400, "{bad}: {}", r.body);
    }
    let random = format!("prt_{}", secure_api::crypto::encoding::b64url_encode(&random_bytes::<32>()));
    confirm(&s, &random, "Some-Password-1").expect_error(400, "invalid_token");
}

#[test]
fn a_locked_account_can_still_reset_its_password_and_the_reset_unlocks_it() {
    let s = short();
    let (email, _) = s.register("reset-locked");
    for _ in 0..3 {
        s.post("/api/auth/login").json(&json!({"email": email, "password": "Wrong-Password-1"})).send().expect(401);
    }
    s.post("/api/auth/login")
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .expect_error(429, "account_locked");
    request(&s, &email).expect(202);
    let token = outbox_tokens(&s, &email).remove(0);
    confirm(&s, &token, "Unlocked-Pass-1").expect(200);
    s.post("/api/auth/login").json(&json!({"email": email, "password": "Unlocked-Pass-1"})).send().expect(200);
}

#[test]
fn resets_are_audited_without_the_token() {
    let s = main();
    let (email, id) = s.register("reset-audit");
    let unknown = unique_email("reset-audit-unknown");
    let req_known = request(&s, &email);
    let req_unknown = request(&s, &unknown);
    let token = outbox_tokens(&s, &email).remove(0);
    let rejected = confirm(
        &s,
        &format!("prt_{}", secure_api::crypto::encoding::b64url_encode(&random_bytes::<32>())),
        "Some-Password-1",
    );
    let ok = confirm(&s, &token, "Audited-Pass-1");
    let meta = |resp: &Resp| -> String {
        let rid = resp.header("x-request-id").unwrap().to_owned();
        eventually(5, || {
            s.d1().query_row("SELECT metadata FROM audit_logs WHERE request_id = ?1", [&rid], |r| r.get(0)).ok()
        })
    };
    assert!(meta(&req_known).contains("\"matched\":true"));
    assert!(meta(&req_unknown).contains("\"matched\":false"));
    assert!(meta(&rejected).contains("\"success\":false"));
    assert!(meta(&ok).contains("\"success\":true"));
    assert_eq!(audit_rows(&s, "auth.password_reset_confirm", &id).len(), 1);
    let all: Vec<String> = s
        .d1()
        .prepare("SELECT metadata FROM audit_logs")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(all.iter().all(|m| !m.contains(&token) && !m.contains("prt_")), "no reset token in the audit log");
}

#[test]
fn scheduled_maintenance_removes_expired_rows_and_keeps_live_ones() {
    let (_g, s) = aux();
    let (_, uid) = s.register("maint");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let day = 86_400;
    {
        let db = s.d1_write();
        let fam = |id: &str, expires: i64, revoked: Option<i64>| {
            db.execute("INSERT INTO refresh_families (id, user_id, created_at, expires_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                (id, &uid, now - 10 * day, expires, revoked)).unwrap();
        };
        fam("m-fam-expired", now - 60, None);
        fam("m-fam-revoked-old", now + day, Some(now - 2 * day));
        fam("m-fam-revoked-new", now + day, Some(now - 60));
        fam("m-fam-live", now + day, None);
        db.execute("INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) VALUES ('m-tok-expired', 'm-fam-live', ?1, ?2), ('m-tok-live', 'm-fam-live', ?1, ?3)",
            (now - day, now - 60, now + day)).unwrap();
        db.execute("INSERT INTO password_resets (token_hash, user_id, created_at, expires_at, used_at) VALUES ('m-rst-expired', ?1, ?2, ?3, NULL), ('m-rst-used', ?1, ?2, ?4, ?2), ('m-rst-live', ?1, ?2, ?4, NULL)",
            (&uid, now - 100, now - 10, now + 1000)).unwrap();
        db.execute("INSERT INTO login_lockouts (account_key, failures, window_start, locked_until, updated_at) VALUES ('m-lock-stale', 3, ?1, NULL, ?1), ('m-lock-live', 3, ?2, ?3, ?2)",
            (now - 10 * day, now - 10, now + 500)).unwrap();
        db.execute("INSERT INTO outbox (id, kind, recipient, subject, body, created_at, delivered_at) VALUES ('m-out-old', 'password_reset', 'a@b.co', 's', 'b', ?1, ?1), ('m-out-new', 'password_reset', 'a@b.co', 's', 'b', ?2, ?2), ('m-out-pending', 'password_reset', 'a@b.co', 's', 'b', ?1, NULL)",
            (now - 3 * day, now - 60)).unwrap();
        db.execute("INSERT INTO audit_logs (id, action, resource, request_id, created_at) VALUES ('m-aud-old', 'auth.login', 'auth', 'r1', ?1), ('m-aud-new', 'auth.login', 'auth', 'r2', ?2)",
            (now - 91 * day, now - day)).unwrap();
        db.execute(
            "INSERT INTO rate_limit_counters (bucket, window_start, count) VALUES ('m-rl', ?1, 5), ('m-rl', ?2, 5)",
            (now - 3600, now),
        )
        .unwrap();
    }
    let r = s.get("/__scheduled?cron=17+*+*+*+*").send();
    assert!(r.status < 300, "scheduled trigger: {} {}", r.status, r.body);
    let exists = |table: &str, col: &str, id: &str| -> bool {
        s.d1()
            .query_row(&format!("SELECT count(*) FROM {table} WHERE {col} = ?1"), [id], |r| r.get::<_, i64>(0))
            .unwrap()
            > 0
    };
    eventually(10, || (!exists("audit_logs", "id", "m-aud-old")).then_some(()));
    assert!(!exists("refresh_families", "id", "m-fam-expired"));
    assert!(!exists("refresh_families", "id", "m-fam-revoked-old"));
    assert!(exists("refresh_families", "id", "m-fam-revoked-new"));
    assert!(exists("refresh_families", "id", "m-fam-live"));
    assert!(!exists("refresh_tokens", "token_hash", "m-tok-expired"));
    assert!(exists("refresh_tokens", "token_hash", "m-tok-live"));
    assert!(!exists("password_resets", "token_hash", "m-rst-expired"));
    assert!(!exists("password_resets", "token_hash", "m-rst-used"));
    assert!(exists("password_resets", "token_hash", "m-rst-live"));
    assert!(!exists("login_lockouts", "account_key", "m-lock-stale"));
    assert!(exists("login_lockouts", "account_key", "m-lock-live"));
    assert!(!exists("outbox", "id", "m-out-old"));
    assert!(exists("outbox", "id", "m-out-new"));
    assert!(exists("outbox", "id", "m-out-pending"));
    assert!(exists("audit_logs", "id", "m-aud-new"));
    let counters: i64 =
        s.d1().query_row("SELECT count(*) FROM rate_limit_counters WHERE bucket = 'm-rl'", [], |r| r.get(0)).unwrap();
    assert_eq!(counters, 1, "only the current window is kept");
    // The live session still works after maintenance.
    s.get("/health").send().expect(200);
}
