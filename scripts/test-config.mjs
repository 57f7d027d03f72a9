// Test and benchmark configuration, for scripts/test.sh, bench.sh and profile.sh.
//
//   node scripts/test-config.mjs wrangler VARIANT OUT.json
//     Writes a config derived from wrangler.toml (parsed as TOML, changed as data) to
//     OUT.json, which must sit next to wrangler.toml so that its relative paths (main,
//     migrations_dir, assets.directory) and .dev.vars still resolve. Every variant drops
//     [build]: with a custom build, `wrangler dev` re-runs it when its file watcher becomes
//     ready and reloads the worker, which can cut requests in flight.
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

const [command, ...rest] = process.argv.slice(2);
if (command === "wrangler" && rest.length === 2) deriveWrangler(...rest);
else fail("usage: test-config.mjs wrangler VARIANT OUT.json");
