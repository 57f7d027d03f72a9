//! Storage: the one place that holds SQL. One module per aggregate, one function per
//! query or batch, taking and returning domain types. Everything above this module
//! (authentication, throttling, handlers) sees `Result<_, ApiError>` and never a
//! statement.
//!
//! D1 discipline: numbered binds only; multi-statement writes in one `batch` (atomic);
//! conditional `UPDATE … RETURNING` for compare-and-set; a UNIQUE violation becomes 409
//! `conflict`, every other storage failure 503 `service_unavailable` (the SQL text stays
//! in the log line, never in the body).

pub mod api_keys;
pub mod audit;
pub mod gate_store;
pub mod gates;
pub mod identities;
pub mod maintenance;
pub mod outbox;
pub mod posts;
pub mod resets;
pub mod roles;
pub mod sessions;
pub mod users;

use crate::domain::ids::{ApiKeyId, PostId, SessionId, UserId};
use crate::domain::role::Role;
use crate::error::{ApiError, ApiResult, ErrorCode};
use serde_json::{Map, Value};
use wasm_bindgen::JsValue;
use worker::{D1Database, D1DatabaseSession};

/// A bind argument. Integers are sent as JS numbers (exact up to 2^53), never BigInt.
#[derive(Debug, Clone, Copy)]
pub(in crate::edge::repo) enum Arg<'a> {
    Text(&'a str),
    Int(i64),
    Null,
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Text(s)
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Arg::Text(s)
    }
}
impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<u32> for Arg<'_> {
    fn from(v: u32) -> Self {
        Arg::Int(i64::from(v))
    }
}
impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Int(i64::from(v))
    }
}
impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Arg::Null, Arg::Text)
    }
}
impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Arg::Null, Arg::Int)
    }
}

/// A statement and its bindings, as the JSON array `[sql, ...bindings]` that
/// `platform::d1` sends to D1 (see js/edge-glue.js `d1`).
pub(in crate::edge::repo) struct Stmt(String);

fn json_string(out: &mut String, text: &str) {
    out.push_str(&serde_json::to_string(text).unwrap_or_else(|_| "null".to_owned()));
}

/// A binding as JSON (both D1 statements and the objects' SQL cross as JSON text).
pub(in crate::edge::repo) fn push_json_arg(out: &mut String, arg: &Arg<'_>) {
    match arg {
        Arg::Text(t) => json_string(out, t),
        Arg::Int(i) => out.push_str(&i.to_string()),
        Arg::Null => out.push_str("null"),
    }
}

/// Maps a D1 error: UNIQUE → 409, anything else → 503. The cause is kept for the log.
pub fn storage_error(e: worker::Error) -> ApiError {
    let text = e.to_string();
    if text.contains("UNIQUE constraint failed") {
        ApiError::new(ErrorCode::Conflict).with_cause(text)
    } else {
        ApiError::unavailable(format!("D1: {text}"))
    }
}

/// Where a request's D1 reads may come from (D1 read replication, Sessions API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// The primary first (`first-primary`): every write path, and reads that must see the
    /// latest write (login, refresh, API-key authentication).
    Primary,
    /// Any replica (`first-unconstrained`), or, given the client's bookmark, a replica at
    /// least as new as it: read-only routes.
    Replica,
}

/// A request's D1 session: every statement of the request goes through it, so its reads
/// are sequentially consistent with its own writes, and its bookmark (answered as
/// `X-D1-Bookmark`) lets the client's next request read at least what this one saw or wrote.
#[derive(Clone)]
pub struct Db(std::rc::Rc<Lazy>);

/// The session is opened by the first statement: a request that never touches D1
/// (`/health`, an access-token `/me`) pays no JS call for it.
struct Lazy {
    db: std::rc::Rc<D1Database>,
    reads: Reads,
    anchor: String,
    session: std::cell::OnceCell<D1DatabaseSession>,
}

impl Db {
    /// A session on `db`: `bookmark` (from the client) anchors a replica session.
    pub fn open(db: D1Database, reads: Reads, bookmark: Option<&str>) -> Self {
        Db::on(std::rc::Rc::new(db), reads, bookmark)
    }

    fn on(db: std::rc::Rc<D1Database>, reads: Reads, bookmark: Option<&str>) -> Self {
        let anchor = match (reads, bookmark) {
            (Reads::Primary, _) => "first-primary",
            (Reads::Replica, Some(b)) => b,
            (Reads::Replica, None) => "first-unconstrained",
        };
        Db(std::rc::Rc::new(Lazy { db, reads, anchor: anchor.to_owned(), session: std::cell::OnceCell::new() }))
    }

    fn session(&self) -> ApiResult<&D1DatabaseSession> {
        if let Some(s) = self.0.session.get() {
            return Ok(s);
        }
        // A bookmark D1 does not accept is ignored, not an error.
        let opened = match self.0.db.with_session(Some(&self.0.anchor)) {
            Ok(s) => s,
            Err(_) => self.0.db.with_session(Some("first-unconstrained")).map_err(storage_error)?,
        };
        Ok(self.0.session.get_or_init(|| opened))
    }

    /// This session if it starts at the primary, else a new one that does.
    pub fn on_primary(&self) -> Db {
        if self.0.reads == Reads::Primary {
            return self.clone();
        }
        Db::on(self.0.db.clone(), Reads::Primary, None)
    }

    /// The latest bookmark of the session (`None` when it never ran a query).
    pub fn bookmark(&self) -> Option<String> {
        self.0.session.get().and_then(|s| s.get_bookmark().ok().flatten())
    }

    /// A prepared statement with its arguments bound (?1, ?2, ...).
    pub(in crate::edge::repo) fn stmt(&self, sql: &str, args: &[Arg<'_>]) -> ApiResult<Stmt> {
        let mut out = String::with_capacity(sql.len() + 24 * args.len() + 8);
        out.push('[');
        json_string(&mut out, sql);
        for arg in args {
            out.push(',');
            push_json_arg(&mut out, arg);
        }
        out.push(']');
        Ok(Stmt(out))
    }

    pub(in crate::edge::repo) async fn first<T: FromRow>(&self, sql: &str, args: &[Arg<'_>]) -> ApiResult<Option<T>> {
        let res = self.query(self.stmt(sql, args)?).await?;
        Ok(rows::<T>(&res)?.into_iter().next())
    }

    /// Runs one statement: its rows and changes.
    async fn query(&self, statement: Stmt) -> ApiResult<Res> {
        self.exec(&[statement]).await?.pop().ok_or_else(|| ApiError::unavailable("D1: no answer"))
    }

    pub(in crate::edge::repo) async fn all<T: FromRow>(&self, sql: &str, args: &[Arg<'_>]) -> ApiResult<Vec<T>> {
        rows(&self.query(self.stmt(sql, args)?).await?)
    }

    /// Runs a write; returns the number of changed rows.
    pub(in crate::edge::repo) async fn run(&self, sql: &str, args: &[Arg<'_>]) -> ApiResult<usize> {
        Ok(changes(&self.query(self.stmt(sql, args)?).await?))
    }

    /// Runs statements atomically (one implicit transaction): all or nothing.
    pub(in crate::edge::repo) async fn batch(&self, statements: Vec<Stmt>) -> ApiResult<Vec<Res>> {
        self.exec(&statements).await
    }

    /// Statements through one call into JS (`platform::d1`): alone, or as one batch.
    async fn exec(&self, statements: &[Stmt]) -> ApiResult<Vec<Res>> {
        let mut text = String::from("[");
        for (i, s) in statements.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&s.0);
        }
        text.push(']');
        let session: &JsValue = self.session()?.as_ref();
        let answer = crate::edge::platform::d1_run(session, &text).await.map_err(js_error)?;
        let answers = match serde_json::from_str::<Value>(&answer) {
            Ok(Value::Array(answers)) => answers,
            _ => return Err(ApiError::unavailable("D1 decode: answers are not an array")),
        };
        answers
            .into_iter()
            .map(|a| match a {
                Value::Array(mut pair) if pair.len() == 2 => {
                    let rows = pair.pop().unwrap_or(Value::Null);
                    let changes = pair.pop().and_then(|c| c.as_u64()).unwrap_or(0);
                    Ok(Res { rows, changes: usize::try_from(changes).unwrap_or(usize::MAX) })
                }
                _ => Err(ApiError::unavailable("D1 decode: an answer is not [changes, rows]")),
            })
            .collect()
    }
}

/// A row as D1 answers it: columns by name. Rows reach Rust as one `serde_json::Value`
/// each (a single deserializer instantiation) and are read into their types by
/// [`FromRow`], rather than by a derived `Deserialize` per row type: about 10 KB less gzip
/// wasm than one JS-walking deserializer per type.
pub(in crate::edge::repo) struct Row<'a>(&'a Map<String, Value>);

impl Row<'_> {
    /// Column `name` as a `T` (`None`: missing, or not a `T`).
    pub(in crate::edge::repo) fn get<T: Col>(&self, name: &str) -> Option<T> {
        T::col(self.0.get(name).unwrap_or(&Value::Null))
    }
}

/// A value of a column.
pub(in crate::edge::repo) trait Col: Sized {
    fn col(v: &Value) -> Option<Self>;
}

impl Col for i64 {
    fn col(v: &Value) -> Option<i64> {
        v.as_i64()
    }
}
impl Col for String {
    fn col(v: &Value) -> Option<String> {
        v.as_str().map(str::to_owned)
    }
}
/// SQLite has no boolean: `is_active`, `published` are stored as 0 / 1.
impl Col for bool {
    fn col(v: &Value) -> Option<bool> {
        v.as_i64().map(|i| i != 0)
    }
}
impl Col for Role {
    fn col(v: &Value) -> Option<Role> {
        v.as_str().and_then(Role::parse)
    }
}
/// NULL is `None`; any other value must be a `T`.
impl<T: Col> Col for Option<T> {
    fn col(v: &Value) -> Option<Option<T>> {
        if v.is_null() {
            Some(None)
        } else {
            T::col(v).map(Some)
        }
    }
}
macro_rules! id_col {
    ($($t:ty),*) => {$(
        impl Col for $t {
            fn col(v: &Value) -> Option<$t> {
                v.as_str().map(<$t>::new)
            }
        }
    )*};
}
id_col!(UserId, SessionId, ApiKeyId, PostId);

/// A row type: read by column name.
pub(in crate::edge::repo) trait FromRow: Sized {
    fn from_row(r: &Row<'_>) -> Option<Self>;
}

/// `impl FromRow` for a struct whose fields are named as the columns of its query.
macro_rules! from_row {
    ($t:ty { $($field:ident),* $(,)? }) => {
        impl $crate::edge::repo::FromRow for $t {
            fn from_row(r: &$crate::edge::repo::Row<'_>) -> Option<Self> {
                Some(Self { $($field: r.get(stringify!($field))?,)* })
            }
        }
    };
}
pub(in crate::edge::repo) use from_row;

/// Any row (for "is there one?" queries).
pub(in crate::edge::repo) struct Exists;

impl FromRow for Exists {
    fn from_row(_: &Row<'_>) -> Option<Exists> {
        Some(Exists)
    }
}

fn decode<T: FromRow>(v: &Value) -> ApiResult<T> {
    v.as_object()
        .and_then(|m| T::from_row(&Row(m)))
        .ok_or_else(|| ApiError::unavailable("D1 decode: a row does not have the expected columns"))
}

struct Count {
    n: i64,
}
from_row!(Count { n });

/// One page of a listing and the total, in one round trip: `count_sql` must select
/// `count(*) AS n`; both statements see the same snapshot (a batch is one transaction).
pub(in crate::edge::repo) async fn page<T: FromRow>(
    db: &Db,
    count_sql: &str,
    count_args: &[Arg<'_>],
    rows_sql: &str,
    rows_args: &[Arg<'_>],
) -> ApiResult<(i64, Vec<T>)> {
    let results = db.batch(vec![db.stmt(count_sql, count_args)?, db.stmt(rows_sql, rows_args)?]).await?;
    let total = results.first().map(rows::<Count>).transpose()?.and_then(|v| v.first().map(|c| c.n)).unwrap_or(0);
    let items = results.get(1).map(rows::<T>).transpose()?.unwrap_or_default();
    Ok((total, items))
}

/// Rows of a result.
pub(in crate::edge::repo) fn rows<T: FromRow>(res: &Res) -> ApiResult<Vec<T>> {
    match &res.rows {
        Value::Null => Ok(Vec::new()),
        Value::Array(values) => values.iter().map(decode).collect(),
        _ => Err(ApiError::unavailable("D1 decode: rows are not an array")),
    }
}

/// The first row of statement `i` of a batch, if any.
pub(in crate::edge::repo) fn row<T: FromRow>(results: &[Res], i: usize) -> ApiResult<Option<T>> {
    Ok(results.get(i).map(rows::<T>).transpose()?.and_then(|v| v.into_iter().next()))
}

/// Every row of statement `i` of a batch.
pub(in crate::edge::repo) fn rows_of<T: FromRow>(results: &[Res], i: usize) -> ApiResult<Vec<T>> {
    Ok(results.get(i).map(rows::<T>).transpose()?.unwrap_or_default())
}

/// Rows changed by a write.
pub(in crate::edge::repo) fn changes(res: &Res) -> usize {
    res.changes
}

/// One statement's answer as D1 gave it: its rows (a JS array, decoded by one
/// `JSON.stringify` into `serde_json::Value`s: one crossing instead of one per field) and
/// the number of rows it changed.
pub(in crate::edge::repo) struct Res {
    rows: Value,
    changes: usize,
}

fn js_error(e: JsValue) -> ApiError {
    storage_error(worker::Error::from(e))
}
