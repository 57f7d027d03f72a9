// Static checks of the dashboard (no browser, no server): size budget, no inline code, no
// token storage, the generated `_headers`, and the asset routing of wrangler.toml.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "smol-toml";
import { PAGE_CSP, headersFile, pageHeaders } from "../../scripts/dashboard-headers.mjs";
import SECURITY_HEADERS from "../../src/web/security-headers.json" with { type: "json" };

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const DASH = join(ROOT, "dashboard");
const files = readdirSync(DASH);
const js = files.filter((f) => f.endsWith(".js"));
const read = (f) => readFileSync(join(DASH, f), "utf8");

test("the dashboard's JavaScript stays under its 30 KB budget", () => {
  assert.ok(js.length > 0);
  const total = js.reduce((n, f) => n + statSync(join(DASH, f)).size, 0);
  assert.ok(total < 30 * 1024, `dashboard/*.js: ${total} bytes`);
});

test("index.html has no inline script, style or event handler (the page CSP forbids them)", () => {
  const html = read("index.html");
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
  assert.ok(scripts.length > 0);
  for (const [, attrs, body] of scripts) {
    assert.match(attrs, /\bsrc="\/[^"]+\.js"/);
    assert.equal(body.trim(), "");
  }
  assert.doesNotMatch(html, /<style\b/i);
  assert.doesNotMatch(html, /\sstyle=/i);
  assert.doesNotMatch(html, /\son[a-z]+=/i);
  assert.doesNotMatch(html, /javascript:/i);
});

test("the dashboard's code never stores or reads tokens and never parses HTML strings", () => {
  for (const f of js) {
    const src = read(f);
    for (const banned of ["localStorage", "sessionStorage", "indexedDB", "document.cookie", "innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "new Function", "accessToken", "refreshToken"]) {
      assert.ok(!src.includes(banned), `${f} uses ${banned}`);
    }
    assert.ok(!/credentials:\s*"include"/.test(src), `${f}: credentials must stay same-origin`);
  }
});

test("_headers gives every asset the API's security headers with the page CSP", () => {
  const headers = pageHeaders();
  assert.equal(headers.length, SECURITY_HEADERS.length);
  for (const [i, [name, value]] of SECURITY_HEADERS.entries()) {
    assert.equal(headers[i][0], name);
    assert.equal(headers[i][1], name === "Content-Security-Policy" ? PAGE_CSP : value);
  }
  for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"]) {
    assert.ok(PAGE_CSP.split("; ").includes(directive), directive);
  }
  assert.doesNotMatch(PAGE_CSP, /unsafe-|\*|https?:/);
  const file = headersFile();
  assert.match(file, /^# .*\n\/\*\n( {2}[A-Za-z-]+: [^\n]+\n)+$/);
  const built = join(ROOT, "build/assets/_headers");
  if (existsSync(built)) assert.equal(readFileSync(built, "utf8"), file, "build/assets/_headers is stale: run scripts/build.sh");
});

// Cloudflare's run_worker_first patterns: "/x/*" matches /x/ and below, others are exact.
const matches = (pattern, path) => (pattern.endsWith("/*") ? path.startsWith(pattern.slice(0, -1)) : path === pattern);

test("wrangler.toml runs the worker first for every API path and for no dashboard file", () => {
  const { assets } = parse(readFileSync(join(ROOT, "wrangler.toml"), "utf8"));
  assert.equal(assets.directory, "build/assets");
  assert.ok(Array.isArray(assets.run_worker_first));
  const openapi = JSON.parse(readFileSync(join(ROOT, "openapi.json"), "utf8"));
  const paths = Object.keys(openapi.paths).map((p) => p.replace(/\{[^}]+\}/g, "x"));
  assert.ok(paths.length > 10);
  for (const path of paths) {
    assert.ok(assets.run_worker_first.some((p) => matches(p, path)), `${path} would be tried as an asset first`);
  }
  for (const f of files) {
    assert.ok(!assets.run_worker_first.some((p) => matches(p, `/${f}`)), `dashboard/${f} is shadowed by the worker`);
    assert.ok(!paths.includes(`/${f}`), `dashboard/${f} has an API path's name`);
  }
});
