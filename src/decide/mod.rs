//! The decisions of the state-changing auth and admin flows, as pure functions of loaded
//! state, the request's input and the time: each edge handler loads (one D1 read or
//! batch), calls one of these, and writes what it says (one D1 batch). The answers,
//! including the audit events they carry, are decided here and unit-tested with explicit
//! times; the handlers hold no policy.

pub mod admin;
pub mod login;
pub mod logout;
pub mod password;
pub mod refresh;
pub mod reset;

#[cfg(test)]
pub(crate) const T0: i64 = 1_700_000_000;
