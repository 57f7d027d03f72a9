//! Unix seconds ↔ ISO-8601 text, UTC, proleptic Gregorian calendar.
//!
//! Owns every conversion between the integer clock the service stores (`created_at`,
//! `expires_at`, ... are unix seconds in D1) and the ISO-8601 instants of the wire
//! (`createdAt`, `expiresAt`, the `from`/`to` filters of `GET /api/admin/audit-logs`,
//! CONTRACT.md "Admin"). It is pure arithmetic so the edge can pass the clock in and
//! tests can pin any instant.
//!
//! The calendar arithmetic is Howard Hinnant's `days_from_civil` / `civil_from_days`
//! (<https://howardhinnant.github.io/date_algorithms.html>), exact for the whole
//! proleptic Gregorian calendar with no tables and no loops.

/// Seconds in a civil day (UTC has no leap seconds in unix time).
const SECS_PER_DAY: i64 = 86_400;

/// Days from 0000-03-01 to 1970-01-01 (Hinnant, `days_from_civil`).
const EPOCH_SHIFT_DAYS: i64 = 719_468;

/// Days in a 400-year Gregorian era (Hinnant).
const DAYS_PER_ERA: i64 = 146_097;

/// Formats unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
///
/// Years outside `0000..=9999` are printed with as many digits as needed (and a
/// leading `-` before year 0); the service never stores such instants.
pub fn iso8601(secs: i64) -> String {
    let days = secs.div_euclid(SECS_PER_DAY);
    let sod = secs.rem_euclid(SECS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (sod / 3600, (sod % 3600) / 60, sod % 60);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

/// Serde helper: unix seconds serialised as [`iso8601`] text (response fields).
pub fn serialize_iso8601<S: serde::Serializer>(secs: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&iso8601(*secs))
}

/// Serde helper: optional unix seconds as [`iso8601`] text, or `null`.
pub fn serialize_opt_iso8601<S: serde::Serializer>(secs: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match secs {
        Some(v) => s.serialize_str(&iso8601(*v)),
        None => s.serialize_none(),
    }
}

/// Parses an ISO-8601 instant into unix seconds.
///
/// Accepted shapes (nothing else; no surrounding whitespace):
/// - `YYYY-MM-DD` — midnight UTC of that day;
/// - `YYYY-MM-DDTHH:MM:SS` — UTC when no offset is given;
/// - optional fractional seconds `.f+` (any number of digits, truncated);
/// - optional offset `Z` / `z` or `±HH:MM` (hours 0..=23, minutes 0..=59).
///
/// `T` may also be lower-case `t` (RFC 3339 §5.6 allows it). Out-of-range fields
/// (month 13, February 30 outside leap years, hour 24, second 60, ...) give `None`.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let mut c = Cursor { b: s.as_bytes(), i: 0 };
    let year = i64::from(c.digits(4)?);
    c.expect(b'-')?;
    let month = c.digits(2)?;
    c.expect(b'-')?;
    let day = c.digits(2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if c.at_end() {
        return Some(days * SECS_PER_DAY);
    }

    if !(c.eat(b'T') || c.eat(b't')) {
        return None;
    }
    let hour = c.digits(2)?;
    c.expect(b':')?;
    let minute = c.digits(2)?;
    c.expect(b':')?;
    let second = c.digits(2)?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    if c.eat(b'.') {
        // At least one digit; the fraction is below our one-second resolution.
        c.digits(1)?;
        while c.peek().is_some_and(|b| b.is_ascii_digit()) {
            c.i += 1;
        }
    }

    let offset = match c.peek() {
        None => 0,
        Some(b'Z' | b'z') => {
            c.i += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            c.i += 1;
            let oh = c.digits(2)?;
            c.expect(b':')?;
            let om = c.digits(2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let magnitude = i64::from(oh) * 3600 + i64::from(om) * 60;
            if sign == b'-' {
                -magnitude
            } else {
                magnitude
            }
        }
        Some(_) => return None,
    };
    if !c.at_end() {
        return None;
    }

    let local = days * SECS_PER_DAY + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    // `12:00+02:00` is 10:00 UTC: subtract the offset.
    Some(local - offset)
}

/// Byte cursor over ASCII input; every access is bounds-checked through `get`.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn at_end(&self) -> bool {
        self.i >= self.b.len()
    }

    fn eat(&mut self, want: u8) -> bool {
        if self.peek() == Some(want) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        self.eat(want).then_some(())
    }

    /// Exactly `n` ASCII digits as a number.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let mut v: u32 = 0;
        for _ in 0..n {
            let b = self.peek().filter(u8::is_ascii_digit)?;
            v = v * 10 + u32::from(b - b'0');
            self.i += 1;
        }
        Some(v)
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of the civil date `y-m-d` (Hinnant, `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let (m, d) = (i64::from(m), i64::from(d));
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400; // [0, 399]
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * DAYS_PER_ERA + doe - EPOCH_SHIFT_DAYS
}

/// Civil date `(y, m, d)` of a day count since 1970-01-01 (Hinnant, `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + EPOCH_SHIFT_DAYS;
    let era = if z >= 0 { z } else { z - (DAYS_PER_ERA - 1) } / DAYS_PER_ERA;
    let doe = z - era * DAYS_PER_ERA; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    // Both are provably in range (see bounds above); the fallbacks are unreachable.
    (y, u32::try_from(m).unwrap_or(1), u32::try_from(d).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(iso8601(946_684_799), "1999-12-31T23:59:59Z");
        assert_eq!(iso8601(951_868_800), "2000-03-01T00:00:00Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59Z");
        assert_eq!(iso8601(-2_208_988_800), "1900-01-01T00:00:00Z");
        assert_eq!(iso8601(4_107_501_296), "2100-02-28T12:34:56Z");
    }

    #[test]
    fn parses_known_instants() {
        assert_eq!(parse_iso8601("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_iso8601("1970-01-01"), Some(0));
        assert_eq!(parse_iso8601("2024-02-29"), Some(1_709_164_800));
        assert_eq!(parse_iso8601("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        assert_eq!(parse_iso8601("1999-12-31T23:59:59Z"), Some(946_684_799));
        assert_eq!(parse_iso8601("1999-12-31T23:59:59"), Some(946_684_799));
        assert_eq!(parse_iso8601("1999-12-31t23:59:59z"), Some(946_684_799));
        assert_eq!(parse_iso8601("1900-01-01T00:00:00Z"), Some(-2_208_988_800));
        assert_eq!(parse_iso8601("2000-02-29T00:00:00Z"), Some(951_782_400));
    }

    #[test]
    fn fractional_seconds_are_truncated() {
        assert_eq!(parse_iso8601("1999-12-31T23:59:59.999Z"), Some(946_684_799));
        assert_eq!(parse_iso8601("1999-12-31T23:59:59.1"), Some(946_684_799));
        assert_eq!(parse_iso8601("1999-12-31T23:59:59.123456789+00:00"), Some(946_684_799));
        assert_eq!(parse_iso8601("1999-12-31T23:59:59.Z"), None);
        assert_eq!(parse_iso8601("1999-12-31T23:59:59."), None);
    }

    #[test]
    fn offsets_shift_to_utc() {
        assert_eq!(parse_iso8601("1970-01-01T02:00:00+02:00"), Some(0));
        assert_eq!(parse_iso8601("1969-12-31T19:00:00-05:00"), Some(0));
        assert_eq!(parse_iso8601("1970-01-01T00:00:00+00:00"), Some(0));
        assert_eq!(parse_iso8601("1970-01-01T00:00:00-00:00"), Some(0));
        assert_eq!(parse_iso8601("2000-01-01T05:30:00+05:30"), Some(946_684_800));
        // Crossing a day and a year boundary through the offset.
        assert_eq!(parse_iso8601("2000-01-01T00:59:59+01:00"), Some(946_684_799));
        assert_eq!(parse_iso8601("1970-01-01T00:00:00+23:59"), Some(-(23 * 3600 + 59 * 60)));
    }

    #[test]
    fn rejects_out_of_range_fields() {
        for bad in [
            "2024-13-01",
            "2024-00-10",
            "2024-01-00",
            "2024-01-32",
            "2023-02-29",
            "2024-02-30",
            "1900-02-29",
            "2024-04-31",
            "2024-01-01T24:00:00Z",
            "2024-01-01T23:60:00Z",
            "2024-01-01T23:59:60Z",
            "2024-01-01T00:00:00+24:00",
            "2024-01-01T00:00:00+01:60",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
        assert!(parse_iso8601("2000-02-29").is_some(), "2000 is a leap year");
        assert!(parse_iso8601("2024-04-30").is_some());
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "garbage",
            "2024",
            "2024-01",
            "2024-1-01",
            "24-01-01",
            "2024/01/01",
            " 2024-01-01",
            "2024-01-01 ",
            "2024-01-01T",
            "2024-01-01T00:00",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00ZZ",
            "2024-01-01T00:00:00+0100",
            "2024-01-01T00:00:00+01",
            "2024-01-01T00:00:00 01:00",
            "2024-01-01T0a:00:00Z",
            "+2024-01-01",
            "2024-01-01Z",
            "１９７０-01-01",
            "1970-01-01T00:00:00Ω",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn round_trips_across_the_calendar() {
        // Every day boundary from 1600 to 2400 plus a spread of times of day.
        let start = parse_iso8601("1600-01-01").unwrap();
        let end = parse_iso8601("2400-12-31").unwrap();
        let mut t = start;
        while t <= end {
            let s = iso8601(t);
            assert_eq!(parse_iso8601(&s), Some(t), "{s}");
            t += SECS_PER_DAY;
        }
        for t in [-86_401, -1, 0, 1, 59, 3599, 86_399, 86_400, 1_700_000_000, 253_402_300_799] {
            assert_eq!(parse_iso8601(&iso8601(t)), Some(t), "{t}");
        }
        assert_eq!(iso8601(253_402_300_799), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn days_from_civil_and_back_agree_with_leap_rules() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28), 2);
        assert_eq!(days_from_civil(1900, 3, 1) - days_from_civil(1900, 2, 28), 1);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(days_from_civil(-4, 2, 29)), (-4, 2, 29));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
    }
}
