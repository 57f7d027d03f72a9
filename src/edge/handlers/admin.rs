//! `/api/admin`: user list, role / status changes (effective on the user's next request:
//! their sessions are revoked in the same batch), the last-active-admin guard, and the
//! audit-log query.

use crate::audit::{AuditAction, AuditEvent};
use crate::authz::can;
use crate::domain::role::{Permission, Role};
use crate::dto;
use crate::edge::auth::Caller;
use crate::edge::db::{self, Arg};
use crate::edge::http::{Rc, Reply};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::time::iso8601;
use serde::Deserialize;
use serde_json::{json, Value};

fn require(caller: &Caller, perm: Permission) -> ApiResult<()> {
    if can(&caller.principal, perm, None) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::Forbidden).with_message(format!("Missing permission: {}", perm.as_str())))
    }
}

#[derive(Deserialize)]
struct UserRow {
    id: String,
    email: String,
    role: String,
    is_active: i64,
    created_at: i64,
}

impl UserRow {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "email": self.email,
            "role": self.role,
            "isActive": self.is_active != 0,
            "createdAt": iso8601(self.created_at),
        })
    }
}

/// `GET /api/admin/users?page&limit&email`.
pub async fn users(rc: &mut Rc<'_>, caller: Caller) -> ApiResult<Reply> {
    require(&caller, Permission::UsersRead)?;
    let (page, limit) = dto::page_params(&rc.query)?;
    let pattern = dto::email_filter(&rc.query)?;
    // A plain substring search: no LIKE pattern (D1 refuses patterns over 50 bytes) and no
    // wildcards to escape. Emails are stored lower-case, the filter is lowered too.
    let filter = "(?1 IS NULL OR instr(email, ?1) > 0)";
    let (total, rows): (i64, Vec<UserRow>) = db::page(
        &rc.db,
        &format!("SELECT count(*) AS n FROM users WHERE {filter}"),
        &[Arg::from(pattern.as_deref())],
        &format!("SELECT id, email, role, is_active, created_at FROM users WHERE {filter} ORDER BY created_at DESC, rowid DESC LIMIT ?2 OFFSET ?3"),
        &[Arg::from(pattern.as_deref()), Arg::Int(limit), Arg::Int((page - 1) * limit)],
    )
    .await?;
    let users: Vec<Value> = rows.iter().map(UserRow::to_json).collect();
    Ok(Reply::json(200, &json!({"users": users, "page": page, "limit": limit, "total": total})))
}

/// `PATCH /api/admin/users/:id` `{role?, isActive?}`.
pub async fn update_user(rc: &mut Rc<'_>, caller: Caller, id: &str) -> ApiResult<Reply> {
    require(&caller, Permission::UsersManage)?;
    let (role, active) = dto::user_patch(rc.body.as_ref())?;
    let current: Option<UserRow> =
        rc.db.first("SELECT id, email, role, is_active, created_at FROM users WHERE id = ?1", &[Arg::Text(id)]).await?;
    let current = current.ok_or_else(|| ApiError::new(ErrorCode::NotFound).with_message("User not found"))?;
    let new_role = role.map(Role::as_str).unwrap_or(current.role.as_str()).to_owned();
    let new_active = active.unwrap_or(current.is_active != 0);
    let role_changed = new_role != current.role;
    let disabled = current.is_active != 0 && !new_active;
    let was_active_admin = current.role == "admin" && current.is_active != 0;
    let demotes_admin = was_active_admin && (new_role != "admin" || !new_active);
    // Guard evaluated by D1 in both statements of the batch, before either changes users:
    // a demotion or disable of an active admin needs another active admin to remain.
    let guard = "(?9 = 0 OR EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND is_active = 1 AND id != ?1))";
    let revoke = format!(
        "UPDATE refresh_families SET revoked_at = ?2, revoke_reason = 'admin_update' \
         WHERE user_id = ?1 AND revoked_at IS NULL AND ?3 = 1 AND {guard}"
    );
    let update = format!(
        "UPDATE users SET role = ?4, is_active = ?5, updated_at = ?2 WHERE id = ?1 AND {guard} \
         RETURNING id, email, role, is_active, created_at"
    );
    let args = [
        Arg::Text(id),
        Arg::Int(rc.now),
        Arg::from(role_changed || disabled),
        Arg::Text(&new_role),
        Arg::from(new_active),
        Arg::Null,
        Arg::Null,
        Arg::Null,
        Arg::from(demotes_admin),
    ];
    let results = rc.db.batch(vec![rc.db.stmt(&revoke, &args)?, rc.db.stmt(&update, &args)?]).await?;
    let Some(user) = db::row::<UserRow>(&results, 1)? else {
        return Err(
            ApiError::new(ErrorCode::Conflict).with_message("The last active admin cannot be demoted or disabled")
        );
    };
    let sessions_ended = results.first().map(db::changes).unwrap_or(0);
    rc.audit(
        AuditEvent::new(AuditAction::UserUpdate, "users")
            .user(&caller.principal.user_id)
            .resource_id(id)
            .meta("before", json!({"role": current.role, "isActive": current.is_active != 0}))
            .meta("after", json!({"role": user.role, "isActive": user.is_active != 0}))
            .meta("sessionsEnded", sessions_ended),
    );
    Ok(Reply::json(200, &user.to_json()))
}

#[derive(Deserialize)]
struct AuditRow {
    id: String,
    user_id: Option<String>,
    action: String,
    resource: String,
    resource_id: Option<String>,
    ip_address: Option<String>,
    user_agent: Option<String>,
    request_id: String,
    metadata: String,
    created_at: i64,
}

/// `GET /api/admin/audit-logs?userId&action&resource&from&to&page&limit`, newest first.
pub async fn audit_logs(rc: &mut Rc<'_>, caller: Caller) -> ApiResult<Reply> {
    require(&caller, Permission::AuditRead)?;
    let (page, limit) = dto::page_params(&rc.query)?;
    let from = dto::instant_param(&rc.query, "from")?;
    let to = dto::instant_param(&rc.query, "to")?;
    let q = |name: &str| crate::web::query::get(&rc.query, name).filter(|v| !v.is_empty()).map(str::to_owned);
    let (user_id, action, resource) = (q("userId"), q("action"), q("resource"));
    let filter = "(?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR action = ?2) AND (?3 IS NULL OR resource = ?3) \
                  AND (?4 IS NULL OR created_at >= ?4) AND (?5 IS NULL OR created_at <= ?5)";
    let args = [
        Arg::from(user_id.as_deref()),
        Arg::from(action.as_deref()),
        Arg::from(resource.as_deref()),
        Arg::from(from),
        Arg::from(to),
    ];
    let rows_sql = format!(
        "SELECT id, user_id, action, resource, resource_id, ip_address, user_agent, request_id, metadata, created_at \
         FROM audit_logs WHERE {filter} ORDER BY created_at DESC, seq DESC LIMIT ?6 OFFSET ?7"
    );
    let rows_args = [args[0], args[1], args[2], args[3], args[4], Arg::Int(limit), Arg::Int((page - 1) * limit)];
    let (total, rows): (i64, Vec<AuditRow>) =
        db::page(&rc.db, &format!("SELECT count(*) AS n FROM audit_logs WHERE {filter}"), &args, &rows_sql, &rows_args)
            .await?;
    let entries: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id,
                "userId": r.user_id,
                "action": r.action,
                "resource": r.resource,
                "resourceId": r.resource_id,
                "ipAddress": r.ip_address,
                "userAgent": r.user_agent,
                "requestId": r.request_id,
                "metadata": serde_json::from_str::<Value>(&r.metadata).unwrap_or_else(|_| json!({})),
                "createdAt": iso8601(r.created_at),
            })
        })
        .collect();
    Ok(Reply::json(200, &json!({"auditLogs": entries, "page": page, "limit": limit, "total": total})))
}
