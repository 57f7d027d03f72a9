//! Checked post fields: title and body as the contract bounds them.
//!
//! CONTRACT.md "Posts": title 1..200 characters, body 1..50 000 characters. Lengths
//! are counted in Unicode scalar values (`char`s), not bytes, so a title of 200 emoji
//! is accepted. Content is stored exactly as sent (no trimming); a value made only of
//! whitespace counts as empty and is rejected.

use std::fmt;

/// Maximum title length in characters (CONTRACT.md "Posts").
pub const MAX_TITLE_CHARS: usize = 200;
/// Maximum body length in characters (CONTRACT.md "Posts").
pub const MAX_BODY_CHARS: usize = 50_000;

/// A post title: 1..=200 characters, not blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostTitle(String);

/// A post body: 1..=50 000 characters, not blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostBody(String);

/// Shared rule: non-blank and at most `max` chars.
fn check(raw: &str, what: &str, max: usize) -> Result<(), String> {
    if raw.trim().is_empty() {
        return Err(format!("{what} is required"));
    }
    // Counting stops one past the limit: no need to walk a huge string to the end.
    if raw.chars().take(max + 1).count() > max {
        return Err(format!("{what} must be at most {max} characters"));
    }
    Ok(())
}

impl PostTitle {
    pub fn parse(raw: &str) -> Result<PostTitle, String> {
        check(raw, "Title", MAX_TITLE_CHARS).map(|()| PostTitle(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl PostBody {
    pub fn parse(raw: &str) -> Result<PostBody, String> {
        check(raw, "Body", MAX_BODY_CHARS).map(|()| PostBody(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for PostTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for PostBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_bounds_in_chars() {
        assert!(PostTitle::parse("x").is_ok());
        assert!(PostTitle::parse(&"a".repeat(200)).is_ok());
        assert_eq!(PostTitle::parse(&"a".repeat(201)).unwrap_err(), "Title must be at most 200 characters");
        // 200 four-byte chars (800 bytes) is still 200 characters.
        let emoji = "🦀".repeat(200);
        assert_eq!(emoji.len(), 800);
        assert!(PostTitle::parse(&emoji).is_ok());
        assert!(PostTitle::parse(&format!("{emoji}🦀")).is_err());
    }

    #[test]
    fn body_bounds_in_chars() {
        assert!(PostBody::parse("x").is_ok());
        assert!(PostBody::parse(&"b".repeat(50_000)).is_ok());
        assert_eq!(PostBody::parse(&"b".repeat(50_001)).unwrap_err(), "Body must be at most 50000 characters");
        let wide = "é".repeat(50_000);
        assert_eq!(wide.len(), 100_000);
        assert!(PostBody::parse(&wide).is_ok());
        assert!(PostBody::parse(&format!("{wide}é")).is_err());
    }

    #[test]
    fn empty_and_blank_are_rejected() {
        for blank in ["", " ", "\t\n", "\u{3000}\u{a0}"] {
            assert_eq!(PostTitle::parse(blank).unwrap_err(), "Title is required", "{blank:?}");
            assert_eq!(PostBody::parse(blank).unwrap_err(), "Body is required", "{blank:?}");
        }
    }

    #[test]
    fn content_is_kept_verbatim() {
        let t = PostTitle::parse("  Hello  ").unwrap();
        assert_eq!(t.as_str(), "  Hello  ");
        assert_eq!(t.to_string(), "  Hello  ");
        assert_eq!(t.into_inner(), "  Hello  ");
        let b = PostBody::parse("\nline 1\nline 2\n").unwrap();
        assert_eq!(b.as_str(), "\nline 1\nline 2\n");
        assert_eq!(b.into_inner(), "\nline 1\nline 2\n");
    }

    #[test]
    fn surrounding_whitespace_counts_toward_the_limit() {
        // No trimming: 199 letters plus two spaces is 201 characters.
        assert!(PostTitle::parse(&format!(" {} ", "a".repeat(199))).is_err());
        assert!(PostTitle::parse(&format!(" {}", "a".repeat(199))).is_ok());
    }
}
