//! secure-api: a hardened authentication, authorization and posts API that runs as
//! a Cloudflare Worker (Rust compiled to WebAssembly) on D1.
//!
//! Decisions are pure; the runtime is a thin shell. Everything that is a function of
//! values (validation, password hashing formats, tokens, permissions, throttling
//! arithmetic, header policy, audit redaction, route resolution) lives in plain
//! modules that are unit-tested on the host. Only [`edge`] (compiled for `wasm32`
//! only) names the Workers runtime: D1, KV, queues, `wait_until`, clock and RNG.
// `ApiError` carries details and headers for the response; it is only built on the cold
// error path, so its size in `Result` is not worth a heap allocation per error.
#![allow(clippy::result_large_err)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod audit;
pub mod authz;
pub mod binding;
pub mod config;
pub mod crypto;
pub mod decide;
pub mod domain;
pub mod dto;
pub mod error;
pub mod gate;
pub mod json;
pub mod liveness;
pub mod maintenance;
pub mod throttle;
pub mod time;
pub mod token;
pub mod web;

#[cfg(test)]
mod layering;

#[cfg(target_arch = "wasm32")]
mod edge;
