//! Roles and permissions: the closed vocabularies of authorization and their wire names.
//!
//! CONTRACT.md "Roles and permissions" names four roles and ten permissions. The
//! role → permission map lives in D1 (`roles`, `permissions`, `role_permissions`) and
//! is read at runtime; [`default_permissions`] is the contract's seeded table, the
//! reference the seed migration must match and the fallback used by host tests.
//! Wire names are exact and case-sensitive (`"admin"`, `"posts:update:any"`).

use std::fmt;

/// A user's role (column `users.role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Admin,
    Editor,
    User,
    Viewer,
}

impl Role {
    /// Every role, most privileged first.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Editor, Role::User, Role::Viewer];

    /// The role of a wire name, or `None` for anything else (exact match).
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Lower-case wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::User => "user",
            Role::Viewer => "viewer",
        }
    }
}

/// A permission (table `permissions`, API-key `scopes`).
///
/// Discriminants are stable bit positions for `authz::PermissionSet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Permission {
    PostsRead = 0,
    PostsCreate = 1,
    PostsUpdate = 2,
    PostsDelete = 3,
    PostsUpdateAny = 4,
    PostsDeleteAny = 5,
    UsersRead = 6,
    UsersManage = 7,
    AuditRead = 8,
    ApiKeysManage = 9,
}

impl Permission {
    /// Every permission, in discriminant order.
    pub const ALL: [Permission; 10] = [
        Permission::PostsRead,
        Permission::PostsCreate,
        Permission::PostsUpdate,
        Permission::PostsDelete,
        Permission::PostsUpdateAny,
        Permission::PostsDeleteAny,
        Permission::UsersRead,
        Permission::UsersManage,
        Permission::AuditRead,
        Permission::ApiKeysManage,
    ];

    /// The permission of a wire name, or `None` for anything else (exact match).
    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Wire name, as in the contract.
    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::PostsRead => "posts:read",
            Permission::PostsCreate => "posts:create",
            Permission::PostsUpdate => "posts:update",
            Permission::PostsDelete => "posts:delete",
            Permission::PostsUpdateAny => "posts:update:any",
            Permission::PostsDeleteAny => "posts:delete:any",
            Permission::UsersRead => "users:read",
            Permission::UsersManage => "users:manage",
            Permission::AuditRead => "audit:read",
            Permission::ApiKeysManage => "api_keys:manage",
        }
    }
}

const ADMIN: &[Permission] = &Permission::ALL;
const EDITOR: &[Permission] = &[
    Permission::PostsRead,
    Permission::PostsCreate,
    Permission::PostsUpdate,
    Permission::PostsDelete,
    Permission::PostsUpdateAny,
    Permission::PostsDeleteAny,
];
const USER: &[Permission] =
    &[Permission::PostsRead, Permission::PostsCreate, Permission::PostsUpdate, Permission::PostsDelete];
const VIEWER: &[Permission] = &[Permission::PostsRead];

/// The contract's seeded role → permission table (CONTRACT.md "Roles and permissions").
/// The D1 seed migration must insert exactly these rows.
pub fn default_permissions(role: Role) -> &'static [Permission] {
    match role {
        Role::Admin => ADMIN,
        Role::Editor => EDITOR,
        Role::User => USER,
        Role::Viewer => VIEWER,
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl serde::Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Role::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown role {s:?}")))
    }
}

impl<'de> serde::Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Permission::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown permission {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_wire_names_round_trip() {
        let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names, ["admin", "editor", "user", "viewer"]);
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(r.to_string(), r.as_str());
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
            assert_eq!(serde_json::from_value::<Role>(r.as_str().into()).unwrap(), r);
        }
        for bad in ["", "Admin", "ADMIN", " admin", "root", "superadmin"] {
            assert_eq!(Role::parse(bad), None, "{bad:?}");
        }
        assert!(serde_json::from_str::<Role>("\"root\"").is_err());
    }

    #[test]
    fn permission_wire_names_round_trip() {
        let names: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "posts:read",
                "posts:create",
                "posts:update",
                "posts:delete",
                "posts:update:any",
                "posts:delete:any",
                "users:read",
                "users:manage",
                "audit:read",
                "api_keys:manage",
            ]
        );
        for (i, p) in Permission::ALL.into_iter().enumerate() {
            assert_eq!(p as usize, i, "ALL is in discriminant order");
            assert_eq!(Permission::parse(p.as_str()), Some(p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
            assert_eq!(serde_json::from_value::<Permission>(p.as_str().into()).unwrap(), p);
        }
        for bad in ["", "posts", "posts:*", "Posts:Read", "posts:read ", "*", "posts:any"] {
            assert_eq!(Permission::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn seeded_table_matches_the_contract() {
        use Permission::*;
        assert_eq!(default_permissions(Role::Admin), Permission::ALL.as_slice());
        assert_eq!(
            default_permissions(Role::Editor),
            [PostsRead, PostsCreate, PostsUpdate, PostsDelete, PostsUpdateAny, PostsDeleteAny]
        );
        assert_eq!(default_permissions(Role::User), [PostsRead, PostsCreate, PostsUpdate, PostsDelete]);
        assert_eq!(default_permissions(Role::Viewer), [PostsRead]);
        // Roles are nested: each role's permissions include the next one's.
        for pair in Role::ALL.windows(2) {
            let (hi, lo) = (default_permissions(pair[0]), default_permissions(pair[1]));
            assert!(lo.iter().all(|p| hi.contains(p)), "{:?} ⊇ {:?}", pair[0], pair[1]);
        }
    }
}
