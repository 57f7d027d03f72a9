// Test and benchmark configuration, for scripts/test.sh, bench.sh and profile.sh.
//
//   node scripts/test-config.mjs wrangler VARIANT OUT.json
//     Writes a config derived from wrangler.toml (parsed as TOML, changed as data) to
//     OUT.json, which must sit next to wrangler.toml so that its relative paths (main,
//     migrations_dir, assets.directory) and .dev.vars still resolve. Every variant drops
//     [build]: with a custom build, `wrangler dev` re-runs it when its file watcher becomes
//     ready and reloads the worker, which can cut requests in flight.
//
//   node scripts/test-config.mjs servers
//     Checks tests/servers.json and prints its servers in order (`servers`, then
//     `browserServers`: those of the dashboard's browser test), one line each,
//     tab-separated: name, config variant, migrations, admin, fuzz (each yes/no), ready
//     status, ready body, then the extra `wrangler dev` arguments (`--var K:V` pairs, then
//     flags), one field each. A `{NAME}` placeholder in a `vars` value (upper-case letters,
//     digits, `_`) is replaced by the environment variable NAME (e.g. {OIDC_PORT}, a port
//     scripts/test.sh picked); a placeholder whose variable is unset or empty is an error.
import { readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "smol-toml";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

// The local queue producer of README "Password reset delivery" (commented out in wrangler.toml).
const RESET_QUEUE = { binding: "RESET_QUEUE", queue: "secure-api-reset" };

const VARIANTS = {
  // Only [build] dropped.
  "no-build": () => {},
  // The benchmark's: [assets] dropped too. Cloudflare routes static assets before the worker
  // runs (not billed as the worker's CPU); locally the asset router runs inside the worker's
  // workerd process and would count as the worker's. The benchmark requests no asset.
  bench: (config) => {
    delete config.assets;
  },
  // RESET_QUEUE bound.
  queue: (config) => {
    const producers = (config.queues ??= {}).producers ??= [];
    if (!producers.some((p) => p.binding === RESET_QUEUE.binding)) producers.push({ ...RESET_QUEUE });
  },
  // Every [[ratelimits]] shield raised (one client sends all the traffic).
  "high-limits": (config) => {
    const limits = (config.ratelimits ?? []).filter((r) => r.simple && typeof r.simple.limit === "number");
    if (limits.length === 0) fail("wrangler.toml has no [[ratelimits]] with a simple limit to raise");
    for (const r of limits) r.simple.limit = 1000000;
  },
};

function fail(message) {
  console.error(`[test-config] ${message}`);
  process.exit(1);
}

function deriveWrangler(variant, out) {
  const change = VARIANTS[variant] ?? fail(`unknown variant '${variant}' (${Object.keys(VARIANTS).join(", ")})`);
  const target = resolve(out);
  if (dirname(target) !== ROOT || !basename(target).endsWith(".json")) {
    fail(`${out}: write the derived config as a .json file next to wrangler.toml`);
  }
  const config = parse(readFileSync(resolve(ROOT, "wrangler.toml"), "utf8"));
  delete config.build;
  change(config);
  writeFileSync(target, JSON.stringify(config, null, 2) + "\n");
}

const FIELDS = {
  name: (v) => typeof v === "string" && /^[a-z][a-z0-9]*$/.test(v),
  doc: (v) => typeof v === "string" && v.length > 0,
  config: (v) => Object.hasOwn(VARIANTS, v),
  migrations: (v) => typeof v === "boolean",
  admin: (v) => typeof v === "boolean",
  ready: (v) => Number.isInteger(v?.status) && typeof v?.body === "string" && v.body.length > 0,
  fuzz: (v) => typeof v === "boolean",
  vars: (v) => v && typeof v === "object" && !Array.isArray(v) && Object.values(v).every((x) => typeof x === "string"),
  flags: (v) => Array.isArray(v) && v.every((x) => typeof x === "string" && x.startsWith("--")),
};

// `{NAME}` in a `vars` value: the environment variable NAME.
const PLACEHOLDER = /\{([A-Z][A-Z0-9_]*)\}/g;

function substitute(server, key, value) {
  return value.replace(PLACEHOLDER, (_, name) => {
    const v = process.env[name];
    if (v === undefined || v === "") {
      fail(`tests/servers.json: server '${server}': vars.${key} needs the environment variable ${name} (unset or empty)`);
    }
    return v;
  });
}

function servers() {
  const manifest = JSON.parse(readFileSync(resolve(ROOT, "tests/servers.json"), "utf8"));
  for (const list of ["servers", "browserServers"]) {
    if (!Array.isArray(manifest[list])) fail(`tests/servers.json: '${list}' must be a list`);
  }
  if (manifest.browserServers.some((s) => s.fuzz)) fail("tests/servers.json: a browser server cannot be the fuzz target");
  const all = [...manifest.servers, ...manifest.browserServers];
  const names = new Set();
  for (const s of all) {
    for (const [field, ok] of Object.entries(FIELDS)) {
      if (!ok(s[field])) fail(`tests/servers.json: server ${JSON.stringify(s.name)}: bad or missing '${field}'`);
    }
    const extra = Object.keys(s).filter((k) => !Object.hasOwn(FIELDS, k));
    if (extra.length) fail(`tests/servers.json: server '${s.name}': unknown field(s) ${extra.join(", ")}`);
    if (names.has(s.name)) fail(`tests/servers.json: server '${s.name}' listed twice`);
    names.add(s.name);
  }
  const fuzz = manifest.servers.filter((s) => s.fuzz);
  if (fuzz.length !== 1 || !fuzz[0].admin) fail("tests/servers.json: exactly one fuzz server, with an admin");
  // Every line is built (and every placeholder resolved) before any is printed.
  const lines = [];
  for (const s of all) {
    const vars = Object.entries(s.vars).map(([k, v]) => [k, substitute(s.name, k, v)]);
    const args = [...vars.flatMap(([k, v]) => ["--var", `${k}:${v}`]), ...s.flags];
    const yesNo = [s.migrations, s.admin, s.fuzz].map((b) => (b ? "yes" : "no"));
    const fields = [s.name, s.config, ...yesNo, s.ready.status, s.ready.body, ...args].map(String);
    if (fields.some((f) => f === "" || /[\t\n]/.test(f))) {
      fail(`tests/servers.json: server '${s.name}': an empty value, or a tab or newline`);
    }
    lines.push(fields.join("\t"));
  }
  for (const line of lines) console.log(line);
}

const [command, ...rest] = process.argv.slice(2);
if (command === "wrangler" && rest.length === 2) deriveWrangler(...rest);
else if (command === "servers" && rest.length === 0) servers();
else fail("usage: test-config.mjs wrangler VARIANT OUT.json | servers");
