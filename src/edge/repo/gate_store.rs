//! The storage of one `Gate` Durable Object: its own SQLite database (synchronous calls,
//! so each operation of the object is atomic). Each table is created by the first operation
//! that needs it, so an object only holds what its kind uses: `counters` every object that
//! counts, `sessions` and `book` user objects, `lockout` lockout objects (a fresh per-IP
//! object pays one `CREATE TABLE`, not four).

use super::Arg;
use crate::edge::platform;
use crate::error::{ApiError, ApiResult};
use crate::liveness::Entry;
use crate::throttle::lockout::LockoutState;
use worker::SqlStorage;

#[derive(Clone, Copy)]
enum Table {
    Counters = 0,
    Sessions = 1,
    Book = 2,
    Lockout = 3,
    Keep = 4,
    Touched = 5,
}

const SCHEMA: [&str; 6] = [
    "CREATE TABLE IF NOT EXISTS counters (name TEXT NOT NULL, window_start INTEGER NOT NULL, \
     count INTEGER NOT NULL, PRIMARY KEY (name, window_start))",
    "CREATE TABLE IF NOT EXISTS sessions (sid TEXT PRIMARY KEY, seq INTEGER NOT NULL, expires_at INTEGER NOT NULL, \
     user_created_at INTEGER NOT NULL, ended INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS book (id INTEGER PRIMARY KEY CHECK (id = 0), counter INTEGER NOT NULL, \
     epoch INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS lockout (id INTEGER PRIMARY KEY CHECK (id = 0), failures INTEGER NOT NULL, \
     window_start INTEGER NOT NULL, locked_until INTEGER)",
    "CREATE TABLE IF NOT EXISTS keep (id INTEGER PRIMARY KEY CHECK (id = 0), until INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS touched (sid TEXT PRIMARY KEY, at INTEGER NOT NULL)",
];

/// Bindings as a JSON array.
fn args_json(args: &[Arg<'_>]) -> String {
    let mut out = String::from("[");
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        super::push_json_arg(&mut out, arg);
    }
    out.push(']');
    out
}

/// What the object knows of one session (`Store::session_view`).
pub struct SessionView {
    pub book: (i64, i64),
    pub entry: Option<Entry>,
    pub touched: Option<i64>,
}

pub struct Store {
    sql: SqlStorage,
    /// Tables known to exist (bit per `Table`), for this instance's life.
    created: std::cell::Cell<u8>,
    /// The keep-until instant once read or written (every operation consults it).
    keep: std::cell::Cell<Option<i64>>,
}

impl Store {
    pub fn new(sql: SqlStorage) -> Store {
        Store { sql, created: std::cell::Cell::new(0), keep: std::cell::Cell::new(None) }
    }

    fn table(&self, t: Table) -> ApiResult<()> {
        let bit = 1u8 << (t as u8);
        if self.created.get() & bit == 0 {
            let statement = SCHEMA.get(t as usize).copied().unwrap_or_default();
            self.run(statement, &[])?;
            self.created.set(self.created.get() | bit);
        }
        Ok(())
    }

    /// The storage was deleted (`deleteAll`): its tables are gone.
    pub fn forget_tables(&self) {
        self.created.set(0);
        self.keep.set(None);
    }

    /// Until when (unix seconds) the object's state is needed; 0 when never set.
    pub fn keep_until(&self) -> ApiResult<i64> {
        if let Some(until) = self.keep.get() {
            return Ok(until);
        }
        self.table(Table::Keep)?;
        let row = self.first_row("SELECT until FROM keep WHERE id = 0", &[])?;
        let until = row.and_then(|r| r.first().copied().flatten()).unwrap_or(0);
        self.keep.set(Some(until));
        Ok(until)
    }

    /// Extends the keep-until instant; `true` when it moved (the alarm must follow).
    pub fn extend_keep(&self, until: i64) -> ApiResult<bool> {
        if until <= self.keep_until()? {
            return Ok(false);
        }
        self.run(
            "INSERT INTO keep (id, until) VALUES (0, ?) ON CONFLICT (id) DO UPDATE SET until = excluded.until",
            &[Arg::Int(until)],
        )?;
        self.keep.set(Some(until));
        Ok(true)
    }

    /// The first row of a query whose columns are all integers (or NULL), if any.
    /// Runs `query` and reads its first row's integer columns (`None`: NULL or another
    /// type), in one call into JS (`sqlFirst` of js/edge-glue.js) instead of one per
    /// binding, row and value.
    fn first_row(&self, query: &str, args: &[Arg<'_>]) -> ApiResult<Option<Vec<Option<i64>>>> {
        let text = platform::sql_first(self.sql.as_ref(), query, &args_json(args))
            .map_err(|e| ApiError::unavailable(format!("object storage: {e}")))?;
        let row = crate::json::Json::parse(&text).map_err(|_| ApiError::unavailable("object storage: row"))?;
        Ok(row.value().and_then(|v| v.as_array()).map(|values| values.iter().map(|v| v.as_i64()).collect()))
    }

    fn run(&self, query: &str, args: &[Arg<'_>]) -> ApiResult<()> {
        self.first_row(query, args).map(|_| ())
    }

    /// Counts one request in `name` for the window starting at `window` (older windows of
    /// that counter are dropped); the count after.
    pub fn count(&self, name: &str, window: i64) -> ApiResult<u32> {
        self.table(Table::Counters)?;
        let row = self.first_row(
            "INSERT INTO counters (name, window_start, count) VALUES (?, ?, 1) \
             ON CONFLICT (name, window_start) DO UPDATE SET count = count + 1 RETURNING count",
            &[name.into(), Arg::Int(window)],
        )?;
        let count = row.and_then(|r| r.first().copied().flatten());
        let count = count.ok_or_else(|| ApiError::unavailable("counter returned no row"))?;
        // The first request of a window drops the counter's older windows (one statement
        // per window, not per request).
        if count == 1 {
            self.run("DELETE FROM counters WHERE name = ? AND window_start < ?", &[name.into(), Arg::Int(window)])?;
        }
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    /// (counter, epoch) of the session book.
    pub fn book(&self) -> ApiResult<(i64, i64)> {
        self.table(Table::Book)?;
        let row = self.first_row("SELECT counter, epoch FROM book WHERE id = 0", &[])?;
        Ok(match row.as_deref() {
            Some([Some(counter), Some(epoch)]) => (*counter, *epoch),
            _ => (0, 0),
        })
    }

    pub fn set_book(&self, counter: i64, epoch: i64) -> ApiResult<()> {
        self.table(Table::Book)?;
        self.run(
            "INSERT INTO book (id, counter, epoch) VALUES (0, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET counter = excluded.counter, epoch = excluded.epoch",
            &[Arg::Int(counter), Arg::Int(epoch)],
        )
    }

    pub fn put_session(&self, sid: &str, e: &Entry, now: i64) -> ApiResult<()> {
        self.table(Table::Sessions)?;
        // Expired sessions are pruned as new ones arrive.
        self.run("DELETE FROM sessions WHERE expires_at <= ?", &[Arg::Int(now)])?;
        self.table(Table::Touched)?;
        self.run("DELETE FROM touched WHERE sid NOT IN (SELECT sid FROM sessions)", &[])?;
        self.run(
            "INSERT INTO sessions (sid, seq, expires_at, user_created_at, ended) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (sid) DO NOTHING",
            &[
                sid.into(),
                Arg::Int(e.seq),
                Arg::Int(e.expires_at),
                Arg::Int(e.user_created_at),
                Arg::Int(i64::from(e.ended)),
            ],
        )
    }

    /// Gives a session that is live by `epoch` a new sequence number (it survives an "end
    /// the others"); an ended one stays ended.
    pub fn renumber_session(&self, sid: &str, seq: i64, epoch: i64) -> ApiResult<()> {
        self.table(Table::Sessions)?;
        self.run(
            "UPDATE sessions SET seq = ? WHERE sid = ? AND ended = 0 AND seq > ?",
            &[Arg::Int(seq), sid.into(), Arg::Int(epoch)],
        )
    }

    /// In one statement: the book `(counter, epoch)` (`book`), session `sid` (`session`)
    /// and when its use was last recorded in D1 (`touched`).
    pub fn session_view(&self, sid: &str) -> ApiResult<SessionView> {
        self.table(Table::Book)?;
        self.table(Table::Sessions)?;
        self.table(Table::Touched)?;
        let row = self.first_row(
            "SELECT b.counter, b.epoch, s.seq, s.expires_at, s.user_created_at, s.ended, t.at \
             FROM (SELECT 0 AS id) AS o LEFT JOIN book AS b ON b.id = o.id \
             LEFT JOIN sessions AS s ON s.sid = ? LEFT JOIN touched AS t ON t.sid = ?",
            &[sid.into(), sid.into()],
        )?;
        let at = |i: usize| row.as_ref().and_then(|r| r.get(i).copied().flatten());
        let entry = match (at(2), at(3), at(4), at(5)) {
            (Some(seq), Some(expires_at), Some(user_created_at), Some(ended)) => {
                Some(Entry { seq, expires_at, user_created_at, ended: ended != 0 })
            }
            _ => None,
        };
        Ok(SessionView { book: (at(0).unwrap_or(0), at(1).unwrap_or(0)), entry, touched: at(6) })
    }

    pub fn set_touched(&self, sid: &str, at: i64) -> ApiResult<()> {
        self.table(Table::Touched)?;
        self.run(
            "INSERT INTO touched (sid, at) VALUES (?, ?) ON CONFLICT (sid) DO UPDATE SET at = excluded.at",
            &[sid.into(), Arg::Int(at)],
        )
    }

    pub fn end_session(&self, sid: &str) -> ApiResult<()> {
        self.table(Table::Sessions)?;
        self.run("UPDATE sessions SET ended = 1 WHERE sid = ?", &[sid.into()])
    }

    pub fn lockout(&self) -> ApiResult<Option<LockoutState>> {
        self.table(Table::Lockout)?;
        let row = self.first_row("SELECT failures, window_start, locked_until FROM lockout WHERE id = 0", &[])?;
        Ok(match row.as_deref() {
            Some([Some(failures), Some(window_start), locked_until]) => Some(LockoutState {
                failures: u32::try_from(*failures).unwrap_or(u32::MAX),
                window_start: *window_start,
                locked_until: *locked_until,
            }),
            _ => None,
        })
    }

    pub fn set_lockout(&self, s: &LockoutState) -> ApiResult<()> {
        self.table(Table::Lockout)?;
        self.run(
            "INSERT INTO lockout (id, failures, window_start, locked_until) VALUES (0, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start, \
             locked_until = excluded.locked_until",
            &[Arg::Int(i64::from(s.failures)), Arg::Int(s.window_start), Arg::from(s.locked_until)],
        )
    }

    pub fn clear_lockout(&self) -> ApiResult<()> {
        self.table(Table::Lockout)?;
        self.run("DELETE FROM lockout WHERE id = 0", &[])
    }
}
