// Serves one worker for the benchmark the way `wrangler dev` does (same bundler, same
// Miniflare/workerd, same local D1 and Durable Objects), but with the devtools inspector
// off: `wrangler dev` always attaches one, and its console forwarding and debugger hooks
// cost more per request than a cheap route itself. Runs until SIGTERM/SIGINT.
//
//   node bench/serve.mjs <config> <port> <persist-dir> [NAME:value ...]
//
// NAME:value pairs are plain-text vars that override the config's (like `--var`).
import { unstable_startWorker } from "wrangler";

const [config, port, persist, ...vars] = process.argv.slice(2);
if (!config || !port || !persist) {
  console.error("usage: node bench/serve.mjs <config> <port> <persist-dir> [NAME:value ...]");
  process.exit(2);
}
const bindings = {};
for (const pair of vars) {
  const at = pair.indexOf(":");
  if (at <= 0) {
    console.error(`not NAME:value: ${pair}`);
    process.exit(2);
  }
  bindings[pair.slice(0, at)] = { type: "plain_text", value: pair.slice(at + 1) };
}

const worker = await unstable_startWorker({
  config,
  bindings,
  dev: {
    server: { hostname: "127.0.0.1", port: Number(port) },
    inspector: false,
    persist,
    watch: false,
    logLevel: "error",
  },
});
await worker.ready;
console.log(`[serve] ${config} on http://127.0.0.1:${port}`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await worker.dispose();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
