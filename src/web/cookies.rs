//! Session cookies: `__Host-access` (access JWT, every path) and `__Secure-refresh`
//! (refresh token, only sent to `/api/auth`). The `__Host-`/`__Secure-` prefixes make
//! browsers refuse them unless `Secure` (and, for `__Host-`, `Path=/` without `Domain`),
//! so a sibling subdomain cannot plant or shadow them (RFC 6265bis §4.1.3).

pub const ACCESS_COOKIE: &str = "__Host-access";
pub const REFRESH_COOKIE: &str = "__Secure-refresh";

/// The D1 bookmark of a browser session (see [`bookmark`]); not a credential.
pub const BOOKMARK_COOKIE: &str = "__Host-d1-bookmark";

/// A client's D1 bookmark (`X-D1-Bookmark` or the bookmark cookie), if well formed: D1
/// bookmarks are short strings of hex digits and dashes; anything else is ignored.
pub fn bookmark(raw: &str) -> Option<&str> {
    let raw = raw.trim();
    (!raw.is_empty() && raw.len() <= 128 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')).then_some(raw)
}

/// The bookmark cookie: read-after-write for cookie sessions (browsers cannot be asked to
/// echo a header). Lives as long as an access token.
pub fn bookmark_cookie(bookmark: &str, max_age: i64) -> String {
    format!("{BOOKMARK_COOKIE}={bookmark}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age={max_age}")
}

/// The value of cookie `name` in a `Cookie` header.
pub fn get<'a>(cookie_header: &'a str, name: &str) -> Option<&'a str> {
    cookie_header.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"')).filter(|v| !v.is_empty())
    })
}

/// A credential cookie sent more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duplicate;

/// The value of credential cookie `name`, refusing ambiguity: more than one non-empty
/// `name=` pair is `Err(Duplicate)`. A sibling subdomain can plant a second
/// `__Secure-refresh` with `Domain=` beside ours (only `__Host-` forbids `Domain`), and
/// with first-wins it would choose the session (session swap, login CSRF).
pub fn credential<'a>(cookie_header: &'a str, name: &str) -> Result<Option<&'a str>, Duplicate> {
    let mut found = None;
    for pair in cookie_header.split(';') {
        let Some((k, v)) = pair.split_once('=') else { continue };
        let v = v.trim().trim_matches('"');
        if k.trim() != name || v.is_empty() {
            continue;
        }
        if found.is_some() {
            return Err(Duplicate);
        }
        found = Some(v);
    }
    Ok(found)
}

pub fn access_cookie(token: &str, max_age: i64) -> String {
    format!("{ACCESS_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age={max_age}")
}

pub fn refresh_cookie(token: &str, max_age: i64) -> String {
    format!("{REFRESH_COOKIE}={token}; Path=/api/auth; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}")
}

/// Both cookies expired (logout).
pub fn clear_cookies() -> [String; 2] {
    [
        format!("{ACCESS_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0"),
        format!("{REFRESH_COOKIE}=; Path=/api/auth; HttpOnly; Secure; SameSite=Strict; Max-Age=0"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookmarks_are_short_hex_and_dashes_only() {
        assert_eq!(bookmark(" 0000002a-00000001-00004f68-5e9c "), Some("0000002a-00000001-00004f68-5e9c"));
        for bad in ["", "a b", "x;y", "a=b", &"f".repeat(129)] {
            assert_eq!(bookmark(bad), None, "{bad:?}");
        }
        assert!(bookmark_cookie("ab-1", 900).starts_with("__Host-d1-bookmark=ab-1; Path=/; HttpOnly; Secure"));
    }

    #[test]
    fn finds_cookies_by_exact_name() {
        let h = "a=1; __Host-access=tok.en.sig; __Secure-refresh=rt_x";
        assert_eq!(get(h, ACCESS_COOKIE), Some("tok.en.sig"));
        assert_eq!(get(h, REFRESH_COOKIE), Some("rt_x"));
        assert_eq!(get(h, "access"), None);
        assert_eq!(get("__Host-access=", ACCESS_COOKIE), None);
        assert_eq!(get("", ACCESS_COOKIE), None);
    }

    #[test]
    fn a_credential_cookie_sent_twice_is_refused() {
        let h = "__Secure-refresh=rt_a; x=1; __Secure-refresh=rt_b";
        assert_eq!(credential(h, REFRESH_COOKIE), Err(Duplicate));
        assert_eq!(credential("__Host-access=a;__Host-access=a", ACCESS_COOKIE), Err(Duplicate));
        assert_eq!(credential("__Secure-refresh=rt_a; __Host-access=t", REFRESH_COOKIE), Ok(Some("rt_a")));
        assert_eq!(credential("__Secure-refresh=; __Secure-refresh=rt_b", REFRESH_COOKIE), Ok(Some("rt_b")));
        assert_eq!(credential("a=1", REFRESH_COOKIE), Ok(None));
    }

    #[test]
    fn attributes_match_the_contract() {
        assert_eq!(access_cookie("t", 900), "__Host-access=t; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=900");
        let r = refresh_cookie("r", 604800);
        assert!(r.contains("Path=/api/auth") && r.contains("SameSite=Strict") && r.contains("Max-Age=604800"));
        assert!(clear_cookies().iter().all(|c| c.contains("Max-Age=0")));
    }
}
