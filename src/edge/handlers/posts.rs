//! `/api/posts`: visibility (anonymous: published; signed in: also own drafts; editor and
//! admin: everything), ownership rules through `authz::can`, pagination with `total`.
//! A draft the caller may not see is indistinguishable from a missing post (404).

use crate::audit::{AuditAction, AuditEvent};
use crate::authz::{self, can};
use crate::domain::ids::PostId;
use crate::domain::role::Permission;
use crate::dto::{self, NewPost, PostBodyWire, PostPatch};
use crate::edge::authn::Caller;
use crate::edge::ctx::RequestCtx;
use crate::edge::platform;
use crate::edge::reply::Reply;
use crate::edge::repo::posts::{self, Listing, Post};
use crate::error::{ApiError, ApiResult, ErrorCode};
use serde::Serialize;

fn not_found(ctx: &RequestCtx<'_>) -> ApiError {
    ApiError::new(ErrorCode::NotFound).with_message("Post not found").with_cause(format!("post {}", ctx.path))
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
fn visible(caller: Option<&Caller>, post: &Post) -> bool {
    post.published
        || caller.is_some_and(|c| c.user_id() == &post.author_id || authz::can_see_drafts_of_others(&c.principal))
}

#[derive(Serialize)]
struct Page<'a> {
    posts: &'a [Post],
    page: i64,
    limit: i64,
    total: i64,
}

/// `GET /api/posts?page&limit&published`.
pub async fn list(ctx: &RequestCtx<'_>, caller: Option<Caller>) -> ApiResult<Reply> {
    require_read(caller.as_ref())?;
    let (page, limit) = dto::page_params(&ctx.query)?;
    let listing = Listing {
        viewer: caller.as_ref().map(Caller::user_id),
        all_drafts: caller.as_ref().is_some_and(|c| authz::can_see_drafts_of_others(&c.principal)),
        published: dto::bool_param(&ctx.query, "published")?,
        page,
        limit,
    };
    let (total, posts) = posts::page_of(&ctx.db, &listing).await?;
    Reply::json(200, &Page { posts: &posts, page, limit, total })
}

/// `GET /api/posts/:id`.
pub async fn get(ctx: &RequestCtx<'_>, caller: Option<Caller>, id: &str) -> ApiResult<Reply> {
    require_read(caller.as_ref())?;
    let post = posts::find(&ctx.db, id).await?.filter(|p| visible(caller.as_ref(), p)).ok_or_else(|| not_found(ctx))?;
    Reply::json(200, &post)
}

/// `POST /api/posts`.
pub async fn create(ctx: &RequestCtx<'_>, caller: Caller) -> ApiResult<Reply> {
    if !can(&caller.principal, Permission::PostsCreate, None) {
        return Err(forbidden("posts:create"));
    }
    let input: NewPost = dto::read::<PostBodyWire, _>(ctx.body())?;
    let id = PostId::new(platform::uuid());
    let post = posts::insert(&ctx.db, &id, caller.user_id(), &input, ctx.now).await?;
    let event = AuditEvent::new(AuditAction::PostCreate, "posts")
        .user(caller.user_id().as_str())
        .resource_id(id.as_str())
        .meta("published", input.published)
        .meta("via", caller.via.as_str());
    Ok(Reply::json(201, &post)?.audited([event]))
}

/// The post, if the caller may see it (404 otherwise) and holds `perm` for it (403).
async fn load_for(ctx: &RequestCtx<'_>, caller: &Caller, id: &str, perm: Permission) -> ApiResult<Post> {
    let post = posts::find(&ctx.db, id).await?.filter(|p| visible(Some(caller), p)).ok_or_else(|| not_found(ctx))?;
    if !can(&caller.principal, perm, Some(post.author_id.as_str())) {
        let any = if perm == Permission::PostsUpdate { "posts:update:any" } else { "posts:delete:any" };
        return Err(ApiError::new(ErrorCode::Forbidden)
            .with_message(format!("Only the author with {} or a role with {any} may do this", perm.as_str())));
    }
    Ok(post)
}

/// `PUT /api/posts/:id` (partial).
pub async fn update(ctx: &RequestCtx<'_>, caller: Caller, id: &str) -> ApiResult<Reply> {
    let before = load_for(ctx, &caller, id, Permission::PostsUpdate).await?;
    let patch: PostPatch = dto::read::<PostBodyWire, _>(ctx.body())?;
    let post = posts::update(&ctx.db, &before.id, &patch, ctx.now).await?.ok_or_else(|| not_found(ctx))?;
    let event = AuditEvent::new(AuditAction::PostUpdate, "posts")
        .user(caller.user_id().as_str())
        .resource_id(id)
        .meta("fields", patch.fields())
        .meta("authorId", before.author_id.as_str())
        .meta("via", caller.via.as_str());
    Ok(Reply::json(200, &post)?.audited([event]))
}

/// `DELETE /api/posts/:id`.
pub async fn delete(ctx: &RequestCtx<'_>, caller: Caller, id: &str) -> ApiResult<Reply> {
    let post = load_for(ctx, &caller, id, Permission::PostsDelete).await?;
    if !posts::delete(&ctx.db, &post.id).await? {
        return Err(not_found(ctx));
    }
    let event = AuditEvent::new(AuditAction::PostDelete, "posts")
        .user(caller.user_id().as_str())
        .resource_id(id)
        .meta("authorId", post.author_id.as_str())
        .meta("title", post.title.as_str())
        .meta("via", caller.via.as_str());
    Ok(Reply::json(200, &serde_json::json!({"deleted": true, "id": id}))?.audited([event]))
}
