//! HS256 access tokens (RFC 7519 JWTs in JWS compact serialization, RFC 7515 §7.1):
//! signing, and a verifier that pins the algorithm before anything else.
//!
//! Verification order is deliberate (RFC 8725 "JWT Best Current Practices" §2.1,
//! §3.1, §3.8; OWASP JWT Cheat Sheet): size cap → shape → header → `alg` must be
//! exactly `HS256` (no `none`, no other HMAC, no asymmetric algorithms, so there is
//! no key-confusion) → key selected by `kid` from the configured keys only → HMAC
//! checked in constant time over `header.payload` → only then are the claims parsed
//! and checked (`typ`, `iss`, `aud`, `exp`, `nbf`, `iat`). No claim content is
//! trusted before the signature is.
//!
//! Key rotation: tokens carry `kid` = [`kid_for`] of the secret; the verifier is
//! given the current and the previous key, so tokens signed before a rotation stay
//! valid until they expire.

use crate::json::{Invalid, Json};
use serde::Serialize;

use crate::crypto::encoding::{b64url_decode, b64url_encode};
use crate::crypto::mac::{hmac_sha256, hmac_sha256_verify, sha256};

/// Longest token accepted. Ours are ~400 bytes; the cap bounds decoding and JSON
/// work on hostile input (RFC 8725 §3.1 spirit: reject before doing work).
pub const MAX_TOKEN_LEN: usize = 4096;

/// Tolerated clock skew for `iat` in the future (RFC 7519 §4.1.4–§4.1.6 allow
/// "some small leeway, usually no more than a few minutes").
pub const MAX_IAT_SKEW_SECS: i64 = 60;

/// The only accepted algorithm (RFC 7518 §3.2).
const ALG: &str = "HS256";
/// The header `typ` we write and, if present, require (RFC 7519 §5.1).
const TYP_JWT: &str = "JWT";
/// The `type` claim of an access token (refresh tokens are opaque, not JWTs).
const TOKEN_TYPE_ACCESS: &str = "access";

/// Key id for a secret: first 8 characters of base64url(SHA-256(secret)). Public;
/// reveals nothing useful about the secret, only which key signed a token.
pub fn kid_for(secret: &[u8]) -> String {
    b64url_encode(&sha256(secret)).chars().take(8).collect()
}

/// An HS256 signing/verification key with its key id.
#[derive(Clone)]
pub struct JwtKey {
    pub kid: String,
    secret: Vec<u8>,
}

impl JwtKey {
    /// A key for `secret`, with `kid` = [`kid_for`]`(secret)`. Secret strength
    /// (RFC 7518 §3.2: at least 256 bits) is enforced by the configuration loader.
    pub fn new(secret: &[u8]) -> JwtKey {
        JwtKey { kid: kid_for(secret), secret: secret.to_vec() }
    }
}

impl core::fmt::Debug for JwtKey {
    /// The secret is never printed.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JwtKey").field("kid", &self.kid).field("secret", &"[REDACTED]").finish()
    }
}

/// Claims of an access token.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct AccessClaims {
    pub sub: String,
    pub email: String,
    pub role: String,
    /// Token kind; always `"access"` for tokens this module accepts.
    #[serde(rename = "type")]
    pub typ: String,
    /// Session (refresh family) id, so a revoked session can be recognised.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    /// A single audience string; arrays are rejected.
    pub aud: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

/// Why a token was rejected. Callers map every variant to 401; the variant is for
/// logs and for telling "expired" (refreshable) apart from the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    /// Too long, wrong number of segments, empty segment, bad base64url, non-JSON
    /// header, duplicate header fields, `typ` other than `JWT`, or a `crit` header.
    Malformed,
    /// `alg` missing or anything other than exactly `HS256`.
    Algorithm,
    /// `kid` missing, not a string, or not one of the configured keys.
    UnknownKey,
    /// The HMAC does not verify under the key(s) with that `kid`.
    Signature,
    /// `exp <= now`.
    Expired,
    /// `nbf > now`, or `iat` more than [`MAX_IAT_SKEW_SECS`] in the future.
    NotYetValid,
    /// Signed by us but unacceptable: unparsable claims, `type` not `access`, wrong
    /// `iss` or `aud` (including an `aud` array).
    Claims,
}

impl core::fmt::Display for JwtError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            JwtError::Malformed => "malformed token",
            JwtError::Algorithm => "unsupported algorithm",
            JwtError::UnknownKey => "unknown key id",
            JwtError::Signature => "bad signature",
            JwtError::Expired => "token expired",
            JwtError::NotYetValid => "token not yet valid",
            JwtError::Claims => "invalid claims",
        };
        f.write_str(s)
    }
}

impl std::error::Error for JwtError {}

/// The header we write; field order gives exactly `{"alg":"HS256","typ":"JWT","kid":"…"}`.
#[derive(Serialize)]
struct OutHeader<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

impl AccessClaims {
    /// The claims from the JSON object of a payload: every member but `nbf` required and of
    /// its type (`nbf`: absent or null is none), none sent twice, unknown ones ignored
    /// (what a derived `Deserialize` accepted, read by hand: see `crate::json`).
    fn from_json(json: &Json) -> Result<AccessClaims, Invalid> {
        let m = json.members().ok_or(Invalid(""))?;
        Ok(AccessClaims {
            sub: m.string("sub")?,
            email: m.string("email")?,
            role: m.string("role")?,
            typ: m.string("type")?,
            sid: m.string("sid")?,
            iat: m.int("iat")?,
            exp: m.int("exp")?,
            iss: m.string("iss")?,
            aud: m.string("aud")?,
            nbf: m.opt_int("nbf")?,
        })
    }
}

/// The header fields we read. Values are kept as JSON so that a non-string `alg`
/// is an algorithm error rather than a parse error; absent or null is none. A field sent
/// twice fails the whole header, so `{"alg":"none","alg":"HS256"}` cannot confuse anyone.
struct InHeader<'a> {
    alg: Option<&'a Json>,
    typ: Option<&'a Json>,
    kid: Option<&'a Json>,
    crit: Option<&'a Json>,
}

impl<'a> InHeader<'a> {
    fn from_json(json: &'a Json) -> Option<InHeader<'a>> {
        let m = json.members()?;
        let field = |name| m.opt(name).ok();
        Some(InHeader { alg: field("alg")?, typ: field("typ")?, kid: field("kid")?, crit: field("crit")? })
    }
}

/// base64url(HMAC-SHA-256(secret, input)): the JWS HS256 signature of a signing
/// input (RFC 7515 §5.1 step 5, RFC 7518 §3.2).
pub fn hs256_sign_input(input: &[u8], secret: &[u8]) -> String {
    b64url_encode(&hmac_sha256(secret, input))
}

/// Sign `claims` with `key`: `b64url(header).b64url(claims).b64url(HMAC)`.
pub fn sign(claims: &AccessClaims, key: &JwtKey) -> String {
    let header = OutHeader { alg: ALG, typ: TYP_JWT, kid: &key.kid };
    // Serializing structs of strings and integers cannot fail in serde_json; should
    // it ever, the empty segment makes a token that `verify` rejects.
    let header_json = serde_json::to_string(&header).unwrap_or_default();
    let claims_json = serde_json::to_string(claims).unwrap_or_default();
    let signing_input = format!("{}.{}", b64url_encode(header_json.as_bytes()), b64url_encode(claims_json.as_bytes()));
    let signature = hs256_sign_input(signing_input.as_bytes(), &key.secret);
    format!("{signing_input}.{signature}")
}

/// Verify an access token against the configured keys (current first, previous
/// second) at time `now` (unix seconds). Never panics on any input.
pub fn verify(token: &str, keys: &[&JwtKey], now: i64, issuer: &str, audience: &str) -> Result<AccessClaims, JwtError> {
    // 1. Size cap before any work.
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed);
    }

    // 2. Exactly three non-empty segments.
    let mut parts = token.split('.');
    let (header_b64, payload_b64, signature_b64) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() && !s.is_empty() => (h, p, s),
        _ => return Err(JwtError::Malformed),
    };

    // 3. Header JSON (an object, no duplicate fields).
    let header_bytes = b64url_decode(header_b64).ok_or(JwtError::Malformed)?;
    if !is_json_object(&header_bytes) {
        return Err(JwtError::Malformed);
    }
    let header_json = Json::parse_bytes(&header_bytes).ok_or(JwtError::Malformed)?;
    let header = InHeader::from_json(&header_json).ok_or(JwtError::Malformed)?;

    // 4. Algorithm pinned: exactly "HS256".
    if header.alg.and_then(Json::as_str) != Some(ALG) {
        return Err(JwtError::Algorithm);
    }
    if let Some(typ) = header.typ {
        if typ.as_str() != Some(TYP_JWT) {
            return Err(JwtError::Malformed);
        }
    }
    // RFC 7515 §4.1.11: we understand no extensions, so any `crit` must be refused.
    if header.crit.is_some() {
        return Err(JwtError::Malformed);
    }

    // 5. Key by kid, from the configured keys only.
    let kid = header.kid.and_then(Json::as_str).ok_or(JwtError::UnknownKey)?;
    let candidates: Vec<&&JwtKey> = keys.iter().filter(|k| k.kid == kid).collect();
    if candidates.is_empty() {
        return Err(JwtError::UnknownKey);
    }

    // 6. Constant-time HMAC over the exact signing input received.
    let signing_input =
        token.get(..header_b64.len().saturating_add(1).saturating_add(payload_b64.len())).ok_or(JwtError::Malformed)?;
    let signature = b64url_decode(signature_b64).ok_or(JwtError::Malformed)?;
    // Both keys are tried when an (unlikely) kid collision occurs; each check is
    // constant-time in the tag.
    let valid = candidates
        .iter()
        .fold(false, |ok, key| hmac_sha256_verify(&key.secret, signing_input.as_bytes(), &signature) | ok);
    if !valid {
        return Err(JwtError::Signature);
    }

    // 7. Only now: claims.
    let payload = b64url_decode(payload_b64).ok_or(JwtError::Malformed)?;
    if !is_json_object(&payload) {
        return Err(JwtError::Claims);
    }
    let claims =
        Json::parse_bytes(&payload).and_then(|json| AccessClaims::from_json(&json).ok()).ok_or(JwtError::Claims)?;
    if claims.typ != TOKEN_TYPE_ACCESS || claims.iss != issuer || claims.aud != audience {
        return Err(JwtError::Claims);
    }
    if claims.exp <= now {
        return Err(JwtError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| nbf > now) {
        return Err(JwtError::NotYetValid);
    }
    if claims.iat > now.saturating_add(MAX_IAT_SKEW_SECS) {
        return Err(JwtError::NotYetValid);
    }
    Ok(claims)
}

/// Whether `token`'s header names `HS256` and one of `keys`' ids: the token claims to be
/// ours. Nothing is trusted from it; it only picks the verifier (see `edge::authn`).
pub fn names_our_key(token: &str, keys: &[&JwtKey]) -> bool {
    let header = token.split('.').next().filter(|h| h.len() <= 256).and_then(b64url_decode);
    let Some(json) = header.and_then(|h| Json::parse_bytes(&h)) else {
        return false;
    };
    let (alg, kid) = match &json {
        Json::Object(_) => match InHeader::from_json(&json) {
            Some(h) => (h.alg.and_then(Json::as_str), h.kid.and_then(Json::as_str)),
            None => return false,
        },
        // The positional form a derived `Deserialize` also read: `[alg, typ, kid, crit]`.
        Json::Other(serde_json::Value::Array(items)) if items.len() <= 4 => {
            let at = |i: usize| items.get(i).and_then(serde_json::Value::as_str);
            (at(0), at(2))
        }
        Json::Other(_) => return false,
    };
    alg == Some(ALG) && kid.is_some_and(|kid| keys.iter().any(|k| k.kid == kid))
}

/// Whether the JSON text starts with `{` (derived `Deserialize` would otherwise
/// also accept a positional array for a struct).
fn is_json_object(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;
    const ISS: &str = "secure-api";
    const AUD: &str = "secure-api";

    fn key() -> JwtKey {
        JwtKey::new(b"0123456789abcdef0123456789abcdef-current")
    }

    fn old_key() -> JwtKey {
        JwtKey::new(b"0123456789abcdef0123456789abcdef-previous")
    }

    fn claims() -> AccessClaims {
        AccessClaims {
            sub: "user-1".into(),
            email: "a@example.com".into(),
            role: "user".into(),
            typ: "access".into(),
            sid: "sess-1".into(),
            iat: NOW - 10,
            exp: NOW + 900,
            iss: ISS.into(),
            aud: AUD.into(),
            nbf: None,
        }
    }

    fn b64(s: &str) -> String {
        b64url_encode(s.as_bytes())
    }

    /// A token with arbitrary header and payload JSON, correctly HMAC-signed.
    fn forge(header: &str, payload: &str, secret: &[u8]) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let sig = hs256_sign_input(input.as_bytes(), secret);
        format!("{input}.{sig}")
    }

    fn header_for(k: &JwtKey) -> String {
        format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{}"}}"#, k.kid)
    }

    fn claims_json(c: &AccessClaims) -> String {
        serde_json::to_string(c).unwrap()
    }

    fn check(token: &str) -> Result<AccessClaims, JwtError> {
        let k = key();
        verify(token, &[&k], NOW, ISS, AUD)
    }

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-current";

    #[test]
    fn rfc7515_a1_known_vector() {
        // RFC 7515 Appendix A.1: JWS using HMAC SHA-256. The JWK "k" value, decoded.
        let k = b64url_decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
            .unwrap();
        let header = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9";
        let payload = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        // The encoded header is exactly {"typ":"JWT",\r\n "alg":"HS256"}.
        assert_eq!(b64url_decode(header).unwrap(), b"{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}");
        let input = format!("{header}.{payload}");
        assert_eq!(hs256_sign_input(input.as_bytes(), &k), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        // The A.1 token has no kid, so our pinned verifier refuses it as an unknown key.
        let a1 = format!("{input}.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        let ak = JwtKey::new(&k);
        assert_eq!(verify(&a1, &[&ak], 1_300_000_000, "joe", "x"), Err(JwtError::UnknownKey));
    }

    #[test]
    fn sign_then_verify_round_trip_with_exact_header_and_unpadded_segments() {
        let k = key();
        let token = sign(&claims(), &k);
        assert!(!token.contains('='), "no base64 padding anywhere");
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            String::from_utf8(b64url_decode(parts[0]).unwrap()).unwrap(),
            format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{}"}}"#, k.kid)
        );
        assert_eq!(parts[2].len(), 43, "32-byte HMAC, unpadded");
        let input = format!("{}.{}", parts[0], parts[1]);
        assert_eq!(parts[2], hs256_sign_input(input.as_bytes(), SECRET));
        assert_eq!(check(&token), Ok(claims()));
        // nbf is omitted when None and round-trips when present.
        assert!(!String::from_utf8(b64url_decode(parts[1]).unwrap()).unwrap().contains("nbf"));
        let mut with_nbf = claims();
        with_nbf.nbf = Some(NOW - 5);
        assert_eq!(check(&sign(&with_nbf, &k)), Ok(with_nbf));
        // The claim is serialized as "type".
        let payload = String::from_utf8(b64url_decode(parts[1]).unwrap()).unwrap();
        assert!(payload.contains(r#""type":"access""#));
    }

    #[test]
    fn kid_is_eight_b64url_chars_of_the_secret_digest() {
        let k = key();
        assert_eq!(k.kid.len(), 8);
        assert_eq!(k.kid, b64url_encode(&sha256(SECRET))[..8]);
        assert_ne!(key().kid, old_key().kid);
    }

    #[test]
    fn debug_redacts_secret() {
        let dbg = format!("{:?}", key());
        assert!(dbg.contains("REDACTED"));
        assert!(!dbg.contains("0123456789"));
        assert!(!dbg.contains("48, 49"), "no raw bytes either");
    }

    #[test]
    fn tampered_payload_and_signature_are_rejected() {
        let k = key();
        let token = sign(&claims(), &k);
        let parts: Vec<&str> = token.split('.').collect();

        let mut evil = claims();
        evil.role = "admin".into();
        let tampered = format!("{}.{}.{}", parts[0], b64(&claims_json(&evil)), parts[2]);
        assert_eq!(check(&tampered), Err(JwtError::Signature));

        let mut sig = b64url_decode(parts[2]).unwrap();
        sig[0] ^= 1;
        let bad_sig = format!("{}.{}.{}", parts[0], parts[1], b64url_encode(&sig));
        assert_eq!(check(&bad_sig), Err(JwtError::Signature));

        let truncated = format!("{}.{}.{}", parts[0], parts[1], b64url_encode(&sig[..16]));
        assert_eq!(check(&truncated), Err(JwtError::Signature));

        let wrong_key = forge(&header_for(&k), &claims_json(&claims()), b"another secret of sufficient length!!");
        assert_eq!(check(&wrong_key), Err(JwtError::Signature));

        // Padding added to the signature is not the same token.
        assert_eq!(check(&format!("{token}=")), Err(JwtError::Malformed));
    }

    #[test]
    fn algorithm_is_pinned() {
        let k = key();
        let body = b64(&claims_json(&claims()));
        let none_header = b64(&format!(r#"{{"alg":"none","typ":"JWT","kid":"{}"}}"#, k.kid));
        // alg=none without a signature: the empty third segment is refused first.
        assert_eq!(check(&format!("{none_header}.{body}.")), Err(JwtError::Malformed));
        // alg=none with a (valid HS256!) signature.
        let input = format!("{none_header}.{body}");
        let sig = hs256_sign_input(input.as_bytes(), SECRET);
        assert_eq!(check(&format!("{input}.{sig}")), Err(JwtError::Algorithm));

        for alg in ["HS512", "RS256", "hs256", "HS256 ", "None", "NONE", "ES256", "PS256", ""] {
            let h = format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"{}"}}"#, k.kid);
            assert_eq!(check(&forge(&h, &claims_json(&claims()), SECRET)), Err(JwtError::Algorithm), "{alg}");
        }
        for h in [
            format!(r#"{{"typ":"JWT","kid":"{}"}}"#, k.kid),
            format!(r#"{{"alg":null,"typ":"JWT","kid":"{}"}}"#, k.kid),
            format!(r#"{{"alg":256,"typ":"JWT","kid":"{}"}}"#, k.kid),
            format!(r#"{{"alg":["HS256"],"typ":"JWT","kid":"{}"}}"#, k.kid),
        ] {
            assert_eq!(check(&forge(&h, &claims_json(&claims()), SECRET)), Err(JwtError::Algorithm), "{h}");
        }
        // Duplicate alg (parser-differential trick) is malformed.
        let dup = format!(r#"{{"alg":"none","alg":"HS256","typ":"JWT","kid":"{}"}}"#, k.kid);
        assert_eq!(check(&forge(&dup, &claims_json(&claims()), SECRET)), Err(JwtError::Malformed));
    }

    #[test]
    fn header_typ_and_crit_are_checked() {
        let k = key();
        let no_typ = format!(r#"{{"alg":"HS256","kid":"{}"}}"#, k.kid);
        assert_eq!(check(&forge(&no_typ, &claims_json(&claims()), SECRET)), Ok(claims()));
        let bad_typ = format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{}"}}"#, k.kid);
        assert_eq!(check(&forge(&bad_typ, &claims_json(&claims()), SECRET)), Err(JwtError::Malformed));
        let crit = format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{}","crit":["exp"]}}"#, k.kid);
        assert_eq!(check(&forge(&crit, &claims_json(&claims()), SECRET)), Err(JwtError::Malformed));
    }

    #[test]
    fn key_selection_by_kid() {
        let k = key();
        let old = old_key();
        let body = claims_json(&claims());
        let no_kid = r#"{"alg":"HS256","typ":"JWT"}"#;
        assert_eq!(check(&forge(no_kid, &body, SECRET)), Err(JwtError::UnknownKey));
        let num_kid = r#"{"alg":"HS256","typ":"JWT","kid":7}"#;
        assert_eq!(check(&forge(num_kid, &body, SECRET)), Err(JwtError::UnknownKey));
        let unknown = r#"{"alg":"HS256","typ":"JWT","kid":"zzzzzzzz"}"#;
        assert_eq!(check(&forge(unknown, &body, SECRET)), Err(JwtError::UnknownKey));

        // Signed by the previous key: accepted when both keys are configured.
        let by_old = sign(&claims(), &old);
        assert_eq!(verify(&by_old, &[&k, &old], NOW, ISS, AUD), Ok(claims()));
        assert_eq!(verify(&by_old, &[&k], NOW, ISS, AUD), Err(JwtError::UnknownKey));
        assert_eq!(verify(&by_old, &[], NOW, ISS, AUD), Err(JwtError::UnknownKey));

        // The kid of one key with the signature of the other is a bad signature.
        let mixed = forge(&header_for(&k), &body, b"0123456789abcdef0123456789abcdef-previous");
        assert_eq!(verify(&mixed, &[&k, &old], NOW, ISS, AUD), Err(JwtError::Signature));
    }

    #[test]
    fn time_claims() {
        let k = key();
        let mut c = claims();
        c.exp = NOW;
        assert_eq!(check(&sign(&c, &k)), Err(JwtError::Expired), "exp == now is expired");
        c.exp = NOW - 1;
        assert_eq!(check(&sign(&c, &k)), Err(JwtError::Expired));
        c.exp = NOW + 1;
        assert!(check(&sign(&c, &k)).is_ok());

        let mut c = claims();
        c.nbf = Some(NOW + 1);
        assert_eq!(check(&sign(&c, &k)), Err(JwtError::NotYetValid));
        c.nbf = Some(NOW);
        assert!(check(&sign(&c, &k)).is_ok(), "nbf == now is valid");

        let mut c = claims();
        c.iat = NOW + 60;
        assert!(check(&sign(&c, &k)).is_ok(), "60 s of skew tolerated");
        c.iat = NOW + 61;
        assert_eq!(check(&sign(&c, &k)), Err(JwtError::NotYetValid));

        let mut c = claims();
        c.exp = i64::MAX;
        c.iat = i64::MAX;
        assert_eq!(verify(&sign(&c, &k), &[&k], i64::MAX - 1, ISS, AUD), Ok(c.clone()), "no overflow");
    }

    #[test]
    fn issuer_audience_and_type_claims() {
        let k = key();
        let token = sign(&claims(), &k);
        assert_eq!(verify(&token, &[&k], NOW, "other", AUD), Err(JwtError::Claims));
        assert_eq!(verify(&token, &[&k], NOW, ISS, "other"), Err(JwtError::Claims));

        let mut c = claims();
        c.typ = "refresh".into();
        assert_eq!(check(&sign(&c, &k)), Err(JwtError::Claims));

        // aud as an array (even one containing ours) is refused.
        let mut v = serde_json::to_value(claims()).unwrap();
        v["aud"] = serde_json::json!([AUD]);
        assert_eq!(check(&forge(&header_for(&k), &v.to_string(), SECRET)), Err(JwtError::Claims));
        // Missing claim, wrong claim type, non-object payload.
        let mut v = serde_json::to_value(claims()).unwrap();
        v.as_object_mut().unwrap().remove("sid");
        assert_eq!(check(&forge(&header_for(&k), &v.to_string(), SECRET)), Err(JwtError::Claims));
        let mut v = serde_json::to_value(claims()).unwrap();
        v["exp"] = serde_json::json!("9999999999");
        assert_eq!(check(&forge(&header_for(&k), &v.to_string(), SECRET)), Err(JwtError::Claims));
        assert_eq!(check(&forge(&header_for(&k), "[]", SECRET)), Err(JwtError::Claims));
        assert_eq!(check(&forge(&header_for(&k), "not json", SECRET)), Err(JwtError::Claims));
    }

    #[test]
    fn claims_members_are_read_as_typed_fields() {
        let k = key();
        let c = claims_json(&claims());
        let edit = |from: &str, to: &str| c.replacen(from, to, 1);
        let exp = format!(r#""exp":{}"#, claims().exp);
        for (payload, want) in [
            // A claim sent twice, a float time, a null string, unknown members, a null nbf.
            (c.replacen('{', r#"{"sid":"x","#, 1), Err(JwtError::Claims)),
            (edit(&exp, &format!(r#""exp":{}.0"#, claims().exp)), Err(JwtError::Claims)),
            (edit(&exp, r#""exp":18446744073709551615"#), Err(JwtError::Claims)),
            (edit(r#""role":"#, r#""role":null,"x":"#), Err(JwtError::Claims)),
            (c.replacen('{', r#"{"extra":{"a":1,"a":2},"more":[1.5],"nbf":null,"#, 1), Ok(claims())),
        ] {
            assert_eq!(check(&forge(&header_for(&k), &payload, SECRET)), want, "{payload}");
        }
    }

    #[test]
    fn names_our_key_reads_the_header_only() {
        let k = key();
        let body = b64(&claims_json(&claims()));
        let with = |h: &str| format!("{}.{body}.sig", b64(h));
        assert!(names_our_key(&sign(&claims(), &k), &[&k]));
        assert!(!names_our_key(&sign(&claims(), &k), &[&old_key()]));
        assert!(names_our_key(&with(&format!(r#"{{"alg":"HS256","kid":"{}","crit":null}}"#, k.kid)), &[&k]));
        assert!(!names_our_key(&with(&format!(r#"{{"alg":"HS256","kid":"{}","kid":"x"}}"#, k.kid)), &[&k]));
        assert!(!names_our_key(&with(&format!(r#"{{"alg":"RS256","kid":"{}"}}"#, k.kid)), &[&k]));
        // The positional form a derived `Deserialize` read too (up to four members).
        assert!(names_our_key(&with(&format!(r#"["HS256",null,"{}"]"#, k.kid)), &[&k]));
        assert!(!names_our_key(&with(&format!(r#"["HS256",null,"{}",null,null]"#, k.kid)), &[&k]));
        assert!(!names_our_key(&with(r#""HS256""#), &[&k]));
        assert!(!names_our_key("not-base64!.x.y", &[&k]));
    }

    #[test]
    fn malformed_shapes_are_rejected_without_panicking() {
        let k = key();
        let token = sign(&claims(), &k);
        let parts: Vec<&str> = token.split('.').collect();
        let cases: Vec<String> = vec![
            String::new(),
            ".".into(),
            "..".into(),
            "...".into(),
            "a.b".into(),
            format!("{token}.{}", parts[2]),
            format!("{}..{}", parts[0], parts[2]),
            format!(".{}.{}", parts[1], parts[2]),
            format!("{}.{}.", parts[0], parts[1]),
            format!("{}.{}.{}.", parts[0], parts[1], parts[2]),
            format!("{}!.{}.{}", parts[0], parts[1], parts[2]),
            format!("{}.{}.{}*", parts[0], parts[1], parts[2]),
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            format!("{} .{}.{}", parts[0], parts[1], parts[2]),
            format!("{}.{}.{}", b64("not json"), parts[1], parts[2]),
            format!("{}.{}.{}", b64("[\"HS256\",\"JWT\",\"x\",null]"), parts[1], parts[2]),
            format!("{}.{}.{}", b64("\"HS256\""), parts[1], parts[2]),
            format!("{}.{}.{}", b64("{"), parts[1], parts[2]),
            "é.é.é".into(),
            "\u{0}.\u{0}.\u{0}".into(),
        ];
        for c in &cases {
            assert_eq!(check(c), Err(JwtError::Malformed), "{c:?}");
        }
        // Three dots (four segments) and a 5000-byte token.
        assert_eq!(check("a.b.c.d"), Err(JwtError::Malformed));
        let long = format!("{}.{}.{}", parts[0], "A".repeat(5000), parts[2]);
        assert!(long.len() > MAX_TOKEN_LEN);
        assert_eq!(check(&long), Err(JwtError::Malformed));
        assert_eq!(check(&"x".repeat(5000)), Err(JwtError::Malformed));
        // Garbage in the signature segment after a valid header.
        assert_eq!(check(&format!("{}.{}.@@@@", parts[0], parts[1])), Err(JwtError::Malformed));
    }

    #[test]
    fn arbitrary_inputs_never_panic() {
        let k = key();
        let token = sign(&claims(), &k);
        // Every prefix and every single-byte corruption of a valid token.
        for i in 0..=token.len() {
            let _ = check(&token[..i]);
        }
        let bytes = token.as_bytes();
        for i in 0..bytes.len() {
            for repl in [b'.', b'A', b'-', b'_', b'=', b' ', b'~'] {
                let mut b = bytes.to_vec();
                b[i] = repl;
                let s = String::from_utf8(b).unwrap();
                let r = check(&s);
                if s != token {
                    assert!(r.is_err(), "corrupted token accepted: {s}");
                }
            }
        }
    }
}
