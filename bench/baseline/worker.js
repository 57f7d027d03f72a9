// Baseline for the benchmark: a minimal plain-JavaScript worker that does only the storage
// and crypto work each benchmarked scenario of secure-api needs (the same D1 statements,
// the same Durable Object calls: a counter per client IP or key, the user's session check
// and count, the lockout read and the session registration at login; WebCrypto PBKDF2 /
// HMAC-SHA256 / SHA-256, the same rate-limit binding calls), with no validation, error
// model, headers policy or audit redaction beyond that. It runs on the same local runtime
// against a copy of the same seeded D1, so the CPU ratio secure-api / baseline measures our
// overhead. Not a product: no input checks at all.
//
// Every answer has the contract's response shape, which any implementation of the same
// API sends: the body fields secure-api sends for the scenario, `X-Request-Id` (a fresh
// UUID, repeated in the /health body), the security headers, `Vary: Origin`, and the
// `X-RateLimit-*` headers and D1 bookmark where secure-api sends them. It writes no log line.

// The contract's security headers (the list secure-api sends too).
import SECURITY_HEADER_LIST from "../../src/web/security-headers.json" with { type: "json" };

const SECURITY_HEADERS = Object.fromEntries(SECURITY_HEADER_LIST);

const enc = new TextEncoder();
let hmacKey;

async function key(env) {
  if (!hmacKey) {
    hmacKey = await crypto.subtle.importKey("raw", enc.encode(env.JWT_SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  }
  return hmacKey;
}

const b64u = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const unb64u = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
const sha256hex = async (s) => hex(await crypto.subtle.digest("SHA-256", enc.encode(s)));
const json = (v, status = 200, extra = {}, requestId = crypto.randomUUID(), cookies = []) => {
  const headers = new Headers({ ...SECURITY_HEADERS, "Content-Type": "application/json; charset=utf-8", "X-Request-Id": requestId, Vary: "Origin", ...extra });
  for (const c of cookies) headers.append("Set-Cookie", c);
  return new Response(JSON.stringify(v), { status, headers });
};
const LIMIT = 1000000;
// The session cookies (and the D1 bookmark's) secure-api sets with tokens.
const sessionCookies = (access, refresh, bookmark) => [
  `__Host-access=${access}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=900`,
  `__Secure-refresh=${refresh}; Path=/api/auth; HttpOnly; Secure; SameSite=Strict; Max-Age=604800`,
  `__Host-d1-bookmark=${bookmark}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=900`,
];
const limited = (limit, count) => ({ "X-RateLimit-Limit": String(limit), "X-RateLimit-Remaining": String(Math.max(0, limit - count)) });
const now = () => Math.floor(Date.now() / 1000);
// The rate-limit window, as secure-api's RATE_LIMIT_PERIOD_SECONDS (set per request from env).
let PERIOD = 60;
const windowStart = (t) => t - (t % PERIOD);

// The per-key Durable Object: exact counters, the user's sessions, the account lockout
// (the same SQLite work as secure-api's `Gate`, in the same JSON-over-fetch style).
export class Gate {
  constructor(state) {
    this.storage = state.storage;
    this.sql = state.storage.sql;
    this.made = new Set();
  }
  table(name, ddl) {
    if (!this.made.has(name)) {
      this.sql.exec(ddl);
      this.made.add(name);
    }
  }
  count(name, window) {
    this.table("counters", "CREATE TABLE IF NOT EXISTS counters (name TEXT NOT NULL, window_start INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (name, window_start))");
    const count = this.sql.exec("INSERT INTO counters (name, window_start, count) VALUES (?, ?, 1) ON CONFLICT (name, window_start) DO UPDATE SET count = count + 1 RETURNING count", name, window).one().count;
    if (count === 1) this.sql.exec("DELETE FROM counters WHERE name = ? AND window_start < ?", name, window);
    return count;
  }
  // The object's storage is kept until `until`, then an alarm deletes it.
  async keep(until) {
    if (this.keepUntil === undefined) {
      this.table("keep", "CREATE TABLE IF NOT EXISTS keep (id INTEGER PRIMARY KEY CHECK (id = 0), until INTEGER NOT NULL)");
      const row = this.sql.exec("SELECT until FROM keep WHERE id = 0").raw().next();
      this.keepUntil = row.done ? 0 : row.value[0];
    }
    if (until <= this.keepUntil) return;
    this.sql.exec("INSERT INTO keep (id, until) VALUES (0, ?) ON CONFLICT (id) DO UPDATE SET until = excluded.until", until);
    this.keepUntil = until;
    await this.storage.setAlarm((until + 1) * 1000);
  }
  async alarm() {
    await this.storage.deleteAll();
    this.made.clear();
    this.keepUntil = undefined;
  }
  sessions() {
    this.table("sessions", "CREATE TABLE IF NOT EXISTS sessions (sid TEXT PRIMARY KEY, seq INTEGER NOT NULL, expires_at INTEGER NOT NULL, user_created_at INTEGER NOT NULL, ended INTEGER NOT NULL DEFAULT 0)");
    this.table("book", "CREATE TABLE IF NOT EXISTS book (id INTEGER PRIMARY KEY CHECK (id = 0), counter INTEGER NOT NULL, epoch INTEGER NOT NULL)");
    this.table("touched", "CREATE TABLE IF NOT EXISTS touched (sid TEXT PRIMARY KEY, at INTEGER NOT NULL)");
  }
  async fetch(req) {
    const op = await req.json();
    await this.keep(op.until ?? now() + 60);
    if (op.op === "count") return Response.json({ count: this.count("", op.window) });
    if (op.op === "open" || op.op === "adopt") {
      this.sessions();
      this.sql.exec("INSERT INTO sessions (sid, seq, expires_at, user_created_at) VALUES (?, 1, ?, ?) ON CONFLICT (sid) DO NOTHING", op.sid, op.expiresAt, op.createdAt);
    }
    if (op.op === "session" || op.op === "adopt") {
      // The session, the object's session book (end all / end others) and when the
      // session's use was last recorded in D1, in one statement as secure-api reads them.
      this.sessions();
      const row = this.sql.exec("SELECT b.counter, b.epoch, s.seq, s.expires_at, s.user_created_at, s.ended, t.at FROM (SELECT 0 AS id) AS o LEFT JOIN book AS b ON b.id = o.id LEFT JOIN sessions AS s ON s.sid = ? LEFT JOIN touched AS t ON t.sid = ?", op.sid, op.sid).one();
      if (row.seq === null) return Response.json({ state: "unknown" });
      return Response.json({ state: "live", createdAt: row.user_created_at, count: this.count("", op.window) });
    }
    if (op.op === "lockout") {
      this.table("lockout", "CREATE TABLE IF NOT EXISTS lockout (id INTEGER PRIMARY KEY, failures INTEGER NOT NULL, window_start INTEGER NOT NULL, locked_until INTEGER)");
      const row = [...this.sql.exec("SELECT failures, window_start, locked_until FROM lockout WHERE id = 0")][0];
      return Response.json(row || { failures: 0 });
    }
    return Response.json({ ok: true });
  }
}

async function gate(env, name, op) {
  const res = await env.GATE.getByName(name).fetch("https://gate/", { method: "POST", body: JSON.stringify(op) });
  return res.json();
}

async function signJwt(env, claims) {
  const head = b64u(enc.encode(JSON.stringify({ alg: "HS256", typ: "JWT", kid: "baseline" })));
  const body = b64u(enc.encode(JSON.stringify(claims)));
  const sig = await crypto.subtle.sign("HMAC", await key(env), enc.encode(`${head}.${body}`));
  return `${head}.${body}.${b64u(sig)}`;
}

async function verifyJwt(env, token) {
  const [h, p, s] = token.split(".");
  const ok = await crypto.subtle.verify("HMAC", await key(env), unb64u(s), enc.encode(`${h}.${p}`));
  if (!ok) return null;
  const claims = JSON.parse(new TextDecoder().decode(unb64u(p)));
  return claims.exp > now() ? claims : null;
}

function audit(env, ctx, action, userId) {
  ctx.waitUntil(env.DB.prepare("INSERT INTO audit_logs (id, user_id, action, resource, request_id, metadata, created_at) VALUES (?1, ?2, ?3, 'bench', ?4, '{}', ?5)")
    .bind(crypto.randomUUID(), userId, action, crypto.randomUUID(), now()).run());
}

// A third-party RS256 token: the provider's JWKS fetched once per isolate and each key
// imported once (as jose's createRemoteJWKSet does), the signature verified, iss/aud/exp
// checked, the identity mapped to its user with the same D1 statement as secure-api, and
// the request counted in the user's Durable Object.
let externalKeys;
const importedKeys = new Map();

async function externalKey(env, kid) {
  if (!externalKeys) externalKeys = (await (await fetch(env.EXTERNAL_JWKS_URL)).json()).keys;
  if (!importedKeys.has(kid)) {
    const jwk = externalKeys.find((k) => k.kid === kid);
    importedKeys.set(kid, await crypto.subtle.importKey("jwk", jwk, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]));
  }
  return importedKeys.get(kid);
}

async function meExternal(env, token) {
  const [h, p, s] = token.split(".");
  const header = JSON.parse(new TextDecoder().decode(unb64u(h)));
  const ok = await crypto.subtle.verify("RSASSA-PKCS1-v1_5", await externalKey(env, header.kid), unb64u(s), enc.encode(`${h}.${p}`));
  if (!ok) return json({ error: "unauthorized" }, 401);
  const c = JSON.parse(new TextDecoder().decode(unb64u(p)));
  if (c.iss !== env.EXTERNAL_JWT_ISSUER || c.aud !== env.EXTERNAL_JWT_AUDIENCE || !(c.exp > now())) return json({ error: "unauthorized" }, 401);
  const db = env.DB.withSession("first-primary");
  const u = await db.prepare("SELECT u.id, u.email, u.role, u.is_active, u.created_at FROM external_identities e JOIN users u ON u.id = e.user_id WHERE e.issuer = ?1 AND e.subject = ?2").bind(c.iss, c.sub).first();
  if (!u) return json({ error: "unauthorized" }, 401);
  const { count: n } = await gate(env, `user:${u.id}`, { op: "count", window: windowStart(now()), until: windowStart(now()) + PERIOD });
  return json({ id: u.id, email: u.email, role: u.role, isActive: !!u.is_active, createdAt: new Date(u.created_at * 1000).toISOString(), provider: c.iss }, 200,
    { ...limited(LIMIT, n), "X-D1-Bookmark": db.getBookmark() });
}

async function me(req, env) {
  const token = (req.headers.get("Authorization") || "").slice(7);
  if (env.EXTERNAL_JWKS_URL && JSON.parse(new TextDecoder().decode(unb64u(token.split(".")[0]))).alg === "RS256") return meExternal(env, token);
  const claims = await verifyJwt(env, token);
  if (!claims) return json({ error: "unauthorized" }, 401);
  const name = `user:${claims.sub}`;
  let s = await gate(env, name, { op: "session", sid: claims.sid, window: windowStart(now()), until: windowStart(now()) + PERIOD });
  if (s.state === "unknown") {
    const f = await env.DB.prepare("SELECT u.is_active, u.created_at, f.revoked_at, f.expires_at FROM refresh_families f JOIN users u ON u.id = f.user_id WHERE f.id = ?1 AND u.id = ?2").bind(claims.sid, claims.sub).first();
    s = await gate(env, name, { op: "adopt", sid: claims.sid, expiresAt: f.expires_at, createdAt: f.created_at, window: windowStart(now()), until: f.expires_at });
  }
  return json({ id: claims.sub, email: claims.email, role: claims.role, isActive: true, createdAt: new Date(s.createdAt * 1000).toISOString() }, 200, limited(LIMIT, s.count));
}

async function listPosts(req, env) {
  const ip = req.headers.get("CF-Connecting-IP") || "unknown";
  await env.ANON_LIMITER.limit({ key: `anonymous:${ip}` });
  const { count: n } = await gate(env, `ip:anonymous:${ip}`, { op: "count", window: windowStart(now()), until: windowStart(now()) + PERIOD });
  const db = env.DB.withSession("first-unconstrained");
  const filter = "(published = 1 OR author_id = ?1 OR ?2 = 1) AND (?3 IS NULL OR published = ?3)";
  const [count, rows] = await db.batch([
    db.prepare(`SELECT count(*) AS n FROM posts WHERE ${filter}`).bind("", 0, null),
    db.prepare(`SELECT id, author_id, title, body, published, created_at, updated_at FROM posts WHERE ${filter} ORDER BY created_at DESC, rowid DESC LIMIT ?4 OFFSET ?5`).bind("", 0, null, 10, 0),
  ]);
  const posts = rows.results.map((r) => ({ id: r.id, title: r.title, body: r.body, published: r.published === 1, authorId: r.author_id, createdAt: new Date(r.created_at * 1000).toISOString(), updatedAt: new Date(r.updated_at * 1000).toISOString() }));
  return json({ posts, page: 1, limit: 10, total: count.results[0].n }, 200, { ...limited(LIMIT, n), "X-D1-Bookmark": db.getBookmark() });
}

async function createPost(req, env, ctx) {
  const hash = await sha256hex(req.headers.get("X-API-Key"));
  const db = env.DB.withSession("first-primary");
  const k = await db.prepare("SELECT k.id, k.user_id, k.scopes, k.rate_limit, k.expires_at, k.revoked_at, k.last_used_at, u.email, u.role, u.is_active, u.created_at FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?1").bind(hash).first();
  if (!k) return json({ error: "unauthorized" }, 401);
  const { count: n } = await gate(env, `key:${hash}`, { op: "count", window: windowStart(now()), until: windowStart(now()) + PERIOD });
  const input = await req.json();
  const id = crypto.randomUUID();
  const row = await db.prepare("INSERT INTO posts (id, author_id, title, body, published, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING id, author_id, title, body, published, created_at, updated_at")
    .bind(id, k.user_id, input.title, input.body, input.published ? 1 : 0, now()).first();
  audit(env, ctx, "post.create", k.user_id);
  return json({ id: row.id, title: row.title, body: row.body, published: row.published === 1, authorId: row.author_id, createdAt: new Date(row.created_at * 1000).toISOString(), updatedAt: new Date(row.updated_at * 1000).toISOString() }, 201, { ...limited(k.rate_limit ?? LIMIT, n), "X-D1-Bookmark": db.getBookmark() });
}

async function pbkdf2(password, salt, iterations) {
  const k = await crypto.subtle.importKey("raw", enc.encode(password), "PBKDF2", false, ["deriveBits"]);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, k, 256));
}

async function session(env, db, user, t) {
  const family = crypto.randomUUID();
  const token = "rt_" + b64u(crypto.getRandomValues(new Uint8Array(32)));
  await db.batch([
    db.prepare("INSERT INTO refresh_families (id, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)").bind(family, user.id, t, t + 604800),
    db.prepare("INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)").bind(await sha256hex(token), family, t, t + 604800),
  ]);
  await gate(env, `user:${user.id}`, { op: "open", sid: family, expiresAt: t + 604800, createdAt: user.created_at, until: t + 604800 });
  return { family, token };
}

async function login(req, env, ctx) {
  const ip = req.headers.get("CF-Connecting-IP") || "unknown";
  await env.AUTH_LIMITER.limit({ key: `auth:${ip}` });
  const { count: n } = await gate(env, `ip:auth:${ip}`, { op: "count", window: windowStart(now()), until: windowStart(now()) + PERIOD });
  const db = env.DB.withSession("first-primary");
  const { email, password } = await req.json();
  await gate(env, `lockout:${await sha256hex(email)}`, { op: "lockout" });
  const user = await db.prepare("SELECT id, email, password_hash, role, is_active, created_at FROM users WHERE email = ?1").bind(email).first();
  const [, , iter, salt, hash] = user.password_hash.split("$");
  const derived = await pbkdf2(password, unb64u(salt), Number(iter.slice(2)));
  if (b64u(derived) !== hash) return json({ error: "invalid_credentials" }, 401);
  const t = now();
  const s = await session(env, db, user, t);
  const accessToken = await signJwt(env, { sub: user.id, email: user.email, role: user.role, type: "access", sid: s.family, iat: t, exp: t + 900, iss: "secure-api", aud: "secure-api" });
  audit(env, ctx, "auth.login", user.id);
  const bookmark = db.getBookmark();
  return json({ accessToken, refreshToken: s.token, tokenType: "Bearer", expiresIn: 900, user: { id: user.id, email: user.email, role: user.role } }, 200,
    { ...limited(LIMIT, n), "X-D1-Bookmark": bookmark }, undefined, sessionCookies(accessToken, s.token, bookmark));
}

async function refresh(req, env, ctx) {
  const ip = req.headers.get("CF-Connecting-IP") || "unknown";
  await env.ANON_LIMITER.limit({ key: `anonymous:${ip}` });
  const { count: n } = await gate(env, `ip:anonymous:${ip}`, { op: "count", window: windowStart(now()), until: windowStart(now()) + PERIOD });
  const db = env.DB.withSession("first-primary");
  const { refreshToken } = await req.json();
  const hash = await sha256hex(refreshToken);
  const row = await db.prepare("SELECT t.family_id, t.expires_at, t.rotated_at, f.user_id, f.expires_at AS family_expires_at, f.revoked_at AS family_revoked_at, u.email, u.role, u.is_active FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id JOIN users u ON u.id = f.user_id WHERE t.token_hash = ?1").bind(hash).first();
  if (!row || row.rotated_at !== null) return json({ error: "unauthorized" }, 401);
  const t = now();
  const next = "rt_" + b64u(crypto.getRandomValues(new Uint8Array(32)));
  const nextHash = await sha256hex(next);
  await db.batch([
    db.prepare("UPDATE refresh_tokens SET rotated_at = ?1, replaced_by = ?2 WHERE token_hash = ?3 AND rotated_at IS NULL").bind(t, nextHash, hash),
    db.prepare("INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = ?5 AND replaced_by = ?1) AND EXISTS (SELECT 1 FROM refresh_families WHERE id = ?2 AND revoked_at IS NULL AND expires_at > ?3)")
      .bind(nextHash, row.family_id, t, row.family_expires_at, hash),
  ]);
  const accessToken = await signJwt(env, { sub: row.user_id, email: row.email, role: row.role, type: "access", sid: row.family_id, iat: t, exp: t + 900, iss: "secure-api", aud: "secure-api" });
  audit(env, ctx, "auth.refresh", row.user_id);
  const bookmark = db.getBookmark();
  return json({ accessToken, refreshToken: next, tokenType: "Bearer", expiresIn: 900 }, 200,
    { ...limited(LIMIT, n), "X-D1-Bookmark": bookmark }, undefined, sessionCookies(accessToken, next, bookmark));
}

export default {
  async fetch(req, env, ctx) {
    PERIOD = Number(env.RATE_LIMIT_PERIOD_SECONDS) || 60;
    const path = new URL(req.url).pathname;
    if (path === "/health") {
      const requestId = crypto.randomUUID();
      return json({ status: "ok", requestId }, 200, {}, requestId);
    }
    if (path === "/api/auth/me") return me(req, env);
    if (path === "/api/posts" && req.method === "GET") return listPosts(req, env);
    if (path === "/api/posts" && req.method === "POST") return createPost(req, env, ctx);
    if (path === "/api/auth/login") return login(req, env, ctx);
    if (path === "/api/auth/refresh") return refresh(req, env, ctx);
    return json({ error: "not found" }, 404);
  },
};
