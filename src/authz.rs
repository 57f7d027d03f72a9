//! Authorization as a pure predicate over a resolved principal.
//!
//! The edge resolves *who* is calling (access token, API key or cookie) and loads the
//! role's permissions from D1; everything after that is decided here, without I/O:
//!
//! - CONTRACT.md "API keys": a request with `X-API-Key` "needs the permission in both
//!   the owner's role and the key's scopes" — the effective set is the intersection.
//! - CONTRACT.md "Posts": update/delete is allowed to the owner with
//!   `posts:update`/`posts:delete`, or to a role with `posts:update:any` /
//!   `posts:delete:any`; editors and admins see every post (including drafts).
//!
//! Whether a refusal is a 403 or a 404 (drafts the caller may not see) is the
//! handler's call; this module only answers yes or no.

use crate::domain::ids::UserId;
use crate::domain::role::{Permission, Role};

/// A set of permissions as a bitset over `Permission` discriminants.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PermissionSet(u16);

impl PermissionSet {
    /// The empty set.
    pub const EMPTY: PermissionSet = PermissionSet(0);

    const fn bit(p: Permission) -> u16 {
        1u16 << (p as u8)
    }

    /// The empty set.
    pub const fn empty() -> PermissionSet {
        PermissionSet(0)
    }

    /// Every permission.
    pub fn all() -> PermissionSet {
        Permission::ALL.into_iter().collect()
    }

    /// The set of a slice (e.g. `default_permissions(role)`).
    pub fn from_slice(perms: &[Permission]) -> PermissionSet {
        perms.iter().copied().collect()
    }

    pub const fn contains(self, p: Permission) -> bool {
        self.0 & Self::bit(p) != 0
    }

    pub fn insert(&mut self, p: Permission) {
        self.0 |= Self::bit(p);
    }

    pub fn remove(&mut self, p: Permission) {
        self.0 &= !Self::bit(p);
    }

    #[must_use]
    pub const fn intersect(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 & other.0)
    }

    #[must_use]
    pub const fn union(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 | other.0)
    }

    /// `self ⊆ other`.
    pub const fn is_subset(self, other: PermissionSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Members in `Permission::ALL` order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |p| self.contains(*p))
    }

    /// Wire names in `Permission::ALL` order (e.g. for an API key's `scopes`).
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Permission::as_str).collect()
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut set = PermissionSet::empty();
        for p in iter {
            set.insert(p);
        }
        set
    }
}

impl std::fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter().map(Permission::as_str)).finish()
    }
}

/// The caller, as resolved by the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub role: Role,
    /// The role's permissions as loaded from D1 (`role_permissions`).
    pub role_permissions: PermissionSet,
    /// `Some(scopes)` when the request authenticated with an API key.
    pub key_scopes: Option<PermissionSet>,
}

impl Principal {
    /// Whether the request authenticated with an API key.
    pub fn is_api_key(&self) -> bool {
        self.key_scopes.is_some()
    }
}

/// What the principal may do: role permissions, restricted to the key's scopes if any.
pub fn effective(p: &Principal) -> PermissionSet {
    match p.key_scopes {
        Some(scopes) => p.role_permissions.intersect(scopes),
        None => p.role_permissions,
    }
}

/// Whether `p` may exercise `perm`, on a resource owned by `owner` when given.
///
/// - `posts:update` / `posts:delete` with an owner: allowed to the owner holding the
///   permission, or to anyone holding the matching `:any` permission.
/// - Everything else (including those two without an owner, e.g. "may update posts at
///   all", and any `:any` permission asked for directly): plain membership. An owner
///   passed with another permission is ignored.
pub fn can(p: &Principal, perm: Permission, owner: Option<&str>) -> bool {
    let eff = effective(p);
    let any = match perm {
        Permission::PostsUpdate => Permission::PostsUpdateAny,
        Permission::PostsDelete => Permission::PostsDeleteAny,
        _ => return eff.contains(perm),
    };
    match owner {
        Some(owner) => (eff.contains(perm) && owner == p.user_id.as_str()) || eff.contains(any),
        None => eff.contains(perm),
    }
}

/// Whether `p` sees other users' drafts in lists and by id (editor and admin).
pub fn can_see_drafts_of_others(p: &Principal) -> bool {
    effective(p).contains(Permission::PostsUpdateAny)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::role::default_permissions;
    use Permission::*;

    const ME: &str = "u-me";
    const OTHER: &str = "u-other";

    fn principal(role: Role, key_scopes: Option<&[Permission]>) -> Principal {
        Principal {
            user_id: UserId::new(ME),
            role,
            role_permissions: PermissionSet::from_slice(default_permissions(role)),
            key_scopes: key_scopes.map(PermissionSet::from_slice),
        }
    }

    #[test]
    fn bitset_operations() {
        let a: PermissionSet = [PostsRead, PostsCreate, AuditRead].into_iter().collect();
        let b = PermissionSet::from_slice(&[PostsRead, AuditRead, UsersRead]);
        assert!(a.contains(PostsRead) && a.contains(AuditRead) && !a.contains(UsersRead));
        assert_eq!(a.intersect(b), PermissionSet::from_slice(&[PostsRead, AuditRead]));
        assert_eq!(a.union(b).len(), 4);
        assert!(a.intersect(b).is_subset(a) && a.intersect(b).is_subset(b));
        assert!(!a.is_subset(b));
        assert!(PermissionSet::EMPTY.is_subset(a) && PermissionSet::empty().is_empty());
        assert_eq!(PermissionSet::all().len(), 10);
        assert_eq!(PermissionSet::all().iter().collect::<Vec<_>>(), Permission::ALL);
        assert_eq!(a.names(), ["posts:read", "posts:create", "audit:read"]);
        assert_eq!(format!("{a:?}"), r#"{"posts:read", "posts:create", "audit:read"}"#);
        let mut c = a;
        c.remove(PostsCreate);
        c.insert(ApiKeysManage);
        assert_eq!(c.iter().collect::<Vec<_>>(), [PostsRead, AuditRead, ApiKeysManage]);
        for r in Role::ALL {
            assert!(PermissionSet::from_slice(default_permissions(r)).is_subset(PermissionSet::all()));
        }
    }

    /// Expected `can` per role, per permission (in `Permission::ALL` order), for the
    /// owner being [the caller, someone else, not given]. Written by hand from
    /// CONTRACT.md "Roles and permissions" and "Posts", not derived from the code.
    #[rustfmt::skip]
    const MATRIX: [(Role, [[bool; 3]; 10]); 4] = {
        const T: [bool; 3] = [true, true, true];
        const F: [bool; 3] = [false, false, false];
        const OWN: [bool; 3] = [true, false, true]; // own posts only
        [
            //                 read create update delete upd:any del:any users:r users:m audit api_keys
            (Role::Admin,  [T,   T,     T,     T,     T,      T,      T,      T,      T,    T]),
            (Role::Editor, [T,   T,     T,     T,     T,      T,      F,      F,      F,    F]),
            (Role::User,   [T,   T,     OWN,   OWN,   F,      F,      F,      F,      F,    F]),
            (Role::Viewer, [T,   F,     F,     F,     F,      F,      F,      F,      F,    F]),
        ]
    };

    #[test]
    fn role_permission_ownership_matrix() {
        let mut checked = 0;
        for (role, row) in MATRIX {
            let p = principal(role, None);
            for (perm, expected) in Permission::ALL.into_iter().zip(row) {
                let got = [can(&p, perm, Some(ME)), can(&p, perm, Some(OTHER)), can(&p, perm, None)];
                assert_eq!(got, expected, "{role:?} {perm:?} [self, other, none]");
                checked += 3;
            }
        }
        assert_eq!(checked, 4 * 10 * 3);
    }

    #[test]
    fn drafts_of_others_are_visible_to_editor_and_admin_only() {
        assert!(can_see_drafts_of_others(&principal(Role::Admin, None)));
        assert!(can_see_drafts_of_others(&principal(Role::Editor, None)));
        assert!(!can_see_drafts_of_others(&principal(Role::User, None)));
        assert!(!can_see_drafts_of_others(&principal(Role::Viewer, None)));
        // An editor's key without posts:update:any does not see others' drafts.
        assert!(!can_see_drafts_of_others(&principal(Role::Editor, Some(&[PostsRead]))));
        assert!(can_see_drafts_of_others(&principal(Role::Editor, Some(&[PostsRead, PostsUpdateAny]))));
    }

    #[test]
    fn api_key_scopes_restrict_the_role() {
        // User role, key scoped to posts:read: reads, cannot create.
        let p = principal(Role::User, Some(&[PostsRead]));
        assert!(p.is_api_key());
        assert!(can(&p, PostsRead, None));
        assert!(!can(&p, PostsCreate, None));
        assert!(!can(&p, PostsUpdate, Some(ME)));
        assert!(!can(&p, PostsDelete, Some(ME)));
        assert_eq!(effective(&p), PermissionSet::from_slice(&[PostsRead]));

        // A scope the role lacks grants nothing.
        let p = principal(Role::User, Some(&[PostsRead, PostsUpdateAny, PostsDeleteAny, AuditRead]));
        assert!(!can(&p, PostsUpdateAny, None));
        assert!(!can(&p, PostsUpdate, Some(OTHER)));
        assert!(!can(&p, PostsDelete, Some(OTHER)));
        assert!(!can(&p, AuditRead, None));
        assert_eq!(effective(&p), PermissionSet::from_slice(&[PostsRead]));

        // Viewer with an all-scopes key is still a viewer.
        let p = principal(Role::Viewer, Some(&Permission::ALL));
        assert_eq!(effective(&p), PermissionSet::from_slice(&[PostsRead]));

        // Empty scopes grant nothing, even to an admin.
        let p = principal(Role::Admin, Some(&[]));
        for perm in Permission::ALL {
            assert!(!can(&p, perm, Some(ME)) && !can(&p, perm, Some(OTHER)) && !can(&p, perm, None), "{perm:?}");
        }
        assert!(effective(&p).is_empty());

        // Editor key with posts:update but not posts:update:any: own posts only.
        let p = principal(Role::Editor, Some(&[PostsUpdate, PostsDelete]));
        assert!(can(&p, PostsUpdate, Some(ME)) && !can(&p, PostsUpdate, Some(OTHER)));
        assert!(can(&p, PostsDelete, Some(ME)) && !can(&p, PostsDelete, Some(OTHER)));

        // Editor key with only the :any scopes: any post, own included.
        let p = principal(Role::Editor, Some(&[PostsUpdateAny, PostsDeleteAny]));
        assert!(can(&p, PostsUpdate, Some(ME)) && can(&p, PostsUpdate, Some(OTHER)));
        assert!(can(&p, PostsDelete, Some(ME)) && can(&p, PostsDelete, Some(OTHER)));
        assert!(!can(&p, PostsUpdate, None), "no plain posts:update in scope");

        // update:any does not imply delete:any and vice versa.
        let p = principal(Role::Admin, Some(&[PostsUpdateAny]));
        assert!(can(&p, PostsUpdate, Some(OTHER)) && !can(&p, PostsDelete, Some(OTHER)));

        // No key: the role's permissions as they are.
        let p = principal(Role::Editor, None);
        assert!(!p.is_api_key());
        assert_eq!(effective(&p), p.role_permissions);
    }

    #[test]
    fn runtime_role_map_is_what_counts_not_the_role_name() {
        // D1 is the source of truth: an admin whose row lost users:manage lacks it.
        let mut p = principal(Role::Admin, None);
        p.role_permissions.remove(UsersManage);
        assert!(!can(&p, UsersManage, None));
        // A user role granted posts:update:any in D1 can edit others' posts.
        let mut p = principal(Role::User, None);
        p.role_permissions.insert(PostsUpdateAny);
        assert!(can(&p, PostsUpdate, Some(OTHER)));
    }

    #[test]
    fn ownership_is_an_exact_match() {
        let p = principal(Role::User, None);
        for not_me in ["", "U-ME", "u-me ", " u-me", "u-m"] {
            assert!(!can(&p, PostsUpdate, Some(not_me)), "{not_me:?}");
        }
    }
}
