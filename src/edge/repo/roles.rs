//! The role → permission grants (`role_permissions`, seeded by migrations).

use super::Db;
use crate::domain::role::{Permission, Role};
use crate::error::ApiResult;

struct Grant {
    role: String,
    permission: String,
}
super::from_row!(Grant { role, permission });

/// Every grant; rows naming a role or permission this build does not know are skipped.
pub async fn grants(db: &Db) -> ApiResult<Vec<(Role, Permission)>> {
    let rows: Vec<Grant> = db.all("SELECT role, permission FROM role_permissions", &[]).await?;
    Ok(rows.iter().filter_map(|g| Some((Role::parse(&g.role)?, Permission::parse(&g.permission)?))).collect())
}
