// Worker entry: wraps the Rust worker built into build/index.js so that an uncaught
// exception (including a Rust panic, which aborts the wasm instance; see `fetch` for how
// it is re-created) still answers with the contract's JSON 500 and security headers
// instead of the runtime's plain-text error page.
import RustWorker, { Gate as RustGate } from "../build/index.js";
// The list the Rust worker sends too ([name, value] pairs; bundled by wrangler's esbuild).
import SECURITY_HEADER_LIST from "../src/web/security-headers.json" with { type: "json" };

const SECURITY_HEADERS = Object.fromEntries(SECURITY_HEADER_LIST);

function internalError(request) {
  const requestId = crypto.randomUUID();
  const url = new URL(request.url);
  console.error(JSON.stringify({
    level: "error", requestId, method: request.method, path: url.pathname,
    status: 500, event: "unhandled_exception",
  }));
  return new Response(
    JSON.stringify({ error: "Internal server error", code: "internal_error", requestId }),
    { status: 500, headers: { ...SECURITY_HEADERS, "Content-Type": "application/json; charset=utf-8", "X-Request-Id": requestId, "Vary": "Origin" } },
  );
}

// The Durable Object (exact counters, lockout, session liveness). Its operations run in the
// wasm (`apply`: the operation's JSON text in, "<alarm ms>\n<answer>" out, synchronously;
// `alarmAt`: what the alarm does); reading the body, setting the alarm, deleting the storage
// and building the Response stay here, which spares each call the wasm side's
// Request/Response conversion and async executor.
export class Gate {
  constructor(state, env) {
    this.storage = state.storage;
    this.rust = new RustGate(state, env);
  }

  async fetch(request) {
    const out = this.rust.apply(await request.text());
    const newline = out.indexOf("\n");
    const head = out.slice(0, newline);
    if (head === "!") return new Response(out.slice(newline + 1), { status: 503 });
    if (head !== "0") await this.storage.setAlarm(Number(head));
    return new Response(out.slice(newline + 1));
  }

  // Past the object's keep-until instant its storage is deleted; before it (the keep moved
  // after this alarm was set) the alarm is set again.
  async alarm() {
    const at = this.rust.alarmAt();
    if (at === 0) await this.storage.deleteAll();
    else await this.storage.setAlarm(at);
  }
}

// The generated shim's state: `criticalError` set means the wasm instance aborted.
const initState = () => globalThis.__worker_init_state;

// A plain module object, calling the generated class's methods on `{env, ctx}`: a class
// entrypoint, and the shim's per-request construction through its proxies, cost a
// measurable share of a cheap request. After a panic the next request goes through the
// shim's constructor, which re-creates the wasm instance.
export default {
  async fetch(request, env, ctx) {
    try {
      if (initState()?.criticalError) return await new RustWorker(ctx, env).fetch(request);
      return await RustWorker.prototype.fetch.call({ env, ctx }, request);
    } catch (err) {
      if (err instanceof WebAssembly.RuntimeError && initState()) initState().criticalError = true;
      console.error("unhandled exception:", err && err.message);
      return internalError(request);
    }
  },

  async scheduled(controller, env, ctx) {
    if (initState()?.criticalError) return await new RustWorker(ctx, env).scheduled(controller);
    return await RustWorker.prototype.scheduled.call({ env, ctx }, controller);
  },
};
