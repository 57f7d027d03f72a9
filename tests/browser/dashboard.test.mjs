// The dashboard in a real browser: the system Chromium driven by puppeteer-core, against a
// `wrangler dev` of this build (scripts/test.sh starts it: the `browser` server of
// tests/servers.json, 3-second access tokens; its URL is SECURE_API_BROWSER_URL).
//
// One user's journey, step by step, each step asserted (a failed step skips the rest):
// register, sign in, cookie attributes, posts, API keys, silent refresh, sessions in other
// browser contexts, a cross-origin page's CSRF attempts, phone width, password change,
// password-reset request, sign out. Every page's console errors, uncaught exceptions and
// failed requests fail the test, except 401 answers of the API (the signal on which the
// dashboard renews its access token) and the errors a step declares it expects.
// Screenshots of each screen go to SECURE_API_SCREENSHOTS (test.sh: .tmp/test-output/screenshots).
import { test } from "node:test";
import assert from "node:assert/strict";
import { accessSync, constants, mkdirSync } from "node:fs";
import http from "node:http";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PAGE_CSP } from "../../scripts/dashboard-headers.mjs";
import SECURITY_HEADERS from "../../src/web/security-headers.json" with { type: "json" };

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BASE = process.env.SECURE_API_BROWSER_URL;
const SHOTS = resolve(ROOT, process.env.SECURE_API_SCREENSHOTS || ".tmp/test-output/screenshots");
const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 375, height: 740, isMobile: true, hasTouch: true };
const PASSWORD = "Dashboard-Pass-1";
const NEW_PASSWORD = "Dashboard-Pass-2";
const API_CSP = SECURITY_HEADERS.find(([n]) => n === "Content-Security-Policy")[1];

function findChromium() {
  for (const path of [process.env.SECURE_API_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"]) {
    if (!path) continue;
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // next candidate
    }
  }
  return null;
}

const CHROMIUM = findChromium();
if (!CHROMIUM) {
  const banner = "*".repeat(78);
  process.stderr.write(
    `\n${banner}\n* BROWSER TEST SKIPPED: no Chromium at /usr/bin/chromium (or SECURE_API_CHROMIUM).\n` +
      `* Install it with scripts/bootstrap.sh (apt-get install -y chromium, as root or with sudo).\n${banner}\n\n`,
  );
}
const skip = CHROMIUM || process.env.SECURE_API_REQUIRE_BROWSER === "1" ? false : "Chromium is not installed (see the message above)";

// ------------------------------------------------------------------ helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A JSON API call from Node (not the browser): {status, body, headers}. */
async function call(method, path, { key, body } = {}) {
  const headers = {};
  if (key) headers["X-API-Key"] = key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: json, text, headers: res.headers };
}

/**
 * Records what a page reports: console errors and warnings, uncaught exceptions, failed
 * requests, and every answer of the API (method, path, status) in order.
 */
function watch(page, name) {
  const w = { name, problems: [], httpErrors: [], api: [] };
  page.on("console", (m) => {
    if (m.type() !== "error" && m.type() !== "warn") return;
    const failed = m.text().match(/^Failed to load resource: the server responded with a status of (\d{3})/);
    if (failed) {
      const url = new URL(m.location()?.url || "about:blank");
      w.httpErrors.push({ status: Number(failed[1]), origin: url.origin, path: url.pathname });
    } else w.problems.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => w.problems.push(`uncaught: ${e.message}`));
  page.on("requestfailed", (r) => w.problems.push(`request failed: ${r.method()} ${r.url()} (${r.failure()?.errorText})`));
  page.on("response", (r) => {
    const url = new URL(r.url());
    if (url.origin === BASE && url.pathname.startsWith("/api/")) {
      w.api.push({ method: r.request().method(), path: url.pathname, status: r.status() });
    }
  });
  return w;
}

/**
 * Fails on anything `w` recorded since the last check, except API 401s and the HTTP errors
 * listed in `expected` ("400 /api/auth/register"); each of those must have happened.
 */
function assertClean(w, expected = []) {
  const seen = new Set();
  const unexpected = [...w.problems];
  for (const e of w.httpErrors) {
    const id = `${e.status} ${e.path}`;
    if (e.origin === BASE && expected.includes(id)) seen.add(id);
    else if (!(e.origin === BASE && e.path.startsWith("/api/") && e.status === 401)) unexpected.push(`HTTP ${e.status} ${e.origin}${e.path}`);
  }
  w.problems = [];
  w.httpErrors = [];
  assert.deepEqual(unexpected, [], `${w.name}: unexpected console errors`);
  assert.deepEqual([...seen].sort(), [...expected].sort(), `${w.name}: expected errors that did not happen`);
}

const text = (page, sel) => page.$eval(sel, (e) => e.textContent.trim());
const flash = (page) => page.$eval("#flash", (e) => ({ text: e.textContent.trim(), kind: e.firstElementChild?.className || "" }));
const screen = (page) => page.evaluate(() => ({ hash: location.hash, h1: document.querySelector("main h1")?.textContent.trim() }));

async function waitScreen(page, hash, h1) {
  await page.waitForFunction((h, t) => location.hash === h && document.querySelector("main h1")?.textContent.trim() === t, { timeout: 10000 }, hash, h1);
}

async function waitFlash(page, pattern, kind) {
  await page.waitForFunction((src) => new RegExp(src).test(document.querySelector("#flash").textContent), { timeout: 10000 }, pattern.source);
  const f = await flash(page);
  assert.match(f.text, pattern);
  if (kind) assert.equal(f.kind, `msg ${kind}`, `flash "${f.text}"`);
  return f.text;
}

async function fill(page, sel, value) {
  await page.$eval(sel, (e) => {
    e.value = "";
  });
  await page.type(sel, value);
}

/** The list item of `listSel` whose text contains `needle`. */
async function item(page, listSel, needle) {
  const handle = await page.waitForFunction(
    (sel, n) => [...document.querySelectorAll(`${sel} > li`)].find((li) => li.textContent.includes(n)),
    { timeout: 10000 },
    listSel,
    needle,
  );
  return handle.asElement();
}

async function listTexts(page, listSel) {
  return page.$$eval(`${listSel} > li`, (lis) => lis.map((li) => li.textContent));
}

/** The credential cookies of the page's browser context, by name (CDP Network.getCookies). */
async function credentialCookies(page) {
  const cdp = await page.createCDPSession();
  const { cookies } = await cdp.send("Network.getCookies", { urls: [`${BASE}/`, `${BASE}/api/auth/refresh`] });
  await cdp.detach();
  return Object.fromEntries(cookies.filter((c) => ["__Host-access", "__Secure-refresh"].includes(c.name)).map((c) => [c.name, c]));
}

async function shot(page, name, fullPage = true) {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage });
}

/** Every visible form control has a label, there is one h1, the live region is there. */
async function assertAccessible(page) {
  const report = await page.evaluate(() => {
    const visible = (e) => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
    const unlabelled = [...document.querySelectorAll("input, select, textarea")]
      .filter((e) => e.type !== "hidden" && !e.hidden && visible(e))
      .filter((e) => !(e.labels?.length || e.getAttribute("aria-label")))
      .map((e) => e.outerHTML.slice(0, 80));
    const nameless = [...document.querySelectorAll("button, a[href]")].filter(visible).filter((e) => !(e.getAttribute("aria-label") || e.textContent.trim())).length;
    const fakeButtons = document.querySelectorAll("[onclick], div[tabindex]:not([tabindex='-1']), span[tabindex]:not([tabindex='-1']), [role=button]").length;
    const live = document.querySelector("#flash");
    return {
      unlabelled,
      nameless,
      fakeButtons,
      h1: document.querySelectorAll("main h1").length,
      live: live?.getAttribute("aria-live"),
      lang: document.documentElement.lang,
    };
  });
  assert.deepEqual(report.unlabelled, [], "form controls without a label");
  assert.equal(report.nameless, 0, "buttons or links without a name");
  assert.equal(report.fakeButtons, 0, "clickable non-buttons");
  assert.equal(report.h1, 1, "one h1 per screen");
  assert.equal(report.live, "polite");
  assert.equal(report.lang, "en");
}

async function assertFitsWidth(page) {
  const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
  assert.ok(scroll <= width, `horizontal overflow: content ${scroll}px wide in a ${width}px viewport`);
}

async function go(page, hash, h1) {
  await page.evaluate((h) => {
    location.hash = h;
  }, hash);
  await waitScreen(page, hash, h1);
}

// ------------------------------------------------------------------ the journey

test("the dashboard in Chromium: one user's journey", { skip, timeout: 240000 }, async (t) => {
  assert.ok(CHROMIUM, "SECURE_API_REQUIRE_BROWSER=1 but no Chromium is installed");
  assert.ok(BASE, "SECURE_API_BROWSER_URL is not set: run this through `npm test` (scripts/test.sh)");
  const started = Date.now();
  const { default: puppeteer } = await import("puppeteer-core");
  mkdirSync(SHOTS, { recursive: true });
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Chromium's sandbox refuses to run as root (containers, CI); elsewhere it stays on.
    args: [...(process.getuid?.() === 0 ? ["--no-sandbox"] : []), "--disable-dev-shm-usage", "--lang=en-US"],
  });
  const servers = [];
  t.after(async () => {
    await browser.close();
    for (const s of servers) s.close();
  });
  process.stderr.write(`[browser] ${await browser.version()} (${CHROMIUM}) against ${BASE}\n`);

  let broken = null;
  const step = (name, fn) =>
    t.test(name, { skip: broken ? `an earlier step failed: ${broken}` : false, timeout: 60000 }, async () => {
      try {
        await fn();
      } catch (err) {
        broken = name;
        throw err;
      }
    });

  const email = `dash-${Date.now()}-${process.pid}@example.com`;
  const page = await browser.newPage();
  await page.setViewport(LAPTOP);
  const w = watch(page, "main page");
  let apiKey = null;
  let editedId = null; // the post "Notes, now public"

  await step("pages are static assets with the page CSP; the API keeps its own headers", async () => {
    for (const path of ["/", "/app.js", "/api.js", "/app.css", "/favicon.svg"]) {
      const res = await fetch(BASE + path);
      assert.equal(res.status, 200, path);
      for (const [name, value] of SECURITY_HEADERS) {
        assert.equal(res.headers.get(name), name === "Content-Security-Policy" ? PAGE_CSP : value, `${path} ${name}`);
      }
      // Served by the assets, not the worker: no request id.
      assert.equal(res.headers.get("X-Request-Id"), null, path);
    }
    assert.match((await fetch(`${BASE}/`)).headers.get("Content-Type"), /^text\/html/);
    const health = await call("GET", "/health");
    assert.equal(health.status, 200);
    assert.equal(health.body.status, "ok");
    assert.equal(health.headers.get("Content-Security-Policy"), API_CSP);
    assert.match(health.headers.get("X-Request-Id"), /^[0-9a-f-]{36}$/);
    for (const path of ["/nope", "/api/nope", "/_headers", "/api"]) {
      const r = await call("GET", path);
      assert.equal(r.status, 404, path);
      assert.equal(r.body?.code, "not_found", path);
      assert.equal(r.headers.get("Content-Security-Policy"), API_CSP, path);
    }
    const openapi = await call("GET", "/openapi.json");
    assert.equal(openapi.status, 200);
    assert.equal(openapi.body.openapi, "3.1.0");
    assert.equal(openapi.headers.get("Content-Security-Policy"), API_CSP);
  });

  await step("signed out, / shows the sign-in screen", async () => {
    await page.goto(`${BASE}/`, { waitUntil: "networkidle0" });
    await waitScreen(page, "#/login", "Sign in");
    assert.equal(await page.title(), "Sign in · secure-api");
    assert.equal(await page.$eval("#nav", (e) => e.hidden), true);
    await assertAccessible(page);
    await shot(page, "login");
    // The start-up probe: /me answers 401, and a refresh without a refresh cookie 400.
    assert.deepEqual(w.api.splice(0).map((a) => `${a.method} ${a.path} ${a.status}`), [
      "GET /api/auth/me 401",
      "POST /api/auth/refresh 400",
    ]);
    assertClean(w, ["400 /api/auth/refresh"]);
  });

  await step("register: a weak password is refused field by field, then the account is created", async () => {
    await page.click('a[href="#/register"]');
    await waitScreen(page, "#/register", "Create an account");
    await assertAccessible(page);
    await page.type("#reg-email", email);
    await page.type("#reg-password", "short");
    await page.click("#register-form button[type=submit]");
    await waitFlash(page, /^Validation failed\. Check the marked fields\.$/, "error");
    assert.equal(await page.$eval("#reg-password", (e) => e.getAttribute("aria-invalid")), "true");
    const described = await page.$eval("#reg-password", (e) => e.getAttribute("aria-describedby"));
    assert.match(described, /reg-password-err/);
    assert.match(await text(page, "#reg-password-err"), /at least 8 characters/);
    assert.equal(await page.evaluate(() => document.activeElement.id), "reg-password");
    await fill(page, "#reg-password", PASSWORD);
    await page.click("#register-form button[type=submit]");
    await waitScreen(page, "#/login", "Sign in");
    await waitFlash(page, /^Account created\./, "success");
    assert.equal(await page.$eval("#login-email", (e) => e.value), email);
    assertClean(w, ["400 /api/auth/register"]);
  });

  await step("sign in with the keyboard; the session cookies are HttpOnly, Secure, host-bound and not readable by scripts", async () => {
    // Focus is on the password field (email prefilled): type, then Enter submits.
    assert.equal(await page.evaluate(() => document.activeElement.id), "login-password");
    await page.keyboard.type(PASSWORD);
    const login = page.waitForResponse((r) => r.url() === `${BASE}/api/auth/login`);
    await page.keyboard.press("Enter");
    const body = await (await login).json();
    assert.equal(body.expiresIn, 3, "the browser server must issue 3-second access tokens");
    await waitScreen(page, "#/posts", "Posts");
    await waitFlash(page, new RegExp(`^Signed in as ${email.replace(/[.+]/g, "\\$&")}\\.$`), "success");
    assert.equal(await text(page, "#who-email"), email);
    const cookies = await credentialCookies(page);
    const access = cookies["__Host-access"];
    const refresh = cookies["__Secure-refresh"];
    assert.ok(access && refresh, `cookies: ${Object.keys(cookies)}`);
    for (const c of [access, refresh]) {
      assert.equal(c.httpOnly, true, c.name);
      assert.equal(c.secure, true, c.name);
      assert.ok(!c.domain.startsWith("."), `${c.name} is host-only`);
    }
    assert.equal(access.path, "/");
    assert.equal(access.sameSite, "Lax");
    assert.equal(refresh.path, "/api/auth");
    assert.equal(refresh.sameSite, "Strict");
    const exposed = await page.evaluate(() => ({
      cookie: document.cookie,
      local: localStorage.length,
      session: sessionStorage.length,
    }));
    assert.ok(!exposed.cookie.includes("__Host-access") && !exposed.cookie.includes("__Secure-refresh"), exposed.cookie);
    assert.equal(exposed.cookie, "");
    assert.equal(exposed.local, 0);
    assert.equal(exposed.session, 0);
    // Keyboard focus is visible.
    await page.keyboard.press("Tab");
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.equal(outline, "solid");
    assertClean(w);
  });

  await step("posts: create a published post and a draft", async () => {
    await assertAccessible(page);
    await page.type("#post-title", "Hello from the dashboard");
    await page.type("#post-body", "A published post,\nwritten in a real browser.");
    await page.click("#post-published");
    await page.click("#post-form button[type=submit]");
    await waitFlash(page, /^Created “Hello from the dashboard”\.$/, "success");
    await page.type("#post-title", "Draft notes");
    await page.type("#post-body", "Only I can see this.");
    await page.click("#post-form button[type=submit]");
    await waitFlash(page, /^Created “Draft notes” as a draft\.$/, "success");
    const published = await item(page, "#post-list", "Hello from the dashboard");
    assert.match(await published.evaluate((li) => li.querySelector(".badges").textContent), /Published.*Yours/);
    const draft = await item(page, "#post-list", "Draft notes");
    assert.match(await draft.evaluate((li) => li.querySelector(".badges").textContent), /Draft.*Yours/);
    assert.equal(await page.$eval("#post-title", (e) => e.value), "", "the form is reset");
    // As anyone sees it: the published post only.
    const anon = await call("GET", "/api/posts?limit=100");
    const titles = anon.body.posts.map((p) => p.title);
    assert.ok(titles.includes("Hello from the dashboard"));
    assert.ok(!titles.includes("Draft notes"));
    await shot(page, "posts");
    assertClean(w);
  });

  await step("posts: edit the draft and publish it, then delete the first post", async () => {
    const draft = await item(page, "#post-list", "Draft notes");
    await (await draft.$("button[aria-label^='Edit']")).click();
    await page.waitForSelector("#post-list form.post-edit");
    assert.equal(await page.evaluate(() => document.activeElement.name), "title");
    await page.$eval("#post-list form.post-edit input[name=title]", (e) => {
      e.value = "";
    });
    await page.type("#post-list form.post-edit input[name=title]", "Notes, now public");
    await page.click("#post-list form.post-edit input[name=published]");
    await page.click("#post-list form.post-edit button[type=submit]");
    await waitFlash(page, /^Saved “Notes, now public”\.$/, "success");
    const edited = await item(page, "#post-list", "Notes, now public");
    assert.match(await edited.evaluate((li) => li.querySelector(".badges").textContent), /Published/);
    editedId = await edited.evaluate((li) => li.dataset.id);
    assert.equal((await call("GET", `/api/posts/${editedId}`)).body.published, true);

    const first = await item(page, "#post-list", "Hello from the dashboard");
    const firstId = await first.evaluate((li) => li.dataset.id);
    await (await first.$("button[aria-label^='Delete']")).click();
    await page.waitForFunction(() => document.activeElement?.textContent === "Yes, delete");
    await page.keyboard.press("Enter");
    await waitFlash(page, /^Deleted “Hello from the dashboard”\.$/, "success");
    await page.waitForFunction(() => ![...document.querySelectorAll("#post-list > li")].some((li) => li.textContent.includes("Hello from the dashboard")));
    assert.equal((await call("GET", `/api/posts/${firstId}`)).status, 404);
    assertClean(w);
  });

  await step("API keys: create one; the secret is shown once, copies, works, and is gone after", async () => {
    await page.browserContext().overridePermissions(BASE, ["clipboard-read", "clipboard-write", "clipboard-sanitized-write"]);
    await page.click('#nav a[href="#/keys"]');
    await waitScreen(page, "#/keys", "API keys");
    assert.equal(await page.$eval('#nav a[href="#/keys"]', (a) => a.getAttribute("aria-current")), "page");
    await assertAccessible(page);
    const offered = await page.$$eval("#key-scopes input", (is) => is.map((i) => [i.value, i.checked]));
    assert.deepEqual(offered, [["posts:read", true], ["posts:create", false], ["posts:update", false], ["posts:delete", false]]);
    await page.type("#key-name", "CI publisher");
    await page.click("#scope-posts-create");
    await page.type("#key-expiry", "30");
    await page.click("#key-form button[type=submit]");
    await page.waitForSelector("#key-secret:not([hidden])");
    await waitFlash(page, /^Created the key “CI publisher”\. Copy it now/, "success");
    apiKey = await page.$eval("#key-secret-value", (e) => e.value);
    // The form is back to its defaults for the next key.
    assert.deepEqual(await page.$$eval("#key-scopes input", (is) => is.map((i) => i.checked)), [true, false, false, false]);
    assert.equal(await page.$eval("#key-name", (e) => e.value), "");
    assert.match(apiKey, /^sk_live_[A-Za-z0-9_-]{40,}$/);
    const listed = await item(page, "#key-list", "CI publisher");
    const listedText = await listed.evaluate((li) => li.textContent);
    assert.match(listedText, /posts:read, posts:create/);
    assert.ok(!listedText.includes(apiKey), "the list shows a prefix only");
    assert.ok(listedText.includes(apiKey.slice(0, 12)), "the list shows the key's prefix");
    await shot(page, "api-keys");

    await page.click("#key-copy");
    await waitFlash(page, /^Key copied to the clipboard\.$/, "success");
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), apiKey);

    // The key works, with its scopes and no more.
    const me = await call("GET", "/api/auth/me", { key: apiKey });
    assert.equal(me.status, 200);
    assert.equal(me.body.email, email);
    const del = await call("DELETE", `/api/posts/${editedId}`, { key: apiKey });
    assert.equal(del.status, 403, "the key has no posts:delete scope");
    assert.equal((await call("GET", `/api/posts/${editedId}`)).status, 200);

    await page.click("#key-secret-done");
    assert.equal(await page.$eval("#key-secret", (e) => e.hidden), true);
    const shown = await page.evaluate(() => document.body.innerText + [...document.querySelectorAll("input")].map((i) => i.value).join(" "));
    assert.ok(!shown.includes(apiKey), "the secret is gone from the page");
    await go(page, "#/posts", "Posts");
    await go(page, "#/keys", "API keys");
    await item(page, "#key-list", "CI publisher");
    assert.equal(await page.$eval("#key-secret", (e) => e.hidden), true);
    assert.equal(await page.$eval("#key-secret-value", (e) => e.value), "");
    assertClean(w);
  });

  await step("posts: pages of 10 (posts made with the API key)", async () => {
    for (let i = 1; i <= 11; i += 1) {
      const r = await call("POST", "/api/posts", { key: apiKey, body: { title: `Bulk ${String(i).padStart(2, "0")}`, body: "Made with the API key.", published: true } });
      assert.equal(r.status, 201);
    }
    // What this user may see (published posts and their own drafts; a fresh server has
    // only this user's 12), as the API counts it.
    const { total } = (await call("GET", "/api/posts?limit=1")).body;
    assert.ok(total >= 12);
    const pages = Math.ceil(total / 10);
    const label = (n) => `Page ${n} of ${pages} · ${total} posts`;
    await go(page, "#/posts", "Posts");
    await page.waitForFunction((l) => document.querySelector("#post-page").textContent === l, {}, label(1));
    assert.equal((await listTexts(page, "#post-list")).length, 10);
    assert.equal(await page.$eval("#post-prev", (b) => b.disabled), true);
    assert.equal(await page.$eval("#post-next", (b) => b.disabled), false);
    for (let n = 2; n <= pages; n += 1) {
      await page.click("#post-next");
      await page.waitForFunction((l) => document.querySelector("#post-page").textContent === l, {}, label(n));
    }
    assert.equal((await listTexts(page, "#post-list")).length, total - 10 * (pages - 1));
    assert.equal(await page.$eval("#post-next", (b) => b.disabled), true);
    await page.click("#post-prev");
    await page.waitForFunction((l) => document.querySelector("#post-page").textContent === l, {}, label(pages - 1));
    // Drafts only: this user has none now; then back to everything, from page 1.
    await page.select("#post-filter", "false");
    await page.waitForFunction(() => document.querySelector("#post-page").textContent === "Page 1 of 1 · 0 posts");
    assert.match((await listTexts(page, "#post-list"))[0], /No posts yet/);
    await page.select("#post-filter", "");
    await page.waitForFunction((l) => document.querySelector("#post-page").textContent === l, {}, label(1));
    assertClean(w);
  });

  await step("a 429 shows its Retry-After seconds, a 5xx a plain “unavailable” message (answers substituted in the browser)", async () => {
    // The API's own 429 and 503 bodies, answered by request interception for one call each.
    const answers = [
      { status: 429, headers: { "Retry-After": "42" }, body: { error: "Too many requests", code: "rate_limited", requestId: "00000000-0000-4000-8000-000000000000" } },
      { status: 503, headers: {}, body: { error: "Service temporarily unavailable", code: "service_unavailable", requestId: "00000000-0000-4000-8000-000000000001" } },
    ];
    const intercept = (r) => {
      if (r.isInterceptResolutionHandled()) return;
      if (new URL(r.url()).pathname === "/api/posts" && r.method() === "GET" && answers.length) {
        const a = answers.shift();
        r.respond({ status: a.status, headers: a.headers, contentType: "application/json", body: JSON.stringify(a.body) });
      } else r.continue();
    };
    await page.setRequestInterception(true);
    page.on("request", intercept);
    try {
      await page.click("#post-reload");
      await waitFlash(page, /^Too many requests\. Try again in 42 seconds\.$/, "error");
      await page.click("#post-reload");
      await waitFlash(page, /^The service is unavailable right now\. Please try again in a moment\.$/, "error");
      assert.equal(answers.length, 0);
    } finally {
      page.off("request", intercept);
      await page.setRequestInterception(false);
    }
    // The list is still there, and the next call goes through.
    await page.click("#post-reload");
    await page.waitForFunction(() => !document.querySelector("#post-list").hasAttribute("aria-busy"));
    assert.ok((await listTexts(page, "#post-list")).length > 0);
    assert.equal((await flash(page)).text, "", "the error message went with the next action");
    assertClean(w, ["429 /api/posts", "503 /api/posts"]);
  });

  await step("silent refresh: the access token (3 s) is renewed before it expires, without a visible failure", async () => {
    w.api.length = 0;
    await sleep(4500);
    const during = w.api.splice(0);
    assert.ok(during.some((a) => a.path === "/api/auth/refresh" && a.status === 200), `no refresh while waiting: ${JSON.stringify(during)}`);
    await page.type("#post-title", "After the token expired");
    await page.type("#post-body", "Still signed in.");
    await page.click("#post-form button[type=submit]");
    await waitFlash(page, /^Created “After the token expired” as a draft\.$/, "success");
    assert.deepEqual((await screen(page)).hash, "#/posts");
    const after = w.api.splice(0);
    assert.ok(!after.some((a) => a.status === 401) && !during.some((a) => a.status === 401), "the token was renewed before any 401");
    assertClean(w);
  });

  await step("a late timer (sleeping laptop): the first call after the expiry renews the token first", async () => {
    // Every pending timer of the page is cancelled, the planned refresh included.
    const clearTimers = () =>
      page.evaluate(() => {
        const last = setTimeout(() => {}, 0);
        for (let id = 0; id <= last; id += 1) clearTimeout(id);
      });
    await clearTimers();
    // A refresh already in flight when the timers were cleared still sets a fresh 3-second
    // cookie and plans the next refresh: the timers are cleared again on every poll, so the
    // chain stops, and the wait is for whichever cookie is last to expire.
    const deadline = Date.now() + 8000;
    while ((await credentialCookies(page))["__Host-access"] !== undefined && Date.now() < deadline) {
      await sleep(250);
      await clearTimers();
    }
    assert.equal((await credentialCookies(page))["__Host-access"], undefined, "the access cookie has expired");
    w.api.length = 0;
    const listed = page.waitForResponse((r) => new URL(r.url()).pathname === "/api/posts");
    await page.click("#post-reload");
    assert.equal((await listed).status(), 200);
    const seen = w.api.splice(0).map((a) => `${a.method} ${a.path} ${a.status}`);
    assert.deepEqual(seen, ["POST /api/auth/refresh 200", "GET /api/posts 200"]);
    // Listed as this user (the draft is there), not anonymously.
    await item(page, "#post-list", "After the token expired");
    assert.notEqual((await flash(page)).kind, "msg error");
    assertClean(w);
  });

  await step("a 401 (access cookie gone) makes one refresh and a retry, invisibly", async () => {
    const cdp = await page.createCDPSession();
    await cdp.send("Network.deleteCookies", { name: "__Host-access", url: `${BASE}/` });
    await cdp.detach();
    w.api.length = 0;
    const listed = page.waitForResponse((r) => new URL(r.url()).pathname === "/api/api-keys" && r.status() === 200);
    await page.click('#nav a[href="#/keys"]');
    await listed;
    await item(page, "#key-list", "CI publisher");
    const seen = w.api.splice(0).map((a) => `${a.method} ${a.path} ${a.status}`);
    assert.deepEqual(seen, ["GET /api/api-keys 401", "POST /api/auth/refresh 200", "GET /api/api-keys 200"]);
    assert.equal((await screen(page)).hash, "#/keys");
    assert.notEqual((await flash(page)).kind, "msg error");
    assert.ok((await credentialCookies(page))["__Host-access"], "a new access cookie");
    assertClean(w);
  });

  await step("sessions: a second (incognito) browser signs in; revoking it here sends it to the sign-in screen", async () => {
    const other = await browser.createBrowserContext();
    const page2 = await other.newPage();
    await page2.setViewport(LAPTOP);
    const w2 = watch(page2, "second browser");
    await page2.goto(`${BASE}/`, { waitUntil: "networkidle0" });
    await waitScreen(page2, "#/login", "Sign in");
    await page2.type("#login-email", email);
    await page2.type("#login-password", PASSWORD);
    await page2.click("#login-form button[type=submit]");
    await waitScreen(page2, "#/posts", "Posts");
    assertClean(w2, ["400 /api/auth/refresh"]);

    await page.click('#nav a[href="#/sessions"]');
    await waitScreen(page, "#/sessions", "Sessions");
    await page.waitForFunction(() => document.querySelectorAll("#session-list > li").length === 2);
    await assertAccessible(page);
    const rows = await page.$$eval("#session-list > li", (lis) =>
      lis.map((li) => ({ current: li.classList.contains("current"), text: li.textContent, revoke: !!li.querySelector("button.danger") })),
    );
    assert.equal(rows.filter((r) => r.current).length, 1);
    for (const r of rows) {
      assert.match(r.text, /Chrome \d+ on Linux/);
      assert.match(r.text, /Signed in/);
      assert.equal(r.revoke, !r.current, "only the other session can be revoked");
      assert.equal(r.text.includes("This browser"), r.current);
    }
    await shot(page, "sessions");
    const otherItem = await page.$("#session-list > li:not(.current)");
    await (await otherItem.$("button.danger")).click();
    await waitFlash(page, /^Signed out .*\.$/, "success");
    await page.waitForFunction(() => document.querySelectorAll("#session-list > li").length === 1);
    assert.equal(await page.$eval("#session-list > li", (li) => li.classList.contains("current")), true);

    // The second browser acts: its session is over, so it lands on the sign-in screen.
    await page2.evaluate(() => {
      location.hash = "#/keys";
    });
    await waitScreen(page2, "#/login", "Sign in");
    await waitFlash(page2, /^Your session has ended\. Please sign in again\.$/, "info");
    assert.equal(await page2.$eval("#nav", (e) => e.hidden), true);
    assert.ok(w2.api.some((a) => a.path === "/api/auth/refresh" && a.status !== 200), "its refresh was refused");
    assertClean(w2, w2.httpErrors.some((e) => e.status === 400) ? ["400 /api/auth/refresh"] : []);
    await other.close();
    assertClean(w);
  });

  await step("sessions: “Sign out everywhere else” ends a third browser's session and keeps this one", async () => {
    const third = await browser.createBrowserContext();
    const page3 = await third.newPage();
    const w3 = watch(page3, "third browser");
    await page3.goto(`${BASE}/`, { waitUntil: "networkidle0" });
    await page3.type("#login-email", email);
    await page3.type("#login-password", PASSWORD);
    await page3.click("#login-form button[type=submit]");
    await waitScreen(page3, "#/posts", "Posts");

    await page.click("#nav a[href='#/posts']");
    await waitScreen(page, "#/posts", "Posts");
    await page.click("#nav a[href='#/sessions']");
    await waitScreen(page, "#/sessions", "Sessions");
    await page.waitForFunction(() => document.querySelectorAll("#session-list > li").length === 2);
    await page.click("#session-others");
    await waitFlash(page, /^Signed out of every other session\.$/, "success");
    await page.waitForFunction(() => document.querySelectorAll("#session-list > li").length === 1);
    assert.equal(await page.$eval("#session-others", (b) => b.disabled), true);

    await page3.click("#post-reload").catch(() => {});
    await waitScreen(page3, "#/login", "Sign in");
    await waitFlash(page3, /^Your session has ended\./, "info");
    assertClean(w3, w3.httpErrors.some((e) => e.status === 400) ? ["400 /api/auth/refresh"] : []);
    await third.close();
    // This browser is still signed in.
    await go(page, "#/posts", "Posts");
    await item(page, "#post-list", "After the token expired");
    assertClean(w);
  });

  await step("a cross-origin page (same site, another port) can neither read the API nor write with the cookies", async () => {
    const evilServer = http.createServer((req, res) => {
      const api = JSON.stringify(BASE);
      const pages = {
        "/": `<!doctype html><title>elsewhere</title><link rel="icon" href="data:,"><pre id="out"></pre><script>
          (async () => {
            const API = ${api}, out = {};
            const probe = async (name, init, path) => {
              try { const r = await fetch(API + path, { credentials: "include", ...init }); out[name] = "read " + r.status + " " + (await r.text()); }
              catch (e) { out[name] = "blocked " + e.name; }
            };
            await probe("me", {}, "/api/auth/me");
            await probe("post", { method: "POST" }, "/api/posts");
            await probe("postText", { method: "POST", headers: { "content-type": "text/plain" }, body: JSON.stringify({ title: "csrf", body: "csrf", published: true }) }, "/api/posts");
            await probe("logout", { method: "POST" }, "/api/auth/logout");
            document.getElementById("out").textContent = JSON.stringify(out);
          })();
        </script>`,
        "/form": `<!doctype html><title>form</title><link rel="icon" href="data:,"><form method="post" action="${BASE}/api/auth/logout"><button>Win a prize</button></form>`,
      };
      res.writeHead(pages[req.url] ? 200 : 404, { "Content-Type": "text/html; charset=utf-8" });
      res.end(pages[req.url] || "");
    });
    await new Promise((r) => evilServer.listen(0, "127.0.0.1", r));
    servers.push(evilServer);
    const evilOrigin = `http://127.0.0.1:${evilServer.address().port}`;
    assert.notEqual(evilOrigin, BASE);
    assert.ok(!["3000"].includes(String(evilServer.address().port)), "not an origin of CORS_ORIGINS");

    const evil = await browser.newPage(); // the victim's browser: same context, same cookies
    // What went over the wire, from CDP: a response the page may not read is reported only
    // there (puppeteer sees a failed request), with the status and the cookies sent.
    const wire = new Map();
    const entry = (id) => wire.get(id) ?? wire.set(id, {}).get(id);
    const cdp = await evil.createCDPSession();
    await cdp.send("Network.enable");
    cdp.on("Network.requestWillBeSent", (e) => Object.assign(entry(e.requestId), { method: e.request.method, url: e.request.url }));
    cdp.on("Network.requestWillBeSentExtraInfo", (e) => {
      const site = Object.entries(e.headers).find(([k]) => k.toLowerCase() === "sec-fetch-site")?.[1];
      const cookies = e.associatedCookies.filter((c) => c.blockedReasons.length === 0).map((c) => c.cookie.name);
      Object.assign(entry(e.requestId), { site, cookies });
    });
    cdp.on("Network.responseReceivedExtraInfo", (e) => Object.assign(entry(e.requestId), { status: e.statusCode }));
    const logged = [];
    evil.on("console", (m) => logged.push(m.text()));
    evil.on("pageerror", (e) => logged.push(`uncaught: ${e.message}`));
    await evil.goto(`${evilOrigin}/`);
    await evil.waitForFunction(() => document.getElementById("out").textContent !== "", { timeout: 10000 });
    const out = JSON.parse(await evil.$eval("#out", (e) => e.textContent));
    // Nothing was readable (CORS: the origin is not in CORS_ORIGINS).
    assert.deepEqual(out, { me: "blocked TypeError", post: "blocked TypeError", postText: "blocked TypeError", logout: "blocked TypeError" });
    await sleep(300);
    const sent = [...wire.values()]
      .filter((r) => r.url?.startsWith(`${BASE}/`))
      .map((r) => ({ call: `${r.method} ${new URL(r.url).pathname}`, status: r.status, site: r.site, cookies: (r.cookies ?? []).sort().join(" ") }));
    const both = "__Host-access __Host-d1-bookmark __Secure-refresh";
    const access = "__Host-access __Host-d1-bookmark";
    assert.deepEqual(sent, [
      // The cookies went along (same site): the server answered /me for the user; the
      // browser kept the answer from the page.
      { call: "GET /api/auth/me", status: 200, site: "same-site", cookies: both },
      // The cookie-authenticated writes were refused by the CSRF check (403 csrf_rejected)...
      { call: "POST /api/posts", status: 403, site: "same-site", cookies: access },
      // ...the text/plain one already by the body check (a write's body must be JSON: 415)...
      { call: "POST /api/posts", status: 415, site: "same-site", cookies: access },
      // ...and a logout, with the refresh cookie too, by the CSRF check.
      { call: "POST /api/auth/logout", status: 403, site: "same-site", cookies: both },
    ]);
    // The page's console shows CORS refusing it and nothing else.
    assert.ok(logged.some((l) => /blocked by CORS policy/.test(l)), logged.join("\n"));
    for (const l of logged) assert.match(l, /blocked by CORS policy|^Failed to load resource: net::ERR_FAILED$/, l);

    // A form posted from there: a top-level navigation, whose answer is readable.
    await evil.goto(`${evilOrigin}/form`);
    const [answer] = await Promise.all([evil.waitForNavigation({ waitUntil: "load" }), evil.click("button")]);
    assert.equal(answer.status(), 403);
    assert.equal(new URL(evil.url()).pathname, "/api/auth/logout");
    assert.equal(JSON.parse(await answer.text()).code, "csrf_rejected");
    await cdp.detach();
    await evil.close();

    // Nothing was created or ended.
    const all = await call("GET", "/api/posts?limit=100");
    assert.ok(!all.body.posts.some((p) => p.title === "csrf"));
    await page.click("#post-reload");
    await page.waitForFunction(() => !document.querySelector("#post-list").hasAttribute("aria-busy"));
    assert.equal((await screen(page)).hash, "#/posts");
    assert.ok(await credentialCookies(page).then((c) => c["__Secure-refresh"]));
    assertClean(w);
  });

  await step("every screen fits a 375 px wide phone", async () => {
    await page.setViewport(PHONE);
    for (const [hash, h1] of [["#/posts", "Posts"], ["#/keys", "API keys"], ["#/sessions", "Sessions"], ["#/account", "Account"]]) {
      await go(page, hash, h1);
      await sleep(200);
      await assertFitsWidth(page);
    }
    await go(page, "#/posts", "Posts");
    await page.waitForSelector("#post-list > li.post");
    await shot(page, "posts-phone", false);
    await page.setViewport(LAPTOP);
    assertClean(w);
  });

  await step("account: the profile; a wrong current password is marked; a password change signs out everywhere", async () => {
    await go(page, "#/account", "Account");
    await assertAccessible(page);
    assert.equal(await text(page, "#me-email"), email);
    assert.equal(await text(page, "#me-role"), "user");
    assert.equal(await text(page, "#me-active"), "active");
    await shot(page, "account");

    await page.type("#pw-current", "Not-The-Password-1");
    await page.type("#pw-new", NEW_PASSWORD);
    await page.type("#pw-confirm", "Something-Else-3");
    await page.click("#password-form button[type=submit]");
    await waitFlash(page, /^The two new passwords differ\.$/, "error");
    assert.equal(await page.$eval("#pw-confirm", (e) => e.getAttribute("aria-invalid")), "true");

    await fill(page, "#pw-confirm", NEW_PASSWORD);
    await page.click("#password-form button[type=submit]");
    await waitFlash(page, /^Current password is incorrect\. Check the marked fields\.$/, "error");
    assert.equal(await page.$eval("#pw-current", (e) => e.getAttribute("aria-invalid")), "true");
    assert.equal((await screen(page)).hash, "#/account", "a wrong password does not sign out");
    assertClean(w); // its 401 is an API 401

    await fill(page, "#pw-current", PASSWORD);
    await page.click("#password-form button[type=submit]");
    await waitScreen(page, "#/login", "Sign in");
    await waitFlash(page, /^Password changed\. Every session was signed out/, "success");
    assert.deepEqual(await credentialCookies(page), {});
    // The API key went with it (keepApiKeys was not ticked).
    assert.equal((await call("GET", "/api/auth/me", { key: apiKey })).status, 401);
    assertClean(w);
  });

  await step("forgot password: the reset request is acknowledged", async () => {
    await page.click('a[href="#/forgot"]');
    await waitScreen(page, "#/forgot", "Reset your password");
    await assertAccessible(page);
    await page.type("#forgot-email", email);
    const answer = page.waitForResponse((r) => r.url() === `${BASE}/api/auth/password-reset/request`);
    await page.click("#forgot-form button[type=submit]");
    assert.equal((await answer).status(), 202);
    await waitFlash(page, /./, "success");
    assert.equal(await page.$eval("#forgot-email", (e) => e.value), "");
    assertClean(w);
  });

  await step("sign in with the new password, then sign out: the cookies are cleared", async () => {
    await page.click('a[href="#/login"]');
    await waitScreen(page, "#/login", "Sign in");
    await page.type("#login-email", email);
    await page.type("#login-password", NEW_PASSWORD);
    await page.click("#login-form button[type=submit]");
    await waitScreen(page, "#/posts", "Posts");
    assert.ok((await credentialCookies(page))["__Host-access"]);
    await page.click("#logout");
    await waitScreen(page, "#/login", "Sign in");
    await waitFlash(page, /^You have signed out\.$/, "success");
    assert.deepEqual(await credentialCookies(page), {});
    assert.equal(await page.evaluate(() => fetch("/api/auth/me").then((r) => r.status)), 401);
    assert.equal(await page.$eval("#nav", (e) => e.hidden), true);
    assertClean(w);
  });

  process.stderr.write(`[browser] journey took ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${SHOTS}\n`);
});
