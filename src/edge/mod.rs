//! The Workers runtime shell: the only module that names `worker`. It turns a fetch
//! event into a call of the pure request pipeline and back, and owns D1, the clock, the
//! RNG, WebCrypto and `wait_until`.
//!
//! Imports flow one way (no cycles): `pipeline` → `dispatch` → `handlers` → `authn`,
//! `throttle`, `credentials` → `ctx`, `reply`, `repo`, `platform`. Only `repo` holds SQL.

mod authn;
mod credentials;
mod ctx;
mod dispatch;
mod external;
mod gate;
mod handlers;
mod pipeline;
mod platform;
mod reply;
mod repo;
mod scheduled;
mod throttle;

use worker::{event, Context, Env, ScheduleContext, ScheduledEvent};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
// The runtime's own Request and Response: `worker::Request`'s conversion reads the method,
// URL, headers and `cf` object up front, each a call into JS the pipeline does not need.
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    Ok(pipeline::handle(req, env, ctx).await)
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    scheduled::run(&env).await;
}
