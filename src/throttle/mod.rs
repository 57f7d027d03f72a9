//! Throttling arithmetic with time passed in: fixed-window rate limits and account lockout.
pub mod lockout;
pub mod rate_limit;
