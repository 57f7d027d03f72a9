//! The caller's sessions (README "Sessions and devices"): listing, ending one, ending every
//! other, and session binding on refresh (`SESSION_BIND_USER_AGENT`, `SESSION_BIND_IP`).

use crate::helpers::*;
use serde_json::{json, Value};

const CHROME_120: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Safari/537.36";
const CHROME_121: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.85 Safari/537.36";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

/// Logs `email` in from `ip` with `ua`.
fn login_as(s: &Server, email: &str, id: &str, ua: &str, ip: &str) -> Session {
    let r = s
        .post("/api/auth/login")
        .header("User-Agent", ua)
        .ip(ip)
        .json(&json!({"email": email, "password": PASSWORD}))
        .send();
    r.expect(200);
    let v = r.json();
    Session {
        email: email.to_owned(),
        id: id.to_owned(),
        access: v["accessToken"].as_str().unwrap().to_owned(),
        refresh: v["refreshToken"].as_str().unwrap().to_owned(),
    }
}

fn refresh_as(s: &Server, token: &str, ua: &str, ip: &str) -> Resp {
    s.post("/api/auth/refresh").header("User-Agent", ua).ip(ip).json(&json!({"refreshToken": token})).send()
}

fn sessions_of(s: &Server, u: &Session) -> Vec<Value> {
    let r = s.get("/api/auth/sessions").bearer(&u.access).send();
    r.expect(200);
    r.json()["sessions"].as_array().unwrap().clone()
}

#[test]
fn the_list_shows_live_sessions_newest_first_with_the_current_one_marked() {
    let s = main();
    let (email, id) = s.register("sessions-list");
    let laptop = login_as(&s, &email, &id, FIREFOX, "203.0.113.45");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let phone = login_as(&s, &email, &id, CHROME_120, "2001:db8:aa:bb:1:2:3:4");
    let r = s.get("/api/auth/sessions").bearer(&phone.access).send();
    r.expect(200);
    assert!(!r.body.contains("203.0.113.45") && !r.body.contains("1:2:3:4"), "never a full address: {}", r.body);
    let list = r.json()["sessions"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{list:?}");
    let (first, second) = (&list[0], &list[1]);
    assert_eq!(first["id"], sid_of(&phone.access), "newest first");
    assert_eq!((first["current"].as_bool(), second["current"].as_bool()), (Some(true), Some(false)));
    assert_eq!(first["userAgent"], CHROME_120);
    assert_eq!(first["ipPrefix"], "2001:db8:aa:bb::/64");
    assert_eq!(second["id"], sid_of(&laptop.access));
    assert_eq!((second["userAgent"].as_str(), second["ipPrefix"].as_str()), (Some(FIREFOX), Some("203.0.113.0/24")));
    for field in ["createdAt", "lastUsedAt", "expiresAt"] {
        assert!(first[field].as_str().is_some_and(|t| t.ends_with('Z')), "{field}: {first}");
    }
    assert_eq!(first["lastUsedAt"], first["createdAt"], "recorded at login");
    // From the other session, the marks swap.
    let other = sessions_of(&s, &laptop);
    assert_eq!(other.iter().find(|x| x["current"] == true).unwrap()["id"], sid_of(&laptop.access));
    // An ended session is not listed; an API key cannot list sessions.
    s.post("/api/auth/logout").bearer(&laptop.access).send().expect(200);
    assert_eq!(sessions_of(&s, &phone).len(), 1);
    let key = s.api_key(&phone, &json!({"name": "k"}))["key"].as_str().unwrap().to_owned();
    s.get("/api/auth/sessions").api_key(&key).send().expect_error(403, "forbidden");
    s.get("/api/auth/sessions").send().expect_error(401, "unauthorized");
}

#[test]
fn ending_one_session_takes_effect_on_its_next_request_and_only_for_its_owner() {
    let s = main();
    let (email, id) = s.register("sessions-revoke");
    let a = s.login(&email, PASSWORD, id.clone());
    let b = s.login(&email, PASSWORD, id.clone());
    let (sid_a, sid_b) = (sid_of(&a.access), sid_of(&b.access));
    // Another user's session, an unknown id, a malformed one: 404 alike (no oracle).
    let stranger = s.user("sessions-stranger");
    let r = s.req("DELETE", &format!("/api/auth/sessions/{sid_b}")).bearer(&stranger.access).send();
    r.expect_error(404, "not_found");
    s.get("/api/auth/me").bearer(&b.access).send().expect(200);
    s.req("DELETE", "/api/auth/sessions/00000000-0000-4000-8000-000000000000")
        .bearer(&a.access)
        .send()
        .expect_error(404, "not_found");
    s.req("DELETE", "/api/auth/sessions/not-a-session").bearer(&a.access).send().expect_error(404, "not_found");

    let r = s.req("DELETE", &format!("/api/auth/sessions/{sid_b}")).bearer(&a.access).send();
    r.expect(200);
    assert!(r.set_cookies().is_empty(), "ending another session keeps this one's cookies");
    s.get("/api/auth/me").bearer(&b.access).send().expect(401);
    s.post("/api/auth/refresh").json(&json!({"refreshToken": b.refresh})).send().expect(401);
    s.get("/api/auth/me").bearer(&a.access).send().expect(200);
    s.req("DELETE", &format!("/api/auth/sessions/{sid_b}")).bearer(&a.access).send().expect_error(404, "not_found");
    let rows = eventually(5, || Some(audit_rows(&s, "auth.session_revoke", &id)).filter(|r| !r.is_empty()));
    assert!(rows[0].1.contains("\"current\":false"), "{rows:?}");
    let ended: String =
        s.d1().query_row("SELECT revoke_reason FROM refresh_families WHERE id = ?1", [&sid_b], |r| r.get(0)).unwrap();
    assert_eq!(ended, "revoked");

    // Ending the current session clears its cookies.
    let r = s.req("DELETE", &format!("/api/auth/sessions/{sid_a}")).bearer(&a.access).send();
    r.expect(200);
    assert!(r.set_cookies().iter().any(|c| c.starts_with("__Host-access=;") && c.contains("Max-Age=0")), "{r:?}");
    s.get("/api/auth/me").bearer(&a.access).send().expect(401);
}

#[test]
fn logout_others_keeps_only_the_callers_session() {
    let s = main();
    let (email, id) = s.register("sessions-others");
    let [a, b, c] = [(); 3].map(|_| s.login(&email, PASSWORD, id.clone()));
    s.post("/api/auth/logout")
        .bearer(&a.access)
        .json(&json!({"all": true, "others": true}))
        .send()
        .expect_error(400, "validation_failed");
    s.post("/api/auth/logout").bearer(&a.access).json(&json!({"others": "yes"})).send().expect(400);
    let r = s.post("/api/auth/logout").bearer(&a.access).json(&json!({"others": true})).send();
    r.expect(200);
    assert_eq!(r.json()["message"], "Logged out of every other session");
    assert!(r.set_cookies().is_empty(), "the caller stays signed in: {r:?}");
    s.get("/api/auth/me").bearer(&a.access).send().expect(200);
    for other in [&b, &c] {
        s.get("/api/auth/me").bearer(&other.access).send().expect(401);
        s.post("/api/auth/refresh").json(&json!({"refreshToken": other.refresh})).send().expect(401);
    }
    let list = sessions_of(&s, &a);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], sid_of(&a.access));
    // The kept session still refreshes, and a session opened afterwards is live.
    s.post("/api/auth/refresh").json(&json!({"refreshToken": a.refresh})).send().expect(200);
    let d = s.login(&email, PASSWORD, id.clone());
    s.get("/api/auth/me").bearer(&d.access).send().expect(200);
    // Logout-all still ends every session, the kept one included.
    s.post("/api/auth/logout").bearer(&d.access).json(&json!({"all": true})).send().expect(200);
    s.get("/api/auth/me").bearer(&a.access).send().expect(401);
}

#[test]
fn a_refresh_from_another_browser_ends_the_session_while_a_browser_update_does_not() {
    let s = main();
    let (email, id) = s.register("sessions-bind");
    let u = login_as(&s, &email, &id, CHROME_120, &unique_ip());
    // Same browser family from another address (IP binding is off by default).
    let r = refresh_as(&s, &u.refresh, CHROME_120, &unique_ip());
    r.expect(200);
    // A browser update (another version string) is the same client.
    let r = refresh_as(&s, r.json()["refreshToken"].as_str().unwrap(), CHROME_121, &unique_ip());
    r.expect(200);
    let (token, access) =
        (r.json()["refreshToken"].as_str().unwrap().to_owned(), r.json()["accessToken"].as_str().unwrap().to_owned());
    // The token copied to another browser: refused, and the session is over for everyone.
    let r = refresh_as(&s, &token, FIREFOX, "198.51.100.23");
    r.expect_error(401, "invalid_token");
    refresh_as(&s, &token, CHROME_121, &unique_ip()).expect(401);
    s.get("/api/auth/me").bearer(&access).send().expect(401);
    let rows = eventually(5, || Some(audit_rows(&s, "auth.session_binding_mismatch", &id)).filter(|r| !r.is_empty()));
    let meta = &rows[0].1;
    assert!(meta.contains("\"ipPrefix\":\"198.51.100.0/24\""), "{meta}");
    assert!(!meta.contains("Firefox") && !meta.contains("198.51.100.23"), "{meta}");
    let (reason, binding): (String, String) = s
        .d1()
        .query_row("SELECT revoke_reason, binding FROM refresh_families WHERE id = ?1", [sid_of(&access)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(reason, "binding_mismatch");
    assert!(binding.starts_with("ua:") && !binding.contains("Chrome"), "a keyed hash, not the header: {binding}");
}

#[test]
fn ip_prefix_binding_tolerates_a_new_address_inside_the_network_only() {
    let s = bound();
    let (email, id) = s.register("sessions-net");
    let u = login_as(&s, &email, &id, FIREFOX, "203.0.113.5");
    let r = refresh_as(&s, &u.refresh, FIREFOX, "203.0.113.77");
    r.expect(200);
    let token = r.json()["refreshToken"].as_str().unwrap().to_owned();
    refresh_as(&s, &token, FIREFOX, "203.0.114.5").expect_error(401, "invalid_token");
    refresh_as(&s, &token, FIREFOX, "203.0.113.5").expect(401);
    // IPv6: the /64.
    let v6 = login_as(&s, &email, &id, FIREFOX, "2001:db8:1:2::10");
    let r = refresh_as(&s, &v6.refresh, FIREFOX, "2001:db8:1:2:ffff::1");
    r.expect(200);
    refresh_as(&s, r.json()["refreshToken"].as_str().unwrap(), FIREFOX, "2001:db8:1:3::10")
        .expect_error(401, "invalid_token");
}
