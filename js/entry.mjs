// Worker entry: wraps the Rust worker built into build/index.js so that an uncaught
// exception (including a Rust panic, which aborts the wasm instance; the generated
// shim re-initialises it on the next request) still answers with the contract's
// JSON 500 and security headers instead of the runtime's plain-text error page.
import { WorkerEntrypoint } from "cloudflare:workers";
import RustWorker from "../build/index.js";

// The Durable Object class (exact counters, lockout, session liveness) lives in the wasm.
export { Gate } from "../build/index.js";
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

export default class extends WorkerEntrypoint {
  async fetch(request) {
    try {
      return await new RustWorker(this.ctx, this.env).fetch(request);
    } catch (err) {
      console.error("unhandled exception:", err && err.message);
      return internalError(request);
    }
  }

  async scheduled(controller) {
    return await new RustWorker(this.ctx, this.env).scheduled(controller);
  }
}
