//! The Workers runtime shell: the only module that names `worker`. It turns a fetch
//! event into a call of the pure request pipeline and back, and owns D1, the clock, the
//! RNG, WebCrypto and `wait_until`.

mod audit_sink;
mod auth;
mod db;
mod handlers;
mod http;
mod lockout;
mod platform;
mod revoke;
mod scheduled;
mod throttle;

use worker::{event, Context, Env, Request, Response, ScheduleContext, ScheduledEvent};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    Ok(http::handle(req, env, ctx).await)
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    scheduled::run(&env).await;
}
