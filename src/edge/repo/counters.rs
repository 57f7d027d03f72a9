//! Exact fixed-window rate-limit counters: one row per (bucket, window start),
//! incremented with one `UPSERT … RETURNING`. For token and key callers the increment
//! rides in the authentication batch (see `sessions::load_and_count`,
//! `api_keys::load_and_count`); IP tiers use the functions here.

use super::{row, Arg, Db};
use crate::error::{ApiError, ApiResult};
use serde::Deserialize;

/// The increment of `?1` (bucket) in window `?2`, returning the new count. `$when` is a
/// condition on the other binds: the counter only moves when it holds.
macro_rules! count_when {
    ($when:expr) => {
        concat!(
            "INSERT INTO rate_limit_counters (bucket, window_start, count) SELECT ?1, ?2, 1 WHERE ",
            $when,
            " ON CONFLICT (bucket, window_start) DO UPDATE SET count = count + 1 RETURNING count"
        )
    };
}
pub(super) use count_when;

const COUNT: &str = count_when!("1");

#[derive(Deserialize)]
pub(super) struct CountRow {
    count: i64,
}

impl CountRow {
    pub(super) fn value(&self) -> u32 {
        u32::try_from(self.count).unwrap_or(u32::MAX)
    }
}

/// Counts one request in `bucket` for the window starting at `window`; the new count.
pub async fn count(db: &Db, bucket: &str, window: i64) -> ApiResult<Option<u32>> {
    let r: Option<CountRow> = db.first(COUNT, &[Arg::Text(bucket), Arg::Int(window)]).await?;
    Ok(r.map(|c| c.value()))
}

/// Counts one request in two buckets atomically (an IPv6 /64 and its /48).
pub async fn count_pair(db: &Db, a: &str, b: &str, window: i64) -> ApiResult<(u32, u32)> {
    let w = Arg::Int(window);
    let results = db.batch(vec![db.stmt(COUNT, &[Arg::Text(a), w])?, db.stmt(COUNT, &[Arg::Text(b), w])?]).await?;
    let get = |i| {
        row::<CountRow>(&results, i)?.map(|c| c.value()).ok_or_else(|| ApiError::unavailable("counter returned no row"))
    };
    Ok((get(0)?, get(1)?))
}
