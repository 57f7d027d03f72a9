//! Accounts and sessions: register, login, refresh rotation, logout, me, password
//! change, cookies and CSRF, access-token verification, revocation and audit.

use crate::helpers::*;
use secure_api::crypto::{encoding, kdf};
use secure_api::token::jwt::{self, JwtKey};
use serde_json::{json, Value};

fn login_req(server: &Server, email: &str, password: &str) -> Resp {
    server.post("/api/auth/login").json(&json!({"email": email, "password": password})).send()
}

fn refresh_req(server: &Server, token: &str) -> Resp {
    server.post("/api/auth/refresh").json(&json!({"refreshToken": token})).send()
}

fn me(server: &Server, access: &str) -> Resp {
    server.get("/api/auth/me").bearer(access).send()
}

fn without_request_id(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("requestId");
    v
}

#[test]
fn register_creates_a_user_with_role_user_and_normalised_email() {
    let s = main();
    let email = unique_email("Reg").to_uppercase();
    let r = s.post("/api/auth/register").json(&json!({"email": format!("  {email} "), "password": PASSWORD})).send();
    r.expect(201);
    let v = r.json();
    assert_eq!(v["email"], email.to_lowercase());
    assert!(v["id"].as_str().unwrap().len() == 36);
    assert!(v["message"].is_string());
    let role: String =
        s.d1().query_row("SELECT role FROM users WHERE id = ?1", [v["id"].as_str().unwrap()], |r| r.get(0)).unwrap();
    assert_eq!(role, "user");
}

#[test]
fn register_rejects_taken_emails_in_any_case_or_spacing() {
    let s = main();
    let (email, _) = s.register("dup");
    for variant in
        [email.clone(), email.to_uppercase(), format!("  {email}\t"), format!(" {} ", email.replacen("dup", "DUP", 1))]
    {
        let r = s.post("/api/auth/register").json(&json!({"email": variant, "password": PASSWORD})).send();
        r.expect_error(409, "conflict");
    }
}

#[test]
fn register_validation_lists_every_bad_field() {
    let s = main();
    let r = s.post("/api/auth/register").json(&json!({"email": "not-an-email", "password": "short"})).send();
    r.expect_error(400, "validation_failed");
    let details = r.json()["details"].as_array().unwrap().clone();
    let fields: Vec<&str> = details.iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"email"), "{details:?}");
    assert!(fields.iter().filter(|f| **f == "password").count() >= 2, "length and digit/upper rules: {details:?}");
    let bad_inputs = [
        json!({}),
        json!({"email": "a@b.co"}),
        json!({"email": "a@b.co", "password": "alllowercase1"}),
        json!({"email": "a@b.co", "password": "ALLUPPERCASE1"}),
        json!({"email": "a@b.co", "password": "NoDigitsHere"}),
        json!({"email": "a@b.co", "password": format!("Aa1{}", "x".repeat(126))}),
        json!({"email": "ü@bücher.de", "password": PASSWORD}),
        json!({"email": format!("{}@example.com", "a".repeat(250)), "password": PASSWORD}),
        json!({"email": 42, "password": PASSWORD}),
        json!(["not", "an", "object"]),
    ];
    for body in bad_inputs {
        s.post("/api/auth/register").json(&body).send().expect_error(400, "validation_failed");
    }
}

#[test]
fn login_returns_tokens_user_and_both_cookies() {
    let s = main();
    let (email, id) = s.register("login");
    let r = login_req(&s, &email, PASSWORD);
    r.expect(200);
    let v = r.json();
    assert_eq!(v["tokenType"], "Bearer");
    assert_eq!(v["expiresIn"], 900);
    assert_eq!(v["user"], json!({"id": id, "email": email, "role": "user"}));
    let access = v["accessToken"].as_str().unwrap();
    let refresh = v["refreshToken"].as_str().unwrap();
    assert_ne!(access, refresh);
    let cookies = r.set_cookies();
    let a = cookies.iter().find(|c| c.starts_with("__Host-access=")).expect("access cookie");
    assert_eq!(*a, format!("__Host-access={access}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=900"));
    let rf = cookies.iter().find(|c| c.starts_with("__Secure-refresh=")).expect("refresh cookie");
    assert_eq!(
        *rf,
        format!("__Secure-refresh={refresh}; Path=/api/auth; HttpOnly; Secure; SameSite=Strict; Max-Age=604800")
    );
    // The access token is an HS256 JWT with the contract's header and claims.
    let mut parts = access.split('.');
    let header: Value = serde_json::from_slice(&encoding::b64url_decode(parts.next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["kid"], jwt::kid_for(jwt_secret().as_bytes()));
    let claims: Value = serde_json::from_slice(&encoding::b64url_decode(parts.next().unwrap()).unwrap()).unwrap();
    for k in ["sub", "email", "role", "sid", "iat", "exp", "iss", "aud"] {
        assert!(!claims[k].is_null(), "claim {k}");
    }
    assert_eq!(claims["type"], "access");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
}

#[test]
fn unknown_email_and_wrong_password_get_the_same_answer() {
    let s = main();
    let (email, _) = s.register("uniform");
    let wrong = login_req(&s, &email, "Wrong-Password-1");
    let unknown = login_req(&s, &unique_email("nobody"), "Wrong-Password-1");
    wrong.expect_error(401, "invalid_credentials");
    unknown.expect_error(401, "invalid_credentials");
    assert_eq!(without_request_id(wrong.json()), without_request_id(unknown.json()));
    assert!(wrong.set_cookies().is_empty() && unknown.set_cookies().is_empty());
    // The email is matched case-insensitively on login too.
    login_req(&s, &email.to_uppercase(), PASSWORD).expect(200);
}

#[test]
fn a_disabled_account_is_revealed_only_after_the_right_password() {
    let (_g, s) = aux();
    let (email, id) = s.register("disabled");
    s.d1_write().execute("UPDATE users SET is_active = 0 WHERE id = ?1", [&id]).unwrap();
    login_req(&s, &email, "Wrong-Password-1").expect_error(401, "invalid_credentials");
    login_req(&s, &email, PASSWORD).expect_error(403, "account_disabled");
}

#[test]
fn me_returns_the_caller() {
    let s = main();
    let u = s.user("me");
    let r = me(&s, &u.access);
    r.expect(200);
    let v = r.json();
    assert_eq!(v["id"], u.id);
    assert_eq!(v["email"], u.email);
    assert_eq!(v["role"], "user");
    assert_eq!(v["isActive"], true);
    let created = v["createdAt"].as_str().unwrap();
    assert!(secure_api::time::parse_iso8601(created).is_some(), "ISO-8601: {created}");
}

#[test]
fn me_without_credentials_is_401_unauthorized() {
    main().get("/api/auth/me").send().expect_error(401, "unauthorized");
    main().get("/api/auth/me").header("Authorization", "Basic dXNlcjpwYXNz").send().expect_error(401, "unauthorized");
}

#[test]
fn forged_and_malformed_access_tokens_are_401() {
    let s = main();
    let u = s.user("forged");
    let sid = sid_of(&u.access);
    let secret = jwt_secret();
    let key = JwtKey::new(secret.as_bytes());
    let good = jwt::sign(&claims_for(&u, &sid), &key);
    me(&s, &good).expect(200);

    let b64 = |v: &Value| encoding::b64url_encode(v.to_string().as_bytes());
    let claims = serde_json::to_value(claims_for(&u, &sid)).unwrap();
    let sign_raw = |header: &Value, claims: &Value, secret: &[u8]| {
        let input = format!("{}.{}", b64(header), b64(claims));
        let sig = jwt::hs256_sign_input(input.as_bytes(), secret);
        format!("{input}.{sig}")
    };
    let kid = key.kid.clone();
    let mut tampered_payload = claims.clone();
    tampered_payload["role"] = json!("admin");
    let tampered = {
        let mut p = good.split('.').map(str::to_owned).collect::<Vec<_>>();
        p[1] = b64(&tampered_payload);
        p.join(".")
    };
    let bad_sig = {
        let (head, sig) = good.rsplit_once('.').unwrap();
        let flipped = if sig.starts_with('A') { sig.replacen('A', "B", 1) } else { format!("A{}", &sig[1..]) };
        format!("{head}.{flipped}")
    };
    let mut expired = claims.clone();
    expired["iat"] = json!(claims["iat"].as_i64().unwrap() - 2000);
    expired["exp"] = json!(claims["iat"].as_i64().unwrap() - 1000);
    let mut wrong_iss = claims.clone();
    wrong_iss["iss"] = json!("someone-else");
    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = json!("another-api");
    let mut refresh_type = claims.clone();
    refresh_type["type"] = json!("refresh");
    let mut future = claims.clone();
    future["nbf"] = json!(claims["iat"].as_i64().unwrap() + 3600);
    let hs256 = json!({"alg": "HS256", "typ": "JWT", "kid": kid});
    let cases: Vec<(&str, String)> = vec![
        ("tampered payload", tampered),
        ("bad signature", bad_sig),
        ("alg none", format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT", "kid": kid})), b64(&claims))),
        ("alg none signed", sign_raw(&json!({"alg": "none", "kid": kid}), &claims, secret.as_bytes())),
        ("HS512 header", sign_raw(&json!({"alg": "HS512", "typ": "JWT", "kid": kid}), &claims, secret.as_bytes())),
        ("RS256 header", sign_raw(&json!({"alg": "RS256", "typ": "JWT", "kid": kid}), &claims, secret.as_bytes())),
        (
            "foreign kid",
            sign_raw(&json!({"alg": "HS256", "typ": "JWT", "kid": "deadbeef"}), &claims, secret.as_bytes()),
        ),
        ("no kid", sign_raw(&json!({"alg": "HS256", "typ": "JWT"}), &claims, secret.as_bytes())),
        ("other secret", jwt::sign(&claims_for(&u, &sid), &JwtKey::new(b"another-secret-that-is-32-bytes-long!!"))),
        ("wrong iss", sign_raw(&hs256, &wrong_iss, secret.as_bytes())),
        ("wrong aud", sign_raw(&hs256, &wrong_aud, secret.as_bytes())),
        ("type refresh", sign_raw(&hs256, &refresh_type, secret.as_bytes())),
        ("not yet valid", sign_raw(&hs256, &future, secret.as_bytes())),
        ("garbage", "not.a.jwt".to_owned()),
        ("two parts", "abc.def".to_owned()),
        ("bad base64", "%%%.%%%.%%%".to_owned()),
        ("non-json header", format!("{}.{}.sig", encoding::b64url_encode(b"hello"), b64(&claims))),
        ("over-long", format!("{}.{}.{}", "a".repeat(3000), "b".repeat(3000), "c".repeat(100))),
        ("refresh token", u.refresh.clone()),
    ];
    for (name, token) in cases {
        let r = me(&s, &token);
        assert_eq!(r.status, 401, "{name}: {}", r.body);
        assert!(["unauthorized", "token_expired"].contains(&r.code().as_str()), "{name}: {}", r.body);
    }
    let r = me(&s, &sign_raw(&hs256, &expired, secret.as_bytes()));
    r.expect_error(401, "token_expired");
}

#[test]
fn an_access_token_is_not_a_refresh_token() {
    let s = main();
    let u = s.user("swap");
    refresh_req(&s, &u.access).expect(401);
    refresh_req(&s, "rt_short").expect(401);
    refresh_req(&s, &format!("rt_{}", encoding::b64url_encode(&random_bytes::<32>()))).expect(401);
    s.post("/api/auth/refresh").json(&json!({"refreshToken": 12})).send().expect_error(400, "validation_failed");
    s.post("/api/auth/refresh").send().expect_error(400, "validation_failed");
}

#[test]
fn a_rotation_chain_of_50_works_and_each_step_retires_the_previous_token() {
    let s = main();
    let u = s.user("chain");
    let mut token = u.refresh.clone();
    let mut seen = std::collections::HashSet::new();
    for i in 0..50 {
        let r = refresh_req(&s, &token);
        assert_eq!(r.status, 200, "step {i}: {}", r.body);
        let v = r.json();
        assert_eq!(v["tokenType"], "Bearer");
        assert_eq!(v["expiresIn"], 900);
        let next = v["refreshToken"].as_str().unwrap().to_owned();
        assert!(seen.insert(next.clone()), "tokens are unique");
        assert_eq!(r.cookie("__Secure-refresh").as_deref(), Some(next.as_str()));
        let access = v["accessToken"].as_str().unwrap();
        assert_eq!(sid_of(access), sid_of(&u.access), "same session");
        token = next;
    }
    me(&s, refresh_req(&s, &token).json()["accessToken"].as_str().unwrap()).expect(200);
    let stored: i64 = s
        .d1()
        .query_row(
            "SELECT count(*) FROM refresh_tokens WHERE token_hash = ?1",
            [secure_api::token::refresh::hash_token(&token)],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, 1, "tokens are stored by hash only");
}

#[test]
fn reuse_within_the_grace_window_gets_a_valid_pair_of_the_same_family() {
    let s = short();
    let u = s.user("grace");
    let first = refresh_req(&s, &u.refresh);
    first.expect(200);
    let again = refresh_req(&s, &u.refresh);
    again.expect(200);
    let a = first.json();
    let b = again.json();
    // The same successor (one live branch per session), with a fresh access token.
    assert_eq!(a["refreshToken"], b["refreshToken"]);
    assert_eq!(sid_of(b["accessToken"].as_str().unwrap()), sid_of(&u.access));
    me(&s, b["accessToken"].as_str().unwrap()).expect(200);
    refresh_req(&s, a["refreshToken"].as_str().unwrap()).expect(200);
}

#[test]
fn reuse_after_the_grace_window_revokes_the_whole_family() {
    let s = short();
    let u = s.user("reuse");
    let newest = refresh_req(&s, &u.refresh).json()["refreshToken"].as_str().unwrap().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(3500));
    let r = refresh_req(&s, &u.refresh);
    r.expect_error(401, "refresh_token_reused");
    refresh_req(&s, &newest).expect(401);
    eventually(5, || (!audit_rows(&s, "auth.refresh_token_reused", &u.id).is_empty()).then_some(()));
}

#[test]
fn twenty_parallel_refreshes_of_one_token_never_fail_with_5xx() {
    let s = main();
    let u = s.user("parallel");
    let statuses: Vec<(u16, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                scope.spawn(|| {
                    let r = refresh_req(&s, &u.refresh);
                    (r.status, r.json()["refreshToken"].as_str().unwrap_or_default().to_owned())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|(st, _)| *st == 200), "all within grace: {statuses:?}");
    assert!(statuses.windows(2).all(|w| w[0].1 == w[1].1), "one successor for every tab: {statuses:?}");
    for (_, token) in &statuses {
        refresh_req(&s, token).expect(200);
    }
}

#[test]
fn logout_ends_the_session_and_its_access_tokens_at_once() {
    let s = main();
    let (email, id) = s.register("logout");
    let a = s.login(&email, PASSWORD, id.clone());
    let b = s.login(&email, PASSWORD, id);
    let r = s.post("/api/auth/logout").bearer(&a.access).send();
    r.expect(200);
    assert!(r.json()["message"].is_string());
    let cleared = r.set_cookies();
    assert!(cleared.iter().any(|c| c.starts_with("__Host-access=;") && c.contains("Max-Age=0")));
    assert!(cleared.iter().any(|c| c.starts_with("__Secure-refresh=;") && c.contains("Max-Age=0")));
    me(&s, &a.access).expect_error(401, "unauthorized");
    refresh_req(&s, &a.refresh).expect(401);
    me(&s, &b.access).expect(200);
    s.post("/api/auth/logout").bearer(&a.access).send().expect(401);
    s.post("/api/auth/logout").send().expect_error(401, "unauthorized");
}

#[test]
fn logout_all_ends_every_session_of_the_user() {
    let s = main();
    let (email, id) = s.register("logoutall");
    let a = s.login(&email, PASSWORD, id.clone());
    let b = s.login(&email, PASSWORD, id);
    let other = s.user("bystander");
    s.post("/api/auth/logout").bearer(&a.access).json(&json!({"all": true})).send().expect(200);
    me(&s, &a.access).expect(401);
    me(&s, &b.access).expect(401);
    refresh_req(&s, &b.refresh).expect(401);
    me(&s, &other.access).expect(200);
}

#[test]
fn password_change_checks_the_current_password_and_ends_every_session() {
    let s = main();
    let (email, id) = s.register("pwchange");
    let a = s.login(&email, PASSWORD, id.clone());
    let b = s.login(&email, PASSWORD, id.clone());
    let put = |body: Value| s.req("PUT", "/api/auth/password").bearer(&a.access).json(&body).send();
    put(json!({"currentPassword": "Wrong-Password-1", "newPassword": "New-Password-2"}))
        .expect_error(401, "invalid_credentials");
    put(json!({"currentPassword": PASSWORD, "newPassword": "weak"})).expect_error(400, "validation_failed");
    me(&s, &a.access).expect(200);
    put(json!({"currentPassword": PASSWORD, "newPassword": "New-Password-2"})).expect(200);
    me(&s, &a.access).expect(401);
    me(&s, &b.access).expect(401);
    refresh_req(&s, &b.refresh).expect(401);
    login_req(&s, &email, PASSWORD).expect_error(401, "invalid_credentials");
    login_req(&s, &email, "New-Password-2").expect(200);
    s.req("PUT", "/api/auth/password")
        .json(&json!({"currentPassword": "x", "newPassword": "New-Password-3"}))
        .send()
        .expect(401);
    assert_eq!(audit_rows(&s, "auth.password_change", &id).len(), 1);
}

fn cookie_header(r: &Resp) -> String {
    format!(
        "__Host-access={}; __Secure-refresh={}",
        r.cookie("__Host-access").unwrap(),
        r.cookie("__Secure-refresh").unwrap()
    )
}

#[test]
fn cookie_sessions_work_end_to_end() {
    let s = main();
    let (email, id) = s.register("cookie");
    let login = login_req(&s, &email, PASSWORD);
    let jar = cookie_header(&login);
    let r = s.get("/api/auth/me").header("Cookie", &jar).send();
    r.expect(200);
    assert_eq!(r.json()["id"], id);
    // Refresh with the cookie alone (empty body) from the app's origin.
    let r = s.post("/api/auth/refresh").header("Cookie", &jar).header("Origin", "http://localhost:3000").send();
    r.expect(200);
    let jar2 = cookie_header(&r);
    s.get("/api/auth/me").header("Cookie", &jar2).send().expect(200);
    // Logout by cookie, from a same-origin fetch.
    let r = s.post("/api/auth/logout").header("Cookie", &jar2).header("Sec-Fetch-Site", "same-origin").send();
    r.expect(200);
    s.get("/api/auth/me").header("Cookie", &jar2).send().expect(401);
}

#[test]
fn cookie_writes_from_a_foreign_origin_are_rejected_while_bearer_is_exempt() {
    let s = main();
    let (email, id) = s.register("csrf");
    let login = login_req(&s, &email, PASSWORD);
    let jar = cookie_header(&login);
    let access = login.json()["accessToken"].as_str().unwrap().to_owned();
    for (origin, site) in [
        (Some("https://evil.example"), None),
        (None, Some("cross-site")),
        (None, None),
        (Some("https://evil.example"), Some("cross-site")),
    ] {
        let mut req = s.post("/api/auth/logout").header("Cookie", &jar);
        if let Some(o) = origin {
            req = req.header("Origin", o);
        }
        if let Some(site) = site {
            req = req.header("Sec-Fetch-Site", site);
        }
        req.send().expect_error(403, "csrf_rejected");
        let mut refresh = s.post("/api/auth/refresh").header("Cookie", &jar);
        if let Some(o) = origin {
            refresh = refresh.header("Origin", o);
        }
        refresh.send().expect_error(403, "csrf_rejected");
    }
    // Reads by cookie need no origin; the session is still alive after the rejected writes.
    s.get("/api/auth/me").header("Cookie", &jar).send().expect(200);
    // A Bearer request is not subject to the check, whatever the Origin.
    let r = s.post("/api/auth/logout").bearer(&access).header("Origin", "https://evil.example").send();
    r.expect(200);
    assert_eq!(id.len(), 36);
}

#[test]
fn a_tutorial_format_hash_logs_in_and_is_upgraded() {
    let (_g, s) = aux();
    let (email, id) = s.register("legacy");
    let salt = random_bytes::<16>();
    let password = "Legacy-Password-7";
    let hash = kdf::derive_host(password.as_bytes(), &salt, 100_000);
    let legacy = encoding::b64_std_encode(&[&salt[..], &hash[..]].concat());
    s.d1_write().execute("UPDATE users SET password_hash = ?1 WHERE id = ?2", (&legacy, &id)).unwrap();
    login_req(&s, &email, "Wrong-Password-1").expect(401);
    login_req(&s, &email, password).expect(200);
    let stored: String =
        s.d1().query_row("SELECT password_hash FROM users WHERE id = ?1", [&id], |r| r.get(0)).unwrap();
    assert!(stored.starts_with("$pbkdf2-sha256$i=100000$"), "rehashed: {stored}");
    login_req(&s, &email, password).expect(200);
}

#[test]
fn a_hash_made_on_the_host_verifies_in_the_worker() {
    let (_g, s) = aux();
    let (email, id) = s.register("hosthash");
    let hash = kdf::hash_password_host("Host-Made-Password-5", 100_000);
    s.d1_write().execute("UPDATE users SET password_hash = ?1 WHERE id = ?2", (&hash, &id)).unwrap();
    login_req(&s, &email, "Host-Made-Password-5").expect(200);
    let stored: String =
        s.d1().query_row("SELECT password_hash FROM users WHERE id = ?1", [&id], |r| r.get(0)).unwrap();
    assert_eq!(stored, hash, "a current-format hash is kept as it is");
}

#[test]
fn auth_events_are_audited_with_request_ids_and_no_secrets() {
    let s = main();
    let email = unique_email("audit");
    let reg = s.post("/api/auth/register").json(&json!({"email": email, "password": PASSWORD})).send();
    reg.expect(201);
    let id = reg.json()["id"].as_str().unwrap().to_owned();
    let bad = login_req(&s, &email, "Wrong-Password-1");
    let ok = login_req(&s, &email, PASSWORD);
    let tokens = ok.json();
    let access = tokens["accessToken"].as_str().unwrap().to_owned();
    let refresh = tokens["refreshToken"].as_str().unwrap().to_owned();
    let rotated = refresh_req(&s, &refresh);
    let logout = s.post("/api/auth/logout").bearer(rotated.json()["accessToken"].as_str().unwrap()).send();
    logout.expect(200);
    let expect_row = |action: &str, resp: &Resp| {
        let rid = resp.header("x-request-id").unwrap().to_owned();
        eventually(5, || audit_rows(&s, action, &id).into_iter().find(|(r, _)| *r == rid).map(|_| ()));
    };
    expect_row("user.register", &reg);
    expect_row("auth.login", &ok);
    expect_row("auth.refresh", &rotated);
    expect_row("auth.logout", &logout);
    let bad_rid = bad.header("x-request-id").unwrap().to_owned();
    let failed_meta: String = eventually(5, || {
        s.d1()
            .query_row(
                "SELECT metadata FROM audit_logs WHERE request_id = ?1 AND action = 'auth.login_failed'",
                [&bad_rid],
                |r| r.get(0),
            )
            .ok()
    });
    assert!(failed_meta.contains("invalid_password"), "{failed_meta}");
    let (ip, ua): (String, Option<String>) = s
        .d1()
        .query_row("SELECT ip_address, user_agent FROM audit_logs WHERE request_id = ?1", [&bad_rid], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(ip.starts_with("198."), "client IP recorded: {ip}");
    assert!(ua.is_some());
    let all: Vec<String> = s
        .d1()
        .prepare("SELECT metadata || ' ' || coalesce(resource_id, '') FROM audit_logs")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let secret = jwt_secret();
    for row in &all {
        for needle in [PASSWORD, "Wrong-Password-1", access.as_str(), refresh.as_str(), secret.as_str()] {
            assert!(!row.contains(needle), "audit row leaks a secret: {row}");
        }
        assert!(!row.contains("rt_") && !row.contains("eyJ"), "audit row leaks a token: {row}");
    }
}

#[test]
fn tokens_signed_with_the_previous_secret_stay_valid_during_a_rotation() {
    let s = short();
    let u = s.user("rotation");
    let sid = sid_of(&u.access);
    let previous = JwtKey::new(PREVIOUS_SECRET.as_bytes());
    let old = jwt::sign(&claims_for(&u, &sid), &previous);
    me(&s, &old).expect(200);
    // A token whose kid names neither key is refused, even if its signature is valid
    // for the secret it claims.
    let stranger = JwtKey::new(b"a-third-secret-that-nobody-configured-anywhere");
    me(&s, &jwt::sign(&claims_for(&u, &sid), &stranger)).expect_error(401, "unauthorized");
    // Main has no previous secret: the same token is refused there.
    let m = main();
    let mu = m.user("rotation-main");
    let msid = sid_of(&mu.access);
    me(&m, &jwt::sign(&claims_for(&mu, &msid), &previous)).expect_error(401, "unauthorized");
}

#[test]
fn a_browser_with_an_expired_access_cookie_can_still_log_out() {
    let s = short();
    let (email, _) = s.register("expired-logout");
    let login = login_req(&s, &email, PASSWORD);
    let jar = cookie_header(&login);
    let refresh = login.json()["refreshToken"].as_str().unwrap().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(3200));
    s.get("/api/auth/me").header("Cookie", &jar).send().expect_error(401, "token_expired");
    // Cross-site, the refresh cookie alone is not enough.
    s.post("/api/auth/logout")
        .header("Cookie", &jar)
        .header("Origin", "https://evil.example")
        .send()
        .expect_error(403, "csrf_rejected");
    let r = s.post("/api/auth/logout").header("Cookie", &jar).header("Origin", "http://localhost:3000").send();
    r.expect(200);
    assert!(r.set_cookies().iter().all(|c| c.contains("Max-Age=0")));
    refresh_req(&s, &refresh).expect(401);
}
