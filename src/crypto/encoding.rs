//! Byte encodings used on the wire and in storage: base64url without padding
//! (JWT segments, refresh tokens, API keys, the current password-hash format),
//! standard padded base64 (the legacy password-hash format produced by JS `btoa`)
//! and lowercase hex (token and key digests stored in D1).
//!
//! Decoders are strict on purpose: a credential has exactly one accepted spelling.
//! Padding where none is expected, characters outside the alphabet, whitespace and
//! non-canonical trailing bits are all rejected (RFC 4648 §3.1–§3.5, and RFC 7515
//! §2 for "base64url encoding without padding" in JOSE).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

/// Base64url (RFC 4648 §5) without padding, as JOSE requires (RFC 7515 §2).
pub fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url decode: URL-safe alphabet only, no `=` padding, canonical
/// trailing bits. Returns `None` on any deviation.
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// Standard base64 (RFC 4648 §4) with padding, as JS `btoa` produces.
pub fn b64_std_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Strict standard base64 decode: standard alphabet, canonical `=` padding required,
/// canonical trailing bits. Returns `None` on any deviation.
pub fn b64_std_decode(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}

/// Lowercase hexadecimal, two digits per byte.
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len().saturating_mul(2));
    for b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            if let Some(d) = DIGITS.get(usize::from(nibble)) {
                out.push(char::from(*d));
            }
        }
    }
    out
}

/// JSON bytes as `T`, through `serde_json::from_str` after a UTF-8 check. Every parse in
/// the crate goes through `from_str` so that the wasm holds one instance of serde_json's
/// reader (a `from_slice` instance beside it costs several KB); the two reject the same
/// inputs, since JSON text must be UTF-8.
pub fn json_from_bytes<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    serde_json::from_str(std::str::from_utf8(bytes).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_section10_vectors_standard() {
        let cases: [(&str, &str); 7] = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, enc) in cases {
            assert_eq!(b64_std_encode(plain.as_bytes()), enc);
            assert_eq!(b64_std_decode(enc).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn b64url_has_no_padding_and_uses_url_alphabet() {
        assert_eq!(b64url_encode(b"f"), "Zg");
        assert_eq!(b64url_encode(b"fo"), "Zm8");
        assert_eq!(b64url_encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(b64url_decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(b64url_decode("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn b64url_decode_is_strict() {
        assert!(b64url_decode("Zg==").is_none(), "padding rejected");
        assert!(b64url_decode("Zm8=").is_none(), "padding rejected");
        assert!(b64url_decode("+/8").is_none(), "standard alphabet rejected");
        assert!(b64url_decode("Zm 8").is_none(), "whitespace rejected");
        assert!(b64url_decode("Zm8\n").is_none(), "newline rejected");
        assert!(b64url_decode("Z").is_none(), "impossible length rejected");
        assert!(b64url_decode("Zh").is_none(), "non-canonical trailing bits rejected");
        assert!(b64url_decode("é").is_none());
    }

    #[test]
    fn b64_std_decode_is_strict() {
        assert!(b64_std_decode("Zg").is_none(), "missing padding rejected");
        assert!(b64_std_decode("Zg=").is_none(), "short padding rejected");
        assert!(b64_std_decode("-_8=").is_none(), "url alphabet rejected");
        assert!(b64_std_decode("Zm9v\n").is_none());
        assert_eq!(b64_std_decode("+/8=").unwrap(), vec![0xfb, 0xff]);
    }

    #[test]
    fn round_trips_all_lengths() {
        let data: Vec<u8> = (0..=255u8).collect();
        for n in 0..data.len() {
            let slice = &data[..n];
            assert_eq!(b64url_decode(&b64url_encode(slice)).unwrap(), slice);
            assert_eq!(b64_std_decode(&b64_std_encode(slice)).unwrap(), slice);
        }
    }

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex_encode(&[]), "");
        assert_eq!(hex_encode(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
    }
}
