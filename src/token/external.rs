//! Third-party access tokens: JWTs signed by a hosted identity provider (Hanko, Auth0,
//! Clerk, Supabase, any OIDC issuer) with a key from its JWKS. Every decision is here and
//! pure; the signature check itself is the platform's (WebCrypto in the worker,
//! [`host::verify_signature`] on the host), so the host tests exercise the very
//! decisions the worker makes.
//!
//! Order (RFC 8725 §2.1, §3.1, §3.8, as for our own tokens in `token::jwt`): size cap →
//! shape → header → `alg` in the configured list (never `none`, never `HS*`: no
//! algorithm confusion with `JWT_SECRET`) → a key with that `kid` whose type, curve and
//! own `alg` match the header's `alg` ([`select`]) → signature → only then the claims
//! (`iss`, `aud`, `exp`, `nbf`, `iat`, `sub`).

use crate::crypto::encoding::{b64url_decode, json_from_bytes};
use crate::json::Json;
use serde_json::{Map, Value};

/// Longest token accepted, checked before any decoding.
pub const MAX_TOKEN_LEN: usize = 8192;
/// Most keys kept from one JWKS (providers publish two or three).
pub const MAX_KEYS: usize = 16;
/// RSA moduli outside this range are not used (NIST SP 800-131A: at least 2048 bits).
const RSA_MIN_BYTES: usize = 256;
const RSA_MAX_BYTES: usize = 512;
/// Longest `sub` mapped to a local user.
pub const MAX_SUBJECT_LEN: usize = 255;

/// A signature algorithm an external token may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    Rs256,
    /// ECDSA P-256 with SHA-256, signature as `r || s` (RFC 7518 §3.4).
    Es256,
}

impl Alg {
    pub fn parse(s: &str) -> Option<Alg> {
        match s {
            "RS256" => Some(Alg::Rs256),
            "ES256" => Some(Alg::Es256),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }
}

/// `EXTERNAL_JWT_ALGORITHMS`: a comma-separated, non-empty subset of `RS256,ES256`.
/// `none` and every `HS*` are refused by name (a shared secret is never a provider's key).
pub fn parse_algorithms(list: &str) -> Result<Vec<Alg>, String> {
    let mut algs = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let alg = match Alg::parse(name) {
            Some(a) => a,
            None if name.eq_ignore_ascii_case("none")
                || name.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("hs")) =>
            {
                return Err(format!("{name} is never accepted for third-party tokens"))
            }
            None => return Err(format!("{name} is not supported (RS256, ES256)")),
        };
        if !algs.contains(&alg) {
            algs.push(alg);
        }
    }
    if algs.is_empty() {
        return Err("name at least one of RS256, ES256".into());
    }
    Ok(algs)
}

/// A provider's public key, as published (base64url members, already checked to decode
/// to usable sizes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    Rsa { n: String, e: String },
    Ec { x: String, y: String },
}

/// A usable signing key from a JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    pub kid: Option<String>,
    /// The one algorithm this key may verify, from its `kty`/`crv` (and its own `alg`).
    pub alg: Alg,
    pub material: KeyMaterial,
}

fn json(bytes: &[u8]) -> Option<Value> {
    json_from_bytes(bytes)
}

fn str_member<'a>(o: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    o.get(name).and_then(Value::as_str)
}

/// A base64url member decoding to a big-endian integer of `min..=max` bytes once leading
/// zero bytes are dropped.
fn int_member(o: &Map<String, Value>, name: &str, min: usize, max: usize) -> Option<String> {
    let text = str_member(o, name)?;
    let bytes = b64url_decode(text)?;
    let len = bytes.iter().position(|b| *b != 0).map_or(0, |i| bytes.len() - i);
    (min..=max).contains(&len).then(|| text.to_owned())
}

/// One JWK, if it is a signing key we can use: `use` absent or `sig`, `key_ops` absent or
/// containing `verify`, RSA of 2048–4096 bits with an odd public exponent of at most 32
/// bits, or EC P-256; its own `alg`, when given, must be the one its type implies.
fn parse_key(v: &Value) -> Option<Jwk> {
    let o = v.as_object()?;
    if o.get("use").is_some_and(|u| u.as_str() != Some("sig")) {
        return None;
    }
    if let Some(ops) = o.get("key_ops") {
        if !ops.as_array()?.iter().any(|op| op.as_str() == Some("verify")) {
            return None;
        }
    }
    let (alg, material) = match str_member(o, "kty")? {
        "RSA" => {
            let n = int_member(o, "n", RSA_MIN_BYTES, RSA_MAX_BYTES)?;
            let e = int_member(o, "e", 1, 4)?;
            let e_value = b64url_decode(&e)?.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b));
            if e_value < 3 || e_value % 2 == 0 {
                return None;
            }
            (Alg::Rs256, KeyMaterial::Rsa { n, e })
        }
        "EC" if str_member(o, "crv")? == "P-256" => {
            let coord = |name| str_member(o, name).filter(|t| b64url_decode(t).is_some_and(|b| b.len() == 32));
            (Alg::Es256, KeyMaterial::Ec { x: coord("x")?.to_owned(), y: coord("y")?.to_owned() })
        }
        _ => return None,
    };
    if o.get("alg").is_some_and(|a| a.as_str() != Some(alg.as_str())) {
        return None;
    }
    let kid = match o.get("kid") {
        None => None,
        Some(k) => Some(k.as_str()?.to_owned()),
    };
    Some(Jwk { kid, alg, material })
}

/// The usable keys of a JWKS document (`{"keys": [...]}`); `None` when the text is not a
/// JWKS at all. Keys we cannot or must not use are skipped, not errors.
pub fn parse_jwks(text: &[u8]) -> Option<Vec<Jwk>> {
    let doc = json(text)?;
    let keys = doc.as_object()?.get("keys")?.as_array()?;
    Some(keys.iter().filter_map(parse_key).take(MAX_KEYS).collect())
}

/// The `jwks_uri` of an OpenID Provider configuration document, which must name
/// `issuer` as its issuer (OpenID Connect Discovery 1.0 §4.3).
pub fn discovered_jwks_uri(text: &[u8], issuer: &str) -> Option<String> {
    let doc = json(text)?;
    let o = doc.as_object()?;
    (str_member(o, "issuer")? == issuer).then_some(())?;
    Some(str_member(o, "jwks_uri")?.to_owned())
}

/// Why an external token was refused. Every variant is 401 `invalid_token` on the wire;
/// the variant goes to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtError {
    /// Too long, not three base64url segments, header not a JSON object, a `crit` header,
    /// an unexpected `typ`, or a signature of the wrong length.
    Malformed,
    /// `alg` missing or not one of the configured algorithms.
    Algorithm,
    /// No key with that `kid` (or, without `kid`, not exactly one key for the `alg`).
    UnknownKey,
    /// The `kid` names a key of another type than the header's `alg`.
    KeyMismatch,
    Signature,
    /// `exp` missing, or more than the skew in the past.
    Expired,
    /// `nbf` or `iat` more than the skew in the future.
    NotYetValid,
    /// Claims not an object, wrong `iss` or `aud`, a missing or unusable `sub`, or a
    /// refresh token.
    Claims,
}

/// A token whose shape and header passed: what the signature check needs.
#[derive(Debug)]
pub struct Parsed<'a> {
    pub alg: Alg,
    pub kid: Option<String>,
    /// `header.payload` exactly as received.
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
    payload: &'a str,
}

/// The header `typ` values providers use for access and ID tokens (RFC 7519 §5.1,
/// RFC 9068 §2.1), compared case-insensitively.
const TYPES: [&str; 3] = ["JWT", "at+jwt", "application/at+jwt"];

/// Shape and header checks, up to the algorithm pin.
pub fn parse<'a>(token: &'a str, allowed: &[Alg]) -> Result<Parsed<'a>, ExtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(ExtError::Malformed);
    }
    let mut parts = token.split('.');
    let (header, payload, signature) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() && !s.is_empty() => (h, p, s),
        _ => return Err(ExtError::Malformed),
    };
    // Read as our own tokens' headers are (`crate::json`): a member sent twice
    // (`{"alg":"RS256","alg":"none"}`) refuses the token rather than letting one win.
    let header_json = b64url_decode(header).and_then(|b| Json::parse_bytes(&b)).ok_or(ExtError::Malformed)?;
    let h = header_json.members().ok_or(ExtError::Malformed)?;
    let member = |name| h.get(name).map_err(|_| ExtError::Malformed);
    let alg = member("alg")?
        .and_then(Json::as_str)
        .and_then(Alg::parse)
        .filter(|a| allowed.contains(a))
        .ok_or(ExtError::Algorithm)?;
    if member("crit")?.is_some() {
        return Err(ExtError::Malformed);
    }
    if let Some(typ) = member("typ")? {
        let typ = typ.as_str().ok_or(ExtError::Malformed)?;
        if !TYPES.iter().any(|t| t.eq_ignore_ascii_case(typ)) {
            return Err(ExtError::Malformed);
        }
    }
    let kid = match member("kid")? {
        None => None,
        Some(k) => Some(k.as_str().ok_or(ExtError::Malformed)?.to_owned()),
    };
    let signature = b64url_decode(signature).ok_or(ExtError::Malformed)?;
    if alg == Alg::Es256 && signature.len() != 64 {
        return Err(ExtError::Malformed);
    }
    let signing_input = token.get(..header.len() + 1 + payload.len()).ok_or(ExtError::Malformed)?;
    Ok(Parsed { alg, kid, signing_input, signature, payload })
}

/// The key that may verify `token`: the one with its `kid` (which must be a key for its
/// `alg`), or, when the token names none, the only key for its `alg`.
pub fn select<'k>(keys: &'k [Jwk], token: &Parsed<'_>) -> Result<&'k Jwk, ExtError> {
    match &token.kid {
        Some(kid) => {
            let mut named = keys.iter().filter(|k| k.kid.as_deref() == Some(kid.as_str())).peekable();
            if named.peek().is_none() {
                return Err(ExtError::UnknownKey);
            }
            named.find(|k| k.alg == token.alg).ok_or(ExtError::KeyMismatch)
        }
        None => {
            let mut for_alg = keys.iter().filter(|k| k.alg == token.alg);
            match (for_alg.next(), for_alg.next()) {
                (Some(k), None) => Ok(k),
                _ => Err(ExtError::UnknownKey),
            }
        }
    }
}

/// What the claims must satisfy.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub issuer: &'a str,
    pub audience: Option<&'a str>,
    /// Seconds of clock difference tolerated on `exp`, `nbf` and `iat`.
    pub skew: i64,
}

/// The claims of a verified external token that the service uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalClaims {
    pub sub: String,
    /// The `email` claim, only when `email_verified` is true.
    pub verified_email: Option<String>,
}

/// A NumericDate (RFC 7519 §2): integer or fractional seconds.
fn numeric(v: Option<&Json>) -> Option<i64> {
    let v = v?.value()?;
    v.as_i64().or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}

/// The claims of a token whose signature verified, checked at `now`.
pub fn claims(token: &Parsed<'_>, policy: &Policy<'_>, now: i64) -> Result<ExternalClaims, ExtError> {
    // A claim sent twice refuses the token, as for our own tokens.
    let payload = b64url_decode(token.payload).and_then(|b| Json::parse_bytes(&b)).ok_or(ExtError::Claims)?;
    let c = payload.members().ok_or(ExtError::Claims)?;
    let claim = |name| c.get(name).map(|v| v.and_then(Json::value)).map_err(|_| ExtError::Claims);
    let text = |name| claim(name).map(|v| v.and_then(Value::as_str));
    if text("iss")? != Some(policy.issuer) {
        return Err(ExtError::Claims);
    }
    if let Some(aud) = policy.audience {
        let ok = match claim("aud")? {
            Some(Value::String(s)) => s == aud,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(aud)),
            _ => false,
        };
        if !ok {
            return Err(ExtError::Claims);
        }
    }
    let time = |name| c.get(name).map(numeric).map_err(|_| ExtError::Claims);
    let exp = time("exp")?.ok_or(ExtError::Expired)?;
    if exp.saturating_add(policy.skew) <= now {
        return Err(ExtError::Expired);
    }
    let future = |t: Option<i64>| t.is_some_and(|t| t > now.saturating_add(policy.skew));
    if future(time("nbf")?) || future(time("iat")?) {
        return Err(ExtError::NotYetValid);
    }
    // A provider's refresh token is never an access credential.
    let mut refresh = false;
    for name in ["typ", "type", "token_use"] {
        refresh |= text(name)? == Some("refresh");
    }
    let sub = text("sub")?.filter(|s| !s.is_empty() && s.len() <= MAX_SUBJECT_LEN);
    let (Some(sub), false) = (sub, refresh) else {
        return Err(ExtError::Claims);
    };
    let verified = match claim("email_verified")? {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    let verified_email = text("email")?.filter(|_| verified).map(str::to_owned);
    Ok(ExternalClaims { sub: sub.to_owned(), verified_email })
}

/// How long a fetched key set is used (see `edge::external`).
pub mod cache {
    /// A JWKS is fresh for its `Cache-Control: max-age`, clamped to this range.
    pub const MIN_MAX_AGE: i64 = 300;
    pub const MAX_MAX_AGE: i64 = 86_400;
    /// Past its freshness, a key set is still used for this long while the provider cannot
    /// be reached (stale-if-error).
    pub const STALE_IF_ERROR: i64 = 86_400;
    /// A token naming an unknown `kid` refetches the set at most this often per isolate, so
    /// that random `kid`s cannot turn into a flood of fetches to the provider.
    pub const REFETCH_EVERY: i64 = 30;
    /// After a failed fetch, the next attempt waits this long (requests meanwhile use the
    /// stale set, or get 503 without one).
    pub const RETRY_AFTER_FAILURE: i64 = 5;

    /// The freshness of a response with this `Cache-Control` (the floor without one).
    pub fn max_age(cache_control: Option<&str>) -> i64 {
        let given = cache_control.into_iter().flat_map(|h| h.split(',')).find_map(|d| {
            let (name, value) = d.trim().split_once('=')?;
            name.trim().eq_ignore_ascii_case("max-age").then(|| value.trim().trim_matches('"').parse::<i64>().ok())?
        });
        given.unwrap_or(MIN_MAX_AGE).clamp(MIN_MAX_AGE, MAX_MAX_AGE)
    }

    /// Whether an unknown `kid` may refetch now, given the last such refetch.
    pub fn refetch_allowed(last: Option<i64>, now: i64) -> bool {
        last.is_none_or(|t| now - t >= REFETCH_EVERY)
    }

    /// A key set as shared through the Cache API: `<fetched at> <fresh until>` on the first
    /// line, then the JWKS text as the provider sent it.
    pub fn encode_entry(fetched_at: i64, fresh_until: i64, jwks: &str) -> String {
        format!("{fetched_at} {fresh_until}\n{jwks}")
    }

    /// (fetched at, fresh until, JWKS text) of an entry [`encode_entry`] wrote.
    pub fn decode_entry(entry: &str) -> Option<(i64, i64, &str)> {
        let (times, jwks) = entry.split_once('\n')?;
        let (fetched_at, fresh_until) = times.split_once(' ')?;
        Some((fetched_at.parse().ok()?, fresh_until.parse().ok()?, jwks))
    }
}

/// The pure-Rust signature check, for host tests only (the worker uses WebCrypto).
#[cfg(not(target_arch = "wasm32"))]
pub mod host {
    use super::{Alg, ExtError, ExternalClaims, Jwk, KeyMaterial, Policy};
    use crate::crypto::encoding::b64url_decode;

    /// Whether `signature` is `jwk`'s signature of `input` under `alg`.
    pub fn verify_signature(jwk: &Jwk, alg: Alg, input: &[u8], signature: &[u8]) -> bool {
        use rsa::signature::Verifier;
        match (&jwk.material, alg) {
            (KeyMaterial::Rsa { n, e }, Alg::Rs256) => {
                let (Some(n), Some(e)) = (b64url_decode(n), b64url_decode(e)) else { return false };
                let Ok(public) =
                    rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(&n), rsa::BigUint::from_bytes_be(&e))
                else {
                    return false;
                };
                let key = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public);
                rsa::pkcs1v15::Signature::try_from(signature).is_ok_and(|s| key.verify(input, &s).is_ok())
            }
            (KeyMaterial::Ec { x, y }, Alg::Es256) => {
                let (Some(x), Some(y)) = (b64url_decode(x), b64url_decode(y)) else { return false };
                let mut sec1 = vec![4u8];
                sec1.extend_from_slice(&x);
                sec1.extend_from_slice(&y);
                let Ok(key) = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1) else { return false };
                p256::ecdsa::Signature::from_slice(signature).is_ok_and(|s| key.verify(input, &s).is_ok())
            }
            _ => false,
        }
    }

    /// The whole decision, as the worker takes it, with the pure-Rust signature check.
    pub fn verify(
        token: &str,
        keys: &[Jwk],
        allowed: &[Alg],
        policy: &Policy<'_>,
        now: i64,
    ) -> Result<ExternalClaims, ExtError> {
        let parsed = super::parse(token, allowed)?;
        let key = super::select(keys, &parsed)?;
        if !verify_signature(key, parsed.alg, parsed.signing_input.as_bytes(), &parsed.signature) {
            return Err(ExtError::Signature);
        }
        super::claims(&parsed, policy, now)
    }
}

#[cfg(test)]
mod tests {
    use super::host::{verify, verify_signature};
    use super::*;
    use crate::crypto::encoding::b64url_encode;
    use serde_json::json;

    // RFC 7515 appendix A.2 (RS256) and A.3 (ES256): the same payload, `{"iss":"joe",
    // "exp":1300819380,"http://example.com/is_root":true}`, signed with the RFC's keys.
    const PAYLOAD: &str =
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const A2_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
    const A2_SIG: &str = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
    const A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const A3_SIG: &str = "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    const RFC_NOW: i64 = 1_300_819_000;
    const BOTH: [Alg; 2] = [Alg::Rs256, Alg::Es256];

    #[test]
    fn a_shared_cache_entry_round_trips_and_a_damaged_one_is_ignored() {
        let jwks = "{\"keys\":[]}\n";
        let entry = cache::encode_entry(1_700_000_000, 1_700_000_600, jwks);
        assert_eq!(cache::decode_entry(&entry), Some((1_700_000_000, 1_700_000_600, jwks)));
        for bad in ["", "{\"keys\":[]}", "1 x\n{}", "1\n{}", "a b\n{}"] {
            assert_eq!(cache::decode_entry(bad), None, "{bad:?}");
        }
    }

    fn rfc_keys() -> Vec<Jwk> {
        parse_jwks(
            json!({"keys": [
                {"kty": "RSA", "n": A2_N, "e": "AQAB"},
                {"kty": "EC", "crv": "P-256", "x": A3_X, "y": A3_Y},
            ]})
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    }

    fn joe(audience: Option<&str>) -> Policy<'_> {
        Policy { issuer: "joe", audience, skew: 60 }
    }

    #[test]
    fn rfc7515_a2_and_a3_signatures_verify_and_tampering_does_not() {
        let keys = rfc_keys();
        assert_eq!(keys.iter().map(|k| k.alg).collect::<Vec<_>>(), BOTH);
        for (header, sig, key) in
            [("eyJhbGciOiJSUzI1NiJ9", A2_SIG, &keys[0]), ("eyJhbGciOiJFUzI1NiJ9", A3_SIG, &keys[1])]
        {
            let token = format!("{header}.{PAYLOAD}.{sig}");
            let parsed = parse(&token, &BOTH).unwrap();
            assert_eq!(select(&keys, &parsed).unwrap(), key, "the only key of its type, no kid needed");
            assert!(verify_signature(key, parsed.alg, parsed.signing_input.as_bytes(), &parsed.signature));
            // The vectors carry no `sub`: the signature passes, the claims do not.
            assert_eq!(verify(&token, &keys, &BOTH, &joe(None), RFC_NOW), Err(ExtError::Claims));
            // One payload character changed: the signature no longer matches.
            let tampered = format!("{header}.{}.{sig}", PAYLOAD.replacen('J', "K", 1));
            assert_eq!(verify(&tampered, &keys, &BOTH, &joe(None), RFC_NOW), Err(ExtError::Signature));
            // After `exp` plus the skew.
            assert_eq!(verify(&token, &keys, &BOTH, &joe(None), 1_300_819_380 + 60), Err(ExtError::Expired));
        }
        // The RSA signature under the EC key's algorithm and vice versa: refused.
        let swapped = format!("eyJhbGciOiJFUzI1NiJ9.{PAYLOAD}.{A2_SIG}");
        assert_eq!(parse(&swapped, &BOTH).unwrap_err(), ExtError::Malformed, "an ES256 signature is 64 bytes");
        let ec_only = [Alg::Es256];
        let rsa_token = format!("eyJhbGciOiJSUzI1NiJ9.{PAYLOAD}.{A2_SIG}");
        assert_eq!(parse(&rsa_token, &ec_only).unwrap_err(), ExtError::Algorithm, "not in the configured list");
    }

    /// A P-256 key pair with a kid, and tokens signed by it.
    struct Signer {
        key: p256::ecdsa::SigningKey,
        kid: &'static str,
    }

    impl Signer {
        fn new(kid: &'static str) -> Signer {
            Signer { key: p256::ecdsa::SigningKey::random(&mut rand_core::OsRng), kid }
        }

        fn jwk(&self) -> serde_json::Value {
            let point = self.key.verifying_key().to_encoded_point(false);
            json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig",
                   "x": b64url_encode(point.x().unwrap()), "y": b64url_encode(point.y().unwrap())})
        }

        fn sign(&self, header: &serde_json::Value, claims: &serde_json::Value) -> String {
            use p256::ecdsa::signature::Signer as _;
            let input = format!(
                "{}.{}",
                b64url_encode(header.to_string().as_bytes()),
                b64url_encode(claims.to_string().as_bytes())
            );
            let sig: p256::ecdsa::Signature = self.key.sign(input.as_bytes());
            format!("{input}.{}", b64url_encode(&sig.to_bytes()))
        }

        fn token(&self, claims: &serde_json::Value) -> String {
            self.sign(&json!({"alg": "ES256", "typ": "JWT", "kid": self.kid}), claims)
        }

        /// A token signed over the exact header and claims texts given.
        fn sign_text(&self, header: &str, claims: &str) -> String {
            use p256::ecdsa::signature::Signer as _;
            let input = format!("{}.{}", b64url_encode(header.as_bytes()), b64url_encode(claims.as_bytes()));
            let sig: p256::ecdsa::Signature = self.key.sign(input.as_bytes());
            format!("{input}.{}", b64url_encode(&sig.to_bytes()))
        }
    }

    const NOW: i64 = 1_800_000_000;
    const ISS: &str = "https://login.example.com";

    fn policy() -> Policy<'static> {
        Policy { issuer: ISS, audience: Some("secure-api"), skew: 60 }
    }

    fn claims_at(sub: &str) -> serde_json::Value {
        json!({"iss": ISS, "aud": "secure-api", "sub": sub, "iat": NOW - 5, "exp": NOW + 300,
               "email": "a@example.com", "email_verified": true})
    }

    fn jwks(keys: &[serde_json::Value]) -> Vec<Jwk> {
        parse_jwks(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_valid_token_yields_its_subject_and_verified_email_only() {
        let s = Signer::new("k1");
        let keys = jwks(&[s.jwk()]);
        let ok = verify(&s.token(&claims_at("user-1")), &keys, &BOTH, &policy(), NOW).unwrap();
        assert_eq!(ok, ExternalClaims { sub: "user-1".into(), verified_email: Some("a@example.com".into()) });
        let mut unverified = claims_at("user-1");
        unverified["email_verified"] = json!(false);
        let ok = verify(&s.token(&unverified), &keys, &BOTH, &policy(), NOW).unwrap();
        assert_eq!(ok.verified_email, None);
        let mut list = claims_at("user-1");
        list["aud"] = json!(["other", "secure-api"]);
        assert!(verify(&s.token(&list), &keys, &BOTH, &policy(), NOW).is_ok(), "aud may be an array");
        let fractional = json!({"iss": ISS, "aud": "secure-api", "sub": "u", "exp": (NOW + 10) as f64 + 0.5});
        assert!(verify(&s.token(&fractional), &keys, &BOTH, &policy(), NOW).is_ok(), "NumericDate may be fractional");
    }

    #[test]
    fn every_claim_rule_refuses() {
        let s = Signer::new("k1");
        let keys = jwks(&[s.jwk()]);
        let check = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut c = claims_at("user-1");
            edit(&mut c);
            verify(&s.token(&c), &keys, &BOTH, &policy(), NOW)
        };
        assert_eq!(check(&|c| c["iss"] = json!("https://evil.example.com")), Err(ExtError::Claims));
        assert_eq!(check(&|c| c["iss"] = json!("https://login.example.com/")), Err(ExtError::Claims), "exact iss");
        assert_eq!(check(&|c| c["aud"] = json!("other")), Err(ExtError::Claims));
        assert_eq!(check(&|c| c["aud"] = json!(["other"])), Err(ExtError::Claims));
        assert_eq!(check(&|c| c.as_object_mut().unwrap().remove("aud").map(drop).unwrap_or(())), Err(ExtError::Claims));
        assert_eq!(check(&|c| c["exp"] = json!(NOW - 61)), Err(ExtError::Expired), "beyond the skew");
        assert!(check(&|c| c["exp"] = json!(NOW - 59)).is_ok(), "within the skew");
        assert_eq!(
            check(&|c| c.as_object_mut().unwrap().remove("exp").map(drop).unwrap_or(())),
            Err(ExtError::Expired)
        );
        assert_eq!(check(&|c| c["exp"] = json!("later")), Err(ExtError::Expired));
        assert_eq!(check(&|c| c["nbf"] = json!(NOW + 61)), Err(ExtError::NotYetValid));
        assert!(check(&|c| c["nbf"] = json!(NOW + 59)).is_ok());
        assert_eq!(check(&|c| c["iat"] = json!(NOW + 120)), Err(ExtError::NotYetValid));
        assert_eq!(check(&|c| c["sub"] = json!("")), Err(ExtError::Claims));
        assert_eq!(check(&|c| c["sub"] = json!(42)), Err(ExtError::Claims));
        assert_eq!(check(&|c| c["sub"] = json!("x".repeat(256))), Err(ExtError::Claims));
        assert_eq!(check(&|c| c["token_use"] = json!("refresh")), Err(ExtError::Claims), "a refresh token");
        assert_eq!(check(&|c| c["typ"] = json!("refresh")), Err(ExtError::Claims));
        let no_audience = Policy { audience: None, ..policy() };
        let mut c = claims_at("u");
        c["aud"] = json!("anything");
        assert!(verify(&s.token(&c), &keys, &BOTH, &no_audience, NOW).is_ok(), "aud unchecked when not configured");
    }

    #[test]
    fn header_rules_pin_the_algorithm_and_the_key() {
        let (a, b) = (Signer::new("a"), Signer::new("b"));
        let keys = jwks(&[a.jwk(), b.jwk()]);
        let c = claims_at("u");
        let p = policy();
        let run = |t: &str| verify(t, &keys, &BOTH, &p, NOW);
        assert!(run(&a.token(&c)).is_ok() && run(&b.token(&c)).is_ok());
        // `b` signs but claims to be `a`.
        assert_eq!(run(&b.sign(&json!({"alg": "ES256", "kid": "a"}), &c)), Err(ExtError::Signature));
        assert_eq!(run(&a.sign(&json!({"alg": "ES256", "kid": "zz"}), &c)), Err(ExtError::UnknownKey));
        assert_eq!(run(&a.sign(&json!({"alg": "ES256"}), &c)), Err(ExtError::UnknownKey), "no kid, two keys");
        assert_eq!(run(&a.sign(&json!({"alg": "RS256", "kid": "a"}), &c)), Err(ExtError::KeyMismatch));
        for alg in [json!("none"), json!("HS256"), json!("ES384"), json!(null), json!(["ES256"])] {
            assert_eq!(run(&a.sign(&json!({"alg": alg, "kid": "a"}), &c)), Err(ExtError::Algorithm), "{alg}");
        }
        assert_eq!(run(&a.sign(&json!({"alg": "ES256", "kid": "a", "crit": ["exp"]}), &c)), Err(ExtError::Malformed));
        assert_eq!(run(&a.sign(&json!({"alg": "ES256", "kid": "a", "typ": "JWE"}), &c)), Err(ExtError::Malformed));
        assert!(run(&a.sign(&json!({"alg": "ES256", "kid": "a", "typ": "at+jwt"}), &c)).is_ok());
        // `alg: none` with an empty signature, and an HS256 token MACed with the public key.
        let unsigned = format!("{}.{}.", b64url_encode(br#"{"alg":"none"}"#), b64url_encode(c.to_string().as_bytes()));
        assert_eq!(run(&unsigned), Err(ExtError::Malformed));
        let public = a.jwk().to_string();
        let input =
            format!("{}.{}", b64url_encode(br#"{"alg":"HS256","kid":"a"}"#), b64url_encode(c.to_string().as_bytes()));
        let mac = crate::token::jwt::hs256_sign_input(input.as_bytes(), public.as_bytes());
        assert_eq!(run(&format!("{input}.{mac}")), Err(ExtError::Algorithm));
        // Size and shape.
        let mut big = claims_at("u");
        big["pad"] = json!("x".repeat(MAX_TOKEN_LEN));
        assert_eq!(run(&a.token(&big)), Err(ExtError::Malformed));
        for junk in ["", "a.b", "a.b.c.d", "..", "!!.e30.AA"] {
            assert_eq!(run(junk), Err(ExtError::Malformed), "{junk:?}");
        }
    }

    #[test]
    fn a_header_member_or_claim_sent_twice_refuses_the_token() {
        let s = Signer::new("k1");
        let keys = jwks(&[s.jwk()]);
        let run = |header: &str, claims: &str| verify(&s.sign_text(header, claims), &keys, &BOTH, &policy(), NOW);
        let header = r#"{"alg":"ES256","kid":"k1"}"#;
        let claims = claims_at("user-1").to_string();
        assert!(run(header, &claims).is_ok());
        assert_eq!(run(r#"{"alg":"ES256","kid":"k1","alg":"ES256"}"#, &claims), Err(ExtError::Malformed));
        assert_eq!(run(r#"{"alg":"ES256","kid":"k1","kid":"k2"}"#, &claims), Err(ExtError::Malformed));
        for twice in [r#""sub":"someone-else""#, r#""iss":"https://evil.example.com""#, r#""exp":1"#] {
            let doubled = claims.replacen('{', &format!("{{{twice},"), 1);
            assert_eq!(run(header, &doubled), Err(ExtError::Claims), "{doubled}");
        }
    }

    #[test]
    fn only_usable_signing_keys_are_kept_from_a_jwks() {
        let s = Signer::new("k");
        let mut enc = s.jwk();
        enc["use"] = json!("enc");
        let mut ops = s.jwk();
        ops["key_ops"] = json!(["encrypt"]);
        let mut wrong_alg = s.jwk();
        wrong_alg["alg"] = json!("RS256");
        let short_rsa = json!({"kty": "RSA", "n": b64url_encode(&[0xc5; 128]), "e": "AQAB"});
        let even_e = json!({"kty": "RSA", "n": A2_N, "e": b64url_encode(&[2])});
        let p384 = json!({"kty": "EC", "crv": "P-384", "x": A3_X, "y": A3_Y});
        let oct = json!({"kty": "oct", "k": "c2VjcmV0"});
        assert!(jwks(&[enc, ops, wrong_alg, short_rsa, even_e, p384, oct]).is_empty());
        let mut good = s.jwk();
        good["alg"] = json!("ES256");
        good["key_ops"] = json!(["verify"]);
        assert_eq!(jwks(&[good]).len(), 1);
        assert_eq!(parse_jwks(b"[]"), None);
        assert_eq!(parse_jwks(br#"{"keys": {}}"#), None);
        assert_eq!(parse_jwks(br#"{"keys": []}"#), Some(vec![]));
        // The enc-use key is never used, even when a token names it.
        let mut enc_only = s.jwk();
        enc_only["use"] = json!("enc");
        let keys = jwks(&[enc_only]);
        assert_eq!(verify(&s.token(&claims_at("u")), &keys, &BOTH, &policy(), NOW), Err(ExtError::UnknownKey));
    }

    #[test]
    fn configured_algorithms_refuse_none_and_hmac() {
        assert_eq!(parse_algorithms("RS256, ES256,RS256"), Ok(vec![Alg::Rs256, Alg::Es256]));
        assert_eq!(parse_algorithms("ES256"), Ok(vec![Alg::Es256]));
        for bad in ["none", "HS256", "hs512", "RS256,HS256", "PS256", "", " , "] {
            assert!(parse_algorithms(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn freshness_follows_max_age_within_bounds_and_refetches_are_spaced() {
        use super::cache::*;
        assert_eq!(max_age(Some("public, max-age=3600")), 3600);
        assert_eq!(max_age(Some("max-age=10")), MIN_MAX_AGE);
        assert_eq!(max_age(Some("max-age=999999999")), MAX_MAX_AGE);
        assert_eq!(max_age(Some("no-store")), MIN_MAX_AGE);
        assert_eq!(max_age(Some("max-age=soon")), MIN_MAX_AGE);
        assert_eq!(max_age(None), MIN_MAX_AGE);
        assert!(refetch_allowed(None, 100));
        assert!(!refetch_allowed(Some(100), 129));
        assert!(refetch_allowed(Some(100), 130));
    }

    #[test]
    fn discovery_must_name_the_configured_issuer() {
        let doc = json!({"issuer": ISS, "jwks_uri": "https://login.example.com/jwks"}).to_string();
        assert_eq!(discovered_jwks_uri(doc.as_bytes(), ISS).as_deref(), Some("https://login.example.com/jwks"));
        assert_eq!(discovered_jwks_uri(doc.as_bytes(), "https://other.example.com"), None);
        assert_eq!(discovered_jwks_uri(b"<html>", ISS), None);
    }
}
