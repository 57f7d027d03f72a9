// Module hooks for entry.test.mjs: `cloudflare:workers` and the built Rust worker are
// replaced by stubs, so the wrapper in js/entry.mjs can be exercised under plain Node.
export async function resolve(specifier, context, next) {
  if (specifier === "cloudflare:workers") {
    return { url: new URL("./stub-workers.mjs", import.meta.url).href, shortCircuit: true };
  }
  if (specifier.endsWith("build/index.js")) {
    return { url: new URL("./stub-rust-worker.mjs", import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
