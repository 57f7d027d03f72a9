//! `PATCH /api/admin/users/:id`: the new state of the user, whether their sessions end,
//! and whether the last-active-admin guard applies.
//!
//! CONTRACT.md "Admin": disabling a user or changing their role takes effect on their
//! next request (their sessions are revoked and stay dead if they are re-enabled); the
//! last active admin cannot be demoted or disabled (409). The guard itself is evaluated
//! by D1 inside the write batch (another active admin must exist), so that two admins
//! demoting each other concurrently cannot both succeed.

use crate::audit::{AuditAction, AuditEvent};
use crate::domain::ids::UserId;
use crate::domain::role::Role;
use crate::dto::UserPatch;
use crate::error::{ApiError, ErrorCode};
use serde_json::json;

/// A user as the admin endpoints read and show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserState {
    pub role: Role,
    pub is_active: bool,
}

/// What the update writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdatePlan {
    pub role: Role,
    pub is_active: bool,
    /// A role change or a disable: every session of the user ends.
    pub end_sessions: bool,
    /// The user is an active admin who would stop being one: another active admin must remain.
    pub needs_another_admin: bool,
}

pub fn plan(current: &UserState, patch: &UserPatch) -> UpdatePlan {
    let role = patch.role.unwrap_or(current.role);
    let is_active = patch.is_active.unwrap_or(current.is_active);
    let was_active_admin = current.role == Role::Admin && current.is_active;
    UpdatePlan {
        role,
        is_active,
        end_sessions: role != current.role || (current.is_active && !is_active),
        needs_another_admin: was_active_admin && (role != Role::Admin || !is_active),
    }
}

/// 409 when the guard refused the update.
pub fn last_admin() -> ApiError {
    ApiError::new(ErrorCode::Conflict).with_message("The last active admin cannot be demoted or disabled")
}

/// The `user.update` event.
pub fn updated(actor: &UserId, target: &UserId, before: &UserState, after: &UserState, ended: usize) -> AuditEvent {
    AuditEvent::new(AuditAction::UserUpdate, "users")
        .user(actor.as_str())
        .resource_id(target.as_str())
        .meta("before", json!({"role": before.role.as_str(), "isActive": before.is_active}))
        .meta("after", json!({"role": after.role.as_str(), "isActive": after.is_active}))
        .meta("sessionsEnded", ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(role: Role, is_active: bool) -> UserState {
        UserState { role, is_active }
    }
    fn patch(role: Option<Role>, is_active: Option<bool>) -> UserPatch {
        UserPatch { role, is_active }
    }

    #[test]
    fn a_role_change_or_a_disable_ends_sessions_and_nothing_else_does() {
        let p = plan(&state(Role::User, true), &patch(Some(Role::Editor), None));
        assert_eq!((p.role, p.is_active, p.end_sessions), (Role::Editor, true, true));
        assert!(plan(&state(Role::User, true), &patch(None, Some(false))).end_sessions);
        assert!(!plan(&state(Role::User, true), &patch(Some(Role::User), Some(true))).end_sessions, "no change");
        assert!(!plan(&state(Role::User, false), &patch(None, Some(true))).end_sessions, "re-enabling");
    }

    #[test]
    fn only_demoting_or_disabling_an_active_admin_needs_another_admin() {
        assert!(plan(&state(Role::Admin, true), &patch(Some(Role::User), None)).needs_another_admin);
        assert!(plan(&state(Role::Admin, true), &patch(None, Some(false))).needs_another_admin);
        assert!(!plan(&state(Role::Admin, true), &patch(Some(Role::Admin), Some(true))).needs_another_admin);
        assert!(!plan(&state(Role::Admin, false), &patch(Some(Role::User), None)).needs_another_admin);
        assert!(!plan(&state(Role::Editor, true), &patch(None, Some(false))).needs_another_admin);
        assert_eq!(last_admin().status(), 409);
    }

    #[test]
    fn the_event_records_before_and_after() {
        let ev =
            updated(&UserId::new("a"), &UserId::new("u"), &state(Role::User, true), &state(Role::Viewer, false), 2);
        assert_eq!(ev.metadata["before"], json!({"role": "user", "isActive": true}));
        assert_eq!(ev.metadata["after"], json!({"role": "viewer", "isActive": false}));
        assert_eq!(ev.resource_id.as_deref(), Some("u"));
    }
}
