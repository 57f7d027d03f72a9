//! `POST /login` (and the current-password check of `PUT /password`, which feeds the same
//! lockout): the lockout gate before any KDF work, the verdict after it, and the answer
//! to a counted failure.
//!
//! Uniform failure (CONTRACT.md "Auth"): an unknown email and a wrong password do the
//! same work (the handler verifies against a dummy hash) and get the same 401 body; a
//! disabled account is revealed only after its password was right.

use crate::audit::{AuditAction, AuditEvent};
use crate::domain::ids::UserId;
use crate::domain::role::Role;
use crate::error::{ApiError, ErrorCode};
use crate::throttle::lockout::{self, FailureOutcome, LockoutPolicy, LockoutState};

/// The account row a login reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: UserId,
    pub email: String,
    pub role: Role,
    pub is_active: bool,
    pub password_hash: String,
    pub created_at: i64,
}

/// 429 `account_locked` with `Retry-After`.
pub fn locked(retry: i64) -> ApiError {
    ApiError::too_many(ErrorCode::AccountLocked, u64::try_from(retry).unwrap_or(1))
        .with_message("Too many failed password attempts; try again later")
}

/// Before the password is checked: a locked account is 429 (audited as `action` with
/// reason `account_locked`) and no KDF work is done.
pub fn gate(lock: Option<&LockoutState>, now: i64, email: &str, action: AuditAction) -> Result<(), ApiError> {
    match lockout::check(lock, now) {
        None => Ok(()),
        Some(retry) => Err(locked(retry)
            .audited(AuditEvent::new(action, "auth").meta("email", email).meta("reason", "account_locked"))),
    }
}

/// What the password check means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Right password, active account: open a session (and store a new hash when the
    /// stored one is of a legacy format or an old cost).
    Success { account: Account, rehash: bool },
    /// Wrong password or unknown email: count a failure for the lockout, answer 401.
    Failure { reason: &'static str },
    /// Right password, disabled account: 403 `account_disabled` ([`disabled`]), not counted.
    Disabled(Account),
}

/// `hash_readable`: the stored hash parsed (a missing account or an unreadable hash was
/// verified against the dummy hash); `password_ok`: the KDF comparison succeeded.
pub fn verdict(account: Option<Account>, hash_readable: bool, password_ok: bool, needs_rehash: bool) -> Verdict {
    match account {
        Some(a) if hash_readable && password_ok && a.is_active => Verdict::Success { account: a, rehash: needs_rehash },
        Some(a) if hash_readable && password_ok => Verdict::Disabled(a),
        Some(_) if hash_readable => Verdict::Failure { reason: "invalid_password" },
        _ => Verdict::Failure { reason: "unknown_email" },
    }
}

/// The answer to a failure that storage counted (`state` is the lockout row after the
/// atomic increment): `wrong` (a 401) audited with `failed`, plus `auth.account_locked`
/// when this failure locked the account; 429 `account_locked` when a concurrent failure
/// had locked it while this request was verifying its password.
pub fn counted_failure(
    state: &LockoutState,
    policy: &LockoutPolicy,
    now: i64,
    email: &str,
    wrong: ApiError,
    failed: AuditEvent,
) -> ApiError {
    match lockout::classify(state, policy, now) {
        FailureOutcome::AlreadyLocked(retry) => locked(retry).audited(failed),
        FailureOutcome::Counted => wrong.audited(failed),
        FailureOutcome::JustLocked => wrong.audited(failed).audited(
            AuditEvent::new(AuditAction::AuthAccountLocked, "auth")
                .meta("email", email)
                .meta("failures", state.failures)
                .meta("lockedForSeconds", policy.lock_secs),
        ),
    }
}

/// The `auth.login_failed` event of a wrong password or unknown email.
pub fn failed_event(email: &str, reason: &str) -> AuditEvent {
    AuditEvent::new(AuditAction::AuthLoginFailed, "auth").meta("email", email).meta("reason", reason)
}

/// 403 for a disabled account whose password was right.
pub fn disabled(account: &Account) -> ApiError {
    ApiError::new(ErrorCode::AccountDisabled).audited(
        AuditEvent::new(AuditAction::AuthLoginFailed, "auth")
            .user(account.id.as_str())
            .meta("email", account.email.as_str())
            .meta("reason", "account_disabled"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::T0;

    fn account(active: bool) -> Account {
        Account {
            id: UserId::new("u1"),
            email: "a@b.co".into(),
            role: Role::User,
            is_active: active,
            password_hash: "pbkdf2$...".into(),
            created_at: T0,
        }
    }

    #[test]
    fn the_verdict_reveals_a_disabled_account_only_after_the_right_password() {
        assert_eq!(verdict(Some(account(false)), true, true, false), Verdict::Disabled(account(false)));
        assert_eq!(verdict(Some(account(false)), true, false, false), Verdict::Failure { reason: "invalid_password" });
        assert_eq!(
            verdict(Some(account(true)), true, true, true),
            Verdict::Success { account: account(true), rehash: true }
        );
        assert_eq!(verdict(None, false, true, false), Verdict::Failure { reason: "unknown_email" });
        let e = disabled(&account(false));
        assert_eq!(
            (e.code, e.audit[0].metadata["reason"].as_str()),
            (ErrorCode::AccountDisabled, Some("account_disabled"))
        );
        assert_eq!(
            verdict(Some(account(true)), false, true, false),
            Verdict::Failure { reason: "unknown_email" },
            "an unreadable stored hash never logs in"
        );
    }

    #[test]
    fn the_gate_answers_429_while_locked_and_audits_it() {
        let lock = LockoutState { failures: 10, window_start: T0, locked_until: Some(T0 + 900) };
        let e = gate(Some(&lock), T0 + 100, "a@b.co", AuditAction::AuthLoginFailed).unwrap_err();
        assert_eq!(e.code, ErrorCode::AccountLocked);
        assert_eq!(e.headers, vec![("Retry-After", "800".to_owned())]);
        assert_eq!(e.audit.len(), 1);
        assert_eq!(e.audit[0].metadata["reason"], "account_locked");
        assert!(gate(Some(&lock), T0 + 900, "a@b.co", AuditAction::AuthLoginFailed).is_ok(), "released");
        assert!(gate(None, T0, "a@b.co", AuditAction::AuthLoginFailed).is_ok());
    }

    #[test]
    fn counted_failures_are_401_then_the_locking_one_is_audited_then_429() {
        let p = LockoutPolicy { threshold: 3, window_secs: 60, lock_secs: 30 };
        let wrong = || ApiError::new(ErrorCode::InvalidCredentials);
        let ev = || failed_event("a@b.co", "invalid_password");
        let counted = LockoutState { failures: 2, window_start: T0, locked_until: None };
        let e = counted_failure(&counted, &p, T0 + 5, "a@b.co", wrong(), ev());
        assert_eq!((e.code, e.audit.len()), (ErrorCode::InvalidCredentials, 1));
        let locking = LockoutState { failures: 3, window_start: T0 + 6, locked_until: Some(T0 + 36) };
        let e = counted_failure(&locking, &p, T0 + 6, "a@b.co", wrong(), ev());
        assert_eq!(e.code, ErrorCode::InvalidCredentials, "the failure that locks is still a 401");
        assert_eq!(e.audit[1].action, AuditAction::AuthAccountLocked);
        assert_eq!(e.audit[1].metadata["lockedForSeconds"], 30);
        let later = LockoutState { failures: 4, ..locking };
        let e = counted_failure(&later, &p, T0 + 7, "a@b.co", wrong(), ev());
        assert_eq!(e.code, ErrorCode::AccountLocked, "a concurrent failure found it locked");
        assert_eq!(e.headers, vec![("Retry-After", "29".to_owned())]);
    }
}
