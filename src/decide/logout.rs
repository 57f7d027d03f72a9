//! `POST /logout`: which sessions end, and the audit event.

use crate::audit::{AuditAction, AuditEvent};
use crate::domain::ids::{SessionId, UserId};

/// The sessions a logout ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The caller's session (its refresh family and every access token of it).
    Session(SessionId),
    /// Every session of the user (`{"all": true}`).
    Everywhere(UserId),
}

pub fn scope(all: bool, user: &UserId, session: &SessionId) -> Scope {
    if all {
        Scope::Everywhere(user.clone())
    } else {
        Scope::Session(session.clone())
    }
}

/// The answer's message and the `auth.logout` event (`ended`: sessions revoked now).
pub fn done(scope: &Scope, user: &UserId, session: &SessionId, ended: usize) -> (&'static str, AuditEvent) {
    let all = matches!(scope, Scope::Everywhere(_));
    let event = AuditEvent::new(AuditAction::AuthLogout, "auth")
        .user(user.as_str())
        .resource_id(session.as_str())
        .meta("all", all)
        .meta("sessionsEnded", ended);
    (if all { "Logged out of every session" } else { "Logged out" }, event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_ends_every_session_else_only_the_callers() {
        let (u, s) = (UserId::new("u"), SessionId::new("s"));
        assert_eq!(scope(false, &u, &s), Scope::Session(s.clone()));
        assert_eq!(scope(true, &u, &s), Scope::Everywhere(u.clone()));
        let (msg, ev) = done(&Scope::Everywhere(u.clone()), &u, &s, 3);
        assert_eq!(msg, "Logged out of every session");
        assert_eq!((ev.metadata["all"].as_bool(), ev.metadata["sessionsEnded"].as_u64()), (Some(true), Some(3)));
        assert_eq!(ev.resource_id.as_deref(), Some("s"));
    }
}
