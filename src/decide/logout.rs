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
    /// Every session of the user but this one (`{"others": true}`; the caller stays in).
    Others(UserId, SessionId),
}

/// What a logout asked for (`all` and `others` together are refused at the door).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    This,
    All,
    Others,
}

pub fn scope(which: Which, user: &UserId, session: &SessionId) -> Scope {
    match which {
        Which::This => Scope::Session(session.clone()),
        Which::All => Scope::Everywhere(user.clone()),
        Which::Others => Scope::Others(user.clone(), session.clone()),
    }
}

/// Whether the logout ends the caller's own session (its cookies are then cleared).
pub fn ends_caller(scope: &Scope) -> bool {
    !matches!(scope, Scope::Others(..))
}

/// The answer's message and the `auth.logout` event (`ended`: sessions revoked now).
pub fn done(scope: &Scope, user: &UserId, session: &SessionId, ended: usize) -> (&'static str, AuditEvent) {
    let (all, others) = (matches!(scope, Scope::Everywhere(_)), matches!(scope, Scope::Others(..)));
    let mut event = AuditEvent::new(AuditAction::AuthLogout, "auth")
        .user(user.as_str())
        .resource_id(session.as_str())
        .meta("all", all)
        .meta("sessionsEnded", ended);
    if others {
        event = event.meta("others", true);
    }
    let message = match scope {
        Scope::Session(_) => "Logged out",
        Scope::Everywhere(_) => "Logged out of every session",
        Scope::Others(..) => "Logged out of every other session",
    };
    (message, event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_ends_every_session_else_only_the_callers() {
        let (u, s) = (UserId::new("u"), SessionId::new("s"));
        assert_eq!(scope(Which::This, &u, &s), Scope::Session(s.clone()));
        assert_eq!(scope(Which::All, &u, &s), Scope::Everywhere(u.clone()));
        let others = scope(Which::Others, &u, &s);
        assert_eq!(others, Scope::Others(u.clone(), s.clone()));
        assert!(!ends_caller(&others) && ends_caller(&Scope::Session(s.clone())));
        let (msg, ev) = done(&others, &u, &s, 2);
        assert_eq!((msg, ev.metadata["others"].as_bool()), ("Logged out of every other session", Some(true)));
        let (msg, ev) = done(&Scope::Everywhere(u.clone()), &u, &s, 3);
        assert_eq!(msg, "Logged out of every session");
        assert_eq!((ev.metadata["all"].as_bool(), ev.metadata["sessionsEnded"].as_u64()), (Some(true), Some(3)));
        assert_eq!(ev.resource_id.as_deref(), Some("s"));
    }
}
