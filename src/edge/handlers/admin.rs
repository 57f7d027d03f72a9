//! `/api/admin`: user list, role / status changes (`decide::admin`: effective on the
//! user's next request, the last-active-admin guard), and the audit-log query.

use crate::authz::can;
use crate::decide::admin::{self, UserState};
use crate::domain::role::Permission;
use crate::dto::{self, UserPatch, UserPatchBody};
use crate::edge::authn::Caller;
use crate::edge::ctx::RequestCtx;
use crate::edge::reply::Reply;
use crate::edge::repo::audit::{self, Filter};
use crate::edge::repo::{gates, users};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::time::iso8601;
use serde_json::{json, Value};

fn require(caller: &Caller, perm: Permission) -> ApiResult<()> {
    if can(&caller.principal, perm, None) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::Forbidden).with_message(format!("Missing permission: {}", perm.as_str())))
    }
}

/// `GET /api/admin/users?page&limit&email`.
pub async fn users(ctx: &RequestCtx<'_>, caller: Caller) -> ApiResult<Reply> {
    require(&caller, Permission::UsersRead)?;
    let (page, limit) = dto::page_params(&ctx.query)?;
    let email = dto::email_filter(&ctx.query)?;
    let (total, users) = users::page_of(&ctx.db, email.as_deref(), page, limit).await?;
    Reply::json(200, &json!({"users": users, "page": page, "limit": limit, "total": total}))
}

/// `PATCH /api/admin/users/:id` `{role?, isActive?}`.
pub async fn update_user(ctx: &RequestCtx<'_>, caller: Caller, id: &str) -> ApiResult<Reply> {
    require(&caller, Permission::UsersManage)?;
    let patch: UserPatch = dto::read::<UserPatchBody, _>(ctx.body())?;
    let current = users::find(&ctx.db, id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound).with_message("User not found"))?;
    let before = UserState { role: current.role, is_active: current.is_active };
    let plan = admin::plan(&before, &patch);
    // D1 first: the last-admin guard is evaluated there. Then the user's object, which
    // every request of theirs asks: from its answer on, their sessions are over everywhere.
    let (user, ended) = users::apply_update(&ctx.db, id, &plan, ctx.now).await?.ok_or_else(admin::last_admin)?;
    if plan.end_sessions {
        gates::end_all(ctx.env, user.id.as_str()).await?;
    }
    let after = UserState { role: user.role, is_active: user.is_active };
    let event = admin::updated(caller.user_id(), &user.id, &before, &after, ended);
    Ok(Reply::json(200, &user)?.audited([event]))
}

/// `GET /api/admin/audit-logs?userId&action&resource&from&to&page&limit`, newest first.
pub async fn audit_logs(ctx: &RequestCtx<'_>, caller: Caller) -> ApiResult<Reply> {
    require(&caller, Permission::AuditRead)?;
    let (page, limit) = dto::page_params(&ctx.query)?;
    let q = |name: &str| crate::web::query::get(&ctx.query, name).filter(|v| !v.is_empty());
    let filter = Filter {
        user_id: q("userId"),
        action: q("action"),
        resource: q("resource"),
        from: dto::instant_param(&ctx.query, "from")?,
        to: dto::instant_param(&ctx.query, "to")?,
    };
    let (total, rows) = audit::page_of(&ctx.db, &filter, page, limit).await?;
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
    Reply::json(200, &json!({"auditLogs": entries, "page": page, "limit": limit, "total": total}))
}
