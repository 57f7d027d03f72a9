//! The checked new password: the strength policy, applied wherever a password is set
//! (register, password change, reset confirm).
//!
//! CONTRACT.md "Auth": at least 8 characters, at most 128, with an upper-case letter, a
//! lower-case letter and a digit. Lengths are counted in Unicode scalar values
//! (`char`s), not bytes. Every failed rule is reported so the client can fix them all
//! at once.
//!
//! Passwords presented at login are *not* parsed through this type: an old password
//! that predates a policy change must still be verifiable.
//! The value never prints: `Debug` shows `[REDACTED]` and there is no `Display`
//! or `Serialize`.

use std::fmt;

/// Minimum length in characters (CONTRACT.md "Auth").
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Maximum length in characters (CONTRACT.md "Auth"); also bounds KDF input.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// A password that satisfies the policy. Not trimmed: spaces are part of it.
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    /// Checks `raw` against every rule; on failure returns one message per failed rule.
    pub fn parse(raw: &str) -> Result<NewPassword, Vec<String>> {
        let mut errors = Vec::new();
        let len = raw.chars().count();
        if len < MIN_PASSWORD_CHARS {
            errors.push(format!("Password must be at least {MIN_PASSWORD_CHARS} characters"));
        }
        if len > MAX_PASSWORD_CHARS {
            errors.push(format!("Password must be at most {MAX_PASSWORD_CHARS} characters"));
        }
        if !raw.chars().any(char::is_uppercase) {
            errors.push("Password must contain an upper-case letter".to_owned());
        }
        if !raw.chars().any(char::is_lowercase) {
            errors.push("Password must contain a lower-case letter".to_owned());
        }
        if !raw.chars().any(|c| c.is_ascii_digit()) {
            errors.push("Password must contain a digit".to_owned());
        }
        if errors.is_empty() {
            Ok(NewPassword(raw.to_owned()))
        } else {
            Err(errors)
        }
    }

    /// The plaintext, for the KDF only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Passwords presented for verification are bounded too (a KDF input, not a stored value).
pub const MAX_PRESENTED_PASSWORD: usize = 1024;

/// A password presented for verification (login, current password): non-empty and at
/// most [`MAX_PRESENTED_PASSWORD`] bytes, but otherwise unchecked, so that a password set
/// under an older policy still verifies. Redacted like [`NewPassword`].
#[derive(Clone)]
pub struct PresentedPassword(String);

impl PresentedPassword {
    /// `Err(message)` when empty or too long.
    pub fn parse(raw: &str) -> Result<PresentedPassword, String> {
        if raw.is_empty() {
            return Err("is required".to_owned());
        }
        if raw.len() > MAX_PRESENTED_PASSWORD {
            return Err(format!("must be at most {MAX_PRESENTED_PASSWORD} bytes"));
        }
        Ok(PresentedPassword(raw.to_owned()))
    }

    /// The plaintext, for the KDF only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PresentedPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_policy_compliant_password_verbatim() {
        for good in ["Passw0rd", "Abcdefg1", " Spaced 0ut ", "ÄÖÜäöü12", "Correct Horse Battery 9"] {
            let p = NewPassword::parse(good).unwrap_or_else(|e| panic!("{good:?}: {e:?}"));
            assert_eq!(p.expose(), good, "not trimmed or altered");
        }
    }

    #[test]
    fn reports_every_failed_rule() {
        assert_eq!(
            NewPassword::parse("").unwrap_err(),
            vec![
                "Password must be at least 8 characters",
                "Password must contain an upper-case letter",
                "Password must contain a lower-case letter",
                "Password must contain a digit",
            ]
        );
        assert_eq!(
            NewPassword::parse("alllowercase").unwrap_err(),
            vec!["Password must contain an upper-case letter", "Password must contain a digit"]
        );
        assert_eq!(NewPassword::parse("ALLUPPER1").unwrap_err(), vec!["Password must contain a lower-case letter"]);
        assert_eq!(NewPassword::parse("NoDigitsHere").unwrap_err(), vec!["Password must contain a digit"]);
        assert_eq!(NewPassword::parse("Sh0rt").unwrap_err(), vec!["Password must be at least 8 characters"]);
        let long = format!("Aa1{}", "x".repeat(126));
        assert_eq!(NewPassword::parse(&long).unwrap_err(), vec!["Password must be at most 128 characters"]);
    }

    #[test]
    fn length_bounds_are_counted_in_chars() {
        assert!(NewPassword::parse("Abcdef1").is_err(), "7 chars");
        assert!(NewPassword::parse("Abcdefg1").is_ok(), "8 chars");
        let max = format!("Aa1{}", "x".repeat(125));
        assert_eq!(max.chars().count(), 128);
        assert!(NewPassword::parse(&max).is_ok());
        // 8 chars but 16 bytes: allowed.
        assert!(NewPassword::parse("Ää1ääääää").is_ok());
        // 128 chars of 2 bytes each (256 bytes): allowed; 129 chars: not.
        let wide = format!("Ä1{}", "ä".repeat(126));
        assert_eq!(wide.chars().count(), 128);
        assert!(wide.len() > 128);
        assert!(NewPassword::parse(&wide).is_ok());
        assert!(NewPassword::parse(&format!("{wide}ä")).is_err());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let p = NewPassword::parse("Secret123").unwrap();
        assert_eq!(format!("{p:?}"), "[REDACTED]");
        assert_eq!(format!("{:?}", Some(p.clone())), "Some([REDACTED])");
        assert!(!format!("{p:#?}").contains("Secret"));
        let presented = PresentedPassword::parse("Secret123").unwrap();
        assert_eq!(format!("{presented:?}"), "[REDACTED]");
    }

    #[test]
    fn presented_passwords_are_non_empty_and_bounded() {
        assert_eq!(PresentedPassword::parse("").unwrap_err(), "is required");
        assert!(PresentedPassword::parse(&"x".repeat(MAX_PRESENTED_PASSWORD)).is_ok());
        assert!(PresentedPassword::parse(&"x".repeat(MAX_PRESENTED_PASSWORD + 1)).is_err());
        assert_eq!(PresentedPassword::parse("old").unwrap().expose(), "old", "no policy applied");
    }
}
