//! `/api/posts`: visibility (anonymous: published; signed in: also own drafts; editor and
//! admin: everything), ownership rules through `authz::can`, pagination with `total`.
//! A draft the caller may not see is indistinguishable from a missing post (404).

use crate::audit::{AuditAction, AuditEvent};
use crate::authz::{self, can};
use crate::domain::role::Permission;
use crate::dto;
use crate::edge::auth::Caller;
use crate::edge::db::{self, Arg};
use crate::edge::http::{Rc, Reply};
use crate::edge::platform;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::time::iso8601;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct PostRow {
    id: String,
    author_id: String,
    title: String,
    body: String,
    published: i64,
    created_at: i64,
    updated_at: i64,
}

impl PostRow {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "title": self.title,
            "body": self.body,
            "published": self.published != 0,
            "authorId": self.author_id,
            "createdAt": iso8601(self.created_at),
            "updatedAt": iso8601(self.updated_at),
        })
    }
}

const COLUMNS: &str = "id, author_id, title, body, published, created_at, updated_at";

fn not_found(rc: &Rc<'_>) -> ApiError {
    ApiError::new(ErrorCode::NotFound).with_message("Post not found").with_cause(format!("post {}", rc.path))
}

fn forbidden(what: &str) -> ApiError {
    ApiError::new(ErrorCode::Forbidden).with_message(format!("Missing permission: {what}"))
}

/// Reading needs `posts:read` once authenticated (an API key scoped only to writes
/// cannot read); anonymous callers may read published posts.
fn require_read(caller: Option<&Caller>) -> ApiResult<()> {
    match caller {
        Some(c) if !can(&c.principal, Permission::PostsRead, None) => Err(forbidden("posts:read")),
        _ => Ok(()),
    }
}

/// May `caller` see this post at all?
fn visible(caller: Option<&Caller>, post: &PostRow) -> bool {
    post.published != 0
        || caller
            .is_some_and(|c| c.principal.user_id == post.author_id || authz::can_see_drafts_of_others(&c.principal))
}

/// `GET /api/posts?page&limit&published`.
pub async fn list(rc: &mut Rc<'_>, caller: Option<Caller>) -> ApiResult<Reply> {
    require_read(caller.as_ref())?;
    let (page, limit) = dto::page_params(&rc.query)?;
    let published = dto::bool_param(&rc.query, "published")?;
    // ?1 = viewer id ('' when anonymous), ?2 = sees every draft, ?3 = published filter (NULL = any).
    let viewer = caller.as_ref().map(|c| c.principal.user_id.clone()).unwrap_or_default();
    let all_drafts = caller.as_ref().is_some_and(|c| authz::can_see_drafts_of_others(&c.principal));
    let filter = "(published = 1 OR author_id = ?1 OR ?2 = 1) AND (?3 IS NULL OR published = ?3)";
    let args = [Arg::Text(&viewer), Arg::from(all_drafts), Arg::from(published.map(i64::from))];
    let offset = (page - 1) * limit;
    let count_sql = format!("SELECT count(*) AS n FROM posts WHERE {filter}");
    let rows_sql =
        format!("SELECT {COLUMNS} FROM posts WHERE {filter} ORDER BY created_at DESC, rowid DESC LIMIT ?4 OFFSET ?5");
    let rows_args = [args[0], args[1], args[2], Arg::Int(limit), Arg::Int(offset)];
    let (total, posts): (i64, Vec<PostRow>) = db::page(&rc.db, &count_sql, &args, &rows_sql, &rows_args).await?;
    let posts: Vec<Value> = posts.iter().map(PostRow::to_json).collect();
    Ok(Reply::json(200, &json!({"posts": posts, "page": page, "limit": limit, "total": total})))
}

async fn load(rc: &Rc<'_>, id: &str) -> ApiResult<Option<PostRow>> {
    rc.db.first(&format!("SELECT {COLUMNS} FROM posts WHERE id = ?1"), &[Arg::Text(id)]).await
}

/// `GET /api/posts/:id`.
pub async fn get(rc: &mut Rc<'_>, caller: Option<Caller>, id: &str) -> ApiResult<Reply> {
    require_read(caller.as_ref())?;
    let post = load(rc, id).await?.filter(|p| visible(caller.as_ref(), p)).ok_or_else(|| not_found(rc))?;
    Ok(Reply::json(200, &post.to_json()))
}

/// `POST /api/posts`.
pub async fn create(rc: &mut Rc<'_>, caller: Caller) -> ApiResult<Reply> {
    if !can(&caller.principal, Permission::PostsCreate, None) {
        return Err(forbidden("posts:create"));
    }
    let input = dto::new_post(rc.body.as_ref())?;
    let id = platform::uuid();
    let sql = format!("INSERT INTO posts ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING {COLUMNS}");
    let row: Option<PostRow> = rc
        .db
        .first(
            &sql,
            &[
                Arg::Text(&id),
                Arg::Text(&caller.principal.user_id),
                Arg::Text(input.title.as_str()),
                Arg::Text(input.body.as_str()),
                Arg::from(input.published),
                Arg::Int(rc.now),
            ],
        )
        .await?;
    let row = row.ok_or_else(|| ApiError::unavailable("INSERT ... RETURNING returned no row"))?;
    rc.audit(
        AuditEvent::new(AuditAction::PostCreate, "posts")
            .user(&caller.principal.user_id)
            .resource_id(&id)
            .meta("published", input.published)
            .meta("via", via_name(&caller)),
    );
    Ok(Reply::json(201, &row.to_json()))
}

fn via_name(c: &Caller) -> &'static str {
    match c.via {
        crate::edge::auth::Via::Bearer => "bearer",
        crate::edge::auth::Via::Cookie => "cookie",
        crate::edge::auth::Via::ApiKey => "api_key",
    }
}

/// The post, if the caller may see it (404 otherwise) and holds `perm` for it (403).
async fn load_for(rc: &Rc<'_>, caller: &Caller, id: &str, perm: Permission) -> ApiResult<PostRow> {
    let post = load(rc, id).await?.filter(|p| visible(Some(caller), p)).ok_or_else(|| not_found(rc))?;
    if !can(&caller.principal, perm, Some(&post.author_id)) {
        let any = if perm == Permission::PostsUpdate { "posts:update:any" } else { "posts:delete:any" };
        return Err(ApiError::new(ErrorCode::Forbidden)
            .with_message(format!("Only the author with {} or a role with {any} may do this", perm.as_str())));
    }
    Ok(post)
}

/// `PUT /api/posts/:id` (partial).
pub async fn update(rc: &mut Rc<'_>, caller: Caller, id: &str) -> ApiResult<Reply> {
    let before = load_for(rc, &caller, id, Permission::PostsUpdate).await?;
    let patch = dto::post_patch(rc.body.as_ref())?;
    let sql = format!(
        "UPDATE posts SET title = coalesce(?1, title), body = coalesce(?2, body), published = coalesce(?3, published), \
         updated_at = ?4 WHERE id = ?5 RETURNING {COLUMNS}"
    );
    let row: Option<PostRow> = rc
        .db
        .first(
            &sql,
            &[
                Arg::from(patch.title.as_ref().map(|t| t.as_str())),
                Arg::from(patch.body.as_ref().map(|b| b.as_str())),
                Arg::from(patch.published.map(i64::from)),
                Arg::Int(rc.now),
                Arg::Text(id),
            ],
        )
        .await?;
    let row = row.ok_or_else(|| not_found(rc))?;
    let mut changed = Vec::new();
    if patch.title.is_some() {
        changed.push("title");
    }
    if patch.body.is_some() {
        changed.push("body");
    }
    if patch.published.is_some() {
        changed.push("published");
    }
    rc.audit(
        AuditEvent::new(AuditAction::PostUpdate, "posts")
            .user(&caller.principal.user_id)
            .resource_id(id)
            .meta("fields", changed)
            .meta("authorId", before.author_id.as_str())
            .meta("via", via_name(&caller)),
    );
    Ok(Reply::json(200, &row.to_json()))
}

/// `DELETE /api/posts/:id`.
pub async fn delete(rc: &mut Rc<'_>, caller: Caller, id: &str) -> ApiResult<Reply> {
    let post = load_for(rc, &caller, id, Permission::PostsDelete).await?;
    let n = rc.db.run("DELETE FROM posts WHERE id = ?1", &[Arg::Text(id)]).await?;
    if n == 0 {
        return Err(not_found(rc));
    }
    rc.audit(
        AuditEvent::new(AuditAction::PostDelete, "posts")
            .user(&caller.principal.user_id)
            .resource_id(id)
            .meta("authorId", post.author_id.as_str())
            .meta("title", post.title.as_str())
            .meta("via", via_name(&caller)),
    );
    Ok(Reply::json(200, &json!({"deleted": true, "id": id})))
}
