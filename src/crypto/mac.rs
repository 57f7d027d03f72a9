//! Digests and MACs: SHA-256 (FIPS 180-4), HMAC-SHA-256 (RFC 2104, vectors from
//! RFC 4231) and constant-time comparison.
//!
//! Every comparison of a secret-derived value (MAC tags, password hashes) goes
//! through this module so that it is constant-time in the contents; only the length
//! (public) may leak.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::encoding::hex_encode;

type HmacSha256 = Hmac<Sha256>;

/// SHA-256 digest.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// SHA-256 digest as lowercase hex (64 chars): the storage form of token digests.
pub fn sha256_hex(data: &[u8]) -> String {
    hex_encode(&sha256(data))
}

/// HMAC-SHA-256 of `msg` under `key` (any key length; RFC 2104 §2 hashes long keys).
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail. Should it
    // ever do so, an all-zero tag is returned: it never verifies, because
    // `hmac_sha256_verify` fails closed on the same error.
    match <HmacSha256 as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(msg);
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0u8; 32],
    }
}

/// Constant-time verification of an HMAC-SHA-256 tag (`Mac::verify_slice`).
/// A tag of the wrong length is rejected.
pub fn hmac_sha256_verify(key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
    match <HmacSha256 as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(msg);
            mac.verify_slice(tag).is_ok()
        }
        Err(_) => false,
    }
}

/// Constant-time equality of two byte strings (time depends only on the lengths;
/// different lengths compare unequal).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn sha256_fips_180_vectors() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(sha256(b"abc").to_vec(), hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    }

    /// RFC 4231 §4.2–§4.8 (test case 5 is a truncated-output case and is omitted).
    #[test]
    fn hmac_sha256_rfc4231_vectors() {
        let key_131 = vec![0xaa; 131];
        let cases: Vec<(Vec<u8>, Vec<u8>, &str)> = vec![
            // Test Case 1
            (
                vec![0x0b; 20],
                b"Hi There".to_vec(),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            // Test Case 2
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            // Test Case 3
            (
                vec![0xaa; 20],
                vec![0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            // Test Case 4
            (
                (0x01..=0x19).collect(),
                vec![0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            // Test Case 6
            (
                key_131.clone(),
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            // Test Case 7
            (
                key_131,
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (i, (key, msg, expected)) in cases.iter().enumerate() {
            let tag = hmac_sha256(key, msg);
            assert_eq!(hex_encode(&tag), *expected, "case index {i}");
            assert!(hmac_sha256_verify(key, msg, &hex(expected)));
        }
    }

    #[test]
    fn hmac_verify_rejects_wrong_or_truncated_tags() {
        let tag = hmac_sha256(b"key", b"msg");
        assert!(hmac_sha256_verify(b"key", b"msg", &tag));
        let mut flipped = tag;
        flipped[31] ^= 1;
        assert!(!hmac_sha256_verify(b"key", b"msg", &flipped));
        assert!(!hmac_sha256_verify(b"key", b"msg", &tag[..16]), "truncated tag rejected");
        assert!(!hmac_sha256_verify(b"key", b"msg", &[]));
        assert!(!hmac_sha256_verify(b"other", b"msg", &tag));
        assert!(!hmac_sha256_verify(b"key", b"msg2", &tag));
        assert_eq!(hmac_sha256(b"", b""), hmac_sha256(&[], &[]), "empty key is accepted");
    }

    #[test]
    fn ct_eq_compares_contents_and_lengths() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(!ct_eq(b"", b"a"));
    }
}
