//! Posts (`posts`): the visibility-filtered listing, reads by id, create, partial update
//! and delete. Visibility and ownership are decided by the handler through `authz`.

use super::{from_row, page, Arg, Db};
use crate::domain::ids::{PostId, UserId};
use crate::dto::{NewPost, PostPatch};
use crate::error::{ApiError, ApiResult};
use serde::Serialize;

/// A post, as stored and as answered (camelCase, ISO-8601 times, `published` a boolean).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Post {
    pub id: PostId,
    pub title: String,
    pub body: String,
    pub published: bool,
    pub author_id: UserId,
    #[serde(serialize_with = "crate::time::serialize_iso8601")]
    pub created_at: i64,
    #[serde(serialize_with = "crate::time::serialize_iso8601")]
    pub updated_at: i64,
}
from_row!(Post { id, title, body, published, author_id, created_at, updated_at });

const COLUMNS: &str = "id, author_id, title, body, published, created_at, updated_at";

/// Who is listing: drafts of `viewer` are included, and every draft when `all_drafts`.
pub struct Listing<'a> {
    pub viewer: Option<&'a UserId>,
    pub all_drafts: bool,
    pub published: Option<bool>,
    pub page: i64,
    pub limit: i64,
}

/// One page of visible posts, newest first, and the total.
pub async fn page_of(db: &Db, l: &Listing<'_>) -> ApiResult<(i64, Vec<Post>)> {
    // ?1 viewer id ('' when anonymous), ?2 sees every draft, ?3 published filter (NULL = any).
    let filter = "(published = 1 OR author_id = ?1 OR ?2 = 1) AND (?3 IS NULL OR published = ?3)";
    let args = [
        Arg::Text(l.viewer.map(UserId::as_str).unwrap_or_default()),
        Arg::from(l.all_drafts),
        Arg::from(l.published.map(i64::from)),
    ];
    let rows_sql =
        format!("SELECT {COLUMNS} FROM posts WHERE {filter} ORDER BY created_at DESC, rowid DESC LIMIT ?4 OFFSET ?5");
    let rows_args = [args[0], args[1], args[2], Arg::Int(l.limit), Arg::Int((l.page - 1) * l.limit)];
    page(db, &format!("SELECT count(*) AS n FROM posts WHERE {filter}"), &args, &rows_sql, &rows_args).await
}

pub async fn find(db: &Db, id: &str) -> ApiResult<Option<Post>> {
    db.first(&format!("SELECT {COLUMNS} FROM posts WHERE id = ?1"), &[Arg::Text(id)]).await
}

pub async fn insert(db: &Db, id: &PostId, author: &UserId, p: &NewPost, now: i64) -> ApiResult<Post> {
    let sql = format!("INSERT INTO posts ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING {COLUMNS}");
    let args = [
        Arg::Text(id.as_str()),
        Arg::Text(author.as_str()),
        Arg::Text(p.title.as_str()),
        Arg::Text(p.body.as_str()),
        Arg::from(p.published),
        Arg::Int(now),
    ];
    db.first(&sql, &args).await?.ok_or_else(|| ApiError::unavailable("INSERT ... RETURNING returned no row"))
}

/// Applies a partial update; `None` when the post is gone.
pub async fn update(db: &Db, id: &PostId, patch: &PostPatch, now: i64) -> ApiResult<Option<Post>> {
    let sql = format!(
        "UPDATE posts SET title = coalesce(?1, title), body = coalesce(?2, body), published = coalesce(?3, published), \
         updated_at = ?4 WHERE id = ?5 RETURNING {COLUMNS}"
    );
    let args = [
        Arg::from(patch.title.as_ref().map(|t| t.as_str())),
        Arg::from(patch.body.as_ref().map(|b| b.as_str())),
        Arg::from(patch.published.map(i64::from)),
        Arg::Int(now),
        Arg::Text(id.as_str()),
    ];
    db.first(&sql, &args).await
}

/// Deletes a post; `false` when it was already gone.
pub async fn delete(db: &Db, id: &PostId) -> ApiResult<bool> {
    Ok(db.run("DELETE FROM posts WHERE id = ?1", &[Arg::Text(id.as_str())]).await? > 0)
}
