//! Fixed-window rate-limit arithmetic, with the clock passed in.
//!
//! CONTRACT.md "Throttling": tiers are requests per 60 s (auth endpoints 5 per IP,
//! anonymous 60 per IP, authenticated 1000 per user, API keys their own `rateLimit`);
//! over the limit is 429 `rate_limited` with `Retry-After` in seconds, and responses
//! under a limit carry `X-RateLimit-Limit` / `X-RateLimit-Remaining`.
//!
//! The edge keeps one counter row per (bucket, window start) and increments it
//! atomically; this module decides the window a request falls in, what the count
//! after the increment means, and how client IPs are grouped into buckets.

use std::net::{IpAddr, Ipv6Addr};

/// The rate-limit tiers (CONTRACT.md "Throttling"): each request counts once, in the tier
/// of the principal it authenticated as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Register, login, password reset: per client IP (IPv6 by /64), `RATE_LIMIT_AUTH`.
    Auth,
    /// Anonymous requests (refresh included) and failed credentials: per IP, `RATE_LIMIT_ANON`.
    Anonymous,
    /// Access-token callers: per user, `RATE_LIMIT_USER`.
    User,
    /// API-key callers: per key, the key's own `rateLimit`.
    ApiKey,
}

impl Tier {
    pub const fn as_str(self) -> &'static str {
        match self {
            Tier::Auth => "auth",
            Tier::Anonymous => "anonymous",
            Tier::User => "user",
            Tier::ApiKey => "api_key",
        }
    }
}

/// A stored counter: the window it counts and the requests seen in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub count: u32,
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// `X-RateLimit-Limit`.
    pub limit: u32,
    /// `X-RateLimit-Remaining`: requests left in this window after this one.
    pub remaining: u32,
    /// Seconds until the window ends (`Retry-After` when refused); always ≥ 1.
    pub retry_after: i64,
    /// Unix second at which the window ends and the count resets.
    pub reset_at: i64,
}

/// Start of the fixed window of length `period` seconds that contains `now`.
/// Windows are aligned to the unix epoch; a non-positive `period` is treated as 1.
pub fn window_start(now: i64, period: i64) -> i64 {
    let period = period.max(1);
    now - now.rem_euclid(period)
}

/// Judges a request given the window's count *including* this request.
/// Allowed iff `count_after_increment <= limit`.
pub fn evaluate(count_after_increment: u32, limit: u32, window_start: i64, period: i64, now: i64) -> Verdict {
    let reset_at = window_start.saturating_add(period.max(1));
    Verdict {
        allowed: count_after_increment <= limit,
        limit,
        remaining: limit.saturating_sub(count_after_increment),
        retry_after: reset_at.saturating_sub(now).max(1),
        reset_at,
    }
}

impl Window {
    /// The counter after one more request at `now`: a stale window restarts at 1.
    #[must_use]
    pub fn hit(self, now: i64, period: i64) -> Window {
        let start = window_start(now, period);
        if start == self.start {
            Window { start, count: self.count.saturating_add(1) }
        } else {
            Window { start, count: 1 }
        }
    }
}

/// The rate-limit bucket of a client IP: IPv4 as given; IPv6 reduced to its /64 (one
/// subscriber usually holds a whole /64, so per-address buckets would be trivially
/// evaded); IPv4-mapped IPv6 (`::ffff:a.b.c.d`) treated as the IPv4 address it is.
/// Anything unparsable (e.g. `unknown`) is returned unchanged.
pub fn ip_bucket(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => ip.to_owned(),
        Ok(IpAddr::V6(v6)) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4.to_string();
            }
            let [a, b, c, d, ..] = v6.segments();
            format!("{}/64", Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
        Err(_) => ip.to_owned(),
    }
}

/// How much wider the /48 auth bucket is than the per-/64 one.
pub const IPV6_48_FACTOR: u32 = 10;

/// The wider auth-tier bucket of an IPv6 client: its /48 (a site's usual allocation, so
/// rotating /64s inside it does not escape the limit). `None` for IPv4 (also mapped),
/// and for anything unparsable.
pub fn ipv6_48_bucket(ip: &str) -> Option<String> {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let [a, b, c, ..] = v6.segments();
            Some(format!("{}/48", Ipv6Addr::new(a, b, c, 0, 0, 0, 0, 0)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD: i64 = 60;
    const LIMIT: u32 = 5;

    /// Drives a single bucket through time the way the edge does.
    struct Bucket {
        window: Option<Window>,
    }

    impl Bucket {
        fn request(&mut self, now: i64) -> Verdict {
            let w = match self.window {
                Some(w) => w.hit(now, PERIOD),
                None => Window { start: window_start(now, PERIOD), count: 1 },
            };
            self.window = Some(w);
            evaluate(w.count, LIMIT, w.start, PERIOD, now)
        }
    }

    #[test]
    fn window_start_aligns_to_the_period() {
        assert_eq!(window_start(0, 60), 0);
        assert_eq!(window_start(59, 60), 0);
        assert_eq!(window_start(60, 60), 60);
        assert_eq!(window_start(1_700_000_123, 60), 1_700_000_100);
        assert_eq!(window_start(-1, 60), -60);
        assert_eq!(window_start(17, 0), 17, "period 0 treated as 1, no panic");
        assert_eq!(window_start(17, -5), 17);
    }

    #[test]
    fn counts_up_to_the_limit_then_refuses_until_the_window_ends() {
        let mut b = Bucket { window: None };
        let t0 = 1_700_000_100; // a window start
        for i in 0..LIMIT {
            let v = b.request(t0 + i64::from(i));
            assert!(v.allowed, "request {}", i + 1);
            assert_eq!(v.limit, LIMIT);
            assert_eq!(v.remaining, LIMIT - i - 1);
            assert_eq!(v.reset_at, t0 + 60);
        }
        // The (limit+1)-th at t0+10: refused, 50 s left.
        let v = b.request(t0 + 10);
        assert!(!v.allowed);
        assert_eq!(v.remaining, 0);
        assert_eq!(v.retry_after, 50);
        assert_eq!(v.reset_at, t0 + 60);
        // Still refused at the last second of the window, retry_after 1.
        let v = b.request(t0 + 59);
        assert!(!v.allowed);
        assert_eq!(v.retry_after, 1);
        // New window: reset.
        let v = b.request(t0 + 60);
        assert!(v.allowed);
        assert_eq!(v.remaining, LIMIT - 1);
        assert_eq!(v.reset_at, t0 + 120);
        assert_eq!(v.retry_after, 60);
    }

    #[test]
    fn a_gap_of_several_windows_also_resets() {
        let mut b = Bucket { window: None };
        for _ in 0..(LIMIT + 3) {
            b.request(1000);
        }
        assert!(!b.request(1000).allowed);
        let v = b.request(1000 + 10 * PERIOD);
        assert!(v.allowed);
        assert_eq!(v.remaining, LIMIT - 1);
    }

    #[test]
    fn evaluate_edge_cases() {
        let v = evaluate(0, 5, 0, 60, 0);
        assert!(v.allowed && v.remaining == 5 && v.retry_after == 60);
        let v = evaluate(1, 0, 0, 60, 30);
        assert!(!v.allowed && v.remaining == 0 && v.retry_after == 30);
        let v = evaluate(u32::MAX, 1000, 0, 60, 59);
        assert!(!v.allowed && v.remaining == 0 && v.retry_after == 1);
        // A clock past the window end never yields a zero or negative Retry-After.
        let v = evaluate(9, 5, 0, 60, 75);
        assert_eq!(v.retry_after, 1);
        assert_eq!(v.reset_at, 60);
        // Exactly at the limit is allowed with nothing remaining.
        let v = evaluate(5, 5, 0, 60, 1);
        assert!(v.allowed && v.remaining == 0);
    }

    #[test]
    fn ipv6_clients_also_have_a_48_bucket() {
        assert_eq!(ipv6_48_bucket("2001:db8:1:2:3:4:5:6").as_deref(), Some("2001:db8:1::/48"));
        assert_eq!(ipv6_48_bucket("2001:db8:1:ffff::1").as_deref(), Some("2001:db8:1::/48"));
        assert_eq!(ipv6_48_bucket("2001:db8:2::1").as_deref(), Some("2001:db8:2::/48"));
        assert_eq!(ipv6_48_bucket("203.0.113.7"), None);
        assert_eq!(ipv6_48_bucket("::ffff:203.0.113.7"), None);
        assert_eq!(ipv6_48_bucket("unknown"), None);
    }

    #[test]
    fn ip_buckets() {
        assert_eq!(ip_bucket("203.0.113.7"), "203.0.113.7");
        assert_eq!(ip_bucket("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(ip_bucket("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_eq!(ip_bucket("2001:DB8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(ip_bucket("2001:db8::1"), "2001:db8::/64");
        assert_eq!(ip_bucket("::1"), "::/64");
        assert_eq!(ip_bucket("::ffff:203.0.113.7"), "203.0.113.7");
        assert_ne!(ip_bucket("::ffff:1.2.3.4"), ip_bucket("::ffff:5.6.7.8"));
        for odd in ["unknown", "", "1.2.3", "fe80::1%eth0", "[2001:db8::1]", "2001:db8::1 ", "999.1.1.1"] {
            assert_eq!(ip_bucket(odd), odd, "{odd:?}");
        }
    }
}
