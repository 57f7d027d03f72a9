//! Cryptographic building blocks: encodings, MACs and digests, password KDF formats.
pub mod encoding;
pub mod kdf;
pub mod mac;
