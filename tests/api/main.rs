//! Black-box suite: real HTTP against real `wrangler dev` servers (workerd + local D1)
//! started by `scripts/test.sh` (run it with `npm test`). One test binary; helpers own
//! the client, unique users and direct reads of the local D1 file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[allow(dead_code)] // shared helpers; not every one is used by every area
mod helpers;

mod auth;
mod authz;
mod foundation;
mod hardening;
mod oidc;
mod reset;
mod scale;
mod sessions;
mod throttle;
