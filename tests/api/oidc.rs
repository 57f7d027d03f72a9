//! Third-party (OIDC) tokens: the `oidc` server trusts an identity provider that this test
//! binary serves itself on OIDC_PORT (picked by scripts/test.sh): its OpenID configuration
//! and JWKS, with keys made here (RSA-2048 and P-256), so every token is signed as a real
//! provider would sign it. The `oidcdown` server's JWKS URL (OIDC_DEAD_PORT) never answers.
//!
//! The provider's state (published keys, down or not) is shared by every test here and the
//! worker keeps one key-set cache per isolate, so everything that changes that state or
//! makes the worker refetch (an unknown `kid`) is in one ordered test,
//! [`key_rotation_then_an_unknown_kid_flood_then_the_provider_down`]; the others only use
//! the keys that are always published (`rsa-1`, `ec-1`).

use crate::helpers::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const AUDIENCE: &str = "secure-api-tests";
/// The `EXTERNAL_JWT_ISSUER` of the `oidcdown` server (tests/servers.json).
const DOWN_ISSUER: &str = "https://idp.oidcdown.invalid";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A fresh subject no other test uses.
fn unique_sub(tag: &str) -> String {
    let r = random_bytes::<8>();
    format!("{tag}|{}", r.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

// ---------------------------------------------------------------------------------------
// Keys and signing

enum KeyPair {
    Rsa(Box<rsa::RsaPrivateKey>),
    Ec(p256::ecdsa::SigningKey),
}

/// A provider's signing key with its `kid`.
struct Key {
    kid: String,
    pair: KeyPair,
}

impl Key {
    fn rsa(kid: &str) -> Key {
        let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
        Key { kid: kid.to_owned(), pair: KeyPair::Rsa(Box::new(private)) }
    }

    fn ec(kid: &str) -> Key {
        Key { kid: kid.to_owned(), pair: KeyPair::Ec(p256::ecdsa::SigningKey::random(&mut rand_core::OsRng)) }
    }

    fn alg(&self) -> &'static str {
        match self.pair {
            KeyPair::Rsa(_) => "RS256",
            KeyPair::Ec(_) => "ES256",
        }
    }

    /// The public JWK, as a provider publishes it.
    fn jwk(&self) -> Value {
        match &self.pair {
            KeyPair::Rsa(k) => {
                use rsa::traits::PublicKeyParts;
                json!({"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                       "n": b64(&k.n().to_bytes_be()), "e": b64(&k.e().to_bytes_be())})
            }
            KeyPair::Ec(k) => {
                let point = k.verifying_key().to_encoded_point(false);
                json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig", "alg": "ES256",
                       "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())})
            }
        }
    }

    /// The signature of `input` with this key: RS256 (PKCS#1 v1.5, SHA-256) or ES256
    /// (fixed 64-byte `r || s`).
    fn signature(&self, input: &[u8]) -> Vec<u8> {
        use rsa::signature::{SignatureEncoding, Signer};
        match &self.pair {
            KeyPair::Rsa(k) => rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new((**k).clone()).sign(input).to_vec(),
            KeyPair::Ec(k) => {
                let sig: p256::ecdsa::Signature = k.sign(input);
                sig.to_bytes().to_vec()
            }
        }
    }

    /// A JWT with `header` and `claims`, signed with this key whatever the header says.
    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let sig = self.signature(input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    /// A JWT with the usual header (`alg` of this key, `typ: JWT`, its `kid`).
    fn token(&self, claims: &Value) -> String {
        self.sign(&json!({"alg": self.alg(), "typ": "JWT", "kid": self.kid}), claims)
    }
}

/// The keys of the tests: the provider always publishes `rsa` and `ec`; `enc` is published
/// for encryption only (`use: enc`); `rot1` and `rot2` are for the rotation.
struct Keys {
    rsa: Key,
    ec: Key,
    enc: Key,
    rot1: Key,
    rot2: Key,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        rsa: Key::rsa("rsa-1"),
        ec: Key::ec("ec-1"),
        enc: Key::ec("enc-1"),
        rot1: Key::ec("rot-1"),
        rot2: Key::ec("rot-2"),
    })
}

// ---------------------------------------------------------------------------------------
// The identity provider

/// A minimal OpenID provider: `GET /.well-known/openid-configuration` and `GET /jwks.json`
/// (`Cache-Control: max-age=600`), one request per connection.
struct Provider {
    issuer: String,
    /// The JWKS's `keys`.
    published: Mutex<Vec<Value>>,
    /// When set, every connection is closed without an answer.
    down: AtomicBool,
    /// Requests for the JWKS received (answered or not).
    jwks_fetches: AtomicUsize,
    discovery_fetches: AtomicUsize,
}

impl Provider {
    fn jwks_fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }

    fn serve(&'static self, mut stream: TcpStream) {
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut request = Vec::new();
        let mut buf = [0u8; 2048];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let head = String::from_utf8_lossy(&request);
        let mut line = head.lines().next().unwrap_or_default().split(' ');
        let (method, target) = (line.next().unwrap_or_default(), line.next().unwrap_or_default());
        let path = target.split('?').next().unwrap_or_default();
        match path {
            "/jwks.json" => self.jwks_fetches.fetch_add(1, Ordering::SeqCst),
            "/.well-known/openid-configuration" => self.discovery_fetches.fetch_add(1, Ordering::SeqCst),
            _ => 0,
        };
        if self.down.load(Ordering::SeqCst) {
            // A provider that accepts connections but never answers: closed at once.
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
        let (status, body) = match (method, path) {
            ("GET", "/.well-known/openid-configuration") => (
                "200 OK",
                json!({"issuer": self.issuer, "jwks_uri": format!("{}/jwks.json", self.issuer),
                       "id_token_signing_alg_values_supported": ["RS256", "ES256"]})
                .to_string(),
            ),
            ("GET", "/jwks.json") => {
                let keys = self.published.lock().unwrap_or_else(|e| e.into_inner()).clone();
                ("200 OK", json!({ "keys": keys }).to_string())
            }
            _ => ("404 Not Found", json!({"error": "not found"}).to_string()),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nCache-Control: max-age=600\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes());
        let _ = stream.flush();
    }
}

/// The provider, started on first use on 127.0.0.1:OIDC_PORT.
fn provider() -> &'static Provider {
    static PROVIDER: OnceLock<&'static Provider> = OnceLock::new();
    PROVIDER.get_or_init(|| {
        let port: u16 = std::env::var("OIDC_PORT")
            .expect("OIDC_PORT is not set: run the suite with `npm test`")
            .parse()
            .expect("OIDC_PORT is a port");
        let k = keys();
        let mut enc = k.enc.jwk();
        enc["use"] = json!("enc");
        enc.as_object_mut().unwrap().remove("alg");
        let p: &'static Provider = Box::leak(Box::new(Provider {
            issuer: format!("http://127.0.0.1:{port}"),
            published: Mutex::new(vec![k.rsa.jwk(), k.ec.jwk(), enc, k.rot1.jwk()]),
            down: AtomicBool::new(false),
            jwks_fetches: AtomicUsize::new(0),
            discovery_fetches: AtomicUsize::new(0),
        }));
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| panic!("OIDC_PORT {port}: {e}"));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || p.serve(stream));
            }
        });
        p
    })
}

/// The `oidc` server, with its provider up.
fn idp() -> (Server, &'static Provider) {
    (oidc(), provider())
}

/// Claims the `oidc` server accepts, for `sub`.
fn claims(p: &Provider, sub: &str) -> Value {
    let t = now();
    json!({"iss": p.issuer, "aud": AUDIENCE, "sub": sub, "iat": t - 5, "exp": t + 600})
}

/// A valid RS256 token for `sub`.
fn rs256(p: &Provider, sub: &str) -> String {
    keys().rsa.token(&claims(p, sub))
}

fn me(s: &Server, token: &str) -> Resp {
    s.get("/api/auth/me").bearer(token).send()
}

/// The local user a token signs in as (its /me).
fn me_ok(s: &Server, token: &str) -> Value {
    let r = me(s, token);
    r.expect(200);
    r.json()
}

// ---------------------------------------------------------------------------------------
// Accepted tokens and the user they map to

#[test]
fn valid_rs256_and_es256_tokens_sign_in_as_a_provisioned_user_with_the_provider() {
    let (s, p) = idp();
    for key in [&keys().rsa, &keys().ec] {
        let sub = unique_sub(key.alg());
        let v = me_ok(&s, &key.token(&claims(p, &sub)));
        assert_eq!(v["provider"], p.issuer.as_str(), "{}: {v}", key.alg());
        assert_eq!(v["role"], "user");
        assert_eq!(v["isActive"], true);
        assert!(v["id"].as_str().is_some_and(|id| !id.is_empty()));
    }
    // `aud` may be a list that contains the audience; `typ: at+jwt` is an access token.
    let mut c = claims(p, &unique_sub("aud-list"));
    c["aud"] = json!(["another-api", AUDIENCE]);
    me(&s, &keys().rsa.token(&c)).expect(200);
    let t = keys().ec.sign(&json!({"alg": "ES256", "typ": "at+jwt", "kid": "ec-1"}), &claims(p, &unique_sub("at")));
    me(&s, &t).expect(200);
}

#[test]
fn the_same_subject_is_the_same_user_with_one_identity_row() {
    let (s, p) = idp();
    let sub = unique_sub("twice");
    let first = me_ok(&s, &rs256(p, &sub));
    let second = me_ok(&s, &keys().ec.token(&claims(p, &sub)));
    assert_eq!(first["id"], second["id"], "same (iss, sub), same user, whichever key signed");
    let id = first["id"].as_str().unwrap();
    let rows: Vec<(String, String, String)> = {
        let conn = s.d1();
        let mut st =
            conn.prepare("SELECT issuer, subject, user_id FROM external_identities WHERE subject = ?1").unwrap();
        st.query_map([&sub], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(|r| r.unwrap()).collect()
    };
    assert_eq!(rows, vec![(p.issuer.clone(), sub.clone(), id.to_owned())]);
    let users: i64 = s.d1().query_row("SELECT COUNT(*) FROM users WHERE id = ?1", [id], |r| r.get(0)).unwrap();
    assert_eq!(users, 1);
    // Another subject is another user.
    assert_ne!(me_ok(&s, &rs256(p, &unique_sub("other")))["id"], first["id"]);
}

#[test]
fn only_a_verified_email_is_taken_and_never_one_an_account_already_has() {
    let (s, p) = idp();
    let verified = unique_email("ext-verified");
    let mut c = claims(p, &unique_sub("verified"));
    c["email"] = json!(verified);
    c["email_verified"] = json!(true);
    assert_eq!(me_ok(&s, &rs256_with(&c))["email"], verified.as_str());

    let unverified = unique_email("ext-unverified");
    let mut c = claims(p, &unique_sub("unverified"));
    c["email"] = json!(unverified);
    c["email_verified"] = json!(false);
    let v = me_ok(&s, &rs256_with(&c));
    assert_ne!(v["email"], unverified.as_str(), "an unverified email is not the account's: {v}");
    assert!(v["email"].as_str().unwrap().starts_with("external:"), "placeholder: {v}");

    // A verified email that a password account already has: not linked to it.
    let (taken, owner_id) = s.register("ext-owner");
    let mut c = claims(p, &unique_sub("taken"));
    c["email"] = json!(taken);
    c["email_verified"] = json!(true);
    let v = me_ok(&s, &rs256_with(&c));
    assert_ne!(v["id"], owner_id.as_str(), "an existing account is never taken over by email");
    assert!(v["email"].as_str().unwrap().starts_with("external:"), "placeholder: {v}");
    // The password account is untouched.
    s.login(&taken, PASSWORD, owner_id);
}

fn rs256_with(claims: &Value) -> String {
    keys().rsa.token(claims)
}

#[test]
fn provisioning_is_audited() {
    let (s, p) = idp();
    let id = me_ok(&s, &rs256(p, &unique_sub("audit")))["id"].as_str().unwrap().to_owned();
    let rows = eventually(10, || {
        let rows = audit_rows(&s, "auth.external_user_provisioned", &id);
        (!rows.is_empty()).then_some(rows)
    });
    assert_eq!(rows.len(), 1);
    let meta: Value = serde_json::from_str(&rows[0].1).unwrap();
    assert_eq!(meta["issuer"], p.issuer.as_str(), "{meta}");
    // A second token of the same subject provisions nothing.
    me(&s, &rs256(p, &external_sub_of(&s, &id))).expect(200);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(audit_rows(&s, "auth.external_user_provisioned", &id).len(), 1);
}

/// The subject that user `id` was provisioned for.
fn external_sub_of(s: &Server, id: &str) -> String {
    s.d1().query_row("SELECT subject FROM external_identities WHERE user_id = ?1", [id], |r| r.get(0)).unwrap()
}

#[test]
fn a_post_created_with_a_third_party_token_belongs_to_the_mapped_user() {
    let (s, p) = idp();
    let token = rs256(p, &unique_sub("author"));
    let id = me_ok(&s, &token)["id"].as_str().unwrap().to_owned();
    let r = s
        .post("/api/posts")
        .bearer(&token)
        .json(&json!({"title": "From a provider", "body": "Body text", "published": true}))
        .send();
    r.expect(201);
    let post = r.json();
    assert_eq!(post["authorId"], id.as_str());
    let reader = s.user("oidc-reader");
    let r = s.get(&format!("/api/posts/{}", post["id"].as_str().unwrap())).bearer(&reader.access).send();
    r.expect(200);
    assert_eq!(r.json()["authorId"], id.as_str());
}

#[test]
fn our_own_tokens_still_work_on_a_server_with_a_provider() {
    let (s, _) = idp();
    let u = s.user("oidc-own");
    let v = me_ok(&s, &u.access);
    assert_eq!(v["id"], u.id.as_str());
    assert_eq!(v["email"], u.email.as_str());
    assert!(v.get("provider").is_none(), "no provider for our own session: {v}");
    // And session-only operations work for them.
    s.get("/api/auth/sessions").bearer(&u.access).send().expect(200);
}

// ---------------------------------------------------------------------------------------
// Refused tokens

/// A change to valid claims.
type ClaimEdit = Box<dyn Fn(&mut Value)>;

#[test]
fn tokens_failing_a_claim_rule_are_401_invalid_token() {
    let (s, p) = idp();
    let k = &keys().rsa;
    let t = now();
    let edits: Vec<(&str, ClaimEdit)> = vec![
        ("another issuer", Box::new(|c| c["iss"] = json!("https://evil.example.com"))),
        ("issuer with a trailing slash", Box::new(|c| c["iss"] = json!(format!("{}/", c["iss"].as_str().unwrap())))),
        ("another audience", Box::new(|c| c["aud"] = json!("another-api"))),
        ("audience list without ours", Box::new(|c| c["aud"] = json!(["another-api"]))),
        ("no audience", Box::new(|c| drop(c.as_object_mut().unwrap().remove("aud")))),
        ("expired beyond the skew", Box::new(move |c| c["exp"] = json!(t - 120))),
        ("no exp", Box::new(|c| drop(c.as_object_mut().unwrap().remove("exp")))),
        ("nbf in the future", Box::new(move |c| c["nbf"] = json!(t + 120))),
        ("iat in the future", Box::new(move |c| c["iat"] = json!(t + 120))),
        ("refresh token (token_use)", Box::new(|c| c["token_use"] = json!("refresh"))),
        ("refresh token (typ claim)", Box::new(|c| c["typ"] = json!("refresh"))),
        ("empty sub", Box::new(|c| c["sub"] = json!(""))),
        ("sub of 256 characters", Box::new(|c| c["sub"] = json!("s".repeat(256)))),
        ("no sub", Box::new(|c| drop(c.as_object_mut().unwrap().remove("sub")))),
    ];
    for (what, edit) in &edits {
        let mut c = claims(p, &unique_sub("claims"));
        edit(&mut c);
        let r = me(&s, &k.token(&c));
        assert_eq!(r.status, 401, "{what}: {}", r.body);
        r.expect_error(401, "invalid_token");
    }
    // Within the skew (60 s) an expired token still passes.
    let mut c = claims(p, &unique_sub("skew"));
    c["exp"] = json!(t - 30);
    me(&s, &k.token(&c)).expect(200);
}

#[test]
fn tokens_failing_a_header_or_signature_rule_are_401_invalid_token() {
    let (s, p) = idp();
    let (rsa, ec) = (&keys().rsa, &keys().ec);
    let c = claims(p, &unique_sub("header"));
    let payload = b64(c.to_string().as_bytes());
    let mut cases: Vec<(&str, String)> = Vec::new();

    // `alg: none`, unsigned.
    cases.push(("alg none", format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#))));
    cases.push(("alg none with a kid", format!("{}.{payload}.", b64(br#"{"alg":"none","kid":"rsa-1"}"#))));
    // HS256 keyed with the provider's public key (algorithm confusion), as the JWK text
    // and as the modulus bytes.
    let hs_input = format!("{}.{payload}", b64(br#"{"alg":"HS256","typ":"JWT","kid":"rsa-1"}"#));
    let n = URL_SAFE_NO_PAD.decode(rsa.jwk()["n"].as_str().unwrap()).unwrap();
    for secret in [rsa.jwk().to_string().into_bytes(), n] {
        cases.push(("HS256 with the public key", format!("{hs_input}.{}", hmac_sha256(&secret, hs_input.as_bytes()))));
    }
    // ES256 header naming the RSA key (signed with the EC key so that it is well-formed).
    cases.push(("ES256 with the RSA kid", ec.sign(&json!({"alg": "ES256", "typ": "JWT", "kid": "rsa-1"}), &c)));
    // RS256 header naming the EC key.
    cases.push(("RS256 with the EC kid", rsa.sign(&json!({"alg": "RS256", "typ": "JWT", "kid": "ec-1"}), &c)));
    // Names `ec-1` but is signed by another P-256 key.
    cases.push(("signed by another key", ec_signed_by_other(&c)));
    // Payload changed after signing (another subject).
    let good = rsa.token(&c);
    let mut parts: Vec<&str> = good.split('.').collect();
    let mut forged = c.clone();
    forged["sub"] = json!(unique_sub("victim"));
    let forged_payload = b64(forged.to_string().as_bytes());
    parts[1] = &forged_payload;
    cases.push(("tampered payload", parts.join(".")));
    // Signature bit flipped.
    let mut sig = URL_SAFE_NO_PAD.decode(good.rsplit('.').next().unwrap()).unwrap();
    sig[10] ^= 1;
    cases.push(("tampered signature", format!("{}.{}", good.rsplit_once('.').unwrap().0, b64(&sig))));
    // A `crit` header, and a `typ` that is not a JWT access token.
    cases.push(("crit header", rsa.sign(&json!({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"]}), &c)));
    cases.push(("typ JWE", rsa.sign(&json!({"alg": "RS256", "kid": "rsa-1", "typ": "JWE"}), &c)));
    // Algorithms not in the allowed list.
    cases.push(("RS384", rsa.sign(&json!({"alg": "RS384", "kid": "rsa-1"}), &c)));
    // Longer than 8 KiB (and validly signed).
    let mut big = c.clone();
    big["pad"] = json!("x".repeat(8 * 1024));
    let big = rsa.token(&big);
    assert!(big.len() > 8192);
    cases.push(("over 8 KiB", big));
    // Not a JWT at all.
    cases.push(("garbage", "not.a.jwt".to_owned()));
    cases.push(("two segments", payload.clone() + "." + &payload));

    for (what, token) in &cases {
        let r = me(&s, token);
        assert_eq!(r.status, 401, "{what}: {}", r.body);
        r.expect_error(401, "invalid_token");
    }
    // The untampered token, for contrast.
    me(&s, &good).expect(200);
}

/// A token naming `ec-1` but signed by another P-256 key.
fn ec_signed_by_other(c: &Value) -> String {
    let other = Key::ec("ec-1");
    other.token(c)
}

fn hmac_sha256(key: &[u8], input: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(input);
    b64(&mac.finalize().into_bytes())
}

#[test]
fn a_third_party_token_is_refused_where_no_provider_is_configured() {
    let (_, p) = idp();
    // `main` has no EXTERNAL_JWT_ISSUER: the token goes to our own verifier, which refuses it.
    me(&main(), &rs256(p, &unique_sub("elsewhere"))).expect_error(401, "unauthorized");
}

#[test]
fn third_party_requests_count_in_the_mapped_users_rate_limit_window() {
    let (s, p) = idp();
    let sub = unique_sub("limited");
    let remaining = |r: &Resp| -> i64 { r.header("x-ratelimit-remaining").unwrap().parse().unwrap() };
    let first = me(&s, &rs256(p, &sub));
    first.expect(200);
    assert_eq!(first.header("x-ratelimit-limit"), Some("1000"), "RATE_LIMIT_USER");
    // Another token of the same subject, from another IP: the same user's window.
    let second = me(&s, &keys().ec.token(&claims(p, &sub)));
    second.expect(200);
    assert_eq!(remaining(&second), remaining(&first) - 1);
}

// ---------------------------------------------------------------------------------------
// What a third-party caller may do

#[test]
fn session_operations_are_403_for_a_third_party_token() {
    let (s, p) = idp();
    let token = rs256(p, &unique_sub("nosession"));
    me(&s, &token).expect(200);
    s.req("PUT", "/api/auth/password")
        .bearer(&token)
        .json(&json!({"currentPassword": PASSWORD, "newPassword": "New-Password-2"}))
        .send()
        .expect_error(403, "forbidden");
    s.post("/api/auth/logout").bearer(&token).send().expect_error(403, "forbidden");
    s.get("/api/auth/sessions").bearer(&token).send().expect_error(403, "forbidden");
    // Still signed in afterwards.
    me(&s, &token).expect(200);
}

#[test]
fn an_admin_disabling_the_mapped_user_locks_the_token_out_at_once() {
    let (s, p) = idp();
    let token = rs256(p, &unique_sub("disabled"));
    let id = me_ok(&s, &token)["id"].as_str().unwrap().to_owned();
    s.admin_patch(&id, &json!({"isActive": false})).expect(200);
    me(&s, &token).expect_error(403, "account_disabled");
    // A fresh token of the same subject too: disabling is not undone by signing in again.
    let sub = external_sub_of(&s, &id);
    me(&s, &rs256(p, &sub)).expect_error(403, "account_disabled");
    s.admin_patch(&id, &json!({"isActive": true})).expect(200);
    me(&s, &token).expect(200);
}

#[test]
fn the_provider_cookie_signs_in_reads_and_needs_the_csrf_check_for_writes() {
    let (s, p) = idp();
    let token = rs256(p, &unique_sub("cookie"));
    let cookie = format!("hanko={token}");
    let r = s.get("/api/auth/me").header("Cookie", &cookie).send();
    r.expect(200);
    assert_eq!(r.json()["provider"], p.issuer.as_str());
    let id = r.json()["id"].as_str().unwrap().to_owned();

    let body = json!({"title": "Cookie post", "body": "Body text", "published": false});
    // A cookie-authenticated write without Origin or Sec-Fetch-Site, or from a foreign
    // origin: refused.
    s.post("/api/posts").header("Cookie", &cookie).json(&body).send().expect_error(403, "csrf_rejected");
    s.post("/api/posts")
        .header("Cookie", &cookie)
        .header("Origin", "https://evil.example")
        .json(&body)
        .send()
        .expect_error(403, "csrf_rejected");
    s.post("/api/posts")
        .header("Cookie", &cookie)
        .header("Sec-Fetch-Site", "cross-site")
        .json(&body)
        .send()
        .expect_error(403, "csrf_rejected");
    // From an allowed origin (CORS_ORIGINS), or same-origin fetch metadata: accepted.
    let r = s.post("/api/posts").header("Cookie", &cookie).header("Origin", "http://localhost:3000").json(&body).send();
    r.expect(201);
    assert_eq!(r.json()["authorId"], id.as_str());
    let r = s.post("/api/posts").header("Cookie", &cookie).header("Sec-Fetch-Site", "same-origin").json(&body).send();
    r.expect(201);
    assert_eq!(r.json()["authorId"], id.as_str());

    // A bad token in the cookie is 401 like in the header.
    let mut c = claims(p, &unique_sub("cookie-bad"));
    c["aud"] = json!("another-api");
    s.get("/api/auth/me")
        .header("Cookie", &format!("hanko={}", rs256_with(&c)))
        .send()
        .expect_error(401, "invalid_token");
}

// ---------------------------------------------------------------------------------------
// The provider's keys over time

/// Resets the provider to up when the sequence ends, even on failure.
struct UpAgain(&'static Provider);

impl Drop for UpAgain {
    fn drop(&mut self) {
        self.0.down.store(false, Ordering::SeqCst);
    }
}

/// A token naming a `kid` the provider never published.
fn random_kid_token(p: &Provider) -> String {
    let kid = format!("kid-{}", b64(&random_bytes::<9>()));
    keys().ec.sign(&json!({"alg": "ES256", "typ": "JWT", "kid": kid}), &claims(p, &unique_sub("flood")))
}

#[test]
fn key_rotation_then_an_unknown_kid_flood_then_the_provider_down() {
    let (s, p) = idp();
    let k = keys();
    let _up = UpAgain(p);

    // The worker has (or now gets) the key set, found through discovery.
    let old = k.rot1.token(&claims(p, &unique_sub("rot-old")));
    me(&s, &old).expect(200);
    assert!(p.discovery_fetches.load(Ordering::SeqCst) >= 1, "keys found through the OpenID configuration");
    assert!(p.jwks_fetches() >= 1);
    // Let any fetch of the suite's first requests land before counting.
    std::thread::sleep(Duration::from_secs(1));

    // 1. Rotation: `rot-2` published, `rot-1` removed. A token with the new kid is accepted
    // after one refetch; the old key is gone with it.
    {
        let mut published = p.published.lock().unwrap();
        published.retain(|j| j["kid"] != "rot-1");
        published.push(k.rot2.jwk());
    }
    let before = p.jwks_fetches();
    me(&s, &k.rot2.token(&claims(p, &unique_sub("rot-new")))).expect(200);
    let refetches = p.jwks_fetches() - before;
    assert_eq!(refetches, 1, "one refetch for the new kid");
    me(&s, &old).expect_error(401, "invalid_token");
    me(&s, &k.rot1.token(&claims(p, &unique_sub("rot-old2")))).expect_error(401, "invalid_token");

    // 2. A flood of unknown kids: each 401, and the provider sees at most a few fetches
    // (one refetch per 30 s). A key published for encryption only is never used either.
    let before = p.jwks_fetches();
    let started = Instant::now();
    for i in 0..200 {
        let r = me(&s, &random_kid_token(p));
        assert_eq!(r.status, 401, "request {i}: {}", r.body);
        r.expect_error(401, "invalid_token");
    }
    me(&s, &k.enc.token(&claims(p, &unique_sub("enc")))).expect_error(401, "invalid_token");
    let flood = p.jwks_fetches() - before;
    let flood_secs = started.elapsed().as_secs();
    assert!(flood <= 3, "{flood} JWKS fetches for 200 unknown kids in {flood_secs} s");
    // Known keys are unaffected by the flood.
    me(&s, &rs256(p, &unique_sub("after-flood"))).expect(200);

    // 3. The provider goes down: tokens of known keys are still accepted from the cached
    // set, also after a refetch (for an unknown kid, once 30 s have passed) failed.
    p.down.store(true, Ordering::SeqCst);
    me(&s, &k.rot2.token(&claims(p, &unique_sub("down-1")))).expect(200);
    me(&s, &rs256(p, &unique_sub("down-2"))).expect(200);
    std::thread::sleep(Duration::from_secs(31));
    let before = p.jwks_fetches();
    me(&s, &random_kid_token(p)).expect_error(401, "invalid_token");
    assert_eq!(p.jwks_fetches() - before, 1, "the unknown kid tried one refetch, which failed");
    me(&s, &k.rot2.token(&claims(p, &unique_sub("down-3")))).expect(200);
    me(&s, &keys().ec.token(&claims(p, &unique_sub("down-4")))).expect(200);
}

#[test]
fn with_no_key_set_and_the_provider_unreachable_a_token_is_503() {
    let s = oidcdown();
    let t = now();
    let c = json!({"iss": DOWN_ISSUER, "aud": AUDIENCE, "sub": unique_sub("down"), "iat": t, "exp": t + 600});
    let token = keys().rsa.token(&c);
    me(&s, &token).expect_error(503, "service_unavailable");
    // Again at once (no fetch retried within 5 s) and after that: still 503, never a 200
    // or a 401 for a token that may well be good.
    me(&s, &token).expect_error(503, "service_unavailable");
    std::thread::sleep(Duration::from_secs(6));
    me(&s, &token).expect_error(503, "service_unavailable");
    // A token refused before the keys are needed is still 401.
    let unsigned = format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(c.to_string().as_bytes()));
    me(&s, &unsigned).expect_error(401, "invalid_token");
}
