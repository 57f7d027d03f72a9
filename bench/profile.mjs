// CPU profile of the worker under load, through workerd's inspector (the V8 CPU profiler
// protocol that `wrangler dev --inspector-port` exposes). Loopback only, bounded.
//
//   node bench/profile.mjs INSPECTOR_PORT URL PATH COUNT OUT.cpuprofile [HEADER:VALUE ...]
//
// Starts the sampling profiler (100 µs interval), sends COUNT sequential requests to
// URL+PATH, stops, writes the .cpuprofile (open it in Chrome DevTools or speedscope) and
// prints the functions with the most self time, in µs per request. Build with
// `KEEP_NAMES=1 FORCE_BUILD=1 bash scripts/build.sh` first, so that wasm frames have names.
import { writeFileSync } from "node:fs";
import WebSocket from "ws";

const [inspectorPort, base, path, countArg, out, ...headerArgs] = process.argv.slice(2);
if (!out) {
  console.error("usage: profile.mjs INSPECTOR_PORT URL PATH COUNT OUT.cpuprofile [HEADER:VALUE ...]");
  process.exit(2);
}
const count = Number(countArg);
const headers = Object.fromEntries(headerArgs.map((h) => [h.slice(0, h.indexOf(":")), h.slice(h.indexOf(":") + 1)]));

const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
const target = targets.find((t) => t.webSocketDebuggerUrl) ?? targets[0];
const ws = new WebSocket(target.webSocketDebuggerUrl.replace("localhost", "127.0.0.1"));
await new Promise((resolve, reject) => {
  ws.on("open", resolve);
  ws.on("error", reject);
});
let nextId = 1;
const pending = new Map();
ws.on("message", (data) => {
  const msg = JSON.parse(String(data));
  // (wrangler's inspector proxy answers some commands with `{id, method, params}`.)
  if (msg.id && pending.has(msg.id)) {
    pending.get(msg.id)(msg);
    pending.delete(msg.id);
  }
});
const send = (method, params = {}) =>
  new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });

// Warm up (first requests compile and cache), then profile.
for (let i = 0; i < 50; i++) await (await fetch(base + path, { headers })).arrayBuffer();
await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 100 });
await send("Profiler.start");
const statuses = {};
for (let i = 0; i < count; i++) {
  const r = await fetch(base + path, { headers });
  await r.arrayBuffer();
  statuses[r.status] = (statuses[r.status] ?? 0) + 1;
}
const { result } = await send("Profiler.stop");
ws.close();
const profile = result.profile;
writeFileSync(out, JSON.stringify(profile));

// Self time per function: each sample's time goes to the node it hit.
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  const node = byId.get(id);
  const f = node.callFrame;
  const name = `${f.functionName || "(anonymous)"} ${f.url ? f.url.split("/").pop() : ""}`.trim();
  self.set(name, (self.get(name) ?? 0) + dt);
  total += dt;
});
// By where the code lives: our wasm, the JS bundle (wasm-bindgen glue, js/entry.mjs and
// wrangler's dev middleware), workerd's internal modules (D1, rate limiter), and the rest
// (V8 builtins, GC, the runtime's native code).
const category = (name) =>
  name.includes(".wasm") || name.startsWith("js-to-wasm") || name.startsWith("wasm-to-js")
    ? "wasm (incl. JS<->wasm crossings)"
    : name.endsWith("entry.js")
      ? "JS bundle (glue, entry, dev middleware)"
      : name.includes("cloudflare-internal")
        ? "workerd internal modules"
        : "builtins, GC, native";
const busy = [...self.entries()].filter(([n]) => n !== "(idle)" && n !== "(program)");
const busyTotal = busy.reduce((a, [, t]) => a + t, 0);
console.log(`${path}: ${count} requests, statuses ${JSON.stringify(statuses)}`);
console.log(`sampled ${(total / 1000).toFixed(1)} ms, busy (not idle/program) ${(busyTotal / count).toFixed(1)} µs per request`);
const byCategory = new Map();
for (const [name, t] of busy) byCategory.set(category(name), (byCategory.get(category(name)) ?? 0) + t);
for (const [c, t] of [...byCategory.entries()].sort((a, b) => b[1] - a[1])) {
  console.log(`${(t / count).toFixed(1).padStart(15)}  ${((100 * t) / busyTotal).toFixed(1).padStart(4)}%  [${c}]`);
}
console.log("self µs/request  share  function");
for (const [name, t] of busy.sort((a, b) => b[1] - a[1]).slice(0, 25)) {
  console.log(`${(t / count).toFixed(1).padStart(15)}  ${((100 * t) / busyTotal).toFixed(1).padStart(4)}%  ${name}`);
}
