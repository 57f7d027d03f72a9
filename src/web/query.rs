//! Query-string and URL parsing without the `url` crate (which adds ~80 KB gzip to the
//! worker): split the raw request URL, percent-decode `application/x-www-form-urlencoded`.

/// Splits an absolute or origin-form URL into (path, query) without decoding.
pub fn split_url(url: &str) -> (&str, &str) {
    let after_scheme = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
    let path_and_query = if url.contains("://") {
        after_scheme.find('/').and_then(|i| after_scheme.get(i..)).unwrap_or("/")
    } else {
        after_scheme
    };
    let without_fragment = path_and_query.split('#').next().unwrap_or_default();
    match without_fragment.split_once('?') {
        Some((p, q)) => (p, q),
        None => (without_fragment, ""),
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes (and `+` → space when `plus_is_space`). Invalid UTF-8 is replaced.
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => match (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decoded `(name, value)` pairs in order.
pub fn parse(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// The first value of `name`.
pub fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls() {
        assert_eq!(split_url("http://127.0.0.1:8787/api/posts?page=2&limit=5"), ("/api/posts", "page=2&limit=5"));
        assert_eq!(split_url("https://x.example"), ("/", ""));
        assert_eq!(split_url("https://x.example/a#frag?no"), ("/a", ""));
        assert_eq!(split_url("/health?x"), ("/health", "x"));
    }

    #[test]
    fn decodes_pairs() {
        let q = parse("email=A%40b.co&x=1+2&empty=&flag&bad=%zz&utf=%C3%A9");
        assert_eq!(get(&q, "email"), Some("A@b.co"));
        assert_eq!(get(&q, "x"), Some("1 2"));
        assert_eq!(get(&q, "empty"), Some(""));
        assert_eq!(get(&q, "flag"), Some(""));
        assert_eq!(get(&q, "bad"), Some("%zz"));
        assert_eq!(get(&q, "utf"), Some("é"));
        assert_eq!(get(&q, "missing"), None);
        assert_eq!(percent_decode("%", false), "%");
        assert_eq!(percent_decode("%4", false), "%4");
    }
}
