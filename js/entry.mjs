// Worker entry: wraps the Rust worker built into build/index.js so that an uncaught
// exception (including a Rust panic, which aborts the wasm instance; the generated
// shim re-initialises it on the next request) still answers with the contract's
// JSON 500 and security headers instead of the runtime's plain-text error page.
import { WorkerEntrypoint } from "cloudflare:workers";
import RustWorker from "../build/index.js";

const SECURITY_HEADERS = {
  "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
  "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
  "X-Frame-Options": "DENY",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
  "X-XSS-Protection": "0",
  "Cache-Control": "no-store",
};

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
